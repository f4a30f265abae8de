#!/usr/bin/env bash
# Quick side-by-side timing of a few commands on whatever load is running (start one with benches/load.py):
#
#   benches/compare.sh ROUNDS 'ss -tuln' 'old/portwarden list' 'new/portwarden list' ...
#
# Runs ROUNDS hyperfine rounds (-N, 3 warm-up runs, 15 runs of each command per round, in the order given), so that
# a busy moment of the machine hits every command, then prints for each command the median wall time over all runs,
# its ratio to the first command's, and the mean CPU time (user + system). What benches/README.md's step-by-step
# figures come from; run.sh is the full harness.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
ROUNDS="$1"; shift
DIR="$(mktemp -d /tmp/portwarden-compare.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
for r in $(seq "$ROUNDS"); do
    hyperfine -N -w 3 -r 15 --export-json "$DIR/round-$r.json" "$@" >/dev/null 2>&1
done
python3 - "$DIR" "$@" <<'PY'
import glob, json, statistics, sys
out, cmds = sys.argv[1], sys.argv[2:]
wall = {c: [] for c in cmds}
cpu = {c: [] for c in cmds}
for f in glob.glob(out + "/round-*.json"):
    for r in json.load(open(f))["results"]:
        wall[r["command"]] += r["times"]
        cpu[r["command"]].append(r["user"] + r["system"])
base = statistics.median(wall[cmds[0]])
for c in cmds:
    m = statistics.median(wall[c])
    print(f"{m * 1e3:7.2f} ms  {m / base:5.2f}x  cpu {statistics.mean(cpu[c]) * 1e3:6.2f} ms  {c}")
PY
