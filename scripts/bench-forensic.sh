#!/bin/bash
# Benchmark: CPU the proftpd session process spends on mod_log_forensic's
# capture, ours (Rust) vs Debian's C module, in the same run.
#
# Not a test (timing on a shared machine is noisy); run it by hand as root:
#   scripts/bench-forensic.sh [commands-per-session] [rounds]
#
# For each mode the same FTP session (login, then N NOOP/PWD/TYPE commands,
# QUIT) runs against three servers: forensic engine off (baseline), the C
# module, ours.  The session's CPU time is read from /proc/<pid>/schedstat
# just before QUIT; rounds are interleaved and the minimum per config is
# taken (noise only ever adds CPU time).
#
# Modes:
#   trace0  - `TraceLog` + `Trace DEFAULT:0`, DebugLevel 0 (the issue's
#             setting).  The listener makes the core format every filtered
#             message, so the delta includes that formatting (identical for
#             both modules) plus the capture itself.
#   handler - `Trace DEFAULT:20` and DebugLevel 10 to /dev/null logs: the
#             core formats and writes every message in all three configs,
#             so the delta is the capture handler alone.
#
# Prints per-config CPU, the capture cost (config - baseline) and the ratio
# ours/C for each mode.
set -euo pipefail

CMDS=${1:-6000}
ROUNDS=${2:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PROFTPD=${PROFTPD:-/usr/sbin/proftpd}
C_MODULES=${C_MODULES:-/usr/lib/proftpd}

if [ "$(id -u)" != 0 ]; then
  echo "run as root (proftpd must switch users)" >&2
  exit 1
fi
[ -f "$C_MODULES/mod_log_forensic.so" ] || { echo "no $C_MODULES/mod_log_forensic.so" >&2; exit 1; }

(cd "$HERE" && cargo build --release --quiet)
SO="$HERE/target/release/libproftpd_rs.so"

WORK=$(mktemp -d /tmp/bench-forensic.XXXXXX)
chmod 755 "$WORK"
trap 'for p in "$WORK"/*/pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/rs-mods" "$WORK/home"
ln -s "$SO" "$WORK/rs-mods/mod_log_forensic.so"
HASH=$(openssl passwd -1 secret)
echo "bench:$HASH:65534:65534::$WORK/home:/bin/sh" > "$WORK/passwd"
echo "nogroup:x:65534:" > "$WORK/group"
chmod 600 "$WORK/passwd"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME MODE MODULEPATH ENGINE -> writes $WORK/NAME/{conf,pid,port}
start_server() {
  local name=$1 mode=$2 modpath=$3 engine=$4 dir="$WORK/$1" port
  mkdir -p "$dir"
  chmod 755 "$dir"
  port=$(free_port)
  echo "$port" > "$dir/port"
  local tracelvl=0 debuglvl=0 syslog="$dir/system.log" tracelog="$dir/trace.log"
  if [ "$mode" = handler ]; then
    tracelvl=20 debuglvl=10 syslog=/dev/null tracelog=/dev/null
  fi
  cat > "$dir/conf" <<EOF
ServerType standalone
ServerName "bench"
Port $port
DefaultAddress 127.0.0.1
User nobody
Group nogroup
PidFile $dir/pid
ScoreboardFile $dir/scoreboard
ScoreboardScrub off
ModulePath $modpath
LoadModule mod_log_forensic.c
SystemLog $syslog
DebugLevel $debuglvl
TraceLog $tracelog
Trace DEFAULT:$tracelvl
ForensicLogEngine $engine
ForensicLogFile $dir/forensic.log
AuthUserFile $WORK/passwd
AuthGroupFile $WORK/group
AuthOrder mod_auth_file.c
UseReverseDNS off
WtmpLog off
RequireValidShell off
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
EOF
  "$PROFTPD" -n -c "$dir/conf" >"$dir/stderr" 2>&1 &
  for _ in $(seq 100); do
    if [ -s "$dir/pid" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "proftpd $name did not start:" >&2
  cat "$dir/stderr" >&2
  exit 1
}

stop_servers() {
  for p in "$WORK"/*/pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    rm -f "$p"
  done
  sleep 0.5
}

run_mode() {
  local mode=$1
  start_server off "$mode" "$C_MODULES" off
  start_server c "$mode" "$C_MODULES" on
  start_server rs "$mode" "$WORK/rs-mods" on
  python3 - "$WORK" "$CMDS" "$ROUNDS" "$mode" <<'PY'
import socket, subprocess, sys, time

work, cmds, rounds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = ["off", "c", "rs"]

def session_cpu_ns(name):
    port = int(open(f"{work}/{name}/port").read())
    master = open(f"{work}/{name}/pid").read().strip()
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rwb", buffering=0)
    def cmd(line):
        if line:
            f.write(line.encode() + b"\r\n")
        while True:
            r = f.readline()
            if len(r) >= 4 and r[3:4] == b" ":
                return r
    cmd(None)
    before = set(subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split())
    cmd("USER bench"); cmd("PASS secret")
    batch = ["NOOP", "PWD", "TYPE I", "SYST"]
    # Pipeline in chunks for speed; read all replies.
    chunk = 200
    sent = 0
    while sent < cmds:
        n = min(chunk, cmds - sent)
        f.write(b"".join((batch[(sent + i) % len(batch)] + "\r\n").encode() for i in range(n)))
        for _ in range(n):
            cmd(None)
        sent += n
    kids = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    assert len(kids) == 1, kids
    ns = int(open(f"/proc/{kids[0]}/schedstat").read().split()[0])
    cmd("QUIT")
    s.close()
    # Wait for the session to end before the next one.
    for _ in range(100):
        if not subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split():
            break
        time.sleep(0.05)
    return ns

results = {n: [] for n in names}
for r in range(rounds):
    for n in names:
        results[n].append(session_cpu_ns(n))
best = {n: min(v) for n, v in results.items()}
print(f"mode {mode}: {cmds} commands per session, {rounds} rounds, min session CPU:")
for n, label in [("off", "engine off (baseline)"), ("c", "C mod_log_forensic"), ("rs", "Rust mod_log_forensic")]:
    print(f"  {label:24s} {best[n]/1e6:9.1f} ms   (all: {', '.join(f'{x/1e6:.1f}' for x in results[n])})")
c_cost = best["c"] - best["off"]
rs_cost = best["rs"] - best["off"]
print(f"  capture cost: C {c_cost/1e6:.1f} ms, Rust {rs_cost/1e6:.1f} ms")
if c_cost > 0:
    print(f"  ratio Rust/C = {rs_cost / c_cost:.2f}")
PY
  stop_servers
}

run_mode trace0
run_mode handler
