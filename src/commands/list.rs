//! `list` (the default command): every listener, filtered and sorted, in the format asked for.

use super::{file_hint, warn_unknown_owners, Context, Outcome};
use crate::cli::{ListArgs, ListFormat, SortKey};
use anyhow::Context as _;
use portwarden::verdict::{self, Listener, Verdict};
use portwarden::{history, platform, render, Protocol, Query};

pub fn run(args: &ListArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let io = &mut cx.io;
    let mut protocols = Vec::new();
    if args.tcp {
        protocols.push(Protocol::Tcp);
    }
    if args.udp {
        protocols.push(Protocol::Udp);
    }
    let query = Query { protocols, port: args.port, all_netns: args.all_netns };
    let registry = cx.data.registry()?;
    let keep = |l: &Listener<'_>| {
        query.wants(l.protocol)
            && args.port.is_none_or(|p| l.port == p)
            && args.pid.is_none_or(|pid| l.processes.iter().any(|p| p.pid == pid))
            && args.process.as_ref().is_none_or(|n| l.processes.iter().any(|p| &p.name == n))
            && (!args.flagged || l.verdict != Verdict::Expected)
    };
    if args.format == ListFormat::Json && args.sort == SortKey::Port {
        // The common case streams: listeners are built and written a block at a time, never the
        // whole report in memory.
        let inventory = match &args.from {
            Some(file) => history::read(file)?,
            None => platform::enumerate(&query).context("cannot list the sockets of this machine")?,
        };
        let hint = args.from.as_deref().map_or_else(|| platform::hidden_owner_hint().to_string(), file_hint);
        let summary =
            render::json::write_inventory(io.out, inventory, registry, &mut cx.data.user_names(), &keep, &hint)?;
        warn_unknown_owners(&summary, io.err)?;
        return Ok(Outcome::Clean);
    }
    let mut report = match &args.from {
        Some(file) => {
            let inventory = history::read(file)?;
            verdict::build(inventory, registry, &mut cx.data.user_names(), &keep, &file_hint(file))
        }
        None => cx.data.inventory_report(&query, &keep)?,
    };
    if args.sort == SortKey::Severity {
        verdict::sort_by_severity(&mut report.listeners);
    }
    match args.format {
        ListFormat::Table => render::table::write(io.out, &report, cx.painter)?,
        ListFormat::Json => render::json::write_report(io.out, &report)?,
        ListFormat::Ndjson => render::ndjson(io.out, &report.listeners)?,
        ListFormat::Csv => render::csv::write(io.out, &report)?,
        ListFormat::Prometheus => render::prometheus::write(io.out, &report)?,
    }
    if args.format != ListFormat::Table {
        warn_unknown_owners(&report.summary, io.err)?;
    }
    Ok(Outcome::Clean)
}
