#!/usr/bin/env bash
# Tests of the Debian package (scripts/deb.sh) in each Debian release, as root:
#
#   scripts/deb-test.sh [SUITE...]      default: bullseye bookworm trixie sid
#
# Per SUITE it builds the .deb (scripts/deb.sh SUITE: the release library in
# target/rootfs/SUITE, shared with scripts/matrix.sh) and a copy with the next
# Debian revision (an upgrade), runs lintian on both (SUITE's own lintian, in
# its root filesystem, --pedantic -I: any warning or error fails; the tags
# reported, overrides included, are in the log), and then,
# in a throw-away overlay of SUITE's root filesystem (scripts/rootfs.sh run
# --scratch):
#
#   - the .debs of the other release series (those of the other SUITEs given,
#     or found in target/deb-test/) are refused by apt (Depends on
#     proftpd-core); forced in with dpkg --force-depends, `proftpd -t` fails
#     on the version guard; dpkg -r restores the C modules
#   - with prxs-install.sh's files there (*.so.c-orig), the preinst refuses
#   - apt installs the .deb: four diversions, our symlinks, the C modules
#     byte-equal at mod_NAME.so.distrib, /etc/proftpd untouched
#   - with the README's LoadModule lines in /etc/proftpd/modules.conf,
#     `proftpd -t` passes, and a proftpd started with them maps our library
#     and none of the diverted C modules, and answers with its banner
#   - reinstall (apt --reinstall) and upgrade (the next revision) keep the
#     diversions; proftpd-core unpacked again (its .deb from the mirror, when
#     it can be fetched) writes the C modules to the diverted names only
#   - apt remove, and install + apt purge: no diversions, the C modules back
#     byte-equal (sha256), our files gone, `proftpd -t` (C modules) passes
#
# One line per SUITE on stdout ("SUITE: ok ..." or "SUITE: FAILED ..."); the
# details in target/deb-test/SUITE.log.  Exit status 1 when one failed.
# The proftpd-core .deb comes from the Debian mirror this machine's apt uses
# (scripts/apt-mirror.sh; PROFTPD_RS_MIRROR overrides it, as for
# scripts/rootfs.sh).
set -euo pipefail
shopt -s inherit_errexit

PACKAGE=proftpd-mod-rs
REAL_NAME=proftpd_rs.so
MODDIR=/usr/lib/proftpd
DIVERT_SUFFIX=.distrib

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)

# The modules (mod_NAME), from modules.txt.
# shellcheck source=scripts/modules.sh
. "$here/modules.sh"
MODULES=()
while read -r name; do MODULES+=("mod_$name"); done < <(proftpd_rs_module_names)
work=$project/target/deb-test

die() {
  echo "deb-test: error: $*" >&2
  exit 1
}

# =================================================================================
# Inside SUITE's scratch root filesystem:
#   deb-test.sh --inside SUITE DEB DEB_NEXT CORE_DEB|- [OTHER_SERIES_DEB...]
# =================================================================================

fail() {
  local line=${*//$'\n'/ | }
  echo "FAILED: ${line:0:400}"
  echo "deb-test: FAILED: $*" >&2
  exit 1
}
step() { printf '\n==== %s\n' "$*" >&2; }
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends "$@"; }

# The state of a module file: sha256 of a regular file, "-> TARGET" for a
# symlink, "absent".
file_state() {
  local f=$1
  if [[ -L $f ]]; then
    echo "-> $(readlink "$f")"
  elif [[ -f $f ]]; then
    sha256sum <"$f" | cut -d' ' -f1
  else
    echo absent
  fi
}

