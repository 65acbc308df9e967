#!/usr/bin/env bash
# The modules of this library, read from modules.txt (the one list): sourced
# by the scripts that install, package or load them (scripts/deb.sh,
# scripts/deb-test.sh, scripts/docker-build.sh; prxs-install.sh reads the
# list the same way).
#
#   . scripts/modules.sh
#   proftpd_rs_module_names          # unique_id, log_forensic, ... a line each

# proftpd_rs_module_names: NAME per module of modules.txt, in its order.
proftpd_rs_module_names() {
  local list
  list="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/modules.txt"
  awk '{ sub(/#.*/, "") } NF { print $1 }' "$list"
}
