//! Command-line interface definition (clap derive only; no behaviour here).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The version, with the date of the built-in IANA registry.
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (built-in IANA registry of ", env!("PORTWARDEN_REGISTRY_DATE"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "portwarden",
    version = VERSION,
    about = "What is listening on this machine, who owns it, and should it be?",
    long_about = "Lists every listening TCP socket and bound UDP socket (IPv4 and IPv6) with the processes that own \
                  them, annotated with the IANA port registry, and flags listeners on unassigned, reserved, dynamic \
                  or obscure ports.",
    after_help = "Examples:\n  portwarden                      table of every listener\n  portwarden list --flagged       only listeners worth a look\n  portwarden list --format json   machine-readable report\n  portwarden list --all-netns     every network namespace: containers too (root)\n  portwarden explain 1687 53/udp  the whole story of a port\n  portwarden registry info        which IANA registry is in use\n\nEnvironment:\n  NO_COLOR             no colour unless --color always\n  PORTWARDEN_DATA_DIR  where `registry import` keeps the imported registry\n  PORTWARDEN_OWNERS    auto (the default), bpf or procfs: owners from the kernel's file tables\n                       (a BPF walk, as root) or from a /proc scan",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `list`, the default command.
    #[command(flatten)]
    pub list: ListArgs,

    /// When to colour the output: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List listening sockets with their owners, IANA status and flags (the default).
    List(ListArgs),
    /// Tell the whole story of one or more ports: range, IANA records, flags, related ports, who listens now.
    #[command(
        after_help = "Examples:\n  portwarden explain 22\n  portwarden explain 1687/tcp 53/udp\n  portwarden explain 49999 --format json"
    )]
    Explain(ExplainArgs),
    /// Show or replace the IANA registry portwarden uses.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Fail (exit 1) when a listener is not allowed by the policy file; exit 2 when the check cannot be trusted.
    #[command(
        after_help = "Exit codes: 0 every listener allowed, 1 unexpected or failing listeners, 2 bad input or a \
                            check that cannot be trusted.\n\nExamples:\n  portwarden check\n  portwarden check \
                            --policy ci/portwarden.toml --format junit > portwarden.xml\n  portwarden check --from \
                            recording.ndjson --format github"
    )]
    Check(CheckArgs),
    /// Write a policy that allows exactly what listens now (edit it by hand afterwards).
    Baseline(BaselineArgs),
    /// Print listeners as they appear and disappear, until Ctrl-C or SIGTERM.
    #[command(after_help = "Polls: a listener that lives shorter than the interval can be missed.\n\nExamples:\n  \
                      portwarden watch\n  portwarden watch --record listeners.ndjson --interval 200ms &\n  \
                      portwarden check --from listeners.ndjson")]
    Watch(WatchArgs),
    /// Listeners added and removed between two snapshots (exit 0 when the same, 1 when different).
    #[command(
        after_help = "Listeners are compared by protocol, address, port and owner names (not pids).\n\nExamples:\n  \
                      portwarden list --format json > before.json\n  portwarden diff before.json\n  portwarden diff \
                      before.json after.json --format json"
    )]
    Diff(DiffArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  portwarden completions bash > /etc/bash_completion.d/portwarden\n  portwarden \
                            completions zsh > \"${fpath[1]}/_portwarden\"\n  portwarden completions fish > \
                            ~/.config/fish/completions/portwarden.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `portwarden man > portwarden.1`.
    Man,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Policy file.
    #[arg(long, value_name = "FILE", default_value = "portwarden.toml")]
    pub policy: std::path::PathBuf,
    /// Check the listeners in a recording (`watch --record`) or a snapshot (`list --format json`) instead of
    /// this machine.
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Check the listeners of every network namespace (containers, `ip netns`), not only the current one (Linux;
    /// needs root).
    #[arg(long, conflicts_with = "from")]
    pub all_netns: bool,
    /// Check a recording with gaps anyway (a recorder killed, then another appending to the same file: what
    /// listened in between is missing). Without it a gap makes the check undecidable (exit 2).
    #[arg(long, requires = "from")]
    pub allow_gaps: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    /// Readable report.
    #[default]
    Text,
    /// One JSON object.
    Json,
    /// JUnit XML: one testcase per listener, a failure per unexpected one.
    Junit,
    /// GitHub Actions workflow commands (`::error` annotations).
    Github,
}

#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    /// Write the policy to this file (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Allow the listeners of every network namespace (containers, `ip netns`), with `netns` and `container` keys
    /// (Linux; needs root).
    #[arg(long)]
    pub all_netns: bool,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Time between scans when polling, e.g. 500ms, 1s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// With kernel events (Linux, as root): time between the full scans that reconcile what events cannot say
    /// (owners that change, UDP sockets bound by sendto() or connected).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub reconcile: std::time::Duration,
    /// Poll even where kernel events could be had.
    #[arg(long)]
    pub poll: bool,
    /// Append every event as a JSON line (with its time and the full listener record) to this file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,
    /// Also watch the listeners in every other network namespace (containers, `ip netns`), each labelled with its
    /// namespace and its owners' containers (Linux; needs root to see and enter other users' namespaces).
    #[arg(long)]
    pub all_netns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum WatchFormat {
    /// `+`/`-` lines.
    #[default]
    Text,
    /// One JSON event per line.
    Ndjson,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// Earlier snapshot (`list --format json`) or recording.
    pub old: std::path::PathBuf,
    /// Later snapshot or recording; this machine now when left out.
    pub new: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// When comparing with this machine now: list every network namespace, as `list --all-netns` (Linux; needs
    /// root).
    #[arg(long, conflicts_with = "new")]
    pub all_netns: bool,
}

/// Parses a duration such as "500ms", "1s" or "2m".
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 500ms, 1s, 2m)"))?;
    if d.is_zero() {
        return Err("the interval must be longer than zero".to_string());
    }
    Ok(d)
}

