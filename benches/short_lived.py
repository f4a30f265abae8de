#!/usr/bin/env python3
"""Short-lived listeners, for the tests and benchmarks of `portwarden watch`: COUNT listeners opened GAP_MS apart,
each living LIFE_MS, cycling through tcp/ipv4, tcp/ipv6, udp/ipv4, udp/ipv6 on loopback port 0 (TCP ones listen).

    short_lived.py --count 300 --gap-ms 5 --life-ms 1 [--fork] --out FILE

With --fork each listener is opened by a child process of its own (so that each has its own PID); without, by
this process, one after another. When all are done, FILE holds one line per listener, in the order opened:
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


def one(i, life):
    """Opens listener i, keeps it LIFE seconds, closes it; returns its line."""
    family, kind, host = KINDS[i % len(KINDS)]
    s = socket.socket(family, kind)
    s.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    port = s.getsockname()[1]
    time.sleep(life)
    s.close()
    protocol = "tcp" if kind == socket.SOCK_STREAM else "udp"
    return f"{protocol} {host} {port} {os.getpid()}\n"


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
    for i in range(a.count):
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
        else:
            lines.append(one(i, life))
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
