//! The `portwarden` binary: parse the command line, run it, map the outcome to an exit code.
//!
//! Exit codes: 0 success, 1 findings (checks), 2 bad input, usage or failure. A closed stdout (`| head`) is not an
//! error.

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn main() -> ExitCode {
    let cli = portwarden::cli::Cli::parse();
    let stdout = std::io::stdout();
    let is_terminal = stdout.is_terminal();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut err = std::io::stderr();
    let result = portwarden::app::run(cli, &mut portwarden::app::Output { out: &mut out, err: &mut err, is_terminal })
        .and_then(|status| out.flush().map(|()| status).map_err(anyhow::Error::from));
    match result {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(2)),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            let _ = writeln!(err, "portwarden: error: {}", portwarden::text::escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
