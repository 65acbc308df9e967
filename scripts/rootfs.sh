#!/usr/bin/env bash
# Root filesystems of Debian releases, made from Debian's packages with
# mmdebstrap and cached, for building and testing proftpd-rs against each
# release's own proftpd, proftpd-dev and redis-server (scripts/matrix.sh,
# scripts/deb.sh, scripts/docker-base.sh).  Run as root.
#
#   scripts/rootfs.sh path SUITE          the root filesystem's folder (made when
#                                         missing), printed on stdout
#   scripts/rootfs.sh run [--scratch] SUITE [--] CMD [ARG...]
#                                         CMD inside it (chroot), with /proc, /sys,
#                                         /dev, the project at /src and this
#                                         machine's Rust (cargo, rustup) at
#                                         /root/.cargo and /root/.rustup
#                                         --scratch: on a throw-away overlay, so
#                                         that what CMD installs or removes is gone
#                                         afterwards (the package tests)
#   scripts/rootfs.sh update SUITE        apt-get update + upgrade inside it
#   scripts/rootfs.sh remove SUITE        delete it
#
# SUITE: bullseye (Debian 11), bookworm (12), trixie (13), sid (unstable), or
# any suite the mirror has.  The packages are those of scripts/setup.sh
# (PROFTPD_RS_PACKAGES), and those of PROFTPD_RS_OPTIONAL_PACKAGES below
# that SUITE has (Valkey: Debian 13 and later); a root filesystem made before
# a package was on the lists gets it at its next use.  The cache is
# ${PROFTPD_RS_CACHE:-/var/cache/proftpd-rs}/rootfs/SUITE; a root filesystem
# older than PROFTPD_RS_ROOTFS_MAX_AGE days (default 7) is brought up to date
# (apt-get upgrade) before use.  The packages come from the Debian mirror
# this machine's apt uses (scripts/apt-mirror.sh: its first Debian entry);
# PROFTPD_RS_MIRROR overrides it.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)
cache=${PROFTPD_RS_CACHE:-/var/cache/proftpd-rs}/rootfs
max_age=${PROFTPD_RS_ROOTFS_MAX_AGE:-7}

say() { echo "rootfs: $*" >&2; }
die() {
  echo "rootfs: error: $*" >&2
  exit 1
}
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

[[ $(id -u) == 0 ]] || die "run as root (mmdebstrap and chroot need it)"

# The package list: scripts/setup.sh's, without running its set-up.
# shellcheck source=scripts/setup.sh disable=SC1091
PROFTPD_RS_SETUP=0 . "$here/setup.sh"
# The mirror apt uses (proftpd_rs_mirror).
# shellcheck source=scripts/apt-mirror.sh
. "$here/apt-mirror.sh"

# Installed where the suite has them: Valkey (Debian 13 and later), which the
# matrix runs the Redis tests against a second time (scripts/matrix.sh).
PROFTPD_RS_OPTIONAL_PACKAGES=(valkey-server valkey-sentinel)

valid_suite() { [[ $1 =~ ^[a-z][a-z0-9-]*$ ]] || die "bad suite name: $1"; }

# mmdebstrap/debootstrap on this machine (installed when missing).
need_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return 0
  say "installing mmdebstrap (Debian package)"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    mmdebstrap debian-archive-keyring >&2
}

# make SUITE DIR: a new root filesystem with the packages.
make_rootfs() {
  local suite=$1 dir=$2 tmp mirror
  mirror=$(proftpd_rs_mirror archive) || die "no Debian mirror to make the $suite root filesystem from"
  need_mmdebstrap
  tmp="$dir.new"
  rm -rf -- "$tmp"
  mkdir -p -- "$(dirname "$dir")"
  say "making the $suite root filesystem in $dir from $mirror (mmdebstrap, ${#PROFTPD_RS_PACKAGES[@]} packages; a few minutes)"
  # --variant=apt: essential packages + apt; ours on top.  No
  # recommends (the setup.sh list names all we need); a mirror whose
  # Release file has expired (a frozen or slow mirror, sid) is still used.  Services are not
  # started inside (mmdebstrap installs a policy-rc.d while it works).
  local include
  include=$(
    IFS=,
    echo "${PROFTPD_RS_PACKAGES[*]}"
  )
  # A mirror in the middle of a sync (a point release: "Hash Sum
  # mismatch") or a network hiccup fails an attempt: three, a minute apart.
  local attempt
  for attempt in 1 2 3; do
    # shellcheck disable=SC2016 # the hook's $1 is mmdebstrap's
    mmdebstrap --variant=apt --mode=root --format=directory \
      --aptopt='APT::Install-Recommends "false"' \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --include="$include" --skip=cleanup/apt/lists \
      --customize-hook='echo "127.0.0.1 localhost" > "$1/etc/hosts"; echo "::1 localhost ip6-localhost ip6-loopback" >> "$1/etc/hosts"' \
      "$suite" "$tmp" "$mirror" >&2 && break
    rm -rf -- "$tmp"
    ((attempt < 3)) || die "mmdebstrap $suite failed (3 attempts; its output is above)"
    say "mmdebstrap $suite failed (attempt $attempt of 3): again in 60 s"
    sleep 60
  done
  mv -- "$tmp" "$dir"
  date +%s >"$dir/.proftpd-rs-made"
  ensure_packages "$suite" "$dir"
}

