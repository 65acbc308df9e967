#!/usr/bin/env bash
# The Docker images of docker/ for Debian releases: proftpd-rs:SUITE (proftpd
# with our modules, docker/Dockerfile) and proftpd-rs-redis:SUITE (Redis,
# docker/redis.Dockerfile); with --valkey also proftpd-rs-valkey:SUITE
# (Valkey, the same Dockerfile with SERVER=valkey; Debian 13 and later, for
# docker/compose.valkey.yaml).  Run as root.
#
#   scripts/docker-build.sh [--deb FILE | --modules] [--valkey] [SUITE...]   (default: bookworm)
#   scripts/docker-build.sh --print-load-modules   the image's LoadModule lines
#
# For each SUITE:
#  1. the base image debian:SUITE-slim: there already, else `docker pull`,
#     else made from Debian's packages (scripts/docker-base.sh: no registry);
#  2. our library, built against SUITE's own proftpd headers: on this machine
#     when it runs SUITE (cargo build --release --lib), else inside SUITE's
#     root filesystem (scripts/rootfs.sh, target/rootfs/SUITE/);
#  3. the build context's docker/dist/SUITE/: our Debian package for SUITE,
#     made by scripts/deb.sh (or FILE, --deb FILE, one SUITE only), or with
#     --modules the library as prxs-install.sh --dest installs it
#     (docker/dist/SUITE/modules/), debug info stripped;
#     With it, rs-modules.conf: a LoadModule line per module of
#     modules.txt, which the image's proftpd.conf includes;
#  4. docker build of both images (Docker's layer cache makes a rebuild
#     after a library change take seconds).
# Prints the images' names and sizes.  PROFTPD_RS_DOCKER_NO_BUILD=1 skips
# step 2 (the library is already built).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)

say() { echo "docker-build: $*" >&2; }

# The image's LoadModule lines for our modules, from modules.txt.
# shellcheck source=scripts/modules.sh
. "$here/modules.sh"
load_modules() {
  echo "# The proftpd-rs modules (scripts/docker-build.sh, from modules.txt)."
  proftpd_rs_module_names | sed 's/.*/LoadModule mod_&.c/'
}
die() {
  echo "docker-build: error: $*" >&2
  exit 1
}
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

deb=""
modules_only=0
valkey=0
suites=()
while (($#)); do
  case $1 in
  --modules) modules_only=1 ;;
  --print-load-modules)
    load_modules
    exit 0
    ;;
  --valkey) valkey=1 ;;
  --deb)
    (($# >= 2)) || die "--deb needs a file"
    deb=$2
    shift
    ;;
  -h | --help) usage ;;
  -*) die "unknown option $1" ;;
  *)
    [[ $1 =~ ^[a-z][a-z0-9-]*$ ]] || die "bad suite name: $1"
    suites+=("$1")
    ;;
  esac
  shift
