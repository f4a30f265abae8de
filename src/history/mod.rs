//! Listeners over time: the `watch --record` event format ([`events`]) and its file ([`recording`]), reading a
//! recording or a `list --format json` snapshot back ([`snapshot`]), and comparing two sets of listeners
//! ([`diff`]).

mod diff;
mod events;
mod recording;
mod snapshot;

pub use diff::{compare, Changes, Key};
pub use events::{now, time, Event, EventKind, Identity};
pub use recording::Recording;
pub use snapshot::{parse, read};
