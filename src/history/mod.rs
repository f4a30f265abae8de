//! Listeners over time: the `watch --record` event format (`events.rs`) and its file (`recording.rs`), reading a
//! recording or a `list --format json` snapshot back (`snapshot.rs`), and comparing two sets of listeners
//! (`diff.rs`).

mod diff;
mod events;
mod recording;
mod snapshot;

pub use diff::{compare, Changes, Key};
pub use events::{now, time, Event, EventKind, Identity};
pub use recording::Recording;
pub use snapshot::{parse, read};
