//! Command-line interface definition (clap derive only; no behaviour here).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "portwarden",
    version,
    about = "What is listening on this machine, who owns it, and should it be?",
    long_about = "Lists every listening TCP socket and bound UDP socket (IPv4 and IPv6) with the processes that own \
                  them, annotated with the IANA port registry, and flags listeners on unassigned, reserved, dynamic \
                  or obscure ports.",
    after_help = "Examples:\n  portwarden                      table of every listener\n  portwarden list --flagged       only listeners worth a look\n  portwarden list --format json   machine-readable report\n  portwarden explain 1687 53/udp  the whole story of a port\n  portwarden registry info        which IANA registry is in use",
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
    /// Only listeners with at least one flag.
    #[arg(long)]
    pub flagged: bool,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t = SortKey::Port)]
    pub sort: SortKey,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Ports to explain: N or N/PROTO (tcp or udp); without a protocol, both.
    #[arg(required = true, value_name = "PORT[/PROTO]")]
    pub ports: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Which registry is in use, its date and its row count.
    Info {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
    /// Validate an official IANA CSV (service-names-port-numbers.csv) and use it from now on instead of the
    /// built-in registry. A file that fails validation changes nothing.
    Import {
        /// The CSV downloaded from https://www.iana.org/assignments/service-names-port-numbers/
        file: PathBuf,
    },
    /// Forget an imported registry and go back to the built-in one.
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExplainFormat {
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
