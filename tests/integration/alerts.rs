//! The alerting rules in `examples/prometheus/`: `promtool test rules` passes, and every series and label the rules
//! read is one that `list --format prometheus` writes (so renaming a metric breaks this test, not a fleet's alerts).

use crate::util::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn rules_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/prometheus"))
}

/// Words in `text` that start with `prefix` and go on with letters, digits and `_`.
fn words_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect()
}

#[test]
fn promtool_tests_the_alerting_rules() {
    if missing_tool("promtool_tests_the_alerting_rules", "promtool") {
        return;
    }
    for args in [&["check", "rules", "portwarden.rules.yml"][..], &["test", "rules", "portwarden.rules.test.yml"]] {
        let out = run(Command::new("promtool").args(args).current_dir(rules_dir()));
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("SUCCESS"), "promtool {args:?}: {said}");
    }
}

#[test]
fn the_rules_read_series_portwarden_writes() {
    let rules = std::fs::read_to_string(rules_dir().join("portwarden.rules.yml")).unwrap();
    // A listener of its own, so there is a series to read labels from on any machine.
    let h = Holder::start("pw-alerts", &[tcp4("127.0.0.1", 0)]);
    let out = run(portwarden().args(["list", "--format", "prometheus"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics = String::from_utf8(out.stdout).unwrap();
    let written: BTreeSet<String> = words_after(&metrics, "# TYPE ").into_iter().collect();
    let read: BTreeSet<String> =
        words_after(&rules, "portwarden_").into_iter().map(|w| format!("portwarden_{w}")).collect();
    assert!(read.contains("portwarden_listener") && read.contains("portwarden_owner_unknown_listeners"), "{read:?}");
    for name in &read {
        assert!(written.contains(name), "the rules read {name}, which portwarden does not write: {written:?}");
    }
    // Labels the rules name: in their annotations and in the policy's selectors.
    let mut labels = words_after(&rules, "$labels.");
    for selector in ["protocol", "port", "process", "exposure", "verdict"] {
        assert!(rules.contains(&format!("{selector}=")), "the rules no longer select on {selector}");
        labels.insert(selector.to_string());
    }
    // instance comes from the scrape, file from node_exporter's textfile collector.
    labels.remove("instance");
    labels.remove("file");
    let ours = format!("port=\"{}\"", h.ports[0]);
    let series = metrics.lines().find(|l| l.starts_with("portwarden_listener{") && l.contains(&ours));
    let series = series.unwrap_or_else(|| panic!("no series for the holder's port {}:\n{metrics}", h.ports[0]));
    for label in &labels {
        assert!(series.contains(&format!("{label}=\"")), "the rules read label {label}, missing from {series}");
    }
}
