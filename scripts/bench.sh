#!/usr/bin/env bash
# Our modules vs Debian's C modules, in one run: see docs/benchmarks.md.
#
#   scripts/bench.sh [GROUP...]     GROUP: session redis forensic xferlog (default: all)
#
# A thin wrapper around `cargo bench --bench compare` (release build; run as
# root: the benchmark starts real proftpd servers). Parameters are environment
# variables: BENCH_ROUNDS (50), BENCH_SESSIONS (4), BENCH_NOOPS (300),
# BENCH_REPLICAS (3), BENCH_FORENSIC_CMDS (2000), BENCH_HANDLER_CMDS (1000), BENCH_TRANSFERS (40),
# BENCH_HANG_WAIT (5 s). Not part of ./test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) != 0 ]]; then
  echo "bench.sh: run as root (proftpd must bind and switch users)" >&2
  exit 1
fi
if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
exec cargo bench --bench compare -- "$@"