done
((${#suites[@]})) || suites=(bookworm)
[[ -z $deb || ${#suites[@]} == 1 ]] || die "--deb FILE is for one SUITE"
[[ -z $deb || -f $deb ]] || die "--deb: $deb is not a file"
[[ $(id -u) == 0 ]] || die "run as root (docker, and scripts/rootfs.sh for other releases)"
docker info >/dev/null 2>&1 || die "no Docker engine (docker info fails)"

# shellcheck disable=SC1091
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || host_suite=""

base_image() {
  local suite=$1
  docker image inspect "debian:$suite-slim" >/dev/null 2>&1 && return 0
  say "pulling debian:$suite-slim"
  if docker pull -q "debian:$suite-slim" >/dev/null 2>&1; then
    return 0
  fi
  say "cannot pull debian:$suite-slim (no registry?): making it"
  "$here/docker-base.sh" "$suite"
}

# package_for SUITE: the path of our .deb for SUITE, made by scripts/deb.sh.
package_for() {
  local suite=$1 no_build=()
  [[ ${PROFTPD_RS_DOCKER_NO_BUILD:-0} == 1 ]] && no_build=(--no-build)
  if [[ $suite == "$host_suite" && -f /usr/include/proftpd/version.h ]]; then
    "$here/deb.sh" "${no_build[@]}" | tail -n 1
  else
    "$here/deb.sh" "${no_build[@]}" "$suite" | tail -n 1
  fi
}

# The library for SUITE, installed into docker/dist/SUITE/modules/.
stage_modules() {
  local suite=$1 dist=$2
  if [[ $suite == "$host_suite" && -f /usr/include/proftpd/version.h ]]; then
    if [[ ${PROFTPD_RS_DOCKER_NO_BUILD:-0} != 1 ]]; then
      say "$suite: cargo build --release --lib (this machine runs $suite)"
      (cd "$project" && cargo build --release --lib)
    fi
    "$project/prxs-install.sh" --lib "${CARGO_TARGET_DIR:-$project/target}/release/libproftpd_rs.so" \
      --dest "$dist/modules" >/dev/null
  else
    local lib=/src/target/rootfs/$suite/release/libproftpd_rs.so
    if [[ ${PROFTPD_RS_DOCKER_NO_BUILD:-0} != 1 ]]; then
      say "$suite: cargo build --release --lib inside the $suite root filesystem (scripts/rootfs.sh)"
      "$here/rootfs.sh" run "$suite" -- sh -c \
        "cd /src && CARGO_TARGET_DIR=/src/target/rootfs/$suite cargo build --release --lib" >&2
    fi
    "$here/rootfs.sh" run "$suite" -- /src/prxs-install.sh --lib "$lib" \
      --dest "/src/docker/dist/$suite/modules" >/dev/null
  fi
  [[ -f $dist/modules/proftpd_rs.so ]] || die "$suite: no $dist/modules/proftpd_rs.so"
  # Without the debug line tables of the release profile (24 MB -> 3 MB),
  # as Debian's packages are; the symbols stay (backtraces name functions).
  strip --strip-debug "$dist/modules/proftpd_rs.so"
}

# build_image TAG SUITE DOCKERFILE [BUILD-ARG...]: its output in
# target/docker/, shown on failure.
build_image() {
  local tag=$1 suite=$2 file=$3 log a args=()
  shift 3
  for a in "$@"; do args+=(--build-arg "$a"); done
  log=$project/target/docker/build-${tag//[:\/]/-}.log
  mkdir -p -- "$(dirname -- "$log")"
  say "$suite: docker build -t $tag -f docker/$file docker${*:+ ($*)}"
  if ! docker build -t "$tag" --build-arg "SUITE=$suite" "${args[@]}" -f "$project/docker/$file" \
    "$project/docker" >"$log" 2>&1; then
    tail -n 40 -- "$log" >&2
    die "docker build of $tag failed (all of it: $log)"
  fi
}

for suite in "${suites[@]}"; do
  base_image "$suite"
  dist=$project/docker/dist/$suite
  rm -rf -- "$dist"
  mkdir -p -- "$dist"
  if [[ -n $deb ]]; then
    cp -- "$deb" "$dist/"
    say "$suite: our package $(basename -- "$deb")"
  elif [[ $modules_only == 1 ]]; then
    stage_modules "$suite" "$dist"
  else
    # Our Debian package for SUITE (scripts/deb.sh: built on this machine
    # when it runs SUITE, else in SUITE's root filesystem).
    local_deb=$(package_for "$suite")
    cp -- "$local_deb" "$dist/"
    say "$suite: our package $(basename -- "$local_deb") (scripts/deb.sh)"
  fi
  load_modules >"$dist/rs-modules.conf"
  start=$(date +%s)
  build_image "proftpd-rs:$suite" "$suite" Dockerfile
  build_image "proftpd-rs-redis:$suite" "$suite" redis.Dockerfile
  if ((valkey)); then
    build_image "proftpd-rs-valkey:$suite" "$suite" redis.Dockerfile SERVER=valkey
  fi
  say "$suite: images built in $(($(date +%s) - start)) s"
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^proftpd-rs(-redis|-valkey)?:' | sort
