//! `check`: judge every listener against the policy and report in text, JSON, JUnit or GitHub annotations.
//!
//! Exit status: 0 when every listener is allowed and none fails `fail_on`; 1 when any is unexpected or fails
//! `fail_on`; 2 when the check cannot be trusted (owners unknown where rules need them) or the input is bad.

use super::{warn_unknown_owners, Context, Outcome};
use crate::cli::{CheckArgs, CheckFormat};
use portwarden::policy::{self, Policy};
use portwarden::{history, render, verdict, Query};

/// Runs `check`.
pub fn run(args: &CheckArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.policy)?;
    let registry = cx.data.registry()?;
    let report = match &args.from {
        Some(file) => {
            let inventory = history::read(file)?;
            let hint = portwarden::platform::hidden_owner_hint();
            verdict::build(inventory, registry, &mut cx.data.user_names(), &|_| true, hint)
        }
        None => cx.data.inventory_report(&Query { all_netns: args.all_netns, ..Query::default() }, &|_| true)?,
    };
    let checked = policy::judge(&policy, report);
    let painter = cx.painter;
    match args.format {
        CheckFormat::Text => render::check::text(cx.io.out, &checked, &policy, painter)?,
        CheckFormat::Json => render::json(cx.io.out, &checked)?,
        CheckFormat::Junit => render::check::junit(cx.io.out, &checked, &policy)?,
        CheckFormat::Github => render::check::github(cx.io.out, &checked, &policy)?,
    }
    warn_unknown_owners(&checked.summary, cx.io.err)?;
    Ok(checked.tally.outcome().into())
}
