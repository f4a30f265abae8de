#!/usr/bin/env python3
"""Short-lived listeners, for the tests and benchmarks of `portwarden watch`: COUNT listeners opened GAP_MS apart,
each living LIFE_MS, cycling through tcp/ipv4, tcp/ipv6, udp/ipv4, udp/ipv6 on loopback port 0 (TCP ones listen).

    short_lived.py --count 300 --gap-ms 5 --life-ms 1 [--fork] --out FILE

With --fork each listener is opened by a child process of its own (so that each has its own PID); without, by
this process, each when due and closed LIFE_MS later (lives overlap when the gap is shorter). When all are done, FILE holds one line per listener, in the order opened:
"PROTOCOL ADDRESS PORT PID". Prints the time the whole run took to stderr.

Python 3 standard library only.
"""

import argparse
import os
import socket
import sys
import time

KINDS = [
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
]


def open_one(i):
    """Opens listener i; returns it and its line."""
    family, kind, host = KINDS[i % len(KINDS)]
    s = socket.socket(family, kind)
    s.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    protocol = "tcp" if kind == socket.SOCK_STREAM else "udp"
    return s, f"{protocol} {host} {s.getsockname()[1]} {os.getpid()}\n"


def one(i, life):
    """Opens listener i, keeps it LIFE seconds, closes it; returns its line."""
    s, line = open_one(i)
    time.sleep(life)
    s.close()
    return line


def in_turn(count, gap, life, began):
    """Without --fork: opens each listener when due and closes it LIFE later, so that lives overlap when the gap is
    shorter than a life; returns the lines."""
    lines, open_now = [], []
    i = 0
    while i < count or open_now:
        now = time.monotonic()
        while open_now and open_now[0][0] <= now:
            open_now.pop(0)[1].close()
        if i < count and began + i * gap <= now:
            s, line = open_one(i)
            lines.append(line)
            open_now.append((time.monotonic() + life, s))
            i += 1
            continue
        due = ([began + i * gap] if i < count else []) + [c for c, _ in open_now[:1]]
        if due:
            time.sleep(max(0.0, min(due) - time.monotonic()))
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--gap-ms", type=float, required=True)
    p.add_argument("--life-ms", type=float, required=True)
    p.add_argument("--fork", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    gap, life = a.gap_ms / 1000, a.life_ms / 1000
    # Lines of children come through a pipe, read as they come (a full pipe would stop the children).
    r, w = os.pipe()
    os.set_blocking(r, False)
    lines, children, buf = [], [], b""
    began = time.monotonic()
    if not a.fork:
        lines = in_turn(a.count, gap, life, began)
    for i in range(a.count if a.fork else 0):
        due = began + i * gap
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if a.fork:
            pid = os.fork()
            if pid == 0:
                os.close(r)
                line = one(i, life)
                os.write(w, line.encode())
                os._exit(0)
            children.append(pid)
            try:
                buf += os.read(r, 1 << 16)
            except BlockingIOError:
                pass
    os.close(w)
    for pid in children:
        os.waitpid(pid, 0)
    os.set_blocking(r, True)
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        buf += chunk
    lines.extend(l + "\n" for l in buf.decode().splitlines())
    with open(a.out, "w") as f:
        f.writelines(lines)
    print(f"{a.count} listeners in {time.monotonic() - began:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
