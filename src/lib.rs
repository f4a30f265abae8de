//! portwarden: what is listening on this machine, who owns it, and should it be?
//!
//! The pipeline runs one way, one module per stage:
//!
//! 1. [`platform`] lists the listening sockets and the processes that hold them ([`enumerate`]);
//! 2. [`registry`] joins each with the IANA port registry ([`Registry::lookup`]);
//! 3. [`verdict`] judges each listener ([`classify()`]) and assembles a [`verdict::Report`];
//! 4. [`policy`] decides what the user allows ([`Policy::check`]);
//! 5. [`history`] keeps listeners over time (recordings, snapshots, differences);
//! 6. [`render`] writes them: table, JSON, NDJSON, CSV, Prometheus, `explain` text.
//!
//! [`model`] holds the records that flow between the stages, [`text`] the escaping every output goes through.
#![doc = include_str!("../README.md")]

mod error;
pub mod fsutil;
pub mod history;
pub mod model;
pub mod platform;
pub mod policy;
pub mod registry;
pub mod render;
pub mod text;
pub mod verdict;

pub use error::{Error, Result};
pub use model::{Container, Family, Inventory, Netns, OwnedSocket, Process, Protocol, Query, Socket};
pub use platform::enumerate;
pub use policy::{Decision, Policy};
pub use registry::{Record, Registry, Status};
pub use verdict::{Exposure, Flag, FlagKind, Listener, Range, Severity};

/// Classifies one socket: its IANA records and status, range tier, exposure, flags (with reasons) and severity.
/// User names come from this machine's user database.
pub fn classify(socket: OwnedSocket, registry: &Registry) -> Listener<'_> {
    verdict::listener(socket, registry, &mut |uid| platform::user_name(uid))
}
