//! `check`'s judgement: every listener against the policy, counted, with the outcome of the whole check.

use super::{Decision, Policy};
use crate::verdict::{self, Listener, Report};
use serde::Serialize;

/// One listener with the policy's decision on it.
#[derive(Debug, Clone, Serialize)]
pub struct Checked<'r> {
    #[serde(flatten)]
    pub listener: Listener<'r>,
    pub check: Decision,
}

/// What a whole check says: every listener allowed, some failing, or the check cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Pass,
    Fail,
    Undecidable,
}

impl CheckOutcome {
    /// The word the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "pass",
            CheckOutcome::Fail => "fail",
            CheckOutcome::Undecidable => "undecidable",
        }
    }

    /// The exit code the binary gives it, as the JSON report states it.
    pub fn code(self) -> i32 {
        match self {
            CheckOutcome::Pass => 0,
            CheckOutcome::Fail => 1,
            CheckOutcome::Undecidable => 2,
        }
    }
}

/// Counts of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckTally {
    pub listeners: usize,
    pub allowed: usize,
    pub unexpected: usize,
    pub flag_failed: usize,
    pub undecidable: usize,
}

impl CheckTally {
    pub fn of(checked: &[Checked<'_>]) -> CheckTally {
        let mut t = CheckTally { listeners: checked.len(), ..CheckTally::default() };
        for c in checked {
            match c.check {
                Decision::Allowed { .. } => t.allowed += 1,
                Decision::Unexpected { .. } => t.unexpected += 1,
                Decision::FlagFailed { .. } => t.flag_failed += 1,
                Decision::Undecidable { .. } => t.undecidable += 1,
            }
        }
        t
    }

    /// Undecidable when any listener is, else failing when any failed.
    pub fn outcome(&self) -> CheckOutcome {
        if self.undecidable > 0 {
            CheckOutcome::Undecidable
        } else if self.unexpected + self.flag_failed > 0 {
            CheckOutcome::Fail
        } else {
            CheckOutcome::Pass
        }
    }
}

/// The whole result, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport<'r> {
    pub schema_version: u32,
    pub policy: String,
    pub result: &'static str,
    pub exit_code: i32,
    pub tally: CheckTally,
    pub listeners: Vec<Checked<'r>>,
    pub summary: verdict::Summary,
    /// What the check could not see: gaps in a recording, or namespaces of this machine that could not be listed
    /// (see [`crate::model::Inventory::gaps`]); any makes the check undecidable unless `gaps_allowed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
    /// What to say about owners that could not be seen: this machine's advice for a live check, a neutral word for
    /// a file written elsewhere.
    #[serde(skip)]
    pub owner_hint: String,
    /// The gaps were accepted (`check --allow-gaps`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gaps_allowed: bool,
}

impl CheckReport<'_> {
    /// The outcome of the whole check: undecidable when the input has a gap not allowed, else the tally's.
    pub fn outcome(&self) -> CheckOutcome {
        if !self.gaps.is_empty() && !self.gaps_allowed {
            CheckOutcome::Undecidable
        } else {
            self.tally.outcome()
        }
    }

    /// Records the gaps of the input (and whether they are accepted), updating the result.
    pub fn set_gaps(&mut self, gaps: Vec<String>, allowed: bool) {
        self.gaps = gaps;
        self.gaps_allowed = allowed;
        self.result = self.outcome().as_str();
        self.exit_code = self.outcome().code();
    }
}

/// Judges every listener of a report.
pub fn judge<'r>(policy: &Policy, report: Report<'r>) -> CheckReport<'r> {
    let listeners: Vec<Checked<'r>> =
        report.listeners.into_iter().map(|l| Checked { check: policy.check(&l), listener: l }).collect();
    let tally = CheckTally::of(&listeners);
    CheckReport {
        schema_version: verdict::SCHEMA_VERSION,
        policy: policy.path.display().to_string(),
        result: tally.outcome().as_str(),
        exit_code: tally.outcome().code(),
        tally,
        listeners,
        summary: report.summary,
        gaps: Vec::new(),
        owner_hint: crate::platform::hidden_owner_hint().to_string(),
        gaps_allowed: false,
    }
}
