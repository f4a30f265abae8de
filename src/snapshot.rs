//! Reading listeners back from files: `list --format json` snapshots and `watch --record` NDJSON recordings.

use crate::model::Inventory;
use std::path::Path;

/// Reads every listener in a snapshot or recording (placeholder until the reader lands).
pub fn read(path: &Path) -> anyhow::Result<Inventory> {
    anyhow::bail!("{}: reading snapshots is not available in this build", path.display())
}
