//! Wires the pipeline for each command: enumerate, join with the registry, classify, filter, render.

use crate::cli::{Cli, Command, ExplainArgs, ExplainFormat, ListArgs, ListFormat, RegistryCommand, SortKey};
use crate::explain::{self, PortSpec};
use crate::model::{Protocol, Query};
use crate::registry::{self, Registry};
use crate::render::{self, Painter};
use crate::report::{self, Listener, Report};
use crate::{platform, text};
use anyhow::{bail, Context};
use std::io::Write;

/// Exit status of a run that did not fail.
pub type Status = i32;

/// Where a run writes, and whether stdout is a terminal (for colour).
pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub is_terminal: bool,
}

/// Runs one command line. Errors are bad input or failures (exit 2 in `main`); `Ok` carries the exit status.
pub fn run(cli: Cli, io: &mut Output<'_>) -> anyhow::Result<Status> {
    let painter = Painter { color: render::use_color(cli.color, io.is_terminal) };
    match cli.command {
        None => list(&cli.list, painter, io),
        Some(Command::List(args)) => list(&args, painter, io),
        Some(Command::Explain(args)) => explain(&args, painter, io),
        Some(Command::Registry(cmd)) => registry_cmd(cmd, painter, io),
        Some(Command::Check(args)) => crate::check::run(&args, painter, io),
        Some(Command::Baseline(args)) => crate::baseline::run(&args, io),
        Some(Command::Watch(args)) => crate::watch::run(&args, painter, io),
        Some(Command::Diff(args)) => crate::diff::run(&args, painter, io),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "portwarden", io.out);
            Ok(0)
        }
        Some(Command::Man) => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(io.out)?;
            Ok(0)
        }
    }
}

pub(crate) fn load_registry() -> anyhow::Result<Registry> {
    Registry::load(registry::data_dir().as_deref())
}

pub(crate) fn user_names() -> impl FnMut(u32) -> Option<String> {
    let mut cache = rustc_hash::FxHashMap::default();
    move |uid| cache.entry(uid).or_insert_with(|| platform::user_name(uid)).clone()
}

/// Enumerates and builds the report, keeping the listeners `keep` accepts.
pub(crate) fn inventory_report<'r>(
    query: &Query,
    registry: &'r Registry,
    keep: &dyn Fn(&Listener<'r>) -> bool,
) -> anyhow::Result<Report<'r>> {
    let inventory = platform::enumerate(query).context("cannot list the sockets of this machine")?;
    Ok(report::build(inventory, registry, &mut user_names(), keep, platform::hidden_owner_hint()))
}

/// Says on stderr how many listeners have unknown owners (with the hint) and repeats the run's warnings.
pub(crate) fn warn_unknown_owners(s: &report::Summary, err: &mut dyn Write) -> std::io::Result<()> {
    if s.owner_unknown > 0 {
        let n = render::table::plural(s.owner_unknown, "listener");
        writeln!(err, "portwarden: {n} with owner unknown: {}", s.hint.as_deref().unwrap_or(""))?;
    }
    for w in &s.warnings {
        writeln!(err, "portwarden: warning: {}", text::escape(w))?;
    }
    Ok(())
}

fn list(args: &ListArgs, painter: Painter, io: &mut Output<'_>) -> anyhow::Result<Status> {
    let mut protocols = Vec::new();
    if args.tcp {
        protocols.push(Protocol::Tcp);
    }
    if args.udp {
        protocols.push(Protocol::Udp);
    }
    let query = Query { protocols, port: args.port, all_netns: args.all_netns };
    let registry = load_registry()?;
    let keep = |l: &Listener<'_>| {
        query.wants(l.protocol)
            && args.port.is_none_or(|p| l.port == p)
            && args.pid.is_none_or(|pid| l.processes.iter().any(|p| p.pid == pid))
            && args.process.as_ref().is_none_or(|n| l.processes.iter().any(|p| &p.name == n))
            && (!args.flagged || !l.flags.is_empty())
    };
    if args.format == ListFormat::Json && args.sort == SortKey::Port {
        // The common case streams: listeners are built and written a block at a time, on two threads, never the
        // whole report in memory.
        let inventory = platform::enumerate(&query).context("cannot list the sockets of this machine")?;
        let hint = platform::hidden_owner_hint();
        let summary = render::listing::write_inventory(io.out, inventory, &registry, &mut user_names(), &keep, hint)?;
        warn_unknown_owners(&summary, io.err)?;
        return Ok(0);
    }
    let mut report = inventory_report(&query, &registry, &keep)?;
    if args.sort == SortKey::Severity {
        report::sort_by_severity(&mut report.listeners);
    }
    match args.format {
        ListFormat::Table => render::table::write(io.out, &report, painter)?,
        ListFormat::Json => render::listing::write_report(io.out, &report)?,
        ListFormat::Ndjson => render::ndjson(io.out, &report.listeners)?,
        ListFormat::Csv => render::csv::write(io.out, &report)?,
        ListFormat::Prometheus => render::prometheus::write(io.out, &report)?,
    }
    if args.format != ListFormat::Table {
        warn_unknown_owners(&report.summary, io.err)?;
    }
    Ok(0)
}

