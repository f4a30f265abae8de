#!/usr/bin/env python3
"""Load generator for the portwarden benchmarks: many processes holding many listening sockets.

    load.py --procs 200 --listeners 30 [--established 8000] [--ready-file PATH]

Forks PROCS children in a new process group; each binds LISTENERS sockets on loopback port 0, cycling through
tcp/ipv4, tcp/ipv6, udp/ipv4, udp/ipv6 (TCP ones listen). With --established N, another few children hold N
loopback TCP connections (both ends, so 2N sockets in ESTABLISHED state, no extra listener). When every child is
ready the parent writes its process-group id to READY_FILE (or stdout) and waits. SIGTERM or SIGINT to the parent
(or to the group) stops everything; children also die with the parent (PR_SET_PDEATHSIG).

Python 3 standard library only.
"""

import argparse
import ctypes
import os
import resource
import signal
import socket
import struct
import sys

KINDS = [
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
]

# Connections held per child in the --established load.
CONNECTIONS_PER_CHILD = 1000


def die_with_parent():
    """PR_SET_PDEATHSIG(SIGKILL): a child never outlives the load generator."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed + 64)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def hold_listeners(count, offset):
    socks = []
    for i in range(count):
        family, kind, host = KINDS[(offset + i) % len(KINDS)]
        s = socket.socket(family, kind)
        s.bind((host, 0))
        if kind == socket.SOCK_STREAM:
            s.listen(16)
        socks.append(s)
    return socks


def hold_connections(count):
    """`count` loopback TCP connections, both ends kept; the listener is closed once all are accepted."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    addr = server.getsockname()
    held = []
    linger = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT left behind when the load stops
    while len(held) < 2 * count:
        batch = min(512, count - len(held) // 2)
        clients = []
        for _ in range(batch):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            c.connect(addr)
            clients.append(c)
        for c in clients:
            a, _ = server.accept()
            a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            held.extend((c, a))
    server.close()
    return held


def child(ready_w, work):
    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        held = work()
    except OSError as e:
        os.write(ready_w, b"E")
        sys.stderr.write(f"load.py: child {os.getpid()}: {e}\n")
        os._exit(1)
    os.write(ready_w, b"R")
    os.close(ready_w)
    while True:
        signal.pause()
    del held  # unreachable; keeps the sockets referenced


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=200, help="listening processes (default 200)")
    ap.add_argument("--listeners", type=int, default=30, help="listening sockets per process (default 30)")
    ap.add_argument("--established", type=int, default=0, help="extra ESTABLISHED loopback connections")
    ap.add_argument("--ready-file", help="write the process-group id here once everything is bound")
    args = ap.parse_args()

    if os.getpgid(0) != os.getpid():
        os.setpgid(0, 0)
    raise_fd_limit(max(args.listeners, 2 * min(args.established, CONNECTIONS_PER_CHILD)))

    jobs = [lambda i=i: hold_listeners(args.listeners, i) for i in range(args.procs)]
    left = args.established
    while left > 0:
        n = min(left, CONNECTIONS_PER_CHILD)
        jobs.append(lambda n=n: hold_connections(n))
        left -= n

    ready_r, ready_w = os.pipe()
    children = []
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            child(ready_w, job)
        children.append(pid)
    os.close(ready_w)

    failed = False
    got = 0
    while got < len(children) and not stopping:
        try:
            data = os.read(ready_r, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        got += len(data)
        failed |= b"E" in data
    if failed or got < len(children):
        stopping = True
        failed = True
    else:
        total = args.procs * args.listeners
        note = f"{total} listening sockets in {args.procs} processes"
        if args.established:
            note += f", {args.established} established connections"
        sys.stderr.write(f"load.py: ready: {note} (process group {os.getpgid(0)})\n")
        pgid = str(os.getpgid(0))
        if args.ready_file:
            tmp = args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(pgid + "\n")
            os.replace(tmp, args.ready_file)
        else:
            print(pgid, flush=True)

    while not stopping:
        signal.pause()
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
