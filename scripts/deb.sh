#!/usr/bin/env bash
# Debian package of proftpd-rs: proftpd-mod-rs_VERSION_ARCH.deb, built with
# dpkg-deb from a small staging tree (no debhelper).
#
#   scripts/deb.sh [OPTIONS]            for this machine's release (its
#                                       proftpd-dev; cargo target dir
#                                       $CARGO_TARGET_DIR or ./target)
#   scripts/deb.sh [OPTIONS] SUITE...   for each Debian SUITE (bookworm, trixie,
#                                       sid, ...), built inside its root
#                                       filesystem (scripts/rootfs.sh, as root)
#                                       in target/rootfs/SUITE
#
# Output: target/deb/SUITE/proftpd-mod-rs_VERSION_ARCH.deb (SUITE: this
# machine's codename when none is given); the path of each .deb is printed
# on stdout, one a line, the last line for one suite.  Progress goes to stderr.
#
# Options:
#   --no-build      package the library cargo built already
#   --list-modules  print the module files the package installs and exit
#   --revision N    the Debian revision (default 1): VERSION is
#                   CARGO_VERSION-N+debNN (NN: the release's VERSION_ID; on a
#                   release without one, e.g. sid, +SUITE)
#   --out DIR       write DIR/SUITE/*.deb instead of target/deb/SUITE/*.deb
#                   (with SUITEs: a folder inside the project)
#   -h, --help      this text
#
# The package:
#   /usr/lib/proftpd/proftpd_rs.so     the library (stripped, 0644)
#   /usr/lib/proftpd/mod_NAME.so       symlinks to it, one per module of
#                                      modules.txt (--list-modules lists them)
#   /usr/bin/xferlog2json              xferlog files to JSON Lines (stripped),
#   /usr/share/man/man1/xferlog2json.1.gz  its manual page (man/)
#   /usr/bin/redis-spool               RedisLogSpool's files by hand (stripped),
#   /usr/share/man/man1/redis-spool.1.gz   its manual page (man/)
#   /usr/share/doc/proftpd-mod-rs/     copyright, changelog.Debian.gz,
#                                      README.Debian (the LoadModule lines),
#                                      README.md.gz (the modules' documentation)
# Its preinst diverts Debian's C modules of the same names with dpkg-divert
# (to mod_NAME.so.distrib, a name no LoadModule opens), its postrm (remove)
# puts them back.  Depends: the proftpd-core release series the library was
# built for, (>= X.Y.Z~) and (<< X.Y.Z+1~), since the library's version guard
# (src/host/version.rs) refuses any other series; plus libc6 etc. from
# dpkg-shlibdeps.  The configuration is left alone.
#
# Environment: DEBFULLNAME, DEBEMAIL (the Maintainer; default: the author of
# the HEAD commit), PROFTPD_INCLUDE_DIR (as for build.rs).
set -euo pipefail
shopt -s inherit_errexit

PACKAGE=proftpd-mod-rs
REAL_NAME=proftpd_rs.so
MODDIR=/usr/lib/proftpd
DIVERT_SUFFIX=.distrib

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)

# The modules, from modules.txt: "mod_NAME:NAME_module" (file name without
# .so : exported module symbol).
# shellcheck source=scripts/modules.sh
. "$here/modules.sh"
MODULES=()
while read -r name; do
  MODULES+=("mod_$name:${name}_module")
done < <(proftpd_rs_module_names)

say() { echo "deb: $*" >&2; }
die() {
  echo "deb: error: $*" >&2
  exit 1
}
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit "${1:-2}"
}

