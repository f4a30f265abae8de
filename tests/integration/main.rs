//! Integration tests: the built binary against real sockets held by child processes.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod action;
mod alerts;
mod check;
mod churn;
mod corpus;
mod daemons;
mod ecosystem;
mod evaluation;
mod events;
mod explain;
mod failclosed;
mod files;
mod formats;
mod hidden;
mod list;
mod netns;
mod owners;
mod registry;
mod scale;
mod terminal;
mod text_safety;
mod trust;
mod watch;
