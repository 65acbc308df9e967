#!/usr/bin/env bash
# Set-up of a Debian machine for building and testing proftpd-rs: installs
# whatever is missing of the Debian packages below, and Rust stable (rustup,
# with rustfmt and clippy) when there is no cargo.  Says what it installs;
# installs nothing (and runs no apt-get) when all is there.
#
# It opens no server: proftpd-core, redis-server and redis-sentinel come with
# services that their packages start at once and enable at boot (Debian's
# proftpd would listen on port 21 on every interface and let the system's
# accounts log in over plain FTP).  While it installs, a policy-rc.d refuses
# every service start (invoke-rc.d and deb-systemd-invoke ask it); an existing
# /usr/sbin/policy-rc.d that already refuses is left alone, any other is moved
# aside and put back afterwards.  Of those packages, the ones it installed get
# their services stopped (should one have started anyway) and disabled at
# boot, saying so; packages that were there already are left as they are.
#
# Used by ./demo.sh, ./test.sh and .ci/run, which source it (so that a Rust
# installed here is on their PATH):
#
#   . scripts/setup.sh          # or: scripts/setup.sh (then: . ~/.cargo/env)
#
# PROFTPD_RS_SETUP=0 skips it (a machine set up by other means).
# Needs root (or sudo) only when something is missing.

# Sourced into the callers' `set -euo pipefail` shells: no `exit`; it leaves
# behind PATH (cargo), PROFTPD_RS_PACKAGES, PROFTPD_RS_SERVICES,
# PROFTPD_RS_INSTALLED (the packages this run installed) and the proftpd_rs_*
# functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
fi

# The Debian 12 (bookworm) packages: proftpd 1.3.8 with headers and prxs; the
# C modules (parity tests) come with proftpd-core and proftpd-mod-crypto;
# redis for mod_redis; libclang for bindgen; gcc/binutils for cargo's linker
# and nm (prxs-install.sh); curl for the demo's FTP session and rustup.
PROFTPD_RS_PACKAGES=(
  proftpd-core proftpd-dev proftpd-mod-crypto proftpd-mod-sqlite sqlite3
  redis-server redis-sentinel
  libclang-dev clang pkg-config gcc libc6-dev binutils
  curl openssl ca-certificates python3 valgrind
  # test.sh lints every shell script.
  shellcheck
  # sftp, scp and ssh-keygen: the SFTP/SCP tests of mod_xferlog (tests/xferlog.rs,
  # tests/harness/ssh.rs) against Debian's mod_sftp (from proftpd-mod-crypto).
  openssh-client
  dpkg-dev lintian # scripts/deb.sh (dpkg-shlibdeps) and scripts/deb-test.sh (lintian)
)

proftpd_rs_setup_say() { echo "setup: $*"; }

# As root, or through sudo.
proftpd_rs_as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup: error: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

# The packages of the list that come with a service: PACKAGE:SERVICE:PIDFILE
# (the pid file of its init script, for machines without systemd) and the
# TCP ports their Debian configurations listen on.
PROFTPD_RS_SERVICES=(
  proftpd-core:proftpd:/run/proftpd.pid
  redis-server:redis-server:/run/redis/redis-server.pid
  redis-sentinel:redis-sentinel:/run/sentinel/redis-sentinel.pid
)
# shellcheck disable=SC2034 # for the callers (.ci/run, scripts/setup-test.sh)
PROFTPD_RS_SERVICE_PORTS=(21 6379 26379)
# shellcheck disable=SC2034 # for the callers
PROFTPD_RS_INSTALLED=()

# --- no service starts while packages install ---------------------------------
# invoke-rc.d (init scripts) and deb-systemd-invoke (systemd units) ask
# /usr/sbin/policy-rc.d before they start anything; exit status 101 means no.

PROFTPD_RS_POLICY_MARK="proftpd-rs scripts/setup.sh"