build=1
revision=1
out_base=$project/target/deb
inside="" # internal: --inside SUITE (run by the outer deb.sh in SUITE's root filesystem)
maintainer="" commit="" date=""
suites=()
while (($#)); do
  case $1 in
  --no-build) build=0 ;;
  --list-modules)
    # The module files the package installs (mod_NAME.so), a line each.
    for m in "${MODULES[@]}"; do echo "${m%%:*}.so"; done
    exit 0
    ;;
  --revision)
    (($# >= 2)) || die "--revision needs a number"
    revision=$2
    shift
    ;;
  --out)
    (($# >= 2)) || die "--out needs a folder"
    mkdir -p -- "$2"
    out_base=$(cd "$2" && pwd)
    shift
    ;;
  --inside | --maintainer | --commit | --date)
    (($# >= 2)) || die "$1 needs a value"
    declare "${1#--}=$2"
    shift
    ;;
  -h | --help) usage 0 ;;
  -*) die "unknown option $1 (see --help)" ;;
  *) suites+=("$1") ;;
  esac
  shift
done
[[ $revision =~ ^[0-9]+$ ]] || die "--revision: not a number: $revision"

# --- facts from the git checkout (the host side: the root filesystems have no git) ---

git_facts() {
  if [[ -z $maintainer ]]; then
    if [[ -n ${DEBFULLNAME:-} && -n ${DEBEMAIL:-} ]]; then
      maintainer="$DEBFULLNAME <$DEBEMAIL>"
    else
      maintainer=$(git -C "$project" log -1 --format='%an <%ae>' 2>/dev/null) ||
        die "no Maintainer: set DEBFULLNAME and DEBEMAIL"
    fi
  fi
  [[ -n $commit ]] || commit=$(git -C "$project" describe --always --dirty 2>/dev/null || echo unknown)
  # The HEAD commit's time: the changelog date and the files' mtime (reproducible).
  [[ -n $date ]] || date=$(git -C "$project" log -1 --format=%ct 2>/dev/null || date +%s)
}

# --- SUITE...: each one inside its root filesystem ------------------------------

if [[ -z $inside ]] && ((${#suites[@]})); then
  git_facts
  args=(--maintainer "$maintainer" --commit "$commit" --date "$date" --revision "$revision")
  ((build)) || args+=(--no-build)
  [[ $out_base == "$project"/* ]] || die "--out $out_base: not inside $project (the root filesystems see only the project)"
  args+=(--out "/src/${out_base#"$project"/}")
  for suite in "${suites[@]}"; do
    say "$suite: building in its root filesystem (scripts/rootfs.sh run $suite)"
    out=$("$here/rootfs.sh" run "$suite" -- /src/scripts/deb.sh --inside "$suite" "${args[@]}") ||
      die "$suite: failed"
    path=$(tail -n1 <<<"$out")
    [[ $path == /src/* ]] || die "$suite: no .deb path in the output: $out"
    echo "$project/${path#/src/}"
  done
  exit 0
fi

# --- one package, for the release we run on ----------------------------------------

((${#suites[@]} == 0)) || die "--inside and suites do not mix"
git_facts

# shellcheck disable=SC1091
. /etc/os-release
if [[ -n $inside ]]; then
  suite=$inside
  target=$project/target/rootfs/$suite
else
  suite=${VERSION_CODENAME:-}
  [[ -n $suite ]] || die "/etc/os-release names no VERSION_CODENAME"
  target=${CARGO_TARGET_DIR:-$project/target}
  [[ $target == /* ]] || target=$project/$target
fi
out_dir=$out_base/$suite
[[ -n ${VERSION_ID:-} ]] && release_tag=deb$VERSION_ID || release_tag=$suite
distribution=$suite
[[ $distribution == sid ]] && distribution=unstable

for tool in dpkg-deb dpkg-query strip nm gzip md5sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  [[ -n $inside ]] || die "dpkg-shlibdeps not found (install the Debian package dpkg-dev)"
  # A root filesystem made before dpkg-dev was on setup.sh's list.
  say "installing dpkg-dev (dpkg-shlibdeps) into the $suite root filesystem"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dpkg-dev >&2
fi

# The proftpd release series of the headers build.rs uses (PROFTPD_VERSION_TEXT,
# like PROFTPD_RS_HEADERS_VERSION), checked against the proftpd-dev package.
include_dir=${PROFTPD_INCLUDE_DIR:-/usr/include/proftpd}
headers=$(sed -n 's/^#define[[:space:]]\{1,\}PROFTPD_VERSION_TEXT[[:space:]]\{1,\}"\(.*\)".*/\1/p' \
  "$include_dir/version.h" 2>/dev/null | head -n1)
[[ $headers =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]] ||
  die "no proftpd version in $include_dir/version.h (install proftpd-dev)"
series=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}
next=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))
# "~": pre-releases (1.3.9~rc1) sort before 1.3.9 and belong to its series.
depends_proftpd="proftpd-core (>= $series~), proftpd-core (<< $next~)"
dev_version=$(dpkg-query -W -f='${Version}' proftpd-dev 2>/dev/null) || dev_version=""
if [[ -n $dev_version && $include_dir == /usr/include/proftpd ]]; then
  if ! dpkg --compare-versions "$dev_version" ge "$series~" ||
    ! dpkg --compare-versions "$dev_version" lt "$next~"; then
    die "proftpd-dev $dev_version is not of the series $series of $include_dir/version.h ($headers)"
  fi
fi

version=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$project/Cargo.toml" | head -n1)
[[ -n $version ]] || die "no version in Cargo.toml"
debversion=$version-$revision+$release_tag
arch=$(dpkg --print-architecture)

say "$suite: proftpd headers $headers (proftpd-dev ${dev_version:-?}), package $PACKAGE $debversion $arch"

# --- the library -------------------------------------------------------------------

lib=$target/release/libproftpd_rs.so
bin=$target/release/xferlog2json
spool_bin=$target/release/redis-spool
if ((build)); then
  if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found (scripts/setup.sh installs Rust)"
  say "cargo build --release --lib --bin xferlog2json --bin redis-spool (CARGO_TARGET_DIR=$target)"
  (cd "$project" && CARGO_TARGET_DIR=$target cargo build --release --lib --bin xferlog2json \
    --bin redis-spool >&2)
fi
[[ -f $lib ]] || die "$lib not found (build it, or drop --no-build)"
[[ -f $bin ]] || die "$bin not found (cargo build --release --bin xferlog2json, or drop --no-build)"
[[ -f $spool_bin ]] || die "$spool_bin not found (cargo build --release --bin redis-spool, or drop --no-build)"
symbols=$(nm -D --defined-only "$lib" | awk '{ print $NF }')
for m in "${MODULES[@]}"; do
  grep -qx "${m#*:}" <<<"$symbols" || die "$lib does not export ${m#*:} (${m%%:*})"
done

# --- the staging tree ----------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proftpd-rs-deb.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
root=$tmp/debian/$PACKAGE # where dpkg-shlibdeps expects a package's files
doc=$root/usr/share/doc/$PACKAGE
install -d -m 0755 "$root/DEBIAN" "$root$MODDIR" "$doc" "$root/usr/bin" "$root/usr/share/man/man1"

# Like dh_strip for a shared library and a program (the release profile
# keeps debug info).
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  -o "$root$MODDIR/$REAL_NAME" "$lib"
chmod 0644 "$root$MODDIR/$REAL_NAME"
strip --remove-section=.comment --remove-section=.note -o "$root/usr/bin/xferlog2json" "$bin"
chmod 0755 "$root/usr/bin/xferlog2json"
gzip -9n <"$project/man/xferlog2json.1" >"$root/usr/share/man/man1/xferlog2json.1.gz"
strip --remove-section=.comment --remove-section=.note -o "$root/usr/bin/redis-spool" "$spool_bin"
chmod 0755 "$root/usr/bin/redis-spool"
gzip -9n <"$project/man/redis-spool.1" >"$root/usr/share/man/man1/redis-spool.1.gz"
# The modules' documentation (compressed, as Debian does above 4 KiB).
gzip -9n <"$project/README.md" >"$doc/README.md.gz"

# lintian overrides, each with its reason (scripts/deb-test.sh runs lintian
# --pedantic -I of each release; docs/matrix.md lists what it reported).
install -d -m 0755 "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/$PACKAGE" <<EOF
# Rust code: no C source is compiled, so glibc's _FORTIFY_SOURCE (checked
# variants of memcpy, read, ... chosen by the C compiler from the headers) has
# nothing to act on; Rust's own bounds checks do that job.  lintian's other
# hardening checks (PIE, RELRO, BIND_NOW) pass.
$PACKAGE: hardening-no-fortify-functions
EOF
chmod 0644 "$root/usr/share/lintian/overrides/$PACKAGE"
for m in "${MODULES[@]}"; do
  ln -s "$REAL_NAME" "$root$MODDIR/${m%%:*}.so"
done

changelog_date=$(LC_ALL=C date -u -R -d "@$date")
{
  echo "$PACKAGE ($debversion) $distribution; urgency=medium"
  echo
  echo "  * proftpd-rs $version (git $commit), built for Debian $suite against"
  echo "    the proftpd $headers headers (proftpd-dev ${dev_version:-unknown})."
  echo
  echo " -- $maintainer  $changelog_date"
} | gzip -9n >"$doc/changelog.Debian.gz"

# The crates linked into the library, with their licenses (cargo tree, offline).
crates=$(cd "$project" && cargo tree --offline -e normal --prefix none --format '{p}|{l}' 2>/dev/null |
  sed 's/ (\*)$//; s/ (proc-macro)//' | sort -u) || crates=""
[[ -n $crates ]] || die "cargo tree --offline failed (the crates' licenses for the copyright file)"
{
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: proftpd-rs
Comment: The library, xferlog2json and redis-spool statically link these Rust crates (name version |
 license, an SPDX expression, as cargo tree reports it):
 .
EOF
  echo " ${crates//$'\n'/$'\n' }"
  cat <<EOF

Files: *
Copyright: 2026 proftpd-rs contributors
License: GPL-2+
 This program is free software; you can redistribute it and/or modify it
 under the terms of the GNU General Public License as published by the Free
 Software Foundation; either version 2 of the License, or (at your option)
 any later version.
 .
 This program is distributed in the hope that it will be useful, but WITHOUT
 ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or
 FITNESS FOR A PARTICULAR PURPOSE.  See the GNU General Public License for
 more details.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.
EOF
} >"$doc/copyright"

{
  cat <<EOF
proftpd-mod-rs for Debian
-------------------------

The ProFTPD modules of proftpd-rs (Rust): mod_unique_id, mod_log_forensic and
mod_redis replace Debian's C modules of the same names; mod_xferlog is new.
All four are symlinks to one library, $MODDIR/$REAL_NAME.

Debian's C modules are diverted (dpkg-divert --list $PACKAGE), kept as
$MODDIR/mod_NAME.so$DIVERT_SUFFIX, where an upgrade of proftpd-core puts
their new versions too; removing this package moves them back.

The configuration is not changed. Load the modules in
/etc/proftpd/modules.conf (Debian's file already loads mod_unique_id.c, which
is now ours; mod_redis.c is there as a comment):

EOF
  for m in "${MODULES[@]}"; do
    echo "  LoadModule ${m%%:*}.c"
  done
  cat <<EOF

then check and restart: proftpd -t && systemctl restart proftpd

This build is for the proftpd $series release series (headers $headers):
the library refuses to load into a proftpd of another series, and the
package depends on proftpd-core $series.x accordingly.

 -- $maintainer  $changelog_date
EOF
} >"$doc/README.Debian"

# Maintainer scripts: one dpkg-divert line per module (lintian pairs them).
{
  cat <<EOF
#!/bin/sh
# Divert Debian's C modules of the same names before our files are unpacked.
set -e

case "\$1" in
install | upgrade)
	# Files left by prxs-install.sh (C modules kept as *.so.c-orig) would be
	# lost: their owner is not dpkg.
	for f in $MODDIR/mod_*.so.c-orig; do
		if [ -e "\$f" ] || [ -L "\$f" ]; then
			echo "$PACKAGE: \$f exists (installed with prxs-install.sh?);" >&2
			echo "$PACKAGE: run 'prxs-install.sh --uninstall' first" >&2
			exit 1
		fi
	done
EOF
  for m in "${MODULES[@]}"; do
    f=$MODDIR/${m%%:*}.so
    printf '\tdpkg-divert --package %s --add --rename --divert %s %s\n' "$PACKAGE" "$f$DIVERT_SUFFIX" "$f"
  done
  cat <<EOF
	;;
esac

exit 0
EOF
} >"$root/DEBIAN/preinst"
{
  cat <<EOF
#!/bin/sh
# Put Debian's C modules back once our files are gone.
set -e

case "\$1" in
remove | abort-install | disappear)
EOF
  for m in "${MODULES[@]}"; do
    f=$MODDIR/${m%%:*}.so
    printf '\tdpkg-divert --package %s --remove --rename --divert %s %s\n' "$PACKAGE" "$f$DIVERT_SUFFIX" "$f"
  done
  cat <<EOF
	;;
esac

exit 0
EOF
} >"$root/DEBIAN/postrm"
chmod 0755 "$root/DEBIAN/preinst" "$root/DEBIAN/postrm"

# Depends: the libraries (dpkg-shlibdeps reads debian/control), then proftpd.
cat >"$tmp/debian/control" <<EOF
Source: $PACKAGE

Package: $PACKAGE
Architecture: any
EOF
shlibs=$(cd "$tmp" && dpkg-shlibdeps -O "debian/$PACKAGE$MODDIR/$REAL_NAME" \
  "debian/$PACKAGE/usr/bin/xferlog2json" "debian/$PACKAGE/usr/bin/redis-spool") ||
  die "dpkg-shlibdeps failed"
shlibs=$(sed -n 's/^shlibs:Depends=//p' <<<"$shlibs")
rm -f "$tmp/debian/control"

installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: ${shlibs:+$shlibs, }$depends_proftpd
Section: net
Priority: optional
Description: ProFTPD modules in Rust: unique_id, log_forensic, redis, xferlog
 Drop-in replacements for ProFTPD's C modules mod_unique_id, mod_log_forensic
 and mod_redis, and a new mod_xferlog (xferlog(5) transfer logs), in one
 shared library that proftpd loads with LoadModule, like the C modules.
 The program xferlog2json turns xferlog files into JSON Lines; redis-spool
 lists, exports and drains by hand the events mod_redis keeps in its
 RedisLogSpool directory while Redis is unreachable.
 .
 The package diverts Debian's C modules of the same names (to
 mod_NAME.so$DIVERT_SUFFIX) and puts its own in their place; removing it
 restores them. It does not change the configuration: add the LoadModule
 lines given in /usr/share/doc/$PACKAGE/README.Debian.
 .
 Built for the proftpd $series release series only.
EOF

(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0r md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums" "$doc"/*
find "$root" -exec touch -h -d "@$date" {} +

mkdir -p -- "$out_dir"
deb=$out_dir/${PACKAGE}_${debversion}_$arch.deb
SOURCE_DATE_EPOCH=$date dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
say "$suite: $(du -h "$deb" | cut -f1) $deb"
echo "$deb"
