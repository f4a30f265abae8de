//! `list` (the default command): every listener, filtered and sorted, in the format asked for. Every format is a
//! sink of the one pipeline ([`verdict::pipeline`]): listeners are built and written one at a time.

use super::{file_hint, warn_unknown_owners, Context, Outcome};
use crate::cli::{ListArgs, ListFormat, SortKey};
use anyhow::Context as _;
use portwarden::render::{csv::Csv, json::JsonListing, json::Ndjson, prometheus::Prometheus, table::Table};
use portwarden::verdict::pipeline::{self, Inputs};
use portwarden::verdict::{Listener, Order, Sink, Verdict};
use portwarden::{history, platform, Protocol, Query};

pub fn run(args: &ListArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
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
    let (inventory, hint) = match &args.from {
        Some(file) => (history::read(file)?, file_hint(file)),
        None => (
            platform::enumerate(&query).context("cannot list the sockets of this machine")?,
            platform::hidden_owner_hint().to_string(),
        ),
    };
    let order = match args.sort {
        SortKey::Port => Order::Port,
        SortKey::Severity => Order::Severity,
    };
    // Full cells when not writing to a terminal (scripts and grep see everything) or when asked for.
    let width = (cx.io.is_terminal && !args.wide).then(terminal_width).flatten();
    let io = &mut cx.io;
    let mut sink: Box<dyn Sink<'_>> = match args.format {
        ListFormat::Table => Box::new(Table::new(io.out, cx.painter, width)),
        ListFormat::Json => Box::new(JsonListing::begin(io.out)?),
        ListFormat::Ndjson => Box::new(Ndjson::new(io.out)),
        ListFormat::Csv => Box::new(Csv::begin(io.out)?),
        ListFormat::Prometheus => Box::new(Prometheus::new(io.out)),
    };
    let names = &mut cx.data.user_names();
    let inputs = Inputs { registry, user_name: names, keep: &keep, hint: &hint, order };
    let summary = pipeline::run(inventory, inputs, sink.as_mut())?;
    drop(sink);
    // The table says it in its summary; the other formats leave stdout to the data.
    if args.format != ListFormat::Table {
        warn_unknown_owners(&summary, io.err)?;
    }
    Ok(Outcome::Clean)
}

/// The terminal's width in columns: `COLUMNS` when set to a number, else what the terminal says.
fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return Some(n);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
}
