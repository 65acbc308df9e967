#!/usr/bin/env bash
# Base images for docker/Dockerfile on a machine that has no image registry:
# makes the image debian:SUITE-slim from Debian's packages (mmdebstrap, piped
# into `docker import`) when the engine does not have it.  With a registry
# this is not needed: `docker build` pulls debian:SUITE-slim itself, and the
# Dockerfiles build the same way on either.  Run as root.
#
#   scripts/docker-base.sh [--force] SUITE...
#
# --force: make it again even if the image exists.  Prints nothing on stdout;
# says on stderr what it does.
#
# The image is like Debian's official slim image: the minbase variant
# (Essential and Priority: required packages, apt), without manual pages,
# info pages, documentation (but the copyright files) and translations, apt's
# lists and caches emptied, CMD ["bash"].  Its sources are the mirror's SUITE
# and, for a stable release, SUITE-updates and SUITE-security (SUITE/updates
# before Debian 11).  Because mirrors may be stale (a sid Release file may
# have expired), apt in the image accepts an expired Release file
# (apt.conf.d/99proftpd-rs-valid-until), as scripts/rootfs.sh does.
#
# The mirrors are those this machine's apt uses (scripts/apt-mirror.sh: the
# first entries of the Debian archive and of its security archive in apt's
# sources); PROFTPD_RS_MIRROR and PROFTPD_RS_SECURITY_MIRROR override them
# (the latter set empty: no security suite).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/apt-mirror.sh
. "$here/apt-mirror.sh"

say() { echo "docker-base: $*" >&2; }
die() {
  echo "docker-base: error: $*" >&2
  exit 1
}
# Suites with -updates and -security suites: all but unstable's names.
is_stable() { [[ $1 != sid && $1 != unstable && $1 != experimental && $1 != rc-buggy ]]; }
# The security suite's name: SUITE-security since Debian 11, SUITE/updates before.
security_suite() {
  case $1 in
  jessie | stretch | buster) echo "$1/updates" ;;
  *) echo "$1-security" ;;
  esac
}
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

force=0
suites=()
while (($#)); do
  case $1 in
  --force) force=1 ;;
  -h | --help) usage ;;
  -*) die "unknown option $1" ;;
  *)
    [[ $1 =~ ^[a-z][a-z0-9-]*$ ]] || die "bad suite name: $1"
    suites+=("$1")
    ;;
  esac
  shift
done
((${#suites[@]})) || usage

mirror=$(proftpd_rs_mirror archive) || die "no Debian mirror to make the images from"
security=""
for suite in "${suites[@]}"; do
  if is_stable "$suite"; then
    security=$(proftpd_rs_mirror security) || die "no Debian security mirror for the $suite image"
    break
  fi
done

[[ $(id -u) == 0 ]] || die "run as root (mmdebstrap needs it)"
docker info >/dev/null 2>&1 || die "no Docker engine (docker info fails)"
if ! command -v mmdebstrap >/dev/null 2>&1; then
  say "installing mmdebstrap (Debian package)"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    mmdebstrap debian-archive-keyring >&2
fi

make_image() {
  local suite=$1 tag=debian:$1-slim start
  local sources=("deb $mirror $suite main")
  if is_stable "$suite"; then
    sources+=("deb $mirror $suite-updates main")
    [[ -n $security ]] && sources+=("deb $security $(security_suite "$suite") main")
  fi
  start=$(date +%s)
  # After the packages are in: apt settings; perl out (mmdebstrap installs
  # it, and usrmerge, which needs it, to merge /usr; perl-base stays), as
  # the official images have neither; what they empty, emptied.  $1 is the
  # root filesystem.
  # shellcheck disable=SC2016 # expanded by mmdebstrap's shell
  local slim_hook='
    set -e
    rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"
    echo "Acquire::Check-Valid-Until \"false\";" >"$1/etc/apt/apt.conf.d/99proftpd-rs-valid-until"
    echo "Acquire::Languages \"none\";" >"$1/etc/apt/apt.conf.d/docker-no-languages"
    chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -y -q purge perl usrmerge ||
      echo "docker-base: perl stays in the image (apt-get purge failed)" >&2
    left=$(chroot "$1" dpkg-query -W -f "\${db:Status-Abbrev} \${Package}\n" |
      awk "\$1 == \"ii\" && (\$2 ~ /^libperl5/ || \$2 ~ /^perl-modules-/ || \$2 ~ /-perl\$/) { print \$2 }")
    [ -z "$left" ] || chroot "$1" dpkg --purge $left >/dev/null
    rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb \
      "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/etc/resolv.conf
    : >"$1/etc/hostname"
  '
  say "making $tag from Debian's packages (mmdebstrap --variant=minbase | docker import)"
  # The dpkg path excludes are those of the official slim images.
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook="$slim_hook" \
    "$suite" - "${sources[@]}" |
    docker import --change 'CMD ["bash"]' --message "proftpd-rs scripts/docker-base.sh: $suite from $mirror" - "$tag" >/dev/null ||
    die "making $tag failed"
  say "$tag made in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

for suite in "${suites[@]}"; do
  if ((force == 0)) && docker image inspect "debian:$suite-slim" >/dev/null 2>&1; then
    say "debian:$suite-slim is there"
    continue
  fi
  old=$(docker image inspect -f '{{.Id}}' "debian:$suite-slim" 2>/dev/null || true)
  make_image "$suite"
  # The image it replaced, unless something still uses it.
  [[ -z $old ]] || docker rmi "$old" >/dev/null 2>&1 || true
done
