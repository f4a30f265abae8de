//! Stage 5: what the user allows. A policy file (`rules.rs`) decides each listener ([`Decision`]); `check.rs`
//! judges a whole report; `baseline.rs` writes the policy that allows exactly what listens now.

mod baseline;
mod check;
mod rules;

pub use baseline::baseline_policy;
pub use check::{judge, CheckOutcome, CheckReport, CheckTally, Checked};
pub use rules::{Closest, Decision, FailOn, Glob, Policy, PortRange, Rule, Settings};
