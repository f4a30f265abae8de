//! The table in a real terminal: portwarden run inside an 80-column tmux window, with nginx (master and workers on
//! the IPv4 and IPv6 wildcards) and a holder with a long name and several processes among the listeners. No line
//! may be wider than the window, and every listener's port, owner PID and verdict must be on its row.

use crate::util::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use unicode_width::UnicodeWidthStr;

const NGINX: &str = "/usr/sbin/nginx";
const WIDTH: usize = 80;

/// nginx's master, in a process group of its own: dropped, the whole group is killed (workers outlive a master
/// killed alone).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill has no memory effects; the group is the master's own (process_group(0)).
        unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// A TCP port free on both wildcards (and so on every address).
fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
        if std::net::TcpListener::bind(("::", port)).is_ok() {
            return port;
        }
    }
}

/// nginx with two workers on `port`, IPv4 and IPv6 wildcards; returns it once the workers are up.
fn nginx(dir: &std::path::Path, port: u16) -> Killed {
    let p = dir.display();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\npid {p}/nginx.pid;\nerror_log stderr notice;\nevents {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {p}/b; proxy_temp_path {p}/p; fastcgi_temp_path {p}/f;\n\
             uwsgi_temp_path {p}/u; scgi_temp_path {p}/s;\n\
             server {{ listen {port}; listen [::]:{port} ipv6only=on; root {p}; }} }}\n"
        ),
    )
    .unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg("stderr")
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .process_group(0)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Killed(child);
    let master = nginx.0.id();
    let workers = || {
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).unwrap_or_default();
        children.split_whitespace().count()
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("::1", port)).is_err() || workers() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "nginx did not start on {port} with two workers");
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

/// Runs `command` in a detached tmux session `width` columns wide and returns everything it printed, with wrapped
/// lines joined (so a line wider than the window shows as one long line).
fn in_tmux(dir: &std::path::Path, width: usize, command: &str) -> String {
    let socket = dir.join("tmux.sock");
    let conf = dir.join("tmux.conf");
    std::fs::write(&conf, "set -g history-limit 100000\n").unwrap();
    let tmux = || {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&socket).arg("-f").arg(&conf);
        c
    };
    let script = format!("{command}; echo __END__; sleep 600");
    let status = tmux()
        .args(["new-session", "-d", "-x", &width.to_string(), "-y", "40", "-s", "pw"])
        .arg("env")
        .arg("-u")
        .arg("COLUMNS")
        .args(["TERM=xterm", "sh", "-c", &script])
        // The server outlives this call: it must not hold the test's output open.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "tmux new-session failed");
    let start = Instant::now();
    let screen = loop {
        let out = tmux().args(["capture-pane", "-p", "-J", "-S", "-", "-t", "pw"]).output().unwrap();
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("__END__") {
            break screen;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "portwarden did not finish in tmux:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = tmux().arg("kill-server").status();
    screen
}

#[test]
fn the_table_fits_an_80_column_tmux_window() {
    let test = "the_table_fits_an_80_column_tmux_window";
    if skip_unless_root(test) || missing_tool(test, "tmux") || missing_tool(test, NGINX) {
        return;
    }
    let _machine = machine_shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nginx = nginx(dir.path(), port);
    // A long name (the kernel keeps 15 bytes of it) held by a process and three forked children, on all interfaces.
    let holder = Holder::start_with("a-rather-long-process-name", &[tcp4("0.0.0.0", 0), udp6("::", 0, true)], 3);
    let wide = std::env::var_os("PORTWARDEN_TEST_WIDE").map_or("", |_| " --wide");
    let screen = in_tmux(dir.path(), WIDTH, &format!("NO_COLOR=1 {}{wide}", bin()));
    eprintln!("{test}: the table in {WIDTH} columns:\n{screen}");
    let lines: Vec<&str> = screen.lines().map(str::trim_end).filter(|l| !l.contains("__END__")).collect();
    for l in &lines {
        assert!(
            l.width() <= WIDTH,
            "a line wider than {WIDTH} columns ({}):\n{l}\n\nwhole screen:\n{screen}",
            l.width()
        );
    }
    let verdict = |row: &str| ["expected", "review", "dangerous"].iter().any(|v| row.contains(v));
    // nginx's twins share one row, with the master's or a worker's PID and the verdict.
    let master = _nginx.0.id();
    let rows: Vec<&&str> = lines.iter().filter(|l| l.starts_with("tcp") && l.contains(&format!(" {port} "))).collect();
    assert_eq!(rows.len(), 1, "nginx on {port} (IPv4 and IPv6) should be one row:\n{screen}");
    // The owners are listed by PID: the first is the master or a worker (PIDs wrap), and that PID must show.
    let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).unwrap_or_default();
    let group: Vec<String> =
        std::iter::once(master.to_string()).chain(children.split_whitespace().map(String::from)).collect();
    assert!(group.iter().any(|p| rows[0].contains(&format!(" {p}/nginx"))), "no nginx PID ({group:?}) on: {}", rows[0]);
    assert!(verdict(rows[0]), "no verdict on nginx's row: {}", rows[0]);
    for (proto, p) in [("tcp", holder.ports[0]), ("udp", holder.ports[1])] {
        // Other sockets may share the port on other addresses: the holder's row is the one with its PID.
        let row = lines
            .iter()
            .find(|l| {
                l.starts_with(proto) && l.contains(&format!(" {p} ")) && l.contains(&format!(" {}/", holder.pid()))
            })
            .unwrap_or_else(|| panic!("no row for {proto} {p} with the holder's PID {}:\n{screen}", holder.pid()));
        assert!(verdict(row), "no verdict on the holder's row: {row}");
    }
    // The same listing piped: full cells, so the long name is whole.
    let piped = run(portwarden().args(["list", "--port", &holder.ports[0].to_string()]));
    let piped = String::from_utf8_lossy(&piped.stdout);
    assert!(piped.contains("a-rather-long-p"), "{piped}");
    assert!(!piped.contains('…'), "{piped}");
}
