//! `explain PORT...`: the story of each port, with whoever listens there now.

use super::{warn_unknown_owners, Context, Outcome};
use crate::cli::{ExplainArgs, TextOrJson};
use portwarden::verdict::{self, PortSpec};
use portwarden::{render, Query};

pub fn run(args: &ExplainArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let specs =
        args.ports.iter().map(|s| PortSpec::parse(s)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
    let registry = cx.data.registry()?;
    let mut ports: Vec<u16> = specs.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let query = Query { port: (ports.len() == 1).then(|| ports[0]), ..Query::default() };
    let report = cx.data.inventory_report(&query, &|l| ports.contains(&l.port))?;
    let mut stories = Vec::new();
    for spec in &specs {
        for protocol in spec.protocols() {
            stories.push(verdict::story(registry, spec.port, protocol, report.summary.os, &report.listeners));
        }
    }
    match args.format {
        TextOrJson::Text => render::story::write(cx.io.out, &stories, cx.painter)?,
        TextOrJson::Json => render::json(cx.io.out, &stories)?,
    }
    warn_unknown_owners(&report.summary, cx.io.err)?;
    Ok(Outcome::Clean)
}
