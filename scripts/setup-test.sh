#!/usr/bin/env bash
# Test of scripts/setup.sh's install path, for real: in a throw-away copy of
# a Debian release's root filesystem (scripts/rootfs.sh run --scratch), made
# to start services the way a booted machine does (runlevel 2, an init), with
# proftpd-core, redis-server and redis-sentinel purged, setup.sh installs
# them with apt-get, once for each kind of /usr/sbin/policy-rc.d it may find:
# none, one that allows starts, one that refuses them (a Docker-style image).
# Each time, after the set-up: nothing listens on ports 21, 6379 or 26379, no
# proftpd or redis process runs, none of the three services is enabled at
# boot, the policy-rc.d is as it was, and setup.sh said what it did.  First a
# control: there, without setup.sh, the packages' own start (invoke-rc.d)
# does start proftpd and redis-server, so the test can fail.  Run as root.
#
#   scripts/setup-test.sh [SUITE...]     (default: bookworm)
#
# Everything that could start a server runs in a private network namespace:
# nothing is ever reachable from outside, even when the test fails.  The
# packages are downloaded before (apt-get install --download-only); setup.sh
# then runs offline.  Prints one line per case.
#
# shellcheck disable=SC2317 # functions run by another bash (declare -f)
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { echo "setup-test: $*" >&2; }
die() {
  echo "setup-test: error: $*" >&2
  exit 1
}

# ============ inside the root filesystem (/src is the project) ===============

# Brings the loopback interface of this (new) network namespace up: the
# services bind 127.0.0.1.  (python3 is in the package list; ip may not be.)
lo_up() {
  python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))'
}

# The proftpd and redis processes in this network namespace: "PID COMM" lines.
our_processes() {
  local me p comm
  me=$(readlink /proc/self/ns/net)
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/ns/net" 2>/dev/null) == "$me" ]] || continue
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case $comm in
    proftpd | redis-server | redis-sentinel | redis-check-rdb) echo "${p#/proc/} $comm" ;;
    esac
  done
}

# Stops what our_processes lists (started in this namespace by this test).
stop_our_processes() {
  local pid _ i
  while read -r pid _; do
    kill -TERM "$pid" 2>/dev/null || true
  done < <(our_processes)
  for ((i = 0; i < 100; i++)); do
    [[ -z $(our_processes) ]] && return 0
    sleep 0.1
  done
  while read -r pid _; do
    kill -KILL "$pid" 2>/dev/null || true
  done < <(our_processes)
}

# What the policy-rc.d is: stat (inode, mode, mtime, ctime, type) and sha256.
policy_state() {
  local p=/usr/sbin/policy-rc.d
  if [[ -e $p || -L $p ]]; then
    echo "$(stat -c '%i %a %Y %Z %F' "$p") $(sha256sum <"$p" | cut -c1-16)"
  else
    echo none
  fi
}

