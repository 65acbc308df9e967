#!/usr/bin/env python3
"""Regenerate proftpd-glue/symbol-order.txt: the functions of our library that a session
runs, in the order the linker should place them (see docs/benchmarks.md,
"Code layout").

A forked session process faults in every page of our text it executes (the
kernel does not copy the page-table entries of file-backed mappings at fork),
and each fault maps a whole 64 KiB window around the page.  Placing the code
a session runs together, at the start of .text, keeps that to a few windows.

How: a release build, then each scenario below runs real proftpd sessions
under callgrind (counting from the fork, --zero-before=pr_ipbind_close_listeners);
the functions of libproftpd_rs.so with any cost are collected per scenario.
The order: the first scenario's functions, then the functions the next one
adds, and so on, from the smallest module to the largest, so that a session
of one module touches as few windows as possible.

Usage (as root; needs valgrind, redis-server):  scripts/symbol-order.py
Then rebuild (build.rs passes the file to the linker) and commit the file.
"""

import ftplib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "target", "release", "libproftpd_rs.so")
OUT = os.path.join(ROOT, "proftpd-glue", "symbol-order.txt")
PROFTPD = os.environ.get("PROFTPD_BIN", "/usr/sbin/proftpd")
USER, PASSWORD = "alice", "secret"


def listed_modules():
    """mod_NAME for each module of modules.txt, in its order (smallest first)."""
    with open(os.path.join(ROOT, "modules.txt")) as f:
        names = [line.split("#")[0].split() for line in f]
    return ["mod_" + n[0] for n in names if n]


MODULES = listed_modules()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"symbol-order: nothing listens on port {port}")


def login_quit(port):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=60)
    f.login(USER, PASSWORD)
    f.quit()


def failed_login(port):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=60)
    try:
        f.login(USER, "wrong")
    except ftplib.error_perm:
        pass
    f.close()


def transfers(port):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=60)
    f.login(USER, PASSWORD)
    f.pwd()
    f.voidcmd("TYPE I")
    data = io.BytesIO()
    f.retrbinary("RETR file.bin", data.write)
    f.retrbinary("RETR file.bin", lambda _b: None, rest=100)
    f.storbinary("STOR up.bin", io.BytesIO(data.getvalue()))
    f.storbinary("APPE up.bin", io.BytesIO(b"more"))
    f.voidcmd("TYPE A")
    f.storlines("STOR up.txt", io.BytesIO(b"a\nb\n"))
    f.voidcmd("TYPE I")
    f.retrlines("LIST", lambda _l: None)
    f.voidcmd("NOOP")
    try:
        f.retrbinary("RETR missing", lambda _b: None)
    except ftplib.error_perm:
        pass
    f.quit()


REDIS_CONF = (
    "RedisEngine on\nRedisServer 127.0.0.1:@REDIS@\n"
    'LogFormat b "%h %l %u %t \\"%r\\" %s %b"\nRedisLogOnCommand ALL b\n'
)

# What a module's scenario adds to the config, and its sessions; a listed
# module without an entry gets a login with its defaults.
SCENARIO = {
    "mod_log_forensic": (
        "ForensicLogEngine on\nForensicLogFile @DIR@/forensic.log\n",
        [login_quit, failed_login],
    ),
    "mod_xferlog": ("XferLog @DIR@/xferlog wu-ext\n", [login_quit, transfers]),
    "mod_redis": (REDIS_CONF, [login_quit, transfers]),
}


def scenarios():
    """(name, modules, extra config, sessions): each module in the order of
    modules.txt (smallest first), then all of them together."""
    out = []
    for m in MODULES:
        extra, sessions = SCENARIO.get(m, ("", [login_quit]))
        out.append((m[len("mod_"):], [m], extra, sessions))
    extra = "".join(SCENARIO.get(m, ("", []))[0] for m in MODULES)
    out.append(("all", MODULES, extra, [login_quit, failed_login, transfers]))
    return out


