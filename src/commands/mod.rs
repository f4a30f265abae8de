//! The binary's commands, one file each, over one [`Context`]: where output goes, colours, the registry (loaded
//! once, when a command first needs it) and a cache of user names. Each returns an [`Outcome`]; `main` alone turns
//! it into an exit code.

mod baseline;
mod check;
mod diff;
mod explain;
mod list;
mod registry;
mod watch;

use crate::cli::{Cli, Command};
use anyhow::Context as _;
use portwarden::policy::CheckOutcome;
use portwarden::render::{self, Painter};
use portwarden::verdict::{self, Listener, Report, Summary};
use portwarden::{platform, text, Query, Registry};
use std::cell::{OnceCell, RefCell};
use std::io::Write;

/// How a run that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report, or nothing wrong (exit 0).
    Clean,
    /// A check or comparison found something (exit 1).
    Findings,
    /// The answer cannot be trusted (exit 2): owners hidden where a rule needs them.
    Undecided,
}

impl From<CheckOutcome> for Outcome {
    fn from(o: CheckOutcome) -> Self {
        match o {
            CheckOutcome::Pass => Outcome::Clean,
            CheckOutcome::Fail => Outcome::Findings,
            CheckOutcome::Undecidable => Outcome::Undecided,
        }
    }
}

/// Where a run writes, and whether stdout is a terminal (for colour).
pub struct Output<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub is_terminal: bool,
}

/// What commands share: loaded on first use, so `completions` never reads the registry.
#[derive(Default)]
pub struct Data {
    registry: OnceCell<Registry>,
    names: RefCell<rustc_hash::FxHashMap<u32, Option<String>>>,
}

impl Data {
    /// The registry in use: the imported one when there is one, else the built-in one.
    pub fn registry(&self) -> anyhow::Result<&Registry> {
        if let Some(r) = self.registry.get() {
            return Ok(r);
        }
        let r = Registry::load(portwarden::registry::data_dir().as_deref())?;
        Ok(self.registry.get_or_init(|| r))
    }

    /// User names by uid, each looked up once per run.
    pub fn user_names(&self) -> impl FnMut(u32) -> Option<String> + '_ {
        move |uid| self.names.borrow_mut().entry(uid).or_insert_with(|| platform::user_name(uid)).clone()
    }

    /// Enumerates this machine and builds the report, keeping the listeners `keep` accepts.
    pub fn inventory_report<'r>(
        &'r self,
        query: &Query,
        keep: &dyn Fn(&Listener<'r>) -> bool,
    ) -> anyhow::Result<Report<'r>> {
        let registry = self.registry()?;
        let inventory = platform::enumerate(query).context("cannot list the sockets of this machine")?;
        Ok(verdict::build(inventory, registry, &mut self.user_names(), keep, platform::hidden_owner_hint()))
    }
}

/// The one value every command receives.
pub struct Context<'a> {
    pub io: Output<'a>,
    pub painter: Painter,
    pub data: Data,
}

/// The hint for owners missing from a snapshot or recording: they were hidden from the run that wrote it, maybe on
/// another machine, so this machine's advice (run as root...) would not apply.
pub fn file_hint(file: &std::path::Path) -> String {
    format!("the run that wrote {} could not see these owners", file.display())
}

/// Says on stderr how many listeners have unknown owners (with the hint) and repeats the run's warnings.
pub fn warn_unknown_owners(s: &Summary, err: &mut dyn Write) -> std::io::Result<()> {
    if s.owner_unknown > 0 {
        let n = render::table::plural(s.owner_unknown, "listener");
        writeln!(err, "portwarden: {n} with owner unknown: {}", s.hint.as_deref().unwrap_or(""))?;
    }
    for w in &s.warnings {
        writeln!(err, "portwarden: warning: {}", text::escape(w))?;
    }
    Ok(())
}

/// Runs one command line. Errors are bad input or failures (exit 2 in `main`).
pub fn run(cli: Cli, io: Output<'_>) -> anyhow::Result<Outcome> {
    let painter = Painter { color: render::use_color(cli.color.into(), io.is_terminal) };
    let mut cx = Context { io, painter, data: Data::default() };
    match cli.command {
        None => list::run(&cli.list, &mut cx),
        Some(Command::List(args)) => list::run(&args, &mut cx),
        Some(Command::Explain(args)) => explain::run(&args, &mut cx),
        Some(Command::Registry(cmd)) => registry::run(cmd, &mut cx),
        Some(Command::Check(args)) => check::run(&args, &mut cx),
        Some(Command::Baseline(args)) => baseline::run(&args, &mut cx),
        Some(Command::Watch(args)) => watch::run(&args, &mut cx),
        Some(Command::Diff(args)) => diff::run(&args, &mut cx),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "portwarden", cx.io.out);
            Ok(Outcome::Clean)
        }
        Some(Command::Man) => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(cx.io.out)?;
            Ok(Outcome::Clean)
        }
    }
}