# ensure_packages SUITE DIR: install what DIR lacks of the package lists
# (the optional ones where SUITE has them); once per change of the lists
# (DIR/.proftpd-rs-packages holds the lists last checked).
ensure_packages() {
  local suite=$1 dir=$2 lists
  lists="${PROFTPD_RS_PACKAGES[*]} | ${PROFTPD_RS_OPTIONAL_PACKAGES[*]}"
  [[ $(cat "$dir/.proftpd-rs-packages" 2>/dev/null) == "$lists" ]] && return 0
  # shellcheck disable=SC2016 # expanded inside
  inside "$dir" /bin/sh -c '
    set -e
    required=$1 optional=$2 missing="" want=""
    for p in $required $optional; do
      [ "$(dpkg-query -W -f="\${db:Status-Status}" "$p" 2>/dev/null)" = installed ] ||
        missing="$missing $p"
    done
    if [ -n "$missing" ]; then
      # The lists mmdebstrap left (a new root filesystem), else fresh ones.
      ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q
    fi
    for p in $missing; do
      case " $required " in
      *" $p "*) want="$want $p" ;;
      *) if apt-cache show "$p" >/dev/null 2>&1; then want="$want $p"; fi ;;
      esac
    done
    if [ -n "$want" ]; then
      echo "rootfs: installing$want" >&2
      # No service starts inside (as while mmdebstrap made it).
      printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      rc=0
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $want || rc=$?
      rm -f /usr/sbin/policy-rc.d
      [ "$rc" = 0 ]
    fi
    apt-get clean
    rm -rf /var/lib/apt/lists/*
  ' ensure "${PROFTPD_RS_PACKAGES[*]}" "${PROFTPD_RS_OPTIONAL_PACKAGES[*]}" >&2 ||
    die "installing the missing packages into the $suite root filesystem failed"
  echo "$lists" >"$dir/.proftpd-rs-packages"
}

# inside DIR CMD...: CMD chrooted in DIR, in a private mount namespace (the
# mounts vanish with it).
inside() {
  local dir=$1
  shift
  [[ -d $HOME/.cargo ]] || die "no $HOME/.cargo: install Rust first (scripts/setup.sh)"
  # This machine's name service: its resolver, and its /etc/hosts (proftpd
  # and mod_unique_id resolve the host name at start).
  cp -f /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  cp -f /etc/hosts "$dir/etc/hosts" 2>/dev/null || true
  cp -f /etc/hostname "$dir/etc/hostname" 2>/dev/null || true
  mkdir -p "$dir/src" "$dir/root/.cargo" "$dir/root/.rustup"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
    dir=$1 project=$2 cargo_home=$3 rustup_home=$4
    shift 4
    mount -t proc proc "$dir/proc"
    mount --rbind /sys "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
    mount --bind "$project" "$dir/src"
    mount --bind "$cargo_home" "$dir/root/.cargo"
    if [[ -d $rustup_home ]]; then mount --bind "$rustup_home" "$dir/root/.rustup"; fi
    exec chroot "$dir" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
      PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      LANG=C.UTF-8 CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup \
      ${PROFTPD_RS_ENV:-} "$@"
  ' inside "$dir" "$project" "${CARGO_HOME:-$HOME/.cargo}" "${RUSTUP_HOME:-$HOME/.rustup}" "$@"
}

# path SUITE: make or refresh, print.
rootfs_path() {
  local suite=$1 dir made now
  valid_suite "$suite"
  dir=$cache/$suite
  if [[ ! -f $dir/.proftpd-rs-made ]]; then
    rm -rf -- "$dir"
    make_rootfs "$suite" "$dir"
  else
    made=$(cat "$dir/.proftpd-rs-made")
    now=$(date +%s)
    if ((now - made > max_age * 86400)); then
      say "$suite root filesystem is older than $max_age days: apt-get upgrade"
      if ! update "$suite" >&2; then
        # A root filesystem that cannot be brought up to date (a broken
        # upgrade, lists the mirror no longer has) is made again.
        say "upgrading the $suite root filesystem failed: making it again"
        rm -rf -- "$dir"
        make_rootfs "$suite" "$dir"
      fi
    fi
    ensure_packages "$suite" "$dir"
  fi
  echo "$dir"
}

update() {
  local suite=$1 dir
  dir=$cache/$suite
  [[ -d $dir ]] || die "no $suite root filesystem (scripts/rootfs.sh path $suite)"
  # No service starts inside while it upgrades (as while mmdebstrap made it).
  # shellcheck disable=SC2016 # expanded inside
  inside "$dir" /bin/sh -c '
    set -e
    printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    rc=0
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade; } || rc=$?
    rm -f /usr/sbin/policy-rc.d
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    [ "$rc" = 0 ]
  '
  date +%s >"$dir/.proftpd-rs-made"
}

run() {
  local scratch=0 suite dir
  if [[ ${1:-} == --scratch ]]; then
    scratch=1
    shift
  fi
  suite=${1:-}
  [[ -n $suite ]] || usage
  shift
  [[ ${1:-} == -- ]] && shift
  (($#)) || usage
  dir=$(rootfs_path "$suite")
  if ((scratch == 0)); then
    inside "$dir" "$@"
    return
  fi
  # A throw-away overlay over the cached root filesystem.
  local work rc=0
  work=$(mktemp -d "${TMPDIR:-/tmp}/proftpd-rs-scratch.XXXXXX")
  mkdir -p "$work/upper" "$work/work" "$work/root"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$work/upper,workdir=$work/work" "$work/root" ||
    die "cannot mount an overlay over $dir"
  inside "$work/root" "$@" || rc=$?
  umount "$work/root" || umount -l "$work/root" || true
  rm -rf -- "$work"
  return "$rc"
}

cmd=${1:-}
(($#)) && shift
case $cmd in
path)
  (($# == 1)) || usage
  rootfs_path "$1"
  ;;
run) run "$@" ;;
update)
  (($# == 1)) || usage
  valid_suite "$1"
  update "$1"
  ;;
remove)
  (($# == 1)) || usage
  valid_suite "$1"
  rm -rf -- "${cache:?}/$1"
  ;;
*) usage ;;
esac
