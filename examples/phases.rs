//! Times the phases of `list` separately: enumerate, then build and write the listing through the pipeline in the
//! format asked for (as `list` does), or with `--materialised` build the whole report first and write it with serde
//! (the reference form of JSON). A profiling aid; the output goes to a sink, timings to stderr.
//!
//! `cargo run --release --example phases -- [--repeat N] [--format json|ndjson|table|csv|prometheus] [--materialised]`

use std::io::Write;
use std::time::{Duration, Instant};

use portwarden::model::Query;
use portwarden::render::json as listing;
use portwarden::{platform, registry::Registry, render, verdict as report};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut repeat = 5usize;
    let mut materialised = false;
    let mut format = String::from("json");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(5).max(1),
            "--materialised" => materialised = true,
            "--format" => format = args.next().unwrap_or_default(),
            other => anyhow::bail!("unknown argument {other:?} (expected --repeat N, --format F, --materialised)"),
        }
    }
    let registry = Registry::builtin();
    let hint = platform::hidden_owner_hint();
    let mut phases: [Vec<Duration>; 2] = Default::default();
    let mut bytes = 0;
    for _ in 0..repeat {
        let t0 = Instant::now();
        let inventory = platform::enumerate(&Query::default())?;
        let t1 = Instant::now();
        let mut users = std::collections::HashMap::new();
        let mut user_name = |uid| users.entry(uid).or_insert_with(|| platform::user_name(uid)).clone();
        let mut sink = Counter(0);
        {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, &mut sink);
            if materialised {
                let report = report::build(inventory, &registry, &mut user_name, &|_| true, hint);
                render::json(&mut out, &report)?;
            } else {
                let mut sink: Box<dyn report::Sink<'_>> = match format.as_str() {
                    "json" => Box::new(listing::JsonListing::begin(&mut out)?),
                    "ndjson" => Box::new(listing::Ndjson::new(&mut out)),
                    "csv" => Box::new(render::csv::Csv::begin(&mut out)?),
                    "prometheus" => Box::new(render::prometheus::Prometheus::new(&mut out)),
                    "table" => Box::new(render::table::Table::new(&mut out, render::Painter { color: false }, None)),
                    other => anyhow::bail!("unknown format {other:?}"),
                };
                let inputs = report::pipeline::Inputs {
                    registry: &registry,
                    user_name: &mut user_name,
                    keep: &|_| true,
                    hint,
                    order: report::Order::Port,
                };
                report::pipeline::run(inventory, inputs, sink.as_mut())?;
            }
            out.flush()?;
        }
        let t2 = Instant::now();
        bytes = sink.0;
        for (phase, d) in phases.iter_mut().zip([t1 - t0, t2 - t1]) {
            phase.push(d);
        }
    }
    let second = if materialised { "build + serde".to_string() } else { format!("pipeline {format}") };
    for (name, mut times) in ["enumerate", second.as_str()].into_iter().zip(phases) {
        times.sort_unstable();
        eprintln!("{name:>15}: median {:6.1} ms, min {:6.1} ms", ms(times[times.len() / 2]), ms(times[0]));
    }
    eprintln!("{bytes} bytes written");
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
