//! One listener on one line, as `watch` and `diff` print them.

use super::table::{netns_suffix, owners_cell, service_cell};
use super::Painter;
use crate::model::Family;
use crate::text::escape;
use crate::verdict::Listener;

/// `tcp 127.0.0.1:8080  1234/python3 (root)  http-alt  obscure [low]`: one listener on one line, escaped.
pub fn describe(l: &Listener<'_>, painter: Painter) -> String {
    let mut s = match l.family {
        Family::Ipv4 => format!("{} {}:{}", l.protocol, l.address, l.port),
        Family::Ipv6 => format!("{} [{}]:{}", l.protocol, l.address, l.port),
    };
    if let Some(dev) = &l.interface {
        s.push_str(&format!(" dev {}", escape(dev)));
    }
    if l.dual_stack {
        s.push_str(" (dual-stack)");
    } else if l.ipv4_mapped {
        s.push_str(" (v4-mapped)");
    }
    s.push_str(&netns_suffix(l));
    s.push_str("  ");
    s.push_str(&owners_cell(l));
    s.push_str("  ");
    s.push_str(&service_cell(l));
    if let Some(sev) = l.severity {
        let kinds: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
        s.push_str("  ");
        s.push_str(&painter.warn(&format!("{} [{}]", kinds.join(","), sev.as_str())));
    }
    s
}
