//! portwarden: what is listening on this machine, who owns it, and should it be?
//!
//! The pipeline runs one way: [`platform::enumerate`] lists sockets with their owners, [`registry`] joins each
//! with the IANA port registry, [`classify`] derives range, exposure and flags, [`report`] assembles listener
//! records and [`render`] writes them.

pub mod app;
pub mod baseline;
pub mod check;
pub mod classify;
pub mod cli;
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
pub mod watch;
