#!/usr/bin/env bash
# Benchmark harness: portwarden against ss, netstat and lsof on the same synthetic load, interleaved, in rounds.
#
#   benches/run.sh [--rounds N] [--runs N] [--quick] [--out DIR] [--skip-large] [--skip-established]
#                  [--wait-idle SECONDS] [--scale]
#   PORTWARDEN_BIN=/path/to/portwarden benches/run.sh ...   (measure that binary instead of building one)
#   PORTWARDEN_BEFORE=/path/to/old/portwarden benches/run.sh ...   (also time that one's JSON listing, side by side)
#
# Builds the release binary, installs hyperfine / lsof / net-tools / time with apt-get when missing (as root), then:
#   1. 200 processes x 30 listeners (6,000 sockets): portwarden (JSON, JSON with PORTWARDEN_OWNERS=procfs, table,
#      NDJSON, CSV, Prometheus, explain of a free port), ss -tulpn, ss -tuln, netstat -tulpn, lsof -nP -iTCP -iUDP.
#   2. the same plus 8,000 ESTABLISHED loopback connections, alternating with (1) round by round (with explain and
#      ss -tuln, whose socket dumps alone show what the connections cost in the kernel's socket tables).
#   3. 500 processes x 40 listeners (20,000 sockets): portwarden JSON, table and NDJSON, ss -tulpn, ss -tuln,
#      netstat -tulpn, lsof; then peak RSS of each with /usr/bin/time -v.
#   4. with --scale: 2,000 processes x 25 listeners (50,000 sockets): portwarden JSON and ss -tulpn, then peak RSS.
# Each round is one hyperfine invocation over all commands of the scenario, one after another; rounds repeat that, so
# drifts of a busy machine hit every tool alike. Medians pool every run of every round. Results (hyperfine JSON and Markdown per round, summary.md)
# go to DIR (default: a new directory under /tmp). The load generator (benches/load.py) is always torn down, also
# on Ctrl-C. On a shared machine, --wait-idle S makes each round wait (at most S seconds) until the CPUs have been
# at least 90% idle for a second, so that other work does not skew the figures; the waits are noted in the results.
set -euo pipefail

ROUNDS=5
RUNS=10
OUT=""
LARGE=1
ESTABLISHED=1
WAIT_IDLE=0
SCALE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --quick) ROUNDS=2; RUNS=5; shift ;;
        --out) OUT="$2"; shift 2 ;;
        --skip-large) LARGE=0; shift ;;
        --skip-established) ESTABLISHED=0; shift ;;
        --wait-idle) WAIT_IDLE="$2"; shift 2 ;;
        --scale) SCALE=1; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${OUT:-$(mktemp -d /tmp/portwarden-bench.XXXXXX)}"
mkdir -p "$OUT"

# ---- tools ----
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v lsof >/dev/null || need+=(lsof)
command -v netstat >/dev/null || need+=(net-tools)
command -v ss >/dev/null || need+=(iproute2)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing ${need[*]}; run as root (or install them) to continue" >&2
        exit 2
    fi
    echo "run.sh: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: warning: not root; every tool will miss other users' processes" >&2
fi

# ---- build (or PORTWARDEN_BIN=path to measure a binary built elsewhere) ----
if [ -n "${PORTWARDEN_BIN:-}" ]; then
    PW="$PORTWARDEN_BIN"
else
    (cd "$REPO" && cargo build --release --quiet --bin portwarden)
    PW="${CARGO_TARGET_DIR:-$REPO/target}/release/portwarden"
fi
[ -x "$PW" ] || { echo "run.sh: no binary at $PW" >&2; exit 2; }

