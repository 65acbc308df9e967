#!/usr/bin/env bash
# Tests against proftpd in Docker containers (tests/docker.rs), for each
# Debian release: makes the base images when missing (scripts/docker-base.sh,
# no registry needed), builds our library and the images
# (scripts/docker-build.sh), runs the tests with PROFTPD_RS_DOCKER=1, and
# prints a summary: tests passed and failed, image sizes, container start
# times, and how long each part took.  Where the release has Valkey (Debian
# 13 and later) the tests run a second time with the Valkey image in place
# of Redis (proftpd-rs-valkey:SUITE, "SUITE+valkey"; PROFTPD_RS_DOCKER_VALKEY=0
# skips that), and the compose stack with docker/compose.valkey.yaml is
# checked with `docker compose config`.  Run as root.
#
#   scripts/docker-test.sh [SUITE...]     (default: bullseye bookworm trixie sid)
#
# Without a Docker engine (docker info fails) it prints
# "docker-test: skipped: no Docker engine" and succeeds.  Arguments after
# `--` go to the test binary (e.g. -- two_hosts).
# PROFTPD_RS_DOCKER_THREADS: test threads (default 4; the tests mostly wait).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)
cd "$project"

say() { echo "docker-test: $*" >&2; }
die() {
  echo "docker-test: error: $*" >&2
  exit 1
}

suites=()
test_args=()
while (($#)); do
  case $1 in
  --)
    shift
    test_args=("$@")
    break
    ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
  *) suites+=("$1") ;;
  esac
  shift
