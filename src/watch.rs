//! `watch`: listeners appearing and disappearing over time, optionally recorded as NDJSON.

use crate::app::{Output, Status};
use crate::cli::WatchArgs;
use crate::render::Painter;

/// Runs `watch` (placeholder until the watcher lands).
pub fn run(_args: &WatchArgs, _painter: Painter, _io: &mut Output<'_>) -> anyhow::Result<Status> {
    anyhow::bail!("watch is not available in this build")
}
