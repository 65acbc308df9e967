#!/usr/bin/env bash
# The release matrix: for each Debian release, build proftpd-rs against that
# release's proftpd-dev and run the test suite (unit and integration tests;
# not the long gauntlet, which ./test.sh runs on this machine's release)
# against that release's real proftpd and redis-server, inside a root
# filesystem of the release made from Debian's packages (scripts/rootfs.sh,
# cached).  Where the release has Valkey (valkey-server, Debian 13 and
# later), the test files that start a Redis server run a second time against
# Valkey (REDIS_SERVER_BIN=valkey-server; tests/harness/redis.rs), as a row
# of its own ("trixie+valkey").  Run as root.
#
#   scripts/matrix.sh [SUITE...]        default: bullseye bookworm trixie sid
#
# Prints one line per row (suite, proftpd and Redis/Valkey versions, tests
# passed/failed/ignored, time) and a Markdown table of the same in
# target/matrix/summary.md; each row's full output is in
# target/matrix/SUITE.log (SUITE-valkey.log).  A row that fails to build or
# to start prints its FAILED line too, and the other rows still run.  Exits
# non-zero when a row failed.  Extra `cargo test` arguments:
# PROFTPD_RS_MATRIX_ARGS (e.g. "--test redis"); PROFTPD_RS_MATRIX_VALKEY=0
# skips the Valkey runs.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."

suites=("$@")
((${#suites[@]})) || suites=(bullseye bookworm trixie sid)
out=target/matrix
mkdir -p "$out"

# The test command inside a release: its own target folder (shared with
# scripts/deb.sh and the Docker images), every failure reported.  $1: the
# suite; $2: the server binary ("redis-server" or "valkey-server"); the rest
# goes to cargo test.
# shellcheck disable=SC2016 # expanded inside the root filesystem
inner='
  set -u
  suite=$1 server=$2
  shift 2
  echo "== proftpd: $(proftpd -v 2>&1)"
  echo "== proftpd-dev: $(dpkg-query -W -f="\${Version}" proftpd-dev)"
  echo "== server: $($server --version)"
  cd /src
  export CARGO_TARGET_DIR=/src/target/rootfs/$suite RUST_BACKTRACE=1 REDIS_SERVER_BIN=$server
  cargo test --no-fail-fast "$@" 2>&1
'

# sum FIELD LOG: the total of "N FIELD" over the "test result:" lines (0
# when there are none: a build that failed).
sum() {
  { grep -E '^test result: ' "$2" || true; } | { grep -oE "[0-9]+ $1" || true; } |
    awk '{ s += $1 } END { print s + 0 }'
}

# The test targets of a row: the library's and the programs' unit tests, and
# every tests/*.rs but setup.rs (it tests scripts/setup.sh, the set-up of
# this machine, which ./test.sh runs here; inside a root filesystem it has
# neither its mounts nor a machine to set up).
row_tests() {
  local f
  printf -- '--lib\n--bins\n'
  for f in tests/*.rs; do
    f=${f#tests/}
    [[ $f != setup.rs ]] || continue
    printf -- '--test\n%s\n' "${f%.rs}"
  done
}

# The test files that start a Redis server (run again against Valkey).
redis_tests() {
  local f
  for f in tests/*.rs; do
    grep -qE 'RedisServer::(start|builder)|RedisBuilder|sentinel_bin\(\)' "$f" || continue
    f=${f#tests/}
    printf -- '--test\n%s\n' "${f%.rs}"
  done
}

status=0
lines=()
table=("| release | proftpd | Redis / Valkey | passed | failed | ignored | time |" "|---|---|---|---|---|---|---|")

# row NAME SUITE SERVER CARGO_ARGS...: one run, its line and table row.
row() {
  local name=$1 suite=$2 server=$3 log start rc=0 secs proftpd redis passed failed ignored verdict line
  shift 3
  log=$out/$name.log
  echo "matrix: $name: root filesystem, build and tests (output: $log)" >&2
  start=$(date +%s)
  # shellcheck disable=SC2086 # PROFTPD_RS_MATRIX_ARGS is a word list
  scripts/rootfs.sh run "$suite" -- /bin/bash -c "$inner" inner "$suite" "$server" \
    "$@" ${PROFTPD_RS_MATRIX_ARGS:-} >"$log" 2>&1 || rc=$?
  secs=$(($(date +%s) - start))
  proftpd=$(sed -n 's/^== proftpd: ProFTPD Version //p' "$log" | head -n1) || proftpd=""
  # "Redis server v=7.0.15 sha=..." / "Valkey server v=8.1.1 sha=...".
  redis=$(sed -n 's/^== server: \([A-Za-z]*\) server v=\([^ ]*\).*/\1 \2/p' "$log" | head -n1) || redis=""
  passed=$(sum passed "$log")
  failed=$(sum failed "$log")
  ignored=$(sum ignored "$log")
  verdict=ok
  if ((rc != 0 || failed != 0)); then
    verdict=FAILED
    status=1
    # A build failure has no "test result" line with failures: say so.
    if ((failed == 0)); then failed="build failed (exit $rc)"; fi
  fi
  line=$(printf '%-15s proftpd %-7s %-14s passed %-4s failed %-4s ignored %-3s %4ss  %s' \
    "$name" "${proftpd:-?}" "${redis:-?}" "$passed" "$failed" "$ignored" "$secs" "$verdict")
  echo "$line"
  lines+=("$line")
  table+=("| $name | ${proftpd:-?} | ${redis:-?} | $passed | $failed | $ignored | ${secs} s |")
  if [[ $verdict != ok ]]; then
    echo "matrix: $name: failures:" >&2
    grep -E '^(test .* FAILED|failures:$|    [a-z_0-9:]+$|error(\[|:))' "$log" | head -40 >&2 || true
    # No test ran (the root filesystem or the build failed): its last words.
    if [[ $failed == "build failed"* ]]; then tail -n 15 "$log" | sed 's/^/  | /' >&2; fi
  fi
}

mapfile -t all_tests < <(row_tests)
mapfile -t valkey_tests < <(redis_tests)
for suite in "${suites[@]}"; do
  row "$suite" "$suite" redis-server "${all_tests[@]}"
  # Valkey where the root filesystem has it (and the first run built).
  [[ ${PROFTPD_RS_MATRIX_VALKEY:-1} != 0 ]] || continue
  dir=$(scripts/rootfs.sh path "$suite" 2>/dev/null) || continue
  [[ -x $dir/usr/bin/valkey-server ]] || continue
  ((${#valkey_tests[@]})) || continue
  row "$suite+valkey" "$suite" valkey-server "${valkey_tests[@]}"
done

{
  echo "Matrix run of $(date -u +%Y-%m-%d) (scripts/matrix.sh ${suites[*]}):"
  echo
  printf '%s\n' "${table[@]}"
} >"$out/summary.md"

echo
echo "matrix summary:"
printf '  %s\n' "${lines[@]}"
exit "$status"
