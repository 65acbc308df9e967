#!/usr/bin/env bash
# Live demo: build the modules, install them into a temporary ModulePath, start
# the real /usr/sbin/proftpd on a free loopback port with them loaded, run one
# FTP session with curl (login, upload, list, download) and show what each
# module produced.  Run as root (proftpd binds, switches users, writes logs).
# First installs what is missing of the prerequisites (scripts/setup.sh).
#
#   ./demo.sh [prxs-install.sh options, e.g. --no-build]
#
# In a checkout of your own (not root's), build as yourself first and let
# root only install and run: ./prxs-install.sh --build-only, then
# sudo ./demo.sh --no-build (prxs-install.sh does not build as root there).
#
# DEMO_KEEP=1 keeps the temporary directory (config, logs) for a closer look.
#
# The modules are those of modules.txt, in its order.  Each one's section
# defines conf_<name> (prints the module's proftpd.conf lines) and
# report_<name> (prints what the module produced, after proftpd stopped),
# and may define
#   setup_<name>    before proftpd starts (e.g. start a private redis-server)
#   session_<name>  runs after the common FTP session (e.g. a failed login)
# A listed module without a section is skipped, with a note.
#
# shellcheck disable=SC2317  # functions called indirectly (trap, "conf_$s")
set -euo pipefail
shopt -s inherit_errexit

PROFTPD=${PROFTPD:-/usr/sbin/proftpd}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mapfile -t SECTIONS < <(awk '{ sub(/#.*/, "") } NF { print $1 }' "$here/modules.txt")

die() {
  echo "demo.sh: error: $*" >&2
  exit 1
}
say() { echo "demo.sh: $*"; }
heading() { printf '\n==== %s ====\n' "$*"; }

[[ $(id -u) == 0 ]] || die "run as root (proftpd must bind, switch users and open its logs as root)"
# Install what is missing (Debian packages, Rust), saying what; nothing when
# all is there (PROFTPD_RS_SETUP=0 skips it).
# shellcheck source=scripts/setup.sh
. "$here/scripts/setup.sh"
[[ -x $PROFTPD ]] || die "$PROFTPD not found (apt-get install proftpd-core)"
for tool in curl openssl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (see README: Prerequisites)"
done

# --- temp dir, background processes, cleanup --------------------------------

tmp=$(mktemp -d /tmp/proftpd-rs-demo.XXXXXX)
chmod 0755 "$tmp" # the demo user must reach its home; proftpd refuses world-writable log dirs
BG_PIDS=()        # processes to stop on exit, started by start_bg

