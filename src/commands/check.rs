//! `check`: judge every listener against the policy and report in text, JSON, JUnit or GitHub annotations.
//!
//! Exit status: 0 when every listener is allowed and none fails `fail_on`; 1 when any is unexpected or fails
//! `fail_on`; 2 when the check cannot be trusted (owners unknown where rules need them, or a gap in the recording
//! checked without `--allow-gaps`) or the input is bad.

use super::{file_hint, warn_unknown_owners, Context, Outcome};
use crate::cli::{CheckArgs, CheckFormat};
use anyhow::Context as _;
use portwarden::policy::{self, Policy};
use portwarden::render::table::plural;
use portwarden::{history, render, verdict, Query};

/// Runs `check`.
pub fn run(args: &CheckArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.policy)?;
    let registry = cx.data.registry()?;
    let gaps;
    let mut hint = portwarden::platform::hidden_owner_hint().to_string();
    let report = match &args.from {
        Some(file) => {
            let mut inventory = history::read(file)?;
            gaps = std::mem::take(&mut inventory.gaps);
            // Made elsewhere, maybe: this machine's advice on seeing owners would not apply.
            hint = file_hint(file);
            verdict::build(inventory, registry, &mut cx.data.user_names(), &|_| true, &hint)
        }
        None => {
            // A namespace that could not be entered or listed is a gap: its listeners are not checked.
            let query = Query { all_netns: args.all_netns, ..Query::default() };
            let mut inventory =
                portwarden::platform::enumerate(&query).context("cannot list the sockets of this machine")?;
            gaps = std::mem::take(&mut inventory.gaps);
            verdict::build(inventory, registry, &mut cx.data.user_names(), &|_| true, &hint)
        }
    };
    let mut checked = policy::judge(&policy, report);
    // --allow-gaps is for recordings (--from) only: what this machine hides now is never waved through.
    checked.set_gaps(gaps, args.allow_gaps && args.from.is_some());
    checked.owner_hint = hint;
    let painter = cx.painter;
    match args.format {
        CheckFormat::Text => render::check::text(cx.io.out, &checked, &policy, painter)?,
        CheckFormat::Json => render::json(cx.io.out, &checked)?,
        CheckFormat::Junit => render::check::junit(cx.io.out, &checked, &policy)?,
        CheckFormat::Github => render::check::github(cx.io.out, &checked, &policy)?,
    }
    warn_unknown_owners(&checked.summary, cx.io.err)?;
    if !checked.gaps.is_empty() && !checked.gaps_allowed {
        writeln!(
            cx.io.err,
            "portwarden: check undecidable: {}",
            if args.from.is_some() {
                format!(
                    "the recording has {}, so it does not show every listener; record again, or pass --allow-gaps \
                     to check what it holds",
                    plural(checked.gaps.len(), "gap")
                )
            } else {
                format!(
                    "{} could not be seen (see the warnings), so not every listener was checked",
                    plural(checked.gaps.len(), "part of the machine")
                )
            }
        )?;
    }
    Ok(checked.outcome().into())
}
