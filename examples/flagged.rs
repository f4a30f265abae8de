//! Prints the flagged listeners of this machine, most severe first, with the reason for each flag: a short program
//! on portwarden's library API. Run: `cargo run --example flagged`.

use portwarden::{classify, enumerate, Query, Registry};

fn main() -> anyhow::Result<()> {
    let registry = Registry::builtin();
    let inventory = enumerate(&Query::default())?;
    let mut flagged: Vec<_> =
        inventory.sockets.into_iter().map(|s| classify(s, &registry)).filter(|l| !l.flags.is_empty()).collect();
    flagged.sort_by(portwarden::verdict::by_severity);
    for l in &flagged {
        let owners: Vec<String> =
            l.processes.iter().map(|p| format!("{}/{}", p.pid, portwarden::text::escape(&p.name))).collect();
        let severity = l.severity.map_or("", |s| s.as_str());
        let owners = if owners.is_empty() { "owner unknown".to_string() } else { owners.join(", ") };
        println!("{}/{} on {} [{severity}] held by {owners}", l.port, l.protocol, l.address);
        for f in &l.flags {
            println!("    {}: {}", f.kind.as_str(), f.reason);
        }
    }
    println!("{} flagged listeners", flagged.len());
    Ok(())
}
