//! `baseline`: write a commented policy that allows exactly what listens now.

use crate::app::{Output, Status};
use crate::cli::BaselineArgs;

/// Runs `baseline`.
pub fn run(_args: &BaselineArgs, _io: &mut Output<'_>) -> anyhow::Result<Status> {
    anyhow::bail!("baseline is not available in this build")
}
