//! `diff`: listeners added and removed between two snapshots.

use crate::app::{Output, Status};
use crate::cli::DiffArgs;
use crate::render::Painter;

/// Runs `diff` (placeholder until it lands).
pub fn run(_args: &DiffArgs, _painter: Painter, _io: &mut Output<'_>) -> anyhow::Result<Status> {
    anyhow::bail!("diff is not available in this build")
}