done
((${#suites[@]})) || suites=(bullseye bookworm trixie sid)

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "docker-test: skipped: no Docker engine"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "run as root"
if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

t0=$(date +%s)
logdir=$project/target/docker
mkdir -p "$logdir"

# shellcheck disable=SC1091
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || host_suite=""

# has_valkey SUITE: whether SUITE has Debian's valkey-server (this machine's
# apt for its own release, else SUITE's root filesystem, which the library
# is built in anyway).
has_valkey() {
  local dir
  [[ ${PROFTPD_RS_DOCKER_VALKEY:-1} != 0 ]] || return 1
  if [[ $1 == "$host_suite" ]]; then
    apt-cache show valkey-server >/dev/null 2>&1
  else
    dir=$("$here/rootfs.sh" path "$1") && [[ -x $dir/usr/bin/valkey-server ]]
  fi
}

# 1. Base images, all suites at once (mostly downloads).
pids=()
for s in "${suites[@]}"; do
  if ! docker image inspect "debian:$s-slim" >/dev/null 2>&1 &&
    ! docker pull -q "debian:$s-slim" >/dev/null 2>&1; then
    "$here/docker-base.sh" "$s" 2>"$logdir/base-$s.log" &
    pids+=("$!:$s")
  fi
done
for p in "${pids[@]}"; do
  wait "${p%%:*}" || {
    tail -n 30 "$logdir/base-${p#*:}.log" >&2
    die "making debian:${p#*:}-slim failed"
  }
  grep '^docker-base:' "$logdir/base-${p#*:}.log" >&2 || true
done
t_base=$(date +%s)

# 2. Library and images per suite (the Valkey image too where there is one).
runs=() plain=() valkey_suites=()
for s in "${suites[@]}"; do
  runs+=("$s")
  if has_valkey "$s"; then
    valkey_suites+=("$s")
    runs+=("$s+valkey")
  else
    plain+=("$s")
  fi
done
((${#plain[@]} == 0)) || "$here/docker-build.sh" "${plain[@]}" >/dev/null
((${#valkey_suites[@]} == 0)) || "$here/docker-build.sh" --valkey "${valkey_suites[@]}" >/dev/null
t_build=$(date +%s)

# The compose stack with Valkey: the two files merge (docker compose config).
compose_note=""
if ((${#valkey_suites[@]})); then
  compose=()
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  fi
  if ((${#compose[@]})); then
    merged=$(cd docker && SUITE=${valkey_suites[0]} FTP_PASSWORD=x "${compose[@]}" \
      -f compose.yaml -f compose.valkey.yaml config 2>&1) ||
      die "compose.yaml + compose.valkey.yaml: $merged"
    grep -q "image: proftpd-rs-valkey:${valkey_suites[0]}" <<<"$merged" ||
      die "compose.valkey.yaml does not put proftpd-rs-valkey:${valkey_suites[0]} in: $merged"
    compose_note="compose.yaml + compose.valkey.yaml: ok (${compose[*]} config)"
  else
    compose_note="compose.valkey.yaml: not checked (no docker compose)"
  fi
fi

# 3. The tests, built once, run per suite.
say "building tests/docker.rs"
cargo test --test docker --no-run 2>"$logdir/cargo-build.log" || {
  tail -n 30 "$logdir/cargo-build.log" >&2
  die "cargo test --test docker --no-run failed"
}

# Container start time: docker run until proftpd's STARTUP line and a 220 banner.
start_time() {
  local suite=$1 name=prs-start-$$ port t s
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  t=$(date +%s%N)
  docker run -d --name "$name" -p "127.0.0.1:$port:21" -e FTP_USER=u -e FTP_PASSWORD=p \
    "proftpd-rs:$suite" >/dev/null
  s=""
  for _ in $(seq 300); do
    if docker logs "$name" 2>&1 | grep -q 'standalone mode STARTUP' &&
      s=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 3 <&3" 2>/dev/null) &&
      [[ $s == 220 ]]; then
      break
    fi
    sleep 0.05
  done
  local ms=$((($(date +%s%N) - t) / 1000000))
  docker rm -fv "$name" >/dev/null
  [[ $s == 220 ]] && echo "$ms ms" || echo "99999999 ms: no banner"
}

passed=0 failed=0 bad_suites=()
declare -A result start
for run in "${runs[@]}"; do
  s=${run%+valkey}
  server=redis
  [[ $run == *+valkey ]] && server=valkey
  say "$run: cargo test --test docker (PROFTPD_RS_DOCKER_SUITE=$s PROFTPD_RS_DOCKER_SERVER=$server)"
  log=$logdir/test-${run/+/-}.log
  rc=0
  PROFTPD_RS_DOCKER=1 PROFTPD_RS_DOCKER_SUITE=$s PROFTPD_RS_DOCKER_SERVER=$server \
    cargo test --test docker -- --test-threads "${PROFTPD_RS_DOCKER_THREADS:-4}" \
    "${test_args[@]}" >"$log" 2>&1 || rc=$?
  line=$(grep -E '^test result:' "$log" | tail -n 1 || true)
  p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
  f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  p=${p:-0} f=${f:-0}
  if ((rc != 0)); then
    grep -E '^test .* FAILED$|^    [a-z_]+$' "$log" >&2 || true
    sed -n '/^failures:$/,/^test result:/p' "$log" | head -n 200 >&2
    ((f > 0)) || f=1
    bad_suites+=("$run")
  fi
  passed=$((passed + p)) failed=$((failed + f))
  result[$run]="$p passed, $f failed"
  if [[ $server == redis ]]; then
    start[$s]=$(for _ in 1 2 3; do start_time "$s"; done | sort -n | sed -n '2{s/$/ (median of 3)/;p}')
  fi
  say "$run: ${result[$run]} (log: $log)"
done
t_end=$(date +%s)

echo
echo "docker-test: $passed passed, $failed failed ($(for r in "${runs[@]}"; do printf '%s: %s; ' "$r" "${result[$r]}"; done | sed 's/; $//'))"
[[ -z $compose_note ]] || echo "docker-test: $compose_note"
echo "docker-test: images:"
for s in "${suites[@]}"; do
  images=("debian:$s-slim" "proftpd-rs:$s" "proftpd-rs-redis:$s")
  [[ " ${valkey_suites[*]} " == *" $s "* ]] && images+=("proftpd-rs-valkey:$s")
  for i in "${images[@]}"; do
    printf '  %-26s %s\n' "$i" "$(docker image inspect -f '{{.Size}}' "$i" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
  done
done
echo "docker-test: container start (docker run to the 220 banner): $(for s in "${suites[@]}"; do printf '%s %s; ' "$s" "${start[$s]}"; done | sed 's/; $//')"
echo "docker-test: time: base images $((t_base - t0)) s, library and images $((t_build - t_base)) s, tests $((t_end - t_build)) s, total $((t_end - t0)) s"
((failed == 0)) || exit 1
