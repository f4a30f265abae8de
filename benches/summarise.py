#!/usr/bin/env python3
"""Summarises a benches/run.sh result directory: medians over every run of every round, ratios, targets.

    summarise.py DIR PORTWARDEN_BINARY [BEFORE_BINARY]

Reads DIR/SCENARIO.roundN.json (hyperfine --export-json), DIR/rss20k.tsv, DIR/rss50k.tsv and DIR/machine.md;
prints Markdown.
Python 3 standard library only.
"""

import glob
import json
import os
import re
import statistics
import sys

SCENARIOS = [
    ("s6k", "6,000 sockets / 200 processes"),
    ("s6k-estab", "6,000 sockets / 200 processes + 8,000 established connections"),
    ("s20k", "20,000 sockets / 500 processes"),
    ("s50k", "50,000 sockets / 2,000 processes (--scale)"),
]
SS = "ss -tulpn"
LSOF = "lsof -nP -iTCP -iUDP"


def load(directory, scenario, binary, before):
    """{command: {"times": [...], "rounds": [median per round]}} in first-seen order."""
    results = {}
    files = glob.glob(os.path.join(directory, f"{scenario}.round*.json"))
    files.sort(key=lambda f: int(re.search(r"round(\d+)", f).group(1)))
    for path in files:
        with open(path) as f:
            data = json.load(f)
        for r in data["results"]:
            command = r["command"]
            if before:
                command = command.replace(before, "portwarden-before")
            command = command.replace(binary, "portwarden")
            entry = results.setdefault(command, {"times": [], "rounds": []})
            entry["times"].extend(r["times"])
            entry["rounds"].append(statistics.median(r["times"]))
    return results


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def ratio_cell(results, command, reference):
    if reference not in results or command == reference:
        return ""
    mine, theirs = results[command], results[reference]
    overall = statistics.median(mine["times"]) / statistics.median(theirs["times"])
    per_round = [a / b for a, b in zip(mine["rounds"], theirs["rounds"])]
    if len(per_round) > 1:
        return f"{overall:.2f} ({min(per_round):.2f}-{max(per_round):.2f})"
    return f"{overall:.2f}"


def main():
    directory, binary = sys.argv[1], sys.argv[2]
    before = sys.argv[3] if len(sys.argv) > 3 else ""
    out = []
    machine = os.path.join(directory, "machine.md")
    if os.path.exists(machine):
        out.append("Machine:\n")
        out.append(open(machine).read().rstrip() + "\n")
    medians = {}
    mins = {}
    for scenario, title in SCENARIOS:
        results = load(directory, scenario, binary, before)
        if not results:
            continue
        rounds = max(len(r["rounds"]) for r in results.values())
        runs = max(len(r["times"]) for r in results.values())
        out.append(f"### {title}\n")
        out.append(f"{rounds} rounds, {runs} runs per command in all; ratios are of medians (per-round range).\n")
        out.append("| Command | Median ms | Min ms | vs `ss -tulpn` | vs `lsof` |")
        out.append("|---|---:|---:|---:|---:|")
        for command, r in results.items():
            medians[(scenario, command)] = statistics.median(r["times"])
            mins[(scenario, command)] = min(r["times"])
            out.append(
                f"| `{command}` | {ms(statistics.median(r['times']))} | {ms(min(r['times']))} "
                f"| {ratio_cell(results, command, SS)} | {ratio_cell(results, command, LSOF)} |"
            )
        out.append("")

    rss = {}
    for name, sockets in (("rss20k.tsv", "20,000"), ("rss50k.tsv", "50,000")):
        rss_path = os.path.join(directory, name)
        if not os.path.exists(rss_path):
            continue
        out.append(f"### Peak RSS at {sockets} sockets (`/usr/bin/time -v`)\n")
        out.append("| Command | Max RSS MiB |")
        out.append("|---|---:|")
        for line in open(rss_path):
            command, kib = line.rstrip("\n").split("\t")
            if before:
                command = command.replace(before, "portwarden-before")
            command = command.replace(binary, "portwarden")
            rss[(sockets, command)] = int(kib) / 1024
            out.append(f"| `{command}` | {rss[(sockets, command)]:.1f} |")
        out.append("")

    pw = "portwarden list --format json"
    checks = []

    def check(label, value, limit, fmt="{:.2f}", best=None):
        if value is not None:
            verdict = "met" if value <= limit else "MISSED"
            best = "" if best is None else fmt.format(best)
            checks.append(f"| {label} | {fmt.format(value)} | {best} | <= {fmt.format(limit)} | {verdict} |")

    def get(scenario, command, table=None):
        return (table or medians).get((scenario, command))

    def ratio(a, b):
        return a / b if a is not None and b is not None else None

    def both(a, b):
        """The ratio of medians, and the ratio of minimums (the least disturbed runs)."""
        return ratio(get(*a), get(*b)), ratio(get(*a, mins), get(*b, mins))

    def check_ratio(label, a, b, limit):
        value, best = both(a, b)
        check(label, value, limit, best=best)

    check_ratio("6k: JSON list / `ss -tulpn`", ("s6k", pw), ("s6k", SS), 0.4)
    check_ratio("6k: JSON list / `lsof`", ("s6k", pw), ("s6k", LSOF), 0.2)
    check_ratio("20k: JSON list / `ss -tulpn`", ("s20k", pw), ("s20k", SS), 0.4)
    check_ratio("20k / 6k time (sockets x3.33)", ("s20k", pw), ("s6k", pw), 20000 / 6000)
    check_ratio("6k + 8k established / 6k", ("s6k-estab", pw), ("s6k", pw), 1.10)
    pwp = "env PORTWARDEN_OWNERS=procfs portwarden list --format json"
    check_ratio("same, owners from /proc (fallback)", ("s6k-estab", pwp), ("s6k", pwp), 1.10)
    explain = "portwarden explain 1"
    check_ratio("socket dump alone (`explain 1`): established / 6k", ("s6k-estab", explain), ("s6k", explain), 1.10)
    explain_ms = get("s6k", explain)
    explain_min = get("s6k", explain, mins)
    check("explain of a free port (ms)", explain_ms * 1000 if explain_ms else None, 5.0, "{:.1f}",
          explain_min * 1000 if explain_min else None)
    if ("20,000", pw) in rss:
        check("peak RSS at 20k (MiB)", rss[("20,000", pw)], 20.0, "{:.1f}")
    # Issue 15: owners, registry and verdict for nearly the price of the bare dump, in what users run.
    bare = "ss -tuln"
    for scenario, label in (("s6k", "6k"), ("s20k", "20k")):
        for name, command in (("table", "portwarden list"), ("JSON", pw), ("NDJSON", "portwarden list --format ndjson")):
            check_ratio(f"{label}: {name} / `ss -tuln`", (scenario, command), (scenario, bare), 1.25)
    if ("20,000", "portwarden list") in rss:
        check("table's peak RSS at 20k (MiB)", rss[("20,000", "portwarden list")], 20.0, "{:.1f}")
    # Issue 13: the listing with verdicts against the build before them.
    for name, command in (("JSON", pw), ("table", "portwarden list")):
        before_command = command.replace("portwarden", "portwarden-before", 1)
        check_ratio(f"6k: {name} / before the verdict", ("s6k", command), ("s6k", before_command), 1.05)
    if checks:
        out.append("### Targets\n")
        out.append("Measured: from medians; best: from the fastest run of each command (the least disturbed by other")
        out.append("work on the machine). The verdict is on the medians.\n")
        out.append("| Target | Measured | Best | Limit | |")
        out.append("|---|---:|---:|---:|---|")
        out.extend(checks)
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
