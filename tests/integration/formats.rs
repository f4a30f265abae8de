//! `list` output formats, each read back by a real consumer: JSON against the JSON Schema in `schemas/`, NDJSON and
//! CSV by their parsers, Prometheus by `promtool check metrics` and a real node_exporter's textfile collector.

use crate::util::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOSTILE: &str = "ev\"il,\\x\x1b[1m";

fn list(format: &str, pid: u32) -> (String, String) {
    let out = run(portwarden().args(["list", "--format", format, "--pid", &pid.to_string()]));
    assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn json_matches_the_published_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/list.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    let h = Holder::start(HOSTILE, &[tcp4("127.0.0.1", 0), udp6("::", 0, false), tcp4("127.0.0.1", 1687)]);
    let _ = h.pid();
    // The whole machine's report, not just ours: every listener must fit the schema.
    let report = json(&["list", "--format", "json"]);
    let errors: Vec<String> = validator.iter_errors(&report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
    assert!(report["listeners"].as_array().unwrap().iter().any(|l| l["port"] == 1687));
}

#[test]
fn ndjson_is_one_listener_per_line() {
    let h = Holder::start("pw-ndjson", &[tcp4("127.0.0.1", 0), udp4("127.0.0.1", 0)]);
    let (text, _) = list("ndjson", h.pid());
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l["processes"][0]["pid"] == h.pid() && l["iana"]["status"].is_string()));
}

#[test]
fn csv_reads_back_with_a_csv_parser() {
    let h = Holder::start(HOSTILE, &[tcp4("127.0.0.1", 0)]);
    let (text, _) = list("csv", h.pid());
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert!(header.iter().any(|h| h == "port") && header.iter().any(|h| h == "processes"), "{header:?}");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a valid CSV row")).collect();
    assert_eq!(rows.len(), 1);
    let get = |name: &str| rows[0].get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!(get("port"), h.ports[0].to_string());
    assert_eq!(get("pids"), h.pid().to_string());
    // Commas and quotes survive the round trip; control characters are shown escaped, as on a terminal.
    assert_eq!(get("processes"), portwarden::text::escape(HOSTILE), "commas and quotes survive the round trip");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_eq!(get("exposure"), "loopback");
}

fn promtool() -> Option<&'static str> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().find(|p| std::path::Path::new(p).exists())
}

#[test]
fn prometheus_text_passes_promtool() {
    let Some(promtool) = promtool() else {
        cannot_run("prometheus_text_passes_promtool", "promtool (Debian package prometheus) is not installed");
        return;
    };
    let h = Holder::start(HOSTILE, &[tcp4("127.0.0.1", 0), tcp6("::1", 0, true)]);
    // The whole machine, so the series and counts are realistic.
    let out = run(portwarden().args(["list", "--format", "prometheus"]));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("port=\"{}\"", h.ports[0])), "our listener is a series");
    assert!(!text.contains('\x1b'), "no raw control characters in label values");
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let result = check.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
    assert!(result.status.success(), "promtool refused the metrics: {said}");
    assert!(!said.contains("error"), "{said}");
}

fn node_exporter() -> Option<&'static str> {
    ["/usr/bin/prometheus-node-exporter", "/usr/local/bin/node_exporter"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn node_exporter_serves_the_textfile() {
    let Some(exporter) = node_exporter() else {
        cannot_run("node_exporter_serves_the_textfile", "prometheus-node-exporter is not installed");
        return;
    };
    let h = Holder::start("pw-exported", &[tcp4("127.0.0.1", 0)]);
    let dir = tempfile::tempdir().unwrap();
    let out = run(portwarden().args(["list", "--format", "prometheus"]));
    // node_exporter reads *.prom; write it as the textfile collector's docs ask: to a temp name, then rename.
    let tmp = dir.path().join("portwarden.prom.tmp");
    std::fs::write(&tmp, &out.stdout).unwrap();
    std::fs::rename(&tmp, dir.path().join("portwarden.prom")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(exporter)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = None;
    while Instant::now() < deadline {
        if let Some(b) = http_get(port, "/metrics").filter(|b| b.contains("portwarden_listener")) {
            body = Some(b);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let mut stderr = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    let _ = child.wait();
    let body = body.unwrap_or_else(|| panic!("node_exporter did not serve our metrics; its log: {stderr}"));
    assert!(body.contains(&format!("port=\"{}\"", h.ports[0])), "our listener is served");
    assert!(body.contains("process=\"pw-exported\""));
    assert!(body.lines().any(|l| l == "node_textfile_scrape_error 0"), "the textfile collector reported an error");
}