#[derive(Debug, Clone, Args, Default)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Only TCP listeners.
    #[arg(long)]
    pub tcp: bool,
    /// Only UDP sockets.
    #[arg(long)]
    pub udp: bool,
    /// Only listeners on this port.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Only listeners held by this process id.
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only listeners held by a process of this name (exact match on the short name).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Only listeners worth a look: verdict review or dangerous.
    #[arg(long)]
    pub flagged: bool,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t = SortKey::Port)]
    pub sort: SortKey,
    /// Table: full cells, however wide the terminal (the table fits the window by default, shortening long cells
    /// with an ellipsis; piped, it always shows full cells).
    #[arg(short = 'w', long)]
    pub wide: bool,
    /// Also list the listeners in every other network namespace (containers, `ip netns`), each labelled with its
    /// namespace and its owners' containers (Linux; needs root to see and enter other users' namespaces).
    #[arg(long, conflicts_with = "from")]
    pub all_netns: bool,
    /// Judge the listeners of a saved listing instead of this machine: a snapshot (`list --format json`) or a
    /// recording (`watch --record`), possibly from another machine or operating system.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Ports to explain: N or N/PROTO (tcp or udp); without a protocol, both.
    #[arg(required = true, value_name = "PORT[/PROTO]")]
    pub ports: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Which registry is in use, its date and its row count.
    Info {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Validate an official IANA CSV (service-names-port-numbers.csv) and use it from now on instead of the
    /// built-in registry. A file that fails validation changes nothing.
    Import {
        /// The CSV downloaded from <https://www.iana.org/assignments/service-names-port-numbers/>
        file: PathBuf,
    },
    /// Forget an imported registry and go back to the built-in one.
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    /// Aligned table with reasons and a summary.
    #[default]
    Table,
    /// One JSON object: listeners and summary (schema in schemas/list.schema.json).
    Json,
    /// One JSON listener per line, for log shippers (Vector, Fluent Bit).
    Ndjson,
    /// Flat columns with a header row.
    Csv,
    /// Prometheus text format for node_exporter's textfile collector.
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TextOrJson {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SortKey {
    /// By port, then protocol and address.
    #[default]
    Port,
    /// Most severe first: flagged listeners on all interfaces before those on loopback.
    Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl From<ColorChoice> for portwarden::render::ColorChoice {
    fn from(c: ColorChoice) -> Self {
        match c {
            ColorChoice::Auto => Self::Auto,
            ColorChoice::Always => Self::Always,
            ColorChoice::Never => Self::Never,
        }
    }
}