fn explain(args: &ExplainArgs, painter: Painter, io: &mut Output<'_>) -> anyhow::Result<Status> {
    let specs =
        args.ports.iter().map(|s| PortSpec::parse(s)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
    let registry = load_registry()?;
    let mut ports: Vec<u16> = specs.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let query = Query { port: (ports.len() == 1).then(|| ports[0]), ..Query::default() };
    let report = inventory_report(&query, &registry, &|l| ports.contains(&l.port))?;
    let mut stories = Vec::new();
    for spec in &specs {
        for protocol in spec.protocols() {
            stories.push(explain::story(&registry, spec.port, protocol, &report.listeners));
        }
    }
    match args.format {
        ExplainFormat::Text => render::explain::write(io.out, &stories, painter)?,
        ExplainFormat::Json => render::json(io.out, &stories)?,
    }
    warn_unknown_owners(&report.summary, io.err)?;
    Ok(0)
}

fn registry_cmd(cmd: RegistryCommand, painter: Painter, io: &mut Output<'_>) -> anyhow::Result<Status> {
    let data_dir = registry::data_dir();
    match cmd {
        RegistryCommand::Info { format } => {
            let registry = load_registry()?;
            let info = registry.info();
            let share = crate::classify::obscure_share(&registry);
            match format {
                ExplainFormat::Json => {
                    render::json(io.out, &serde_json::json!({ "registry": info, "obscure_share": share }))?
                }
                ExplainFormat::Text => {
                    let origin = match &info.origin {
                        registry::Origin::Builtin => "built-in (compiled into this binary)".to_string(),
                        registry::Origin::Imported { path } => format!("imported: {}", path.display()),
                    };
                    writeln!(io.out, "{}", painter.bold(&info.name))?;
                    writeln!(io.out, "  in use:    {origin}")?;
                    writeln!(io.out, "  date:      {}", info.date)?;
                    writeln!(io.out, "  sources:   {}", text::escape(&info.sources))?;
                    writeln!(io.out, "  rows:      {} ({} with a port number)", info.rows, info.port_rows)?;
                    writeln!(io.out, "  common services (never obscure): {}", registry::common_services().len())?;
                    writeln!(
                        io.out,
                        "  obscure: {} of {} assigned tcp/udp ports ({:.1}%)",
                        share.obscure,
                        share.assigned,
                        100.0 * share.obscure as f64 / share.assigned.max(1) as f64
                    )?;
                }
            }
        }
        RegistryCommand::Import { file } => {
            let Some(dir) = data_dir else { bail!("no data directory: set PORTWARDEN_DATA_DIR or HOME") };
            let info = registry::import(&file, &dir)?;
            writeln!(
                io.out,
                "imported {} rows ({} with a port number), newest record dated {}; stored as {}",
                info.rows,
                info.port_rows,
                info.date,
                dir.join(registry::IMPORTED_FILE).display()
            )?;
        }
        RegistryCommand::Reset => {
            let Some(dir) = data_dir else { bail!("no data directory: set PORTWARDEN_DATA_DIR or HOME") };
            if registry::reset(&dir)? {
                writeln!(io.out, "removed the imported registry; using the built-in one")?;
            } else {
                writeln!(io.out, "no imported registry; the built-in one is in use")?;
            }
        }
    }
    Ok(0)
}
