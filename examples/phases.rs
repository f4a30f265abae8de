//! Times the phases of `list --format json` separately (enumerate, build the report, serialise): a profiling aid.
//!
//! `cargo run --release --example phases -- [--repeat N]`; the JSON goes to a sink, timings to stderr.

use std::io::Write;
use std::time::{Duration, Instant};

use portwarden::model::Query;
use portwarden::{platform, registry::Registry, render, report};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut repeat = 5usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(5).max(1),
            other => anyhow::bail!("unknown argument {other:?} (expected --repeat N)"),
        }
    }
    let registry = Registry::builtin();
    let mut phases: [Vec<Duration>; 3] = Default::default();
    let mut bytes = 0;
    for _ in 0..repeat {
        let t0 = Instant::now();
        let inventory = platform::enumerate(&Query::default())?;
        let t1 = Instant::now();
        let mut users = std::collections::HashMap::new();
        let mut user_name = |uid| users.entry(uid).or_insert_with(|| platform::user_name(uid)).clone();
        let report = report::build(inventory, &registry, &mut user_name, &|_| true, platform::hidden_owner_hint());
        let t2 = Instant::now();
        let mut sink = Counter(0);
        {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, &mut sink);
            render::json(&mut out, &report)?;
            out.flush()?;
        }
        drop(report);
        let t3 = Instant::now();
        bytes = sink.0;
        for (phase, d) in phases.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
            phase.push(d);
        }
    }
    for (name, mut times) in ["enumerate", "build report", "serialise JSON"].into_iter().zip(phases) {
        times.sort_unstable();
        eprintln!("{name:>15}: median {:6.1} ms, min {:6.1} ms", ms(times[times.len() / 2]), ms(times[0]));
    }
    eprintln!("{bytes} bytes of JSON");
    Ok(())
}

/// A writer that only counts bytes.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
