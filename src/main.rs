//! The `portwarden` binary: parse the command line, run the command, turn its outcome into an exit code.
//!
//! Exit codes: 0 clean, 1 findings (checks, differences), 2 bad input, a check that cannot decide, or a failure. A
//! closed stdout (`| head`) is not an error.

mod cli;
mod commands;

use clap::Parser;
use commands::Outcome;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn main() -> ExitCode {
    portwarden::platform::tune_allocator();
    let cli = cli::Cli::parse();
    let stdout = std::io::stdout();
    let is_terminal = stdout.is_terminal();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut err = std::io::stderr();
    let result = commands::run(cli, commands::Output { out: &mut out, err: &mut err, is_terminal })
        .and_then(|outcome| out.flush().map(|()| outcome).map_err(anyhow::Error::from));
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Undecided) => ExitCode::from(2),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            let _ = writeln!(err, "portwarden: error: {}", portwarden::text::escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