def config(d, port, modules, extra, redis_port):
    lines = [
        'ServerName "symbol-order"',
        "ServerType standalone",
        "SocketBindTight on",
        "DefaultAddress 127.0.0.1",
        f"Port {port}",
        "User nobody",
        "Group nogroup",
        f"PidFile {d}/proftpd.pid",
        f"ScoreboardFile {d}/proftpd.scoreboard",
        "DelayEngine off",
        "UseReverseDNS off",
        "WtmpLog off",
        "RequireValidShell off",
        "AllowOverwrite on",
        "AllowStoreRestart on",
        "AuthOrder mod_auth_file.c",
        f"AuthUserFile {d}/passwd",
        f"AuthGroupFile {d}/group",
        f"SystemLog {d}/system.log",
        "TransferLog none",
        f"ModulePath {d}/modules",
    ]
    lines += [f"LoadModule {m}.c" for m in modules]
    text = "\n".join(lines) + "\n" + extra
    return text.replace("@DIR@", d).replace("@REDIS@", str(redis_port))


def functions_of(path, obj):
    """Functions of object `obj` with a self cost in a callgrind out file."""
    names = {"ob": {}, "fn": {}}
    found = set()
    ob = fn = None
    skip_next = False
    ref = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def resolve(kind, text):
        m = ref.match(text)
        if not m:
            return text
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                ob = resolve("ob", line[3:])
            elif line.startswith("cob="):
                resolve("ob", line[4:])
            elif line.startswith("fn="):
                fn = resolve("fn", line[3:])
            elif line.startswith("cfn="):
                resolve("fn", line[4:])
            elif line.startswith("calls="):
                skip_next = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                if ob and ob.endswith(obj) and fn:
                    found.add(fn)
    return found


def main():
    if os.geteuid() != 0:
        sys.exit("symbol-order: run as root (proftpd must bind and switch users)")
    for tool in ("valgrind", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"symbol-order: {tool} is needed")
    subprocess.run(["cargo", "build", "--release", "--lib", "-q"], cwd=ROOT, check=True)

    top = tempfile.mkdtemp(prefix="symbol-order.")
    os.chmod(top, 0o755)
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_port(redis_port)
    order, seen = [], set()
    try:
        for name, modules, extra, sessions in scenarios():
            d = os.path.join(top, name)
            os.makedirs(os.path.join(d, "modules"))
            os.makedirs(os.path.join(d, "home"))
            os.makedirs(os.path.join(d, "cg"))
            os.chmod(d, 0o755)
            os.chmod(os.path.join(d, "cg"), 0o1777)
            for m in MODULES:
                os.symlink(LIB, os.path.join(d, "modules", m + ".so"))
            home = os.path.join(d, "home")
            with open(os.path.join(home, "file.bin"), "wb") as f:
                f.write(os.urandom(4096))
            os.chown(home, 2001, 2001)
            os.chown(os.path.join(home, "file.bin"), 2001, 2001)
            hashed = subprocess.run(
                ["openssl", "passwd", "-6", "-salt", "symorder", PASSWORD],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            for fname, text in (
                ("passwd", f"{USER}:{hashed}:2001:2001::{home}:/bin/sh\n"),
                ("group", f"{USER}:x:2001:\n"),
            ):
                p = os.path.join(d, fname)
                with open(p, "w") as f:
                    f.write(text)
                os.chmod(p, 0o600)
            port = free_port()
            conf = os.path.join(d, "proftpd.conf")
            with open(conf, "w") as f:
                f.write(config(d, port, modules, extra, redis_port))
            master = subprocess.Popen(
                [
                    "valgrind", "--tool=callgrind", "--demangle=no", "--trace-children=yes",
                    "--zero-before=pr_ipbind_close_listeners",
                    f"--callgrind-out-file={d}/cg/out.%p",
                    PROFTPD, "-n", "-c", conf,
                ],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            wait_port(port)
            for session in sessions:
                session(port)
                time.sleep(1)
            time.sleep(2)
            master.send_signal(signal.SIGTERM)
            master.wait(timeout=60)
            funcs = set()
            for out in os.listdir(os.path.join(d, "cg")):
                funcs |= functions_of(os.path.join(d, "cg", out), "libproftpd_rs.so")
            new = sorted(funcs - seen)
            print(f"{name}: {len(funcs)} functions, {len(new)} new", file=sys.stderr)
            order += new
            seen |= funcs
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(top, ignore_errors=True)
    if not order:
        sys.exit("symbol-order: no function of libproftpd_rs.so ran (callgrind output empty?)")
    with open(OUT, "w") as f:
        f.write("".join(s + "\n" for s in order))
    print(f"wrote {OUT}: {len(order)} symbols", file=sys.stderr)


if __name__ == "__main__":
    main()