# stop_bg PID: stop one background process of start_bg's (TERM, then KILL
# after 5 s), reap it and forget it.  Also what cleanup runs for each one.
stop_bg() {
  local pid=$1 i p keep=()
  for p in "${BG_PIDS[@]}"; do
    [[ $p == "$pid" ]] || keep+=("$p")
  done
  BG_PIDS=("${keep[@]}")
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    stop_bg "$pid"
  done
  if [[ ${DEMO_KEEP:-} == 1 ]]; then
    say "kept $tmp"
  else
    rm -rf -- "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg LOGFILE CMD... : run CMD in the background, stopped on exit.
start_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  BG_PIDS+=("$!")
  LAST_PID=$!
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID WHAT: until 127.0.0.1:PORT accepts, while PID lives.
wait_port() {
  local port=$1 pid=$2 what=$3 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  die "$what did not answer on 127.0.0.1:$port within 10 s"
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
  local tries=$(($1 * 10))
  shift
  while ((tries-- > 0)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# --- build and install -------------------------------------------------------

heading "build and install"
"$here/prxs-install.sh" --dest "$tmp/modules" "$@"
modules_dir=$tmp/modules

installed() { [[ -e $modules_dir/mod_$1.so ]]; }

# --- FTP account ---------------------------------------------------------------

DEMO_USER=demo
DEMO_PASS=demo-$RANDOM$RANDOM
DEMO_UID=2121
DEMO_GID=2121
home=$tmp/home/$DEMO_USER
mkdir -p "$home"
chown "$DEMO_UID:$DEMO_GID" "$home"
hash=$(openssl passwd -6 "$DEMO_PASS")
echo "$DEMO_USER:$hash:$DEMO_UID:$DEMO_GID:demo user:$home:/bin/sh" >"$tmp/ftpd.passwd"
echo "$DEMO_USER:x:$DEMO_GID:$DEMO_USER" >"$tmp/ftpd.group"
chmod 0600 "$tmp/ftpd.passwd" "$tmp/ftpd.group"

# --- mod_unique_id ---------------------------------------------------------------

conf_unique_id() {
  cat <<EOF
LoadModule mod_unique_id.c
UniqueIDEngine on
EOF
}

report_unique_id() {
  echo "ExtendedLog $tmp/ext.log (LogFormat \"%{UNIQUE_ID}e %u %r %s\"):"
  echo
  sed 's/^/  /' "$tmp/ext.log"
  echo
  # Other demo sections may add sessions of their own (e.g. a failed login):
  # look at the lines of the logged-in curl session.
  local ids
  ids=$(awk -v u="$DEMO_USER" '$2 == u { print $1 }' "$tmp/ext.log" | sort -u)
  if [[ $(wc -l <<<"$ids") != 1 ]]; then
    echo "expected one UNIQUE_ID for the session, got:"$'\n'"$ids" >&2
    return 1
  fi
  [[ $ids =~ ^[A-Za-z0-9+/]{24}$ ]] || {
    echo "UNIQUE_ID '$ids' is not 24 characters of A-Z a-z 0-9 + /" >&2
    return 1
  }
  echo "UNIQUE_ID of this session: $ids (the same on all $(grep -c "^$ids " "$tmp/ext.log") lines)"
  # The first 7 bytes are the session's start time: 4 bytes of seconds and
  # 3 bytes of microseconds, big-endian.
  python3 - "$ids" <<'EOF'
import base64, datetime, sys
raw = base64.b64decode(sys.argv[1])
secs, micros = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:7], "big")
t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
print(f"  time part: {t:%Y-%m-%d %H:%M:%S}.{micros:06d} UTC; random part: {raw[7:].hex()}")
EOF
  # proftpd -n -d 8 logs to stderr; the module logs with its version prefix.
  local pid
  pid=$(grep -F "unique session ID is '$ids'" "$tmp/proftpd.out" | sed -n 's/.*proftpd\[\([0-9]*\)\].*/\1/p' | head -n1)
  if [[ -n $pid ]]; then
    echo
    echo "proftpd's log (-d 8) of the session process $pid, lines of mod_unique_id:"
    grep -F "proftpd[$pid]" "$tmp/proftpd.out" | grep -F 'mod_unique_id/' | sed 's/^/  /'
  fi
}

# --- mod_log_forensic ------------------------------------------------------------

conf_log_forensic() {
  cat <<EOF
LoadModule mod_log_forensic.c
# Trace everything into the forensic buffer, but write nothing to the TraceLog.
TraceLog $tmp/trace.log
Trace DEFAULT:0
ForensicLogEngine on
ForensicLogFile $tmp/forensic.log
ForensicLogBufferSize 1024
EOF
}

FORENSIC_WRONG_PASS=wrong-$RANDOM$RANDOM

session_log_forensic() {
  echo "failed login (wrong password) with curl:"
  curl -sS --max-time 30 -u "$DEMO_USER:$FORENSIC_WRONG_PASS" "ftp://127.0.0.1:$port/" 2>&1 |
    sed 's/^/  /' || true
  wait_for 10 grep -q -- '-----END FAILED LOGIN FORENSICS-----' "$tmp/forensic.log" 2>/dev/null || true
}

report_log_forensic() {
  local f=$tmp/forensic.log
  [[ -s $f ]] || {
    echo "no forensic block in $f" >&2
    return 1
  }
  local blocks
  blocks=$(grep -c -- '-----BEGIN FAILED LOGIN FORENSICS-----' "$f")
  echo "ForensicLogFile $f: $blocks FAILED LOGIN block(s), $(wc -l <"$f") lines; header and the last messages:"
  echo
  sed -n '1,/^$/p' "$f" | sed 's/^/  /'
  echo "  ... ($(grep -c '^\[' "$f") captured messages)"
  tail -n 6 "$f" | cut -c1-160 | sed 's/^/  /'
  echo
  echo "TraceLog $tmp/trace.log has $(wc -l <"$tmp/trace.log") lines (Trace DEFAULT:0);"
  echo "the forensic block holds $(grep -c '^\[TraceLog:' "$f") trace messages all the same."
  if grep -qF -e "$DEMO_PASS" -e "$FORENSIC_WRONG_PASS" "$f"; then
    echo "a password appears in $f" >&2
    return 1
  fi
  echo "no password in the forensic log (the core logs 'PASS (hidden)')."
  [[ $blocks == 1 ]] || {
    echo "expected exactly one block (the successful session writes none)" >&2
    return 1
  }
}

# --- mod_xferlog ----------------------------------------------------------------

conf_xferlog() {
  cat <<EOF
LoadModule mod_xferlog.c
XferLog $tmp/xferlog.orig
XferLog $tmp/xferlog.ext wu-ext
XferLogPaths chroot
EOF
}

report_xferlog() {
  local f
  for f in orig ext; do
    echo "XferLog $tmp/xferlog.$f:"
    sed 's/^/  /' "$tmp/xferlog.$f"
    echo
  done
  [[ $(wc -l <"$tmp/xferlog.orig") == 2 && $(wc -l <"$tmp/xferlog.ext") == 2 ]] || {
    echo "expected 2 transfers (upload, download) in each XferLog" >&2
    return 1
  }
  local tool=$here/target/release/xferlog2json
  # (Not as root in another user's checkout: root-owned files in target/.)
  if [[ ! -x $tool && $(stat -c %u "$here") == "$(id -u)" ]]; then
    (cd "$here" && cargo build --release --bin xferlog2json >/dev/null 2>&1) || true
  fi
  if [[ -x $tool ]]; then
    echo "xferlog2json $tmp/xferlog.ext:"
    "$tool" "$tmp/xferlog.ext" | sed 's/^/  /'
  fi
}

# --- mod_redis -------------------------------------------------------------------

setup_redis() {
  redis_port=$(free_port)
  start_bg "$tmp/redis-server.out" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --save "" --appendonly no --dir "$tmp"
  wait_port "$redis_port" "$LAST_PID" redis-server
  say "redis-server listens on 127.0.0.1:$redis_port"
}

conf_redis() {
  cat <<EOF
LoadModule mod_redis.c
RedisEngine on
RedisServer 127.0.0.1:$redis_port
RedisLog $tmp/redis.log
LogFormat redis "%h %u %t \\"%r\\" %s %b %{transfer-status}"
RedisLogOnCommand ALL redis
RedisLogOnCommand STOR,RETR redis "%u:%m"
RedisLogFormatExtra redis "{\\"demo\\":true,\\"vhost\\":\\"%v\\"}"
EOF
}

report_redis() {
  local n
  n=$(redis-cli -p "$redis_port" LLEN redis)
  echo "Redis list 'redis' (RedisLogOnCommand ALL redis): $n JSON objects"
  redis-cli -p "$redis_port" LRANGE redis 0 -1 | sed 's/^/  /'
  echo
  echo "Redis keys from the key format \"%u:%m\":"
  redis-cli -p "$redis_port" KEYS '*:*' | sort | sed 's/^/  /'
  ((n > 0)) || {
    echo "expected JSON objects in Redis" >&2
    return 1
  }
  redis-cli -p "$redis_port" LRANGE redis 0 -1 | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' ||
    return 1
  echo
  echo "every object is valid JSON"
}

# --- proftpd -------------------------------------------------------------------

heading "configure and start proftpd"
ACTIVE=()
for s in "${SECTIONS[@]}"; do
  if ! installed "$s"; then
    say "mod_$s is not built yet: skipped"
  elif ! declare -F "conf_$s" >/dev/null || ! declare -F "report_$s" >/dev/null; then
    say "mod_$s has no demo section yet (conf_$s, report_$s): skipped"
  else
    ACTIVE+=("$s")
  fi
done
((${#ACTIVE[@]})) || die "none of the demo's modules are installed in $modules_dir"

for s in "${ACTIVE[@]}"; do
  if declare -F "setup_$s" >/dev/null; then "setup_$s"; fi
done

port=$(free_port)
conf=$tmp/proftpd.conf
{
  cat <<EOF
ServerName "proftpd-rs demo"
ServerType standalone
DefaultServer on
Port $port
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
PidFile $tmp/proftpd.pid
ScoreboardFile $tmp/proftpd.scoreboard
ScoreboardScrub off
SystemLog $tmp/system.log
TransferLog NONE
DelayEngine off
UseReverseDNS off
WtmpLog off
RequireValidShell off
AuthOrder mod_auth_file.c
AuthUserFile $tmp/ftpd.passwd
AuthGroupFile $tmp/ftpd.group
Umask 022
AllowOverwrite on
LogFormat session "%{UNIQUE_ID}e %u %r %s"
ExtendedLog $tmp/ext.log ALL session
ModulePath $modules_dir
EOF
  for s in "${ACTIVE[@]}"; do
    echo
    echo "# mod_$s"
    "conf_$s"
  done
} >"$conf"
sed 's/^/  /' "$conf"

"$PROFTPD" -t -c "$conf" >"$tmp/configtest.log" 2>&1 || {
  cat "$tmp/configtest.log" >&2
  die "proftpd rejected $conf"
}
# -n: stay in the foreground, log to stderr; -d 8: include the modules' debug lines.
start_bg "$tmp/proftpd.out" "$PROFTPD" -n -d 8 -c "$conf"
proftpd_pid=$LAST_PID
wait_port "$port" "$proftpd_pid" proftpd || {
  cat "$tmp/proftpd.out" >&2
  die "proftpd exited"
}
say "proftpd (pid $proftpd_pid) listens on 127.0.0.1:$port"

# --- one FTP session -----------------------------------------------------------

heading "FTP session (curl): login, upload, list, download"
printf 'Hello from the proftpd-rs demo, %s\n' "$(date -u)" >"$tmp/hello.txt"
url=ftp://127.0.0.1:$port
# --next keeps curl's connection: all three transfers share one FTP session.
curl -sS --max-time 30 -u "$DEMO_USER:$DEMO_PASS" -T "$tmp/hello.txt" "$url/" \
  --next --max-time 30 -u "$DEMO_USER:$DEMO_PASS" -o "$tmp/listing.txt" "$url/" \
  --next --max-time 30 -u "$DEMO_USER:$DEMO_PASS" -o "$tmp/download.txt" "$url/hello.txt"
echo "listing of /:"
sed 's/^/  /' "$tmp/listing.txt"
cmp -s "$tmp/hello.txt" "$tmp/download.txt" || die "downloaded file differs from the upload"
echo "uploaded and downloaded hello.txt: identical"

for s in "${ACTIVE[@]}"; do
  if declare -F "session_$s" >/dev/null; then
    heading "FTP session for mod_$s"
    "session_$s"
  fi
done

# curl has sent QUIT; let the session log it, then stop proftpd.
wait_for 10 grep -q ' QUIT ' "$tmp/ext.log" 2>/dev/null || true
stop_bg "$proftpd_pid"

# --- what each module produced ---------------------------------------------------

status=0
for s in "${ACTIVE[@]}"; do
  heading "mod_$s"
  "report_$s" || status=1
done
echo
if ((status == 0)); then say "done"; else say "a module's output was not as expected"; fi
exit "$status"
