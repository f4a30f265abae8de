#!/usr/bin/env bash
# Cost of `list --all-netns`: the same machine listed plain and with --all-netns, with 0, 10 and 100 extra network
# namespaces, each holding one process (`sleep`, found through /proc) and one TCP listener (made from outside with
# setns, so one python process holds them all).
#
#   benches/netns.sh [--counts "0 10 100"] [--runs N] [--load]   (as root; needs ip, hyperfine, python3)
#   PORTWARDEN_BIN=/path/to/portwarden benches/netns.sh ...      (measure that binary instead of building one)
#   PORTWARDEN_BEFORE=/path/to/old/portwarden benches/netns.sh   (also time that one's plain listing)
#
# --load adds benches/load.py's 200 processes x 30 listeners on the host, so the fixed costs are realistic.
# Everything it creates is removed on exit, also on Ctrl-C.
set -euo pipefail

COUNTS="0 10 100"
RUNS=30
LOAD=0
while [ $# -gt 0 ]; do
    case "$1" in
        --counts) COUNTS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --load) LOAD=1; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "netns.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "netns.sh: run as root (it creates network namespaces)" >&2; exit 2; }

HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${PORTWARDEN_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --release --quiet --manifest-path "$HERE/../Cargo.toml"
    BIN="$(cargo metadata --format-version 1 --no-deps --manifest-path "$HERE/../Cargo.toml" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/portwarden"
fi

PREFIX="pw-bench-$$"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in $(ip netns list | awk -v p="$PREFIX-" 'index($1, p) == 1 {print $1}'); do ip netns del "$ns"; done
}
trap cleanup EXIT INT TERM

if [ "$LOAD" = 1 ]; then
    ready="$(mktemp)"
    python3 "$HERE/load.py" --procs 200 --listeners 30 --ready-file "$ready" & PIDS+=($!)
    while [ ! -s "$ready" ]; do sleep 0.2; done
fi

# One listener in each namespace given on the command line, from a process that stays in its own namespace.
holder='
import ctypes, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
socks = []
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    assert libc.setns(fd, 0x40000000) == 0
    s = socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); socks.append(s)
    os.close(fd)
assert libc.setns(home, 0x40000000) == 0
print("ready", flush=True)
signal.pause()
'

made=0
for count in $COUNTS; do
    paths=()
    while [ "$made" -lt "$count" ]; do
        ns="$PREFIX-$made"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sleep 100000 & PIDS+=($!)
        paths+=("/run/netns/$ns")
        made=$((made + 1))
    done
    if [ "${#paths[@]}" -gt 0 ]; then
        fifo="$(mktemp -u)"; mkfifo "$fifo"
        python3 -c "$holder" "${paths[@]}" > "$fifo" & PIDS+=($!)
        read -r _ < "$fifo"; rm -f "$fifo"
    fi
    echo "== $count extra network namespaces ($(ip netns list | grep -c "^$PREFIX-" || true) named by this run)"
    cmds=("$BIN list --format json" "$BIN list --all-netns --format json")
    [ -n "${PORTWARDEN_BEFORE:-}" ] && cmds=("$PORTWARDEN_BEFORE list --format json" "${cmds[@]}")
    "$BIN" list --all-netns --format json 2>/dev/null |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print("   listed:", s["listeners"], "listeners in", s["namespaces"], "namespaces")'
    hyperfine --style basic --warmup 3 --runs "$RUNS" -N "${cmds[@]}" 2>/dev/null |
        grep -E "^Benchmark|Time \(mean|Range"
done
