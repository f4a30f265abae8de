//! portwarden: what is listening on this machine, who owns it, and should it be?
//!
//! The pipeline runs one way: [`platform::enumerate`] lists sockets with their owners, [`registry`] joins each
//! with the IANA port registry, [`mod@classify`] derives range, exposure and flags, [`report`] assembles listener
//! records, [`policy`] judges them and [`render`] writes them.
//!
//! The stable API is re-exported here: [`enumerate`], [`Registry::lookup`], [`classify()`] and
//! [`Policy::check`], with the data types they use.
#![doc = include_str!("../README.md")]

#[doc(hidden)]
pub mod app;
#[doc(hidden)]
pub mod baseline;
#[doc(hidden)]
pub mod check;
pub mod classify;
mod error;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod diff;
pub mod explain;
pub mod fsutil;
pub mod model;
pub mod platform;
pub mod policy;
pub mod registry;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod text;
#[doc(hidden)]
pub mod watch;

pub use error::{Error, Result};
pub use classify::{Exposure, Flag, FlagKind, Range, Severity};
pub use model::{Container, Family, Inventory, Netns, OwnedSocket, Process, Protocol, Query, Socket};
pub use platform::enumerate;
pub use policy::{Policy, Verdict};
pub use registry::{Record, Registry, Status};
pub use report::Listener;

/// Classifies one socket: its IANA records and status, range tier, exposure, flags (with reasons) and severity.
/// User names come from this machine's user database.
pub fn classify(socket: OwnedSocket, registry: &Registry) -> Listener<'_> {
    report::listener(socket, registry, &mut |uid| platform::user_name(uid))
}
