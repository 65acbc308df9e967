#!/usr/bin/env bash
# The forensic capture figures of the comparison benchmark alone
# (docs/benchmarks.md): the same session of many commands against Debian's C
# mod_log_forensic and ours, engine off and on, in two modes (`trace0`:
# TraceLog + Trace DEFAULT:0; `handler`: everything formatted and written to
# /dev/null in all configs, so the difference is the capture handler alone).
#
#   scripts/bench-forensic.sh [commands-per-session] [rounds]
#
# Medians over the rounds (interleaved); see scripts/bench.sh.
set -euo pipefail
cmds=${1:-6000}
export BENCH_FORENSIC_CMDS=$cmds BENCH_HANDLER_CMDS=$cmds
export BENCH_ROUNDS=${2:-${BENCH_ROUNDS:-9}}
exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" forensic