etc_state() { (cd /etc/proftpd && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }

declare -A before=()
record_before() {
  local m
  for m in "${MODULES[@]}"; do
    before[$m]=$(file_state "$MODDIR/$m.so")
    [[ ${before[$m]} != "->"* ]] || fail "$MODDIR/$m.so is a symlink before the test (prxs-install.sh?)"
    echo "before: $m.so ${before[$m]}" >&2
  done
  before[etc]=$(etc_state)
}

check_installed() {
  local version=$1 m f got diversions
  got=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$PACKAGE" 2>/dev/null) || true
  [[ $got == "ii $version" ]] || fail "$PACKAGE status/version is '$got', not 'ii $version'"
  diversions=$(dpkg-divert --list "$MODDIR/*")
  echo "$diversions" >&2
  (($(grep -c . <<<"$diversions") == ${#MODULES[@]})) ||
    fail "expected ${#MODULES[@]} diversions, got: $diversions"
  for m in "${MODULES[@]}"; do
    f=$MODDIR/$m.so
    grep -qxF "diversion of $f to $f$DIVERT_SUFFIX by $PACKAGE" <<<"$diversions" ||
      fail "no diversion of $f by $PACKAGE"
    [[ $(file_state "$f") == "-> $REAL_NAME" ]] || fail "$f is $(file_state "$f"), not our symlink"
    [[ $(file_state "$f$DIVERT_SUFFIX") == "${before[$m]}" ]] ||
      fail "$f$DIVERT_SUFFIX is $(file_state "$f$DIVERT_SUFFIX"), the C module was ${before[$m]}"
  done
  [[ -f $MODDIR/$REAL_NAME ]] || fail "no $MODDIR/$REAL_NAME"
  got=$(dpkg --verify "$PACKAGE" 2>&1) || fail "dpkg --verify $PACKAGE: $got"
  [[ -z $got ]] || fail "dpkg --verify $PACKAGE: $got"
  # dpkg --verify proftpd-core ignores diversions (it checks mod_NAME.so, now
  # ours): compare the diverted files with proftpd-core's md5sums instead.
  for m in "${MODULES[@]}"; do
    [[ ${before[$m]} != absent ]] || continue
    f=$MODDIR/$m.so
    got=$(awk -v p="${f#/}" '$2 == p { print $1 }' "$(dpkg-query --control-path proftpd-core md5sums)")
    [[ -n $got && $got == "$(md5sum <"$f$DIVERT_SUFFIX" | cut -d' ' -f1)" ]] ||
      fail "$f$DIVERT_SUFFIX does not match proftpd-core's md5sums (${got:-no entry})"
  done
}

check_removed() {
  local m f got
  got=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PACKAGE" 2>/dev/null) || true
  [[ -z $got || $got == "un " || $got == "rc " || $got == "pn " ]] ||
    fail "$PACKAGE status is '$got' after removal"
  got=$(dpkg-divert --list "$MODDIR/*")
  [[ -z $got ]] || fail "diversions left: $got"
  for m in "${MODULES[@]}"; do
    f=$MODDIR/$m.so
    [[ $(file_state "$f") == "${before[$m]}" ]] ||
      fail "$f is $(file_state "$f") after removal, was ${before[$m]}"
    [[ ! -e $f$DIVERT_SUFFIX && ! -L $f$DIVERT_SUFFIX ]] || fail "$f$DIVERT_SUFFIX left behind"
  done
  [[ ! -e $MODDIR/$REAL_NAME ]] || fail "$MODDIR/$REAL_NAME left behind"
  [[ $(etc_state) == "${before[etc]}" ]] || fail "/etc/proftpd changed"
  got=$(dpkg --verify proftpd-core 2>&1) || fail "dpkg --verify proftpd-core: $got"
  [[ -z $got ]] || fail "dpkg --verify proftpd-core: $got"
  proftpd -t >&2 2>&1 || fail "proftpd -t (Debian's configuration, C modules) fails after removal"
}

# The README's lines: what /etc/proftpd/modules.conf lacks of ours (Debian's
# loads mod_unique_id.c, and has mod_redis.c as a comment).
add_load_module_lines() {
  local m
  cp -p /etc/proftpd/modules.conf /tmp/modules.conf.orig
  for m in "${MODULES[@]}"; do
    grep -qx "LoadModule $m.c" /etc/proftpd/modules.conf && continue
    if grep -qx "#LoadModule $m.c" /etc/proftpd/modules.conf; then
      sed -i "s/^#LoadModule $m\.c\$/LoadModule $m.c/" /etc/proftpd/modules.conf
    else
      echo "LoadModule $m.c" >>/etc/proftpd/modules.conf
    fi
  done
  grep -n -E "^LoadModule ($(
    IFS='|'
    echo "${MODULES[*]}"
  ))\.c" /etc/proftpd/modules.conf >&2
}

restore_modules_conf() { cp -p /tmp/modules.conf.orig /etc/proftpd/modules.conf; }

# Our four LoadModule lines at the top level of a configuration of their own
# (errors inside an Include are only warnings for proftpd, see proftpd_ok).
direct_conf() {
  local m
  for m in "${MODULES[@]}"; do
    echo "LoadModule $m.c"
  done >/tmp/direct.conf
}

# proftpd -t (or a daemon's log) is fine: mod_core's Include turns every
# error but EINVAL inside an included file (modules.conf) into "warning:
# unable to include" and goes on without the rest of the file, exit status 0.
proftpd_ok() { ! grep -qE 'unable to include|failed to initialize|error loading module|fatal:' <<<"$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# proftpd with our four modules: -t on Debian's configuration, then a daemon.
proftpd_checks() {
  local out port pid maps banner="" m i
  add_load_module_lines
  if ! out=$(proftpd -t 2>&1) || ! proftpd_ok "$out"; then
    fail "proftpd -t with our LoadModule lines: $out"
  fi
  echo "$out" >&2
  direct_conf
  if ! out=$(proftpd -t -c /tmp/direct.conf 2>&1) || ! proftpd_ok "$out"; then
    fail "proftpd -t -c /tmp/direct.conf (our four LoadModule lines): $out"
  fi
  port=$(free_port)
  install -d -m 0755 /run/deb-test # proftpd refuses a scoreboard in /tmp
  cat >/tmp/deb-test.conf <<EOF
Include /etc/proftpd/modules.conf
ServerName "deb-test"
ServerType standalone
DefaultServer on
Port $port
DefaultAddress 127.0.0.1
UseIPv6 off
User nobody
Group nogroup
PidFile /run/deb-test/proftpd.pid
ScoreboardFile /run/deb-test/proftpd.scoreboard
WtmpLog off
EOF
  proftpd -n -q -c /tmp/deb-test.conf >/tmp/deb-test.out 2>&1 &
  pid=$!
  for ((i = 0; i < 100; i++)); do
    # shellcheck disable=SC2016 # for the inner shell
    banner=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && read -r line <&3 && echo "$line"' \
      banner "$port" 2>/dev/null) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  maps=$(grep -o "$MODDIR/[^ ]*" "/proc/$pid/maps" 2>/dev/null | sort -u) || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat /tmp/deb-test.out >&2
  echo "banner: $banner" >&2
  echo "mapped from $MODDIR:"$'\n'"$maps" >&2
  proftpd_ok "$(cat /tmp/deb-test.out)" || fail "proftpd with our modules: $(cat /tmp/deb-test.out)"
  [[ $banner == 220* ]] || fail "proftpd with our modules: no 220 banner on port $port (log: $(tail -n3 /tmp/deb-test.out))"
  grep -qx "$MODDIR/$REAL_NAME" <<<"$maps" || fail "proftpd did not map $MODDIR/$REAL_NAME"
  for m in "${MODULES[@]}"; do
    ! grep -qF "$m.so" <<<"$maps" || fail "proftpd mapped a C $m: $maps"
  done
  restore_modules_conf
}

# A .deb of another release series: apt refuses it; forced in, the guard
# stops proftpd -t; dpkg -r restores.
other_series() {
  local deb=$1 out rc
  step "other series: $deb"
  out=$(apt_get install "$deb" 2>&1) && fail "apt installed $deb (another series): $out"
  echo "$out" >&2
  grep -q "Depends: proftpd-core" <<<"$out" || fail "apt refused $deb, but not for proftpd-core: $out"
  check_removed
  dpkg -i --force-depends "$deb" >&2 2>&1 || fail "dpkg -i --force-depends $deb"
  # The refusal: the version guard's, or, where this release's C library is
  # older than the package needs (a newer release's package on Debian 11),
  # the dynamic loader's before any code of ours runs.
  local refusal="struct layouts differ" what="the version guard" need have included
  included="struct layouts differ"
  need=$(dpkg-deb -f "$deb" Depends | grep -o 'libc6 (>= [^)]*)' | sed 's/^libc6 (>= //; s/)$//') || need=""
  have=$(dpkg-query -W -f='${Version}' libc6)
  if [[ -n $need ]] && ! dpkg --compare-versions "$have" ge "$need"; then
    refusal="error loading module" what="the loader (libc6 $have, the package needs >= $need)"
    # In an Include, mod_dso's failure only fails the Include.
    included="error loading module|unable to include"
  fi
  direct_conf
  out=$(proftpd -t -c /tmp/direct.conf 2>&1) && fail "proftpd -t passed with a library of another series: $out"
  echo "$out" >&2
  grep -q "$refusal" <<<"$out" || fail "proftpd -t failed, but not in $what: $out"
  # Debian's configuration (modules.conf included): the refusal is a warning.
  rc=0
  out=$(proftpd -t 2>&1) || rc=$?
  echo "$out"$'\n'"(proftpd -t on Debian's configuration: exit status $rc)" >&2
  grep -qE "$included" <<<"$out" || fail "proftpd -t (Debian's configuration) did not refuse it in $what: $out"
  dpkg -r "$PACKAGE" >&2 2>&1 || fail "dpkg -r $PACKAGE"
  check_removed
}

inside_main() {
  local suite=$1 deb=$2 deb_next=$3 core=$4 v1 v2 ino_before ino_after other got
  shift 4
  v1=$(dpkg-deb -f "$deb" Version)
  v2=$(dpkg-deb -f "$deb_next" Version)
  dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 is not newer than $v1"
  echo "$suite: proftpd-core $(dpkg-query -W -f='${Version}' proftpd-core); $PACKAGE $v1, $v2" >&2
  # proftpd wants to resolve the host name (the root filesystem's /etc/hosts
  # has only localhost).
  grep -qw "$(hostname)" /etc/hosts || echo "127.0.1.1 $(hostname)" >>/etc/hosts
  step "before"
  record_before
  [[ -z $(dpkg-divert --list "$MODDIR/*") ]] || fail "diversions before the test"

  for other in "$@"; do
    other_series "$other"
  done

  step "prxs-install.sh's files there: the preinst refuses (abort-install)"
  : >"$MODDIR/mod_redis.so.c-orig"
  got=$(apt_get install "$deb" 2>&1) && fail "apt installed $deb over prxs-install.sh's files"
  echo "$got" >&2
  grep -q "run 'prxs-install.sh --uninstall' first" <<<"$got" || fail "apt failed, but not in the preinst: $got"
  rm -f -- "$MODDIR/mod_redis.so.c-orig"
  # dpkg keeps the failed new package as "config-files" (for its postrm purge).
  dpkg --purge "$PACKAGE" >&2 2>&1 || fail "dpkg --purge after the refused install"
  check_removed

  step "apt install $deb"
  apt_get install "$deb" >&2 2>&1 || fail "apt install $deb"
  check_installed "$v1"
  [[ $(etc_state) == "${before[etc]}" ]] || fail "installing changed /etc/proftpd"

  step "proftpd with our LoadModule lines"
  proftpd_checks

  step "apt reinstall"
  apt_get install --reinstall "$deb" >&2 2>&1 || fail "apt install --reinstall $deb"
  check_installed "$v1"

  step "upgrade to $v2"
  apt_get install "$deb_next" >&2 2>&1 || fail "apt install $deb_next"
  check_installed "$v2"

  if [[ $core != - ]]; then
    step "proftpd-core unpacked again: $core"
    ino_before=$(stat -c %i "$MODDIR/mod_redis.so$DIVERT_SUFFIX")
    dpkg -i "$core" >&2 2>&1 || fail "dpkg -i $core"
    ino_after=$(stat -c %i "$MODDIR/mod_redis.so$DIVERT_SUFFIX")
    [[ $ino_before != "$ino_after" ]] || fail "dpkg did not rewrite mod_redis.so$DIVERT_SUFFIX"
    check_installed "$v2"
    proftpd_checks
  fi

  step "apt remove"
  apt_get remove "$PACKAGE" >&2 2>&1 || fail "apt remove"
  check_removed

  step "apt install + purge"
  apt_get install "$deb_next" >&2 2>&1 || fail "apt install $deb_next (after remove)"
  check_installed "$v2"
  apt_get purge "$PACKAGE" >&2 2>&1 || fail "apt purge"
  check_removed
  got=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PACKAGE" 2>/dev/null) || true
  [[ -z $got || $got == "un " || $got == "pn " ]] || fail "$PACKAGE is '$got' after purge, not purged"

  local core_note="proftpd-core re-unpack skipped (no .deb)"
  [[ $core == - ]] || core_note="proftpd-core re-unpacked"
  echo "ok (apt install, reinstall, upgrade, remove, purge; proftpd -t and a daemon with" \
    "the 4 modules; C modules byte-equal; $# other-series .deb refused; prxs-install.sh's files refused; $core_note)"
}

if [[ ${1:-} == --inside ]]; then
  shift
  (($# >= 4)) || die "--inside SUITE DEB DEB_NEXT CORE_DEB|- [OTHER...]"
  inside_main "$@"
  exit 0
fi

# =================================================================================
# This machine: build, lint, then each SUITE in its scratch root filesystem.
# =================================================================================

[[ $(id -u) == 0 ]] || die "run as root (scripts/rootfs.sh needs it)"
suites=("$@")
((${#suites[@]})) || suites=(bullseye bookworm trixie sid)
# shellcheck source=scripts/apt-mirror.sh
. "$here/apt-mirror.sh"
mirror="" # proftpd_rs_mirror's, when a proftpd-core .deb is to be fetched
mkdir -p "$work"

# The Depends range of deb.sh against the versions Debian uses (dpkg's order).
range_check() {
  local v want lo hi
  while read -r lo hi v want; do
    if dpkg --compare-versions "$v" ge "$lo~" && dpkg --compare-versions "$v" lt "$hi~"; then
      [[ $want == in ]] || return 1
    else
      [[ $want == out ]] || return 1
    fi
  done <<'EOF'
1.3.8 1.3.9 1.3.8+dfsg-4+deb12u5 in
1.3.8 1.3.9 1.3.8.c+dfsg-4+deb13u5 in
1.3.8 1.3.9 1.3.8.d+dfsg-1 in
1.3.8 1.3.9 1.3.8~rc4-1 in
1.3.8 1.3.9 1.3.7d+dfsg-1 out
1.3.8 1.3.9 1.3.9e~dfsg-1 out
1.3.8 1.3.9 1.3.9.e+dfsg-1 out
1.3.8 1.3.9 1.3.9~rc1-1 out
1.3.8 1.3.9 1.3.10-1 out
1.3.9 1.3.10 1.3.9e~dfsg-1 in
1.3.9 1.3.10 1.3.9.e+dfsg-1 in
1.3.9 1.3.10 1.3.8.c+dfsg-4+deb13u5 out
1.3.9 1.3.10 1.3.10~rc1 out
1.3.7 1.3.8 1.3.7a+dfsg-12+deb11u2 in
1.3.7 1.3.8 1.3.7c+dfsg-1ubuntu0.1 in
1.3.7 1.3.8 1.3.8~rc4-1 out
1.3.7 1.3.8 1.3.8+dfsg-4+deb12u5 out
1.3.8 1.3.9 1.3.7a+dfsg-12+deb11u2 out
EOF
}
range_check || die "the Depends range does not order Debian's proftpd versions as expected"

declare -A deb=() deb_next=() series=() core=() secs=()
status=0
for s in "${suites[@]}"; do
  t0=$(date +%s)
  log=$work/$s.log
  : >"$log"
  if ! deb[$s]=$("$here/deb.sh" --out "$work" "$s" 2>>"$log" | tail -n1) || [[ -z ${deb[$s]} ]]; then
    echo "$s: FAILED: scripts/deb.sh $s (see $log)"
    status=1
    continue
  fi
  deb_next[$s]=$("$here/deb.sh" --no-build --revision 2 --out "$work/next" "$s" 2>>"$log" | tail -n1) ||
    die "$s: deb.sh --revision 2"
  series[$s]=$(dpkg-deb -f "${deb[$s]}" Depends | grep -o 'proftpd-core (>= [^)~]*' | cut -d' ' -f3)
  # proftpd-core's .deb of SUITE, for the re-unpack step (optional).
  dir=$("$here/rootfs.sh" path "$s")
  # shellcheck disable=SC2016 # dpkg-query's ${...}
  v=$(chroot "$dir" dpkg-query -W -f='${Version}' proftpd-core)
  # shellcheck disable=SC2016
  src=$(chroot "$dir" dpkg-query -W -f='${source:Package}' proftpd-core)
  a=$(chroot "$dir" dpkg --print-architecture)
  f="$work/$s/proftpd-core_${v#*:}_$a.deb"
  if [[ ! -s $f ]]; then
    [[ -n $mirror ]] || mirror=$(proftpd_rs_mirror archive) ||
      die "no Debian mirror to fetch proftpd-core's .deb from"
    if curl -fsS --max-time 120 -o "$f.tmp" \
      "$mirror/pool/main/${src:0:1}/$src/proftpd-core_${v#*:}_$a.deb" 2>>"$log"; then
      mv -- "$f.tmp" "$f"
    else
      rm -f -- "$f.tmp"
    fi
  fi
  core[$s]=-
  [[ -s $f ]] && core[$s]=$f
  secs[$s]=$(($(date +%s) - t0))
done

# lintian of each SUITE (in its root filesystem, which has it: setup.sh's
# list) on that SUITE's packages, every tag shown (--pedantic -I, overrides
# too: -L +>=pedantic --show-overrides); an error or a warning fails.
declare -A lintian_tags=()
for s in "${suites[@]}"; do
  [[ -n ${deb[$s]:-} ]] || continue
  rc=0
  # shellcheck disable=SC2016 # expanded inside
  out=$("$here/rootfs.sh" run --scratch "$s" -- /bin/sh -c '
    echo "lintian $(lintian --version | sed "s/^Lintian v//")"
    lintian --pedantic -I --show-overrides --fail-on error,warning "$@"' lintian \
    "/src/${deb[$s]#"$project"/}" "/src/${deb_next[$s]#"$project"/}" 2>&1) || rc=$?
  out=$(grep -v 'running with root privileges' <<<"$out" || true)
  echo "${deb[$s]#"$project"/}: $out (exit status $rc)" >>"$work/$s.log"
  # The tags: "X: package[ type]: tag ..." lines (O: overridden).
  lintian_tags[$s]=$(grep -oE '^[EWIPXO]: [^:]+: [a-z0-9-]+' <<<"$out" | awk '{ print $1 $NF }' |
    sort -u | tr '\n' ' ' || true)
  if ((rc)); then
    echo "$s: FAILED: lintian: ${out//$'\n'/ | }"
    status=1
    deb[$s]=""
  fi
done

# Each SUITE, with the .debs of the other series present in target/deb-test/.
for s in "${suites[@]}"; do
  [[ -n ${deb[$s]:-} ]] || continue
  t0=$(date +%s)
  # One .deb of each other release series (this run's, or an earlier one's).
  declare -A by_series=()
  for f in "$work"/*/"$PACKAGE"_*.deb; do
    [[ -f $f ]] || continue
    fs=$(dpkg-deb -f "$f" Depends | grep -o 'proftpd-core (>= [^)~]*' | cut -d' ' -f3)
    [[ $fs != "${series[$s]}" && -z ${by_series[$fs]:-} ]] || continue
    by_series[$fs]=/src/${f#"$project"/}
  done
  others=("${by_series[@]}")
  unset by_series
  to_src() { [[ $1 == - ]] && echo - || echo "/src/${1#"$project"/}"; }
  if out=$("$here/rootfs.sh" run --scratch "$s" -- /src/scripts/deb-test.sh --inside "$s" \
    "$(to_src "${deb[$s]}")" "$(to_src "${deb_next[$s]}")" "$(to_src "${core[$s]}")" \
    "${others[@]}" 2>>"$work/$s.log"); then
    line=$(tail -n1 <<<"$out")
  else
    line=$(tail -n1 <<<"$out")
    [[ $line == FAILED* ]] || line="FAILED: ${line:-the test stopped} (see ${work#"$project"/}/$s.log)"
    status=1
  fi
  size=$(du -k "${deb[$s]}" | cut -f1)
  echo "$s: $line; $(basename "${deb[$s]}") ${size} KiB; lintian: ${lintian_tags[$s]:-clean}; build ${secs[$s]}s, test $(($(date +%s) - t0))s"
done
exit "$status"