# ---- load ----
LOADS=()
stop_load() {
    local pgid="$1"
    kill -TERM -- "-$pgid" 2>/dev/null || kill -TERM "$pgid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 -- "-$pgid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    wait "$pgid" 2>/dev/null || true
}
cleanup() {
    for pgid in "${LOADS[@]}"; do stop_load "$pgid"; done
    LOADS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_load NAME ARGS...: starts benches/load.py in its own process group, waits until it is ready, sets LOAD_PGID.
start_load() {
    local name="$1"; shift
    local ready="$OUT/$name.pgid"
    rm -f "$ready"
    # load.py makes itself a process-group leader, so its pid is the group id.
    python3 "$HERE/load.py" --ready-file "$ready" "$@" >"$OUT/$name.log" 2>&1 &
    local pid=$!
    LOADS+=("$pid")
    for _ in $(seq 600); do
        [ -s "$ready" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$OUT/$name.log" >&2; echo "run.sh: load $name failed" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$ready" ] || { echo "run.sh: load $name not ready after 60 s" >&2; exit 1; }
    LOAD_PGID="$(cat "$ready")"
    [ "$LOAD_PGID" = "$pid" ] || { echo "run.sh: load $name: unexpected process group $LOAD_PGID" >&2; exit 1; }
    # Let the machine settle: setting up connections leaves the kernel busy for several seconds after (every
    # command, `ss -tuln` included, runs slower meanwhile), which is not what the scenario is about.
    sleep "${SETTLE:-1}"
}
end_load() {
    stop_load "$1"
    local kept=()
    for p in "${LOADS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    LOADS=("${kept[@]+"${kept[@]}"}")
}

# Percent of CPU time idle over one second (from /proc/stat).
idle_percent() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 1
    read -r -a b < <(head -1 /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(( total > 0 ? 100 * (b[4] - a[4]) / total : 100 ))
}

# Waits (at most WAIT_IDLE seconds) for a quiet machine; notes how long it waited and how idle it was.
wait_idle() {
    [ "$WAIT_IDLE" -gt 0 ] || return 0
    local start=$SECONDS idle
    while :; do
        idle=$(idle_percent)
        if [ "$idle" -ge 90 ] || [ $((SECONDS - start)) -ge "$WAIT_IDLE" ]; then break; fi
    done
    echo "- $1: waited $((SECONDS - start)) s for the CPUs to be idle; $idle% idle when it started" >>"$OUT/machine.md"
}

# hyperfine_round SCENARIO ROUND COMMAND...
hyperfine_round() {
    local scenario="$1" round="$2"; shift 2
    wait_idle "$scenario round $round"
    hyperfine -N --style none --warmup 2 --runs "$RUNS" \
        --export-json "$OUT/$scenario.round$round.json" --export-markdown "$OUT/$scenario.round$round.md" \
        "$@" >/dev/null
}

# peak_rss FILE COMMAND...: appends each command and its peak RSS in KiB (/usr/bin/time -v) to FILE.
peak_rss() {
    local file="$1" cmd rss
    shift
    for cmd in "$@"; do
        # shellcheck disable=SC2086
        rss=$(/usr/bin/time -v $cmd 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
        printf '%s\t%s\n' "$cmd" "$rss" >>"$file"
    done
}

machine() {
    echo "- CPU: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "- memory: $(free -m | awk '/^Mem:/ {print $2}') MiB; kernel $(uname -r)"
    echo "- $(hyperfine --version); $(ss --version 2>&1 | head -1); netstat $(netstat --version 2>&1 | head -1 | awk '{print $2}'); lsof $(lsof -v 2>&1 | awk '/^ *revision:/ {print $2; exit}')"
    echo "- portwarden $("$PW" --version | awk '{print $2}') at $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

PWJ="$PW list --format json"
# The same listing with owners from the /proc scan (what runs without root, or where the BPF walk cannot).
PWP="env PORTWARDEN_OWNERS=procfs $PW list --format json"
SS_P="ss -tulpn"
# What users run: the default table and every format (piped, as hyperfine runs them: full cells).
PWT="$PW list"
PWN="$PW list --format ndjson"
FORMATS=("$PW list --format csv" "$PW list --format prometheus")
COMMANDS_6K=("$PWJ" "$PWP" "$PWT" "$PWN" "${FORMATS[@]}" "$PW explain 1" "$SS_P" "ss -tuln" "netstat -tulpn"
    "lsof -nP -iTCP -iUDP")
BEFORE=()
if [ -n "${PORTWARDEN_BEFORE:-}" ]; then
    BEFORE=("$PORTWARDEN_BEFORE list --format json" "$PORTWARDEN_BEFORE list")
    COMMANDS_6K+=("$PORTWARDEN_BEFORE explain 1")
fi

echo "run.sh: results in $OUT" >&2
machine >"$OUT/machine.md"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work competes for the CPUs)" >>"$OUT/machine.md"

# ---- 6,000 sockets, with and without 8,000 established connections ----
start_load listen6k --procs 200 --listeners 30
L6K="$LOAD_PGID"
echo "- processes on the machine with the 6,000-socket load: $(ls /proc | grep -c '^[0-9]')" >>"$OUT/machine.md"
for round in $(seq "$ROUNDS"); do
    echo "run.sh: 6,000 sockets, round $round/$ROUNDS" >&2
    hyperfine_round s6k "$round" "${COMMANDS_6K[@]}" "${BEFORE[@]+"${BEFORE[@]}"}"
    if [ "$ESTABLISHED" = 1 ]; then
        SETTLE=10 start_load estab --procs 0 --established 8000
        EST="$LOAD_PGID"
        echo "run.sh: 6,000 sockets + 8,000 established connections, round $round/$ROUNDS" >&2
        hyperfine_round s6k-estab "$round" "$PWJ" "$PWP" "$PW explain 1" "$SS_P" "ss -tuln" \
            "${BEFORE[@]+"${BEFORE[@]}"}"
        end_load "$EST"
    fi
done
end_load "$L6K"

# ---- 20,000 sockets ----
if [ "$LARGE" = 1 ]; then
    start_load listen20k --procs 500 --listeners 40
    L20K="$LOAD_PGID"
    for round in $(seq "$ROUNDS"); do
        echo "run.sh: 20,000 sockets, round $round/$ROUNDS" >&2
        hyperfine_round s20k "$round" "$PWJ" "$PWP" "$PWT" "$PWN" "$SS_P" "ss -tuln" "netstat -tulpn" \
            "lsof -nP -iTCP -iUDP" "${BEFORE[@]+"${BEFORE[@]}"}"
    done
    peak_rss "$OUT/rss20k.tsv" "$PWJ" "$PWP" "$PWT" "$PWN" "$SS_P" "netstat -tulpn" "lsof -nP -iTCP -iUDP" \
        "${BEFORE[@]+"${BEFORE[@]}"}"
    end_load "$L20K"
fi

# ---- 50,000 sockets (--scale) ----
if [ "$SCALE" = 1 ]; then
    start_load listen50k --procs 2000 --listeners 25
    L50K="$LOAD_PGID"
    for round in $(seq "$ROUNDS"); do
        echo "run.sh: 50,000 sockets, round $round/$ROUNDS" >&2
        hyperfine_round s50k "$round" "$PWJ" "$PWP" "$SS_P"
    done
    peak_rss "$OUT/rss50k.tsv" "$PWJ" "$PWP" "$SS_P"
    end_load "$L50K"
fi

echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.md"
python3 "$HERE/summarise.py" "$OUT" "$PW" "${PORTWARDEN_BEFORE:-}" | tee "$OUT/summary.md"
