#!/usr/bin/env python3
"""Regenerate registry/common-services.csv and check it against the registry.

Usage (from the repository root, on a Debian/Ubuntu system):

    python3 registry/update/common_services.py \
        --services /etc/services \
        --registry registry/service-names-port-numbers.csv \
        --out registry/common-services.csv

    python3 registry/update/common_services.py --check   # verify only

The list has two parts:
  1. Every primary service name in Debian's netbase /etc/services that is also
     a service name in the registry CSV (aliases are not taken: netbase lists,
     for instance, "urd" as an alias of submissions). The netbase version is
     read with dpkg-query and written into each "why".
  2. HAND: widely deployed services whose IANA name netbase does not carry as a
     primary name, each with a short factual reason.
Every name must exist in the registry CSV, and none of NEVER_COMMON may
appear; the script exits non-zero otherwise. Python 3 standard library only.
"""

import argparse
import csv
import io
import subprocess
import sys

HAND = [
    ("imap", "IANA name of 143/tcp; netbase lists it only as an alias of imap2"),
    ("snmptrap", "IANA name of 162 (SNMP traps); netbase lists it only as an alias of snmp-trap"),
    ("memcache", "default port 11211 of the memcached server"),
    ("rfb", "Remote Framebuffer, the VNC protocol; VNC servers listen on 5900 + display number"),
    ("mongodb", "default port 27017 of the MongoDB server (mongod)"),
    ("mysqlx", "MySQL X Protocol, enabled by default on 33060 since MySQL 8.0"),
    ("ipps", "IPP over HTTPS on 631/tcp, served by CUPS"),
    ("llmnr", "LLMNR name resolution on 5355, answered by systemd-resolved and Windows"),
    ("ws-discovery", "WS-Discovery on 3702: Windows network discovery, wsdd on Linux"),
    ("wsdapi", "Web Services for Devices on 5357/tcp: Windows network discovery"),
    ("ssdp", "SSDP (UPnP discovery) on 1900/udp: Windows, media servers, routers"),
    ("docker", "Docker Engine API over plain TCP (2375)"),
    ("docker-s", "Docker Engine API over TLS (2376)"),
    ("etcd-client", "etcd client API (2379), part of Kubernetes control planes"),
    ("etcd-server", "etcd peer traffic (2380), part of Kubernetes control planes"),
    ("mqtt", "MQTT brokers such as Mosquitto listen on 1883"),
    ("secure-mqtt", "MQTT over TLS (8883)"),
    ("couchdb", "default port 5984 of Apache CouchDB"),
    ("sips", "SIP over TLS (5061): SIP servers and phones"),
    ("stun", "STUN/TURN servers such as coturn listen on 3478"),
    ("l2tp", "L2TP VPN (1701/udp): xl2tpd, Windows RRAS"),
    ("pptp", "PPTP VPN control connection (1723/tcp)"),
    ("opentelemetry", "OTLP/gRPC receiver of OpenTelemetry collectors (4317)"),
    ("wsman", "WS-Management over HTTP (5985): Windows Remote Management listener"),
    ("wsmans", "WS-Management over HTTPS (5986): Windows Remote Management listener"),
    ("winrm", "registered for Windows Remote Management (47001); open on Windows hosts"),
    ("mountd", "NFS mount daemon; 20048 is the port of firewalld's mountd service"),
    ("pmcd", "Performance Co-Pilot collector daemon (44321), packaged in RHEL and Fedora"),
    ("pmproxy", "Performance Co-Pilot proxy (44322), packaged in RHEL and Fedora"),
    ("ceph", "Ceph monitor, messenger v2 (3300)"),
    ("ntske", "NTS key establishment (4460) of chrony and NTPsec NTS servers"),
    ("pdl-datastream", "raw printing on 9100 (AppSocket/JetDirect) on network printers"),
]

# Registered but silent services that must never be called common.
NEVER_COMMON = {"rsap", "ncpm-hip", "nsjtp-ctrl", "nsjtp-data", "esps-portal"}

MUST = ("ssh domain http https mysql postgresql redis memcache mdns ntp smtp imap "
        "imaps pop3 submission ldap snmp bootps bootpc netbios-ns microsoft-ds x11 "
        "ipp rfb http-alt").split()


def netbase_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "netbase"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sys.exit("netbase version unknown: dpkg-query failed")


def primary_names(path):
    names = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] not in names:
                names.append(fields[0])
    return names


def registry_names(path):
    """Service names that have a port assigned (not only a DNS-SD name, not only a Reserved row)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["Service Name"] for r in csv.DictReader(fh)
                if r["Service Name"] and r["Port Number"]
                and not r["Description"].strip().lower().startswith("reserved")}


def build(services, registry):
    version = netbase_version()
    known = registry_names(registry)
    rows, seen = [], set()
    for name in primary_names(services):
        if name in known:
            rows.append((name, "Debian netbase %s /etc/services" % version))
            seen.add(name)
    for name, why in HAND:
        if name not in seen:
            rows.append((name, why))
            seen.add(name)
    return rows


def check(rows, registry):
    known = registry_names(registry)
    names = [n for n, _ in rows]
    errors = []
    errors += ["not an assigned service name in the registry: %s" % n for n in names if n not in known]
    errors += ["silent registration listed: %s" % n for n in names if n in NEVER_COMMON]
    errors += ["required entry missing: %s" % n for n in MUST if n not in names]
    errors += ["duplicate: %s" % n for n in sorted(set(names)) if names.count(n) > 1]
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", default="/etc/services")
    ap.add_argument("--registry", default="registry/service-names-port-numbers.csv")
    ap.add_argument("--out", default="registry/common-services.csv")
    ap.add_argument("--check", action="store_true", help="verify --out only")
    args = ap.parse_args()
    if args.check:
        with open(args.out, newline="", encoding="utf-8") as fh:
            rows = [(r["service"], r["why"]) for r in csv.DictReader(fh)]
    else:
        rows = build(args.services, args.registry)
    errors = check(rows, args.registry)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)
    if not args.check:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["service", "why"])
        w.writerows(rows)
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
    print("%d services (%d from netbase), all in the registry"
          % (len(rows), sum(1 for _, w in rows if w.startswith("Debian netbase"))))


if __name__ == "__main__":
    main()
