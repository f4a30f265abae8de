//! `diff`: listeners added and removed between two snapshots or recordings (or one and this machine now); see
//! [`portwarden::history::compare`] for what counts as the same listener.

use super::{file_hint, warn_unknown_owners, Context, Outcome};
use crate::cli::{DiffArgs, TextOrJson};
use anyhow::Context as _;
use portwarden::history::{self, Changes, Key};
use portwarden::render::table::plural;
use portwarden::text::escape;
use portwarden::verdict::{self, Report};
use portwarden::{platform, render, Inventory, Query};
use serde::Serialize;

#[derive(Serialize)]
struct JsonOut<'a, 'r> {
    old: String,
    /// The NEW file, or null for this machine now.
    new: Option<String>,
    #[serde(flatten)]
    changes: Changes<'a, 'r>,
}

/// Runs `diff`: exit 0 when both sides have the same listeners, 1 when they differ.
pub fn run(args: &DiffArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let (io, painter) = (&mut cx.io, cx.painter);
    let old_inv = history::read(&args.old)?;
    let new_inv = match &args.new {
        Some(path) => history::read(path)?,
        None => platform::enumerate(&Query { all_netns: args.all_netns, ..Query::default() })
            .context("cannot list the sockets of this machine")?,
    };
    let registry = cx.data.registry()?;
    let mut names = cx.data.user_names();
    let build = |inv: Inventory, names: &mut dyn FnMut(u32) -> Option<String>, hint: &str| -> Report<'_> {
        verdict::build(inv, registry, names, &|_| true, hint)
    };
    let old = build(old_inv, &mut names, &file_hint(&args.old));
    let new_hint = args.new.as_deref().map_or_else(|| platform::hidden_owner_hint().to_string(), file_hint);
    let new = build(new_inv, &mut names, &new_hint);
    for w in &old.summary.warnings {
        writeln!(io.err, "portwarden: warning: {}", escape(w))?;
    }
    if args.new.is_some() {
        for w in &new.summary.warnings {
            writeln!(io.err, "portwarden: warning: {}", escape(w))?;
        }
    } else {
        warn_unknown_owners(&new.summary, io.err)?;
    }

    if args.new.is_none() && !args.all_netns && old.listeners.iter().any(|l| Key::of(l).netns.is_some()) {
        writeln!(
            io.err,
            "portwarden: warning: {} has listeners in other network namespaces, but this machine is listed without \
             --all-netns: they show as removed (add --all-netns)",
            escape(&args.old.display().to_string())
        )?;
    }
    let changes = history::compare(&old.listeners, &new.listeners);
    let differ = !changes.added.is_empty() || !changes.removed.is_empty();
    let old_name = args.old.display().to_string();
    let new_name = args.new.as_ref().map(|p| p.display().to_string());
    match args.format {
        TextOrJson::Json => {
            render::json(io.out, &JsonOut { old: old_name, new: new_name, changes })?;
        }
        TextOrJson::Text => {
            for l in &changes.removed {
                writeln!(io.out, "{} {}", painter.bad("-"), render::events::describe(l, painter))?;
            }
            for l in &changes.added {
                writeln!(io.out, "{} {}", painter.good("+"), render::events::describe(l, painter))?;
            }
            let new_name = new_name.as_deref().unwrap_or("this machine now");
            let summary = if differ {
                format!(
                    "{} added, {} removed, {} unchanged ({} -> {})",
                    changes.added.len(),
                    changes.removed.len(),
                    changes.unchanged,
                    escape(&old_name),
                    escape(new_name)
                )
            } else {
                format!(
                    "no change: the same {} in {} and {}",
                    plural(changes.unchanged, "listener"),
                    escape(&old_name),
                    escape(new_name)
                )
            };
            writeln!(io.out, "{summary}")?;
        }
    }
    Ok(if differ { Outcome::Findings } else { Outcome::Clean })
}
