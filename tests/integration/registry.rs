//! `portwarden registry info|import|reset`: the registry in use, and a safe replacement by an official CSV.

use crate::util::*;
use std::process::Command;

const HEADER: &str = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n";

fn with_data(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(Command::new(bin()).env("NO_COLOR", "1").env("PORTWARDEN_DATA_DIR", dir).args(args))
}

#[test]
fn info_names_the_builtin_registry() {
    let v = json(&["registry", "info", "--format", "json"]);
    let share = &v["obscure_share"];
    let v = &v["registry"];
    assert_eq!(v["origin"]["kind"], "builtin");
    assert!(v["rows"].as_u64().unwrap() > 10_000);
    assert_eq!(v["date"].as_str().unwrap().len(), 10);
    let (obscure, assigned) = (share["obscure"].as_u64().unwrap(), share["assigned"].as_u64().unwrap());
    assert!(obscure > 0 && obscure < assigned / 2, "{share}");
    let out = run(portwarden().args(["registry", "info"]));
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains("built-in") && t.contains("rows:"), "{t}");
}

#[test]
fn import_refuses_bad_files_and_keeps_the_registry_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("good.csv");
    std::fs::write(&good, format!("{HEADER}ssh,22,tcp,Secure Shell,[Tatu],[Tatu],,2024-02-03,[RFC4251],,,\nwidget,1687,tcp,Widget control,,,,,,,,\n")).unwrap();
    let out = with_data(&data, &["registry", "import", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = std::fs::read(data.join("service-names-port-numbers.csv")).unwrap();

    let cases = [
        ("bad-port.csv", format!("{HEADER}ssh,22,tcp,,,,,,,,,\nx,70000,tcp,,,,,,,,,\n"), "line 3"),
        ("reversed.csv", format!("{HEADER}x,9-3,udp,,,,,,,,,\n"), "line 2"),
        ("header.csv", "Name,Port\nssh,22\n".to_string(), "line 1"),
        ("proto.csv", format!("{HEADER}x,22,quic,,,,,,,,,\n"), "line 2"),
        ("short.csv", format!("{HEADER}x,22\n"), "line 2"),
        ("huge-line.csv", format!("{HEADER}{}\n", "x".repeat(5 << 20)), "line 2"),
        ("truncated.csv", format!("{HEADER}ssh,22,tcp,\"Secure Sh"), "line 2"),
    ];
    for (name, body, line) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let out = with_data(&data, &["registry", "import", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name) && err.contains(line), "{name}: {err}");
        assert_eq!(
            std::fs::read(data.join("service-names-port-numbers.csv")).unwrap(),
            stored,
            "{name} changed the registry"
        );
    }
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 255, 0, 1, 2]).unwrap();
    assert_eq!(with_data(&data, &["registry", "import", garbage.to_str().unwrap()]).status.code(), Some(2));
    let missing = with_data(&data, &["registry", "import", "/nonexistent/file.csv"]);
    assert_eq!(missing.status.code(), Some(2));

    // The imported registry is the one in use, and explain reads it.
    let info = with_data(&data, &["registry", "info", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let v = &v["registry"];
    assert_eq!(v["origin"]["kind"], "imported");
    assert_eq!((v["rows"].as_u64(), v["date"].as_str()), (Some(2), Some("2024-02-03")));
    let ex = with_data(&data, &["explain", "1687/tcp", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&ex.stdout).unwrap();
    assert_eq!(v[0]["iana"]["services"], serde_json::json!(["widget"]));

    let out = with_data(&data, &["registry", "reset"]);
    assert!(out.status.success());
    let info = with_data(&data, &["registry", "info", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["registry"]["origin"]["kind"], "builtin");
}
