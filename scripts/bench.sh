#!/usr/bin/env bash
# Our modules vs Debian's C modules, in one run: see docs/benchmarks.md.
#
#   scripts/bench.sh [GROUP...]     GROUP: session redis forensic xferlog (default: all)
#   scripts/bench.sh --instructions [GROUP...]   instruction counts (callgrind)
#   scripts/bench.sh --drain        RedisLogSpool: a spool of 1M events drained
#                                   into Redis by sessions and by redis-spool
#                                   (BENCH_DRAIN_EVENTS, BENCH_DRAIN_FILES,
#                                   BENCH_DRAIN_LIVE_ROUNDS)
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
# The code layout (proftpd-glue/symbol-order.txt, docs/benchmarks.md) names
# functions by their mangled names, which change with the code and the
# toolchain: say so when most of them are gone from the build.
cargo build --release --lib
order=proftpd-glue/symbol-order.txt
lib=target/release/libproftpd_rs.so
if [[ -f $order ]] && command -v nm >/dev/null 2>&1; then
  listed=$(sort -u "$order" | wc -l)
  found=$(nm "$lib" | awk '{print $NF}' | sort -u | comm -12 - <(sort -u "$order") | wc -l)
  echo "bench.sh: code layout: $found of $listed functions of $order are in the build"
  if ((found * 10 < listed * 9)); then
    echo "bench.sh: the code layout is stale: run scripts/symbol-order.py, rebuild, commit" >&2
  fi
fi
exec cargo bench --bench compare -- "$@"
