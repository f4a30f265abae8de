//! Prints what `platform::enumerate` sees, one socket per line, and how long it took: a debugging and timing aid.
//!
//! `cargo run --release --example enumerate -- [--repeat N] [--quiet] [--long]`
//! Lines are `PROTO ADDRESS PORT v6only=.. if=.. uid=.. inode=.. PID/NAME,...` (names escaped for the terminal);
//! `--long` adds one indented line per owner (user, uid, start time, exe, command line). Timings go to stderr.

use std::time::{Duration, Instant};

use portwarden::model::Query;
use portwarden::platform;
use portwarden::text::escape;

fn main() -> anyhow::Result<()> {
    let mut repeat = 1usize;
    let mut quiet = false;
    let mut long = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1),
            "--quiet" => quiet = true,
            "--long" => long = true,
            other => {
                anyhow::bail!("unknown argument {other:?} (expected --repeat N, --quiet, --long)")
            }
        }
    }

    let mut times = Vec::with_capacity(repeat);
    let mut inventory = None;
    for _ in 0..repeat {
        let start = Instant::now();
        let result = platform::enumerate(&Query::default())?;
        times.push(start.elapsed());
        inventory = Some(result);
    }
    let Some(inventory) = inventory else {
        return Ok(());
    };

    if !quiet {
        for owned in &inventory.sockets {
            let s = &owned.socket;
            let owners: Vec<String> =
                owned.processes.iter().map(|p| format!("{}/{}", p.pid, escape(&p.name))).collect();
            println!(
                "{} {} {} v6only={} if={} uid={} inode={} {}",
                s.protocol,
                s.address,
                s.port,
                s.v6only.map_or("-".to_string(), |v| v.to_string()),
                s.interface.as_deref().map_or("-".into(), escape),
                s.uid.map_or("-".to_string(), |u| u.to_string()),
                s.inode,
                if owners.is_empty() { "-".to_string() } else { owners.join(",") }
            );
            for p in owned.processes.iter().filter(|_| long) {
                println!(
                    "    {} user={} uid={:?} start={:?} exe={} cmdline={}",
                    p.pid,
                    p.user.as_deref().map_or("-".into(), escape),
                    p.uid,
                    p.start_time,
                    p.exe.as_deref().map_or("-".into(), escape),
                    escape(&p.cmdline)
                );
            }
        }
    }
    for warning in &inventory.warnings {
        eprintln!("warning: {}", escape(warning));
    }
    if inventory.owners_partly_hidden {
        eprintln!("note: some owners may be hidden: {}", platform::hidden_owner_hint());
    }

    times.sort_unstable();
    let owned = inventory.sockets.iter().filter(|s| !s.processes.is_empty()).count();
    eprintln!(
        "{} sockets ({owned} with owners); {} run(s): min {}, median {}, max {}",
        inventory.sockets.len(),
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