# Does the policy-rc.d there refuse to start each of our services?
proftpd_rs_policy_refuses() {
  local policy=/usr/sbin/policy-rc.d entry name unit rc
  [[ -x $policy ]] || return 1
  for entry in "${PROFTPD_RS_SERVICES[@]}"; do
    name=${entry#*:}
    name=${name%%:*}
    for unit in "$name" "$name.service"; do
      rc=0
      "$policy" "$unit" start >/dev/null 2>&1 </dev/null || rc=$?
      ((rc == 101)) || return 1
    done
  done
}

# An earlier run that was killed (SIGKILL, power loss) may have left ours in
# place and the one it found aside: put that one back.
proftpd_rs_policy_recover() {
  local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.proftpd-rs-saved
  if [[ -f $policy && ! -L $policy ]] && grep -qF "$PROFTPD_RS_POLICY_MARK" "$policy" 2>/dev/null; then
    if [[ -e $saved || -L $saved ]]; then
      proftpd_rs_setup_say "an interrupted earlier run left its $policy in place: putting back the one it had moved aside"
      proftpd_rs_as_root mv -fT -- "$saved" "$policy"
    else
      proftpd_rs_setup_say "an interrupted earlier run left its $policy in place: removing it"
      proftpd_rs_as_root rm -f -- "$policy"
    fi
  fi
}

# Puts ours in place (moving an existing one aside); say what.
proftpd_rs_policy_install() {
  local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.proftpd-rs-saved
  if [[ -e $policy || -L $policy ]]; then
    proftpd_rs_setup_say "moving $policy aside while the packages install (it does not refuse every start of proftpd and redis); it is put back afterwards"
    proftpd_rs_as_root mv -fT -- "$policy" "$saved"
  else
    proftpd_rs_setup_say "no service may start while the packages install: a $policy that refuses (removed afterwards)"
  fi
  # shellcheck disable=SC2016 # for the inner shell
  proftpd_rs_as_root sh -c 'umask 022
    printf "#!/bin/sh\n# %s: no service starts while it installs packages;\n# removed when it is done.\nexit 101\n" "$2" >"$1.new" &&
    chmod 0755 "$1.new" && mv -fT -- "$1.new" "$1"' sh "$policy" "$PROFTPD_RS_POLICY_MARK"
}

# Removes ours and puts back what was there.
proftpd_rs_policy_restore() {
  local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.proftpd-rs-saved
  if [[ -f $policy && ! -L $policy ]] && grep -qF "$PROFTPD_RS_POLICY_MARK" "$policy" 2>/dev/null; then
    proftpd_rs_as_root rm -f -- "$policy"
  fi
  if [[ -e $saved || -L $saved ]]; then
    proftpd_rs_as_root mv -fT -- "$saved" "$policy"
    proftpd_rs_setup_say "put back $policy as it was"
  fi
}

# proftpd_rs_without_service_starts CMD...: runs CMD (as it is: root
# only through proftpd_rs_as_root inside) while no service may start; its
# exit status.  Whatever happens to CMD (failure, Ctrl-C, SIGTERM), what was
# at /usr/sbin/policy-rc.d is back afterwards.
proftpd_rs_without_service_starts() {
  proftpd_rs_policy_recover
  if proftpd_rs_policy_refuses; then
    proftpd_rs_setup_say "/usr/sbin/policy-rc.d already refuses to start services: no service starts while the packages install (left as it is)"
    "$@"
    return
  fi
  (
    trap proftpd_rs_policy_restore EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    proftpd_rs_policy_install
    "$@"
  )
}

# --- the services of the packages installed ------------------------------------

proftpd_rs_systemd_running() {
  [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1
}

# proftpd_rs_service_running NAME PIDFILE
proftpd_rs_service_running() {
  local name=$1 pidfile=$2 pid comm
  if proftpd_rs_systemd_running; then
    systemctl is-active --quiet "$name.service" 2>/dev/null && return 0
  fi
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "${name%%-*}"* ]]
}

