#!/usr/bin/env bash
# The release matrix: for each Debian release, build proftpd-rs against that
# release's proftpd-dev and run the test suite (unit and integration tests;
# not the long gauntlet, which ./test.sh runs on this machine's release)
# against that release's real proftpd and redis-server, inside a root
# filesystem of the release made from Debian's packages (scripts/rootfs.sh,
# cached).  Run as root.
#
#   scripts/matrix.sh [SUITE...]        default: bookworm trixie sid
#
# Prints one line per release (suite, proftpd and redis versions, tests
# passed/failed/ignored, time) and a Markdown table of the same in
# target/matrix/summary.md; each release's full output is in
# target/matrix/SUITE.log.  Exits non-zero when a release fails to build or
# any test fails.  Extra `cargo test` arguments: PROFTPD_RS_MATRIX_ARGS
# (e.g. "--test redis").
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."

suites=("$@")
((${#suites[@]})) || suites=(bookworm trixie sid)
out=target/matrix
mkdir -p "$out"

# The test command inside a release: its own target folder (shared with
# scripts/deb.sh and the Docker images), all test targets, every failure
# reported.
# shellcheck disable=SC2016 # expanded inside the root filesystem
inner='
  set -u
  echo "== proftpd: $(proftpd -v 2>&1)"
  echo "== proftpd-dev: $(dpkg-query -W -f="\${Version}" proftpd-dev)"
  echo "== redis: $(redis-server --version)"
  cd /src
  export CARGO_TARGET_DIR=/src/target/rootfs/$1 RUST_BACKTRACE=1
  shift
  cargo test --tests --no-fail-fast "$@" 2>&1
'

# sum FIELD LOG: the total of "N FIELD" over the "test result:" lines.
sum() {
  grep -E '^test result: ' "$2" | grep -oE "[0-9]+ $1" | awk '{ s += $1 } END { print s + 0 }'
}

status=0
lines=()
table=("| release | proftpd | redis | passed | failed | ignored | time |" "|---|---|---|---|---|---|---|")
for suite in "${suites[@]}"; do
  log=$out/$suite.log
  echo "matrix: $suite: root filesystem, build and tests (output: $log)" >&2
  start=$(date +%s)
  rc=0
  # shellcheck disable=SC2086 # PROFTPD_RS_MATRIX_ARGS is a word list
  scripts/rootfs.sh run "$suite" -- /bin/bash -c "$inner" inner "$suite" \
    ${PROFTPD_RS_MATRIX_ARGS:-} >"$log" 2>&1 || rc=$?
  secs=$(($(date +%s) - start))
  proftpd=$(sed -n 's/^== proftpd: ProFTPD Version //p' "$log" | head -1)
  redis=$(sed -n 's/^== redis: Redis server v=\([^ ]*\).*/\1/p' "$log" | head -1)
  passed=$(sum passed "$log")
  failed=$(sum failed "$log")
  ignored=$(sum ignored "$log")
  verdict=ok
  if ((rc != 0 || failed != 0)); then
    verdict=FAILED
    status=1
    # A build failure has no "test result" line with failures: count it.
    if ((failed == 0)); then failed="build failed (exit $rc)"; fi
  fi
  line=$(printf '%-9s proftpd %-7s redis %-8s passed %-4s failed %-4s ignored %-3s %4ss  %s' \
    "$suite" "${proftpd:-?}" "${redis:-?}" "$passed" "$failed" "$ignored" "$secs" "$verdict")
  echo "$line"
  lines+=("$line")
  table+=("| $suite | ${proftpd:-?} | ${redis:-?} | $passed | $failed | $ignored | ${secs} s |")
  if [[ $verdict != ok ]]; then
    echo "matrix: $suite: failures:" >&2
    grep -E '^(test .* FAILED|failures:$|    [a-z_0-9:]+$|error(\[|:))' "$log" | head -40 >&2 || true
  fi
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
