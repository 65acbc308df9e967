#!/usr/bin/env bash
# Set-up of a Debian machine for building and testing proftpd-rs: installs
# whatever is missing of the Debian packages below, and Rust stable (rustup,
# with rustfmt and clippy) when there is no cargo.  Says what it installs;
# installs nothing (and runs no apt-get) when all is there.
#
# Used by ./demo.sh, ./test.sh and .ci/run, which source it (so that a Rust
# installed here is on their PATH):
#
#   . scripts/setup.sh          # or: scripts/setup.sh (then: . ~/.cargo/env)
#
# PROFTPD_RS_SETUP=0 skips it (a machine set up by other means).
# Needs root (or sudo) only when something is missing.

# Sourced into the callers' `set -euo pipefail` shells: no `exit`; it leaves
# behind PATH (cargo), PROFTPD_RS_PACKAGES and the proftpd_rs_* functions.
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
  proftpd_rs_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
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