# proftpd_rs_service_enabled NAME: starts at boot (systemd or init script links)?
proftpd_rs_service_enabled() {
  local name=$1 f
  for f in /etc/systemd/system/*.wants/"$name".service /etc/rc[S2345].d/S[0-9][0-9]"$name"; do
    [[ -e $f || -L $f ]] && return 0
  done
  return 1
}

# proftpd_rs_setup_services PACKAGE...: for the packages of
# PROFTPD_RS_SERVICES among them (just installed by us), stops a service that
# runs and disables one enabled at boot; says what.
proftpd_rs_setup_services() {
  local entry pkg name pidfile did
  for entry in "${PROFTPD_RS_SERVICES[@]}"; do
    pkg=${entry%%:*} name=${entry#*:}
    pidfile=${name#*:} name=${name%%:*}
    [[ " $* " == *" $pkg "* ]] || continue
    did=""
    if proftpd_rs_service_running "$name" "$pidfile"; then
      if proftpd_rs_systemd_running; then
        proftpd_rs_as_root systemctl stop "$name.service" || true
      elif [[ -x /etc/init.d/$name ]]; then
        # Directly: invoke-rc.d would ask policy-rc.d, which may refuse.
        proftpd_rs_as_root "/etc/init.d/$name" stop >/dev/null || true
      fi
      if proftpd_rs_service_running "$name" "$pidfile"; then
        echo "setup: error: $name (package $pkg) started during the install and could not be stopped; stop it: systemctl stop $name (or /etc/init.d/$name stop)" >&2
        return 1
      fi
      did="stopped it (it had started during the install)"
    fi
    if proftpd_rs_service_enabled "$name"; then
      # systemctl disable also turns the init script's links off (through
      # systemd-sysv-install); update-rc.d disable also removes the unit's
      # links (itself when there is no systemctl).  Either works without a
      # running systemd, and an upgrade of the package keeps them disabled.
      if command -v systemctl >/dev/null 2>&1; then
        proftpd_rs_as_root systemctl disable --quiet "$name.service" >/dev/null 2>&1 || true
      fi
      if [[ -f /etc/init.d/$name ]] && command -v update-rc.d >/dev/null 2>&1 &&
        proftpd_rs_service_enabled "$name"; then
        proftpd_rs_as_root update-rc.d "$name" disable >/dev/null 2>&1 || true
      fi
      if proftpd_rs_service_enabled "$name"; then
        echo "setup: warning: could not disable $name at boot (package $pkg); do it yourself: systemctl disable $name (or update-rc.d $name disable)" >&2
      else
        did+="${did:+, }disabled it at boot"
      fi
    fi
    if [[ -n $did ]]; then
      proftpd_rs_setup_say "service $name (package $pkg, installed as a build and test dependency): $did; to run it: systemctl enable --now $name (or update-rc.d $name enable; service $name start)"
    else
      proftpd_rs_setup_say "service $name (package $pkg): not running, not enabled at boot"
    fi
  done
}

# proftpd_rs_listening PORT...: the TCP sockets listening on these ports (in
# this network namespace), one ADDRESS:PORT a line (0.0.0.0:21, [::]:21).
proftpd_rs_listening() {
  local port want=" " addr st a p
  for port in "$@"; do
    want+="$(printf '%04X' "$port") "
  done
  while read -r _ addr _ st _; do
    [[ $st == 0A ]] || continue
    a=${addr%:*} p=${addr#*:}
    [[ $want == *" $p "* ]] || continue
    case $a in
    ????????) a=$((16#${a:6:2})).$((16#${a:4:2})).$((16#${a:2:2})).$((16#${a:0:2})) ;;
    00000000000000000000000000000000) a="[::]" ;;
    00000000000000000000000001000000) a="[::1]" ;;
    *) a="[$a]" ;;
    esac
    echo "$a:$((16#$p))"
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
}

# The Debian packages: one dpkg-query when all are there.
proftpd_rs_setup_packages() {
  local p installed missing=()
  if ! command -v dpkg-query >/dev/null 2>&1; then
    proftpd_rs_setup_say "not a Debian system (no dpkg-query): make sure these (or your" \
      "distribution's equivalents) are installed: ${PROFTPD_RS_PACKAGES[*]}"
    return 0
  fi
  # "NAME installed" lines (unknown packages: a message on stderr, and no line).
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
    "${PROFTPD_RS_PACKAGES[@]}" 2>/dev/null || true)
  for p in "${PROFTPD_RS_PACKAGES[@]}"; do
    [[ $'\n'$installed$'\n' == *$'\n'"$p installed"$'\n'* ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  proftpd_rs_setup_say "installing Debian packages: ${missing[*]}"
  proftpd_rs_as_root apt-get update
  proftpd_rs_without_service_starts proftpd_rs_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
  # shellcheck disable=SC2034 # for the callers
  PROFTPD_RS_INSTALLED=("${missing[@]}")
  proftpd_rs_setup_services "${missing[@]}"
}

# Rust stable with rustfmt and clippy, when there is no cargo.
proftpd_rs_setup_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    proftpd_rs_setup_say "installing Rust stable with rustfmt and clippy (rustup, into $HOME/.cargo)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --component rustfmt,clippy
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if command -v rustup >/dev/null 2>&1; then
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
      proftpd_rs_setup_say "installing the rustfmt and clippy components (rustup)"
      rustup component add rustfmt clippy
    fi
  fi
}

proftpd_rs_setup() {
  [[ ${PROFTPD_RS_SETUP:-1} != 0 ]] || return 0
  proftpd_rs_setup_packages
  proftpd_rs_setup_rust
}

proftpd_rs_setup

# Run (not sourced): a Rust installed here is on our PATH only.
if [[ ${BASH_SOURCE[0]} == "$0" && ${PROFTPD_RS_SETUP:-1} != 0 ]]; then
  proftpd_rs_setup_say "ready: $(cargo --version) (a new shell may need: . \"\$HOME/.cargo/env\")"
fi
