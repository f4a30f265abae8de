//! The one path from an inventory to any output: listeners are built one at a time, in the order asked for, and
//! handed to a [`Sink`] (every renderer is one, and [`super::build`] collects into one); then the summary.
//!
//! Nothing but the inventory and the listener at hand is held, whatever the format, so a listing of any size costs
//! the same memory per socket in every format (a renderer may keep what it needs: the table keeps its rows as
//! text). One at a time rather than in blocks: a listener freed before the next is built reuses the allocator's
//! hot memory (benches/README.md, "The pipeline"). Sorting by severity does not hold the listeners either: a
//! first pass judges each socket and keeps a compact key (severity, exposure, port, place), the keys are sorted,
//! and the listeners are built again in that order (the judge's caches make the second pass cheap).

use super::judge::Judge;
use super::listener::{in_report_order, listener_at, severity_order, Listener, SeverityOrder, Summary, Tally};
use crate::model::{Inventory, OwnedSocket};
use crate::registry::Registry;
use std::io;

/// Where listeners go: a renderer, or a collector.
pub trait Sink<'r> {
    /// The next listener, in order.
    fn listener(&mut self, listener: Listener<'r>) -> io::Result<()>;
    /// After the last listener: the counts of everything handed over.
    fn end(&mut self, summary: &Summary) -> io::Result<()>;
}

/// The order listeners reach the sink in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By port, protocol, family, address (as written) and inode.
    Port,
    /// Most severe first (dangerous, review beyond loopback, review on loopback, expected), wider exposure first,
    /// then by port; ties in port order.
    Severity,
}

/// What the pipeline is given besides the inventory.
pub struct Inputs<'a, 'r> {
    pub registry: &'r Registry,
    /// A uid's name (the platform's passwd lookup, cached by the caller).
    pub user_name: &'a mut dyn FnMut(u32) -> Option<String>,
    /// Which listeners to hand over.
    pub keep: &'a dyn Fn(&Listener<'r>) -> bool,
    /// How to see owners that could not be seen (the summary's hint).
    pub hint: &'a str,
    pub order: Order,
}

/// Builds the listeners of `inventory` that `keep` accepts, hands them to `sink` one at a time in the order asked for,
/// then the summary, which it also returns. Stops at the sink's first error.
pub fn run<'r>(inventory: Inventory, inputs: Inputs<'_, 'r>, sink: &mut dyn Sink<'r>) -> io::Result<Summary> {
    let Inputs { registry, user_name, keep, hint, order } = inputs;
    let Inventory { os, mut sockets, warnings, owners_partly_hidden, namespaces, .. } = inventory;
    in_report_order(&mut sockets);
    let mut judge = Judge::new(os);
    let mut tally = Tally::default();
    let mut hand = |l: Listener<'r>| -> io::Result<()> {
        tally.add(&l);
        sink.listener(l)
    };
    match order {
        Order::Port => {
            for owned in sockets {
                let l = listener_at(owned, registry, &mut judge, user_name);
                if keep(&l) {
                    hand(l)?;
                }
            }
        }
        Order::Severity => {
            // The first pass judges copies (the processes are shared, not copied) and keeps only the keys: where
            // each kept socket goes, then its place in port order.
            let mut keys: Vec<(SeverityOrder, u32)> = Vec::new();
            for (place, owned) in (0u32..).zip(&sockets) {
                let l = listener_at(owned.clone(), registry, &mut judge, user_name);
                if keep(&l) {
                    keys.push((severity_order(&l), place));
                }
            }
            keys.sort_unstable();
            // The same list (an `Option` of a socket takes no more room), each taken once.
            let mut sockets: Vec<Option<OwnedSocket>> = sockets.into_iter().map(Some).collect();
            for (_, place) in keys {
                if let Some(owned) = sockets[place as usize].take() {
                    hand(listener_at(owned, registry, &mut judge, user_name))?;
                }
            }
        }
    }
    let mut summary = tally.summary(warnings, owners_partly_hidden, hint, registry.info().clone());
    summary.namespaces = namespaces;
    summary.os = os;
    sink.end(&summary)?;
    Ok(summary)
}

/// A sink that keeps every listener (for commands that need them all at once: `check`, `explain`, `baseline`).
#[derive(Default)]
pub struct Collect<'r> {
    pub listeners: Vec<Listener<'r>>,
}

impl<'r> Sink<'r> for Collect<'r> {
    fn listener(&mut self, listener: Listener<'r>) -> io::Result<()> {
        self.listeners.push(listener);
        Ok(())
    }

    fn end(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}
