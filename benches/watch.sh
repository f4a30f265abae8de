#!/usr/bin/env bash
# Benchmark of `portwarden watch` (as root): what it costs while nothing changes, and whether it keeps up with a
# burst.
#
#   benches/watch.sh [--idle-seconds 20] [--burst 10000] [--burst-seconds 10]
#   PORTWARDEN_BIN=/path/to/portwarden benches/watch.sh ...   (measure that binary instead of building one)
#
# With 200 processes x 30 listeners (6,000 sockets, benches/load.py) held throughout:
#   1. idle: the watcher's CPU time (utime + stime from /proc/PID/stat) over --idle-seconds while nothing changes,
#      started 3 s after it was ready, in each mode: kernel events (default settings) and polling (--poll, the
#      default 500 ms interval);
#   2. burst: --burst listeners (TCP and UDP, IPv4 and IPv6, each living 1 ms, benches/short_lived.py) opened
#      evenly over --burst-seconds while `watch --record` runs with default settings: how many the recording has
#      with their PID, how long after the last one closed the recording had it, whether the kernel's buffer
#      overflowed, and the watcher's CPU time over the burst.
# Prints a Markdown summary. Everything it starts is stopped on exit.
set -euo pipefail

IDLE=20
BURST=10000
BURST_SECONDS=10
while [ $# -gt 0 ]; do
    case "$1" in
        --idle-seconds) IDLE="$2"; shift 2 ;;
        --burst) BURST="$2"; shift 2 ;;
        --burst-seconds) BURST_SECONDS="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "watch.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "watch.sh: run as root (kernel events need it)" >&2; exit 2; }

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
if [ -z "${PORTWARDEN_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --locked -q)
    PORTWARDEN_BIN="$REPO/target/release/portwarden"
fi
WORK=$(mktemp -d /tmp/portwarden-watch-bench.XXXXXX)
LOAD_PID=""
WATCH_PID=""
cleanup() {
    [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null || true
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

TICKS=$(getconf CLK_TCK)
# CPU time of a process in clock ticks: utime + stime (fields 14 and 15 of /proc/PID/stat, counted after the
# command name's closing parenthesis).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

start_watch() { # log file, extra arguments...
    local log=$1; shift
    "$PORTWARDEN_BIN" watch "$@" >/dev/null 2>"$log" &
    WATCH_PID=$!
    for _ in $(seq 600); do grep -q "portwarden: watching" "$log" && return; sleep 0.05; done
    echo "watch did not start: $(cat "$log")" >&2; exit 1
}
stop_watch() { kill -TERM "$WATCH_PID"; wait "$WATCH_PID" || true; WATCH_PID=""; }

python3 "$HERE/load.py" --procs 200 --listeners 30 --ready-file "$WORK/ready" >/dev/null &
LOAD_PID=$!
for _ in $(seq 600); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ -s "$WORK/ready" ] || { echo "load.py did not get ready" >&2; exit 1; }
sockets=$(ss -Htuln | wc -l)

echo "## portwarden watch, $(date -u +%Y-%m-%d), $(nproc) cores, $sockets listening sockets"
echo
echo "| mode | CPU over ${IDLE} s idle | % of one core | changes recorded meanwhile (others' work on a shared machine) |"
echo "| --- | --- | --- | --- |"
for mode in events polling; do
    args=(--record "$WORK/idle-$mode.ndjson")
    [ "$mode" = polling ] && args+=(--poll)
    start_watch "$WORK/idle-$mode.err" "${args[@]}"
    sleep 3
    before=$(cpu_ticks "$WATCH_PID")
    lines_before=$(wc -l <"$WORK/idle-$mode.ndjson")
    sleep "$IDLE"
    after=$(cpu_ticks "$WATCH_PID")
    lines_after=$(wc -l <"$WORK/idle-$mode.ndjson")
    stop_watch
    ticks=$((after - before))
    pct=$(awk -v t="$ticks" -v hz="$TICKS" -v s="$IDLE" 'BEGIN{printf "%.2f", 100*t/hz/s}')
    echo "| $mode | $((ticks * 1000 / TICKS)) ms | $pct% | $((lines_after - lines_before)) |"
done

rec="$WORK/burst.ndjson"
start_watch "$WORK/burst.err" --record "$rec"
gap=$(awk -v s="$BURST_SECONDS" -v n="$BURST" 'BEGIN{printf "%.4f", 1000*s/n}')
before=$(cpu_ticks "$WATCH_PID")
python3 "$HERE/short_lived.py" --count "$BURST" --gap-ms "$gap" --life-ms 1 --out "$WORK/opened.txt" 2>"$WORK/opener.err"
done_at=$(date +%s.%N)
last=$(tail -n1 "$WORK/opened.txt")
last_port=$(echo "$last" | cut -d' ' -f3)
caught_up=""
for _ in $(seq 2000); do
    if grep -q "\"event\":\"disappeared\".*\"port\":$last_port," "$rec"; then caught_up=$(date +%s.%N); break; fi
    sleep 0.005
done
after=$(cpu_ticks "$WATCH_PID")
stop_watch
recorded=$(python3 - "$WORK/opened.txt" "$rec" <<'PY'
import json, sys
opened = [l.split() for l in open(sys.argv[1])]
seen = set()
for line in open(sys.argv[2]):
    e = json.loads(line)
    l = e.get("listener")
    if e["event"] == "appeared" and l:
        for p in l["processes"]:
            seen.add((l["protocol"], l["address"], str(l["port"]), str(p["pid"])))
print(sum(1 for o in opened if tuple(o) in seen))
PY
)
lag="never"
[ -n "$caught_up" ] && lag="$(awk -v a="$done_at" -v b="$caught_up" 'BEGIN{printf "%.0f ms", 1000*(b-a)}')"
overflow=no
grep -q "event buffer overflowed" "$WORK/burst.err" && overflow=yes
echo
echo "Burst: $(cat "$WORK/opener.err"); recorded with their PID: $recorded of $BURST; the last one's disappearance"
echo "recorded $lag after the opener finished; kernel buffer overflowed: $overflow; watcher CPU during the burst:"
echo "$(( (after - before) * 1000 / TICKS )) ms. Mode: $(head -c 200 "$rec" | grep -o '"mode":"[a-z]*"')."