enabled_services() {
  local entry name
  for entry in "${PROFTPD_RS_SERVICES[@]}"; do
    name=${entry#*:}
    name=${name%%:*}
    if proftpd_rs_service_enabled "$name"; then echo "$name"; fi
  done
}

# The control, in a network namespace: the packages' way of starting
# (postinst: invoke-rc.d --skip-systemd-native NAME start) starts them here.
control() {
  local i l=""
  lo_up
  invoke-rc.d --skip-systemd-native proftpd start >/dev/null 2>&1 || true
  invoke-rc.d --skip-systemd-native redis-server start >/dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    # (distinct ports: redis listens on 127.0.0.1 and ::1)
    l=$(proftpd_rs_listening 21 6379 | sed 's/.*://' | sort -u | wc -l)
    ((l == 2)) && break
    sleep 0.1
  done
  stop_our_processes
  echo "control: $l of 2 ports listening"
}

# One case, in a network namespace: setup.sh, then what is left.
install_case() {
  lo_up
  local rc=0 t0
  t0=$(date +%s)
  /src/scripts/setup.sh >/tmp/setup.out 2>&1 || rc=$?
  echo "setup: rc=$rc, $(($(date +%s) - t0)) s"
  # (A service started anyway is a process by now, found below; a second
  # more for it to bind, so that the port check sees it too.)
  sleep 1
  echo "listening: $(proftpd_rs_listening "${PROFTPD_RS_SERVICE_PORTS[@]}" | tr '\n' ' ')"
  echo "processes: $(our_processes | tr '\n' ' ')"
  stop_our_processes
}

inside() {
  local suite=$1 failed=0 kind before after out want l problems
  # shellcheck source=scripts/setup.sh
  PROFTPD_RS_SETUP=0 . /src/scripts/setup.sh
  export DEBIAN_FRONTEND=noninteractive

  # A machine that starts services: invoke-rc.d asks runlevel (2 here) and
  # finds an init, and then starts what has S links in rc2.d.
  rm -f /usr/sbin/runlevel
  printf '#!/bin/sh\necho "N 2"\n' >/usr/sbin/runlevel
  [[ -e /usr/sbin/init ]] || printf '#!/bin/sh\nexit 0\n' >/usr/sbin/init
  chmod 0755 /usr/sbin/runlevel /usr/sbin/init
  rm -f /usr/sbin/policy-rc.d

  out=$(unshare --net -- bash -c "$(declare -f lo_up our_processes stop_our_processes proftpd_rs_listening control); control")
  echo "$suite: $out"
  [[ $out == "control: 2 of 2 ports listening" ]] ||
    die "$suite: without setup.sh, invoke-rc.d did not start proftpd and redis-server here: this test would prove nothing"

  # The packages setup.sh will install: downloaded now (the cases run offline).
  apt-get purge -y -q proftpd-core redis-server redis-sentinel >/tmp/purge.out 2>&1 ||
    die "apt-get purge failed: $(tail -n 5 /tmp/purge.out)"
  apt-get update -q >/dev/null 2>&1 || die "apt-get update failed"
  apt-get install -y -q --download-only --no-install-recommends "${PROFTPD_RS_PACKAGES[@]}" \
    >/tmp/download.out 2>&1 || die "apt-get install --download-only failed: $(tail -n 5 /tmp/download.out)"

  for kind in none allows refuses; do
    case $kind in
    none) ;;
    allows)
      printf '#!/bin/sh\n# a site policy\nexit 0\n' >/usr/sbin/policy-rc.d
      chmod 0750 /usr/sbin/policy-rc.d
      touch -d '2019-05-06 07:08:09' /usr/sbin/policy-rc.d
      ;;
    refuses)
      printf '#!/bin/sh\n# Docker-style\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      touch -d '2021-02-03 04:05:06' /usr/sbin/policy-rc.d
      ;;
    esac
    before=$(policy_state)
    out=$(unshare --net -- bash -c "$(declare -f lo_up our_processes stop_our_processes proftpd_rs_listening install_case)
      PROFTPD_RS_SERVICE_PORTS=(${PROFTPD_RS_SERVICE_PORTS[*]}); install_case")
    after=$(policy_state)
    problems=()
    [[ $out == *"setup: rc=0,"* ]] || problems+=("setup.sh failed")
    l=$(sed -n 's/^listening: *//p' <<<"$out")
    [[ -z ${l// /} ]] || problems+=("listening: $l")
    l=$(sed -n 's/^processes: *//p' <<<"$out")
    [[ -z ${l// /} ]] || problems+=("running: $l")
    [[ -z $(enabled_services) ]] || problems+=("enabled at boot: $(enabled_services | tr '\n' ' ')")
    if [[ $kind == allows ]]; then
      # A rename changes only the ctime (4th field).
      [[ $(cut -d' ' -f1-3,5- <<<"$before") == $(cut -d' ' -f1-3,5- <<<"$after") ]] ||
        problems+=("policy-rc.d was [$before], is [$after]")
    else
      [[ $before == "$after" ]] || problems+=("policy-rc.d was [$before], is [$after]")
    fi
    [[ -z $(compgen -G '/usr/sbin/policy-rc.d.proftpd-rs*') ]] || problems+=("a saved policy-rc.d is left")
    case $kind in
    none) want="no service may start while the packages install" ;;
    allows) want="put back /usr/sbin/policy-rc.d as it was" ;;
    refuses) want="already refuses to start services" ;;
    esac
    grep -qF "$want" /tmp/setup.out || problems+=("setup.sh did not say: $want")
    for want in proftpd redis-server redis-sentinel; do
      grep -qE "^setup: service $want \(.*disabled it at boot" /tmp/setup.out ||
        problems+=("setup.sh did not say it disabled $want")
    done
    if ((${#problems[@]})); then
      failed=1
      echo "$suite: policy-rc.d $kind: FAILED: $(printf '%s; ' "${problems[@]}")"
      sed 's/^/    /' /tmp/setup.out
    else
      echo "$suite: policy-rc.d $kind: passed ($(sed -n 's/^setup: rc=0, //p' <<<"$out") install; nothing listening on ${PROFTPD_RS_SERVICE_PORTS[*]}, no proftpd or redis running, none enabled at boot; policy-rc.d as it was)"
      grep -E '^setup: (no service|moving|put back|/usr/sbin/policy-rc.d|service )' /tmp/setup.out | sed 's/^/    /'
    fi
    rm -f /usr/sbin/policy-rc.d
    if [[ $kind != refuses ]]; then
      apt-get purge -y -q proftpd-core redis-server redis-sentinel >/tmp/purge.out 2>&1 ||
        die "apt-get purge failed: $(tail -n 5 /tmp/purge.out)"
    fi
  done
  return "$failed"
}

if [[ ${1:-} == --inside ]]; then
  inside "${2:?}"
  exit
fi

# ================================ on the host ====================================

case ${1:-} in
-h | --help)
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
  ;;
esac
[[ $(id -u) == 0 ]] || die "run as root (scripts/rootfs.sh)"
suites=("$@")
((${#suites[@]})) || suites=(bookworm)
rc=0
for suite in "${suites[@]}"; do
  t0=$(date +%s)
  say "$suite: in a throw-away copy of its root filesystem (scripts/rootfs.sh run --scratch)"
  if ! "$here/rootfs.sh" run --scratch "$suite" -- /bin/bash /src/scripts/setup-test.sh --inside "$suite"; then
    rc=1
    say "$suite: FAILED"
  fi
  say "$suite: $(($(date +%s) - t0)) s"
done
exit "$rc"
