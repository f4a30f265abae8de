#!/usr/bin/env python3
"""Print statistics about how silent the registry's assigned tcp/udp rows are.

Usage (from the repository root):

    python3 registry/update/stats.py \
        [--registry registry/service-names-port-numbers.csv] \
        [--common registry/common-services.csv]

"Assigned tcp/udp port row": a row with a Service Name, a Port Number and
protocol tcp or udp (port ranges count as one row).
"Silent description": empty, or only repeating the service name. Both are
compared case-insensitively with everything but letters and digits removed
(so "MySQL" repeats "mysql", and "nsjtp ctrl" repeats "nsjtp-ctrl"), after
dropping IANA's note "IANA assigned this well-formed service name as a
replacement for ...".
Python 3 standard library only.
"""

import argparse
import csv
import re


def norm(text):
    return re.sub(r"[^0-9a-z]", "", text.lower())


def silent_description(name, desc):
    desc = re.split(r"\s*IANA assigned this well-formed service name", desc)[0]
    return norm(desc) == "" or norm(desc) == norm(name)


def pct(n, d):
    return "%d / %d = %.1f%%" % (n, d, 100.0 * n / d if d else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", default="registry/service-names-port-numbers.csv")
    ap.add_argument("--common", default="registry/common-services.csv")
    args = ap.parse_args()

    with open(args.registry, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(args.common, newline="", encoding="utf-8") as fh:
        common = {r["service"] for r in csv.DictReader(fh)}

    assigned = [r for r in rows if r["Service Name"] and r["Port Number"]
                and r["Transport Protocol"] in ("tcp", "udp")]
    no_ref = [r for r in assigned if not r["Reference"].strip()]
    silent = [r for r in assigned
              if silent_description(r["Service Name"], r["Description"])]
    both = [r for r in no_ref
            if silent_description(r["Service Name"], r["Description"])]
    both_common = [r for r in both if r["Service Name"] in common]

    print("rows in registry:                          %d" % len(rows))
    print("assigned tcp/udp port rows:                %d" % len(assigned))
    print("  with no Reference:                       %s" % pct(len(no_ref), len(assigned)))
    print("  Description empty or repeats the name:   %s" % pct(len(silent), len(assigned)))
    print("  both (silent record):                    %s" % pct(len(both), len(assigned)))
    print("  silent rows whose service is in common-services.csv: %d rows, %d services"
          % (len(both_common), len({r["Service Name"] for r in both_common})))
    print("    %s" % ", ".join(sorted({r["Service Name"] for r in both_common})))


if __name__ == "__main__":
    main()
