//! Which container a process runs in, told from its cgroup path (`/proc/PID/cgroup`), for `--all-netns`.
//!
//! Container runtimes put every container in a cgroup of its own whose name carries the runtime and the container
//! id; the parser below knows these layouts (one path component at a time, the innermost match winning, so a
//! container nested in another is named by the inner one):
//!
//! | runtime | cgroup path (cgroupfs driver / systemd driver) |
//! |---|---|
//! | docker | `/docker/<64 hex>` / `docker-<64 hex>.scope` |
//! | containerd (Kubernetes CRI) | `cri-containerd-<64 hex>.scope` |
//! | cri-o | `crio-<64 hex>.scope` (not `crio-conmon-...`, the monitor outside the container) |
//! | podman | `libpod-<64 hex>` / `libpod-<64 hex>.scope` (not `libpod-conmon-...`) |
//! | kubernetes | `/kubepods/.../pod<uid>/<64 hex>` (the runtime is not in the path) |
//! | systemd-nspawn | `/machine.slice/systemd-nspawn@NAME.service` (not its `supervisor` child) |
//! | machine | `/machine.slice/machine-NAME.scope` (registered with systemd-machined: nspawn from a shell, libvirt) |
//! | lxc | `/lxc/NAME`, `/lxc.payload.NAME`, `/lxc.payload/NAME` (not `lxc.monitor...`) |
//!
//! Both cgroup v2 (`0::/path`) and v1 (`N:controllers:/path`) lines are read; the v2 line is tried first. Only the
//! owners of listeners are looked up, so the cost is one small read per owning process.
//!
//! A cgroup's name is chosen by whoever creates it, and users may create their own under the subtree systemd
//! delegates to them (`systemd-run --user --scope --unit=docker-<64 hex>`). So only runtime-owned cgroups count: none
//! under `user.slice` or a `user@UID.service` (rootless containers are not attributed), and the cgroup's directory
//! must be owned by root (a delegated subtree belongs to its user). A cgroup that cannot be checked names no
//! container.

use crate::model::Container;
use crate::text::decode_bytes;

/// The container of the process `pid`, or `None` when it runs in none (or has exited). `expected_start` is the
/// start time the owner scan saw: when the PID no longer has it, the process was replaced and `None` is returned.
pub fn of_pid(pid: u32, expected_start: Option<u64>) -> Option<Container> {
    let cgroup = std::fs::read(format!("/proc/{pid}/cgroup")).ok()?;
    let (container, controllers, path) = find_in_cgroup_file(&cgroup)?;
    if !root_owned(&controllers, &path) {
        return None;
    }
    // Read the start time after the cgroup: if it is unchanged, the cgroup file was the owner's own.
    if let Some(expected) = expected_start {
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
        if super::procfs::parse_stat_start_time(&stat) != Some(expected) {
            return None;
        }
    }
    Some(container)
}

/// The container named by the text of `/proc/PID/cgroup`: the cgroup v2 line first, then the v1 lines in order.
#[cfg(test)]
pub fn parse_cgroup_file(text: &[u8]) -> Option<Container> {
    find_in_cgroup_file(text).map(|(c, _, _)| c)
}

/// [`parse_cgroup_file`], with the controllers and the path of the line that named the container.
fn find_in_cgroup_file(text: &[u8]) -> Option<(Container, String, String)> {
    // "hierarchy-ID:controller-list:path"; the path itself may contain ':'.
    let lines: Vec<(&[u8], &[u8], &[u8])> = text
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut fields = line.splitn(3, |&b| b == b':');
            let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((id, controllers, path))
        })
        .collect();
    let v2 = lines.iter().filter(|(id, _, _)| *id == b"0");
    let v1 = lines.iter().filter(|(id, _, _)| *id != b"0");
    v2.chain(v1).find_map(|(_, controllers, path)| {
        let path = decode_bytes(path);
        parse_cgroup_path(&path).map(|c| (c, decode_bytes(controllers), path))
    })
}

/// Whether the cgroup directory of `path` in the hierarchy of `controllers` (empty: cgroup v2) is owned by root.
/// The hierarchy is found where it is mounted (`/proc/self/mountinfo`): cgroup2, or the v1 mount whose options
/// hold exactly those controllers.
fn root_owned(controllers: &str, path: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
    let mount = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        let mut fs = right.split(' ');
        let (kind, _source, options) = (fs.next()?, fs.next()?, fs.next()?);
        let fits = match kind {
            "cgroup2" => wanted.is_empty(),
            "cgroup" => {
                let have: Vec<&str> =
                    options.split(',').filter(|o| wanted.contains(o) || o.starts_with("name=")).collect();
                !wanted.is_empty() && wanted.iter().all(|w| have.contains(w))
            }
            _ => false,
        };
        fits.then(|| point.to_string())
    });
    let Some(mount) = mount else { return false };
    let dir = std::path::Path::new(&mount).join(path.trim_start_matches('/'));
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == 0)
}

/// The container named by one cgroup path, e.g. `/system.slice/docker-<id>.scope`; none below a user's own
/// subtree (`user.slice`, `user@UID.service`), where the user names the cgroups.
pub fn parse_cgroup_path(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "user.slice" || p.starts_with("user@")) {
        return None;
    }
    let mut found = None;
    for (i, part) in parts.iter().enumerate() {
        let next = parts.get(i + 1).copied();
        if let Some(c) = component(part, next, &parts[..i]) {
            found = Some(c);
        }
    }
    found
}

fn container(runtime: &str, id: &str) -> Option<Container> {
    Some(Container { runtime: runtime.to_string(), id: id.to_string() })
}

/// What one path component says; `next` is the component below it, `above` those above it.
fn component(part: &str, next: Option<&str>, above: &[&str]) -> Option<Container> {
    // systemd driver: "<prefix><id>.scope".
    if let Some(unit) = part.strip_suffix(".scope") {
        for (prefix, runtime) in
            [("docker-", "docker"), ("cri-containerd-", "containerd"), ("crio-", "cri-o"), ("libpod-", "podman")]
        {
            if let Some(id) = unit.strip_prefix(prefix).filter(|id| is_id(id)) {
                return container(runtime, id);
            }
        }
        if let Some(name) = unit.strip_prefix("machine-").filter(|n| !n.is_empty()) {
            if above.last() == Some(&"machine.slice") {
                return container("machine", &unescape_unit(name));
            }
        }
        return None;
    }
    // podman with the cgroupfs driver: "libpod-<id>".
    if let Some(id) = part.strip_prefix("libpod-").filter(|id| is_id(id)) {
        return container("podman", id);
    }
    // systemd-nspawn run as a service: the payload is the container, the supervisor is nspawn itself.
    if let Some(name) = part.strip_prefix("systemd-nspawn@").and_then(|s| s.strip_suffix(".service")) {
        if !name.is_empty() && next != Some("supervisor") {
            return container("systemd-nspawn", &unescape_unit(name));
        }
        return None;
    }
    // LXC 4 and later (and LXD): "lxc.payload.NAME" or "lxc.payload/NAME"; "lxc.monitor.NAME" is the monitor.
    if let Some(name) = part.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()) {
        return container("lxc", name);
    }
    // The cgroupfs layouts: a directory named after the runtime, then the container.
    match (above.last().copied(), part) {
        (Some("docker"), id) if is_id(id) => container("docker", id),
        (Some("lxc") | Some("lxc.payload"), name) if !name.is_empty() => container("lxc", name),
        (Some(pod), id) if pod.starts_with("pod") && is_id(id) && above.iter().any(|a| a.starts_with("kubepods")) => {
            container("kubernetes", id)
        }
        _ => None,
    }
}

/// A container id: 64 lowercase hex digits (docker, containerd, cri-o and podman all use these).
fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Undoes systemd's unit name escaping (`\x2d` for `-`, and so on).
fn unescape_unit(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            if let Some(v) = bytes.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok()).and_then(hex_byte) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    decode_bytes(&out)
}

fn hex_byte(h: &str) -> Option<u8> {
    u8::from_str_radix(h, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    fn c(runtime: &str, id: &str) -> Option<Container> {
        Some(Container { runtime: runtime.to_string(), id: id.to_string() })
    }

    #[test]
    fn docker_both_drivers() {
        assert_eq!(parse_cgroup_path(&format!("/docker/{ID}")), c("docker", ID));
        assert_eq!(parse_cgroup_path(&format!("/system.slice/docker-{ID}.scope")), c("docker", ID));
        // A process in a sub-cgroup of the container (systemd inside it) is still in it.
        assert_eq!(parse_cgroup_path(&format!("/docker/{ID}/system.slice/cron.service")), c("docker", ID));
        // The daemon and its proxies are not in a container.
        assert_eq!(parse_cgroup_path("/system.slice/docker.service"), None);
        assert_eq!(parse_cgroup_path("/docker"), None);
        assert_eq!(parse_cgroup_path("/docker/not-an-id"), None);
        assert_eq!(parse_cgroup_path(&format!("/system.slice/docker-{}.scope", &ID[..12])), None);
    }

    #[test]
    fn kubernetes_containerd_and_crio() {
        let systemd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d6f4a9e_1c1b_4c4e_9a53_2b8e5a1d7c3f.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(parse_cgroup_path(&systemd), c("containerd", ID));
        let crio = format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-{ID}.scope");
        assert_eq!(parse_cgroup_path(&crio), c("cri-o", ID));
        assert_eq!(parse_cgroup_path(&format!("/kubepods.slice/crio-conmon-{ID}.scope")), None);
        let cgroupfs = format!("/kubepods/besteffort/pod0d6f4a9e-1c1b-4c4e-9a53-2b8e5a1d7c3f/{ID}");
        assert_eq!(parse_cgroup_path(&cgroupfs), c("kubernetes", ID));
        let docker_in_k8s = format!("/kubepods.slice/kubepods-pod1.slice/docker-{ID}.scope");
        assert_eq!(parse_cgroup_path(&docker_in_k8s), c("docker", ID));
        // A pod directory outside kubepods is nobody's.
        assert_eq!(parse_cgroup_path(&format!("/somewhere/pod1/{ID}")), None);
    }

    #[test]
    fn podman_rootful_rootless_and_cgroupfs() {
        assert_eq!(parse_cgroup_path(&format!("/machine.slice/libpod-{ID}.scope")), c("podman", ID));
        // Rootless: in the user's own subtree, where any name can be chosen by the user: no container.
        let rootless = format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container");
        assert_eq!(parse_cgroup_path(&rootless), None);
        let planted = format!("/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope");
        assert_eq!(parse_cgroup_path(&planted), None, "systemd-run --user --scope --unit=docker-...");
        assert_eq!(parse_cgroup_path(&format!("/libpod_parent/libpod-{ID}")), c("podman", ID));
        assert_eq!(parse_cgroup_path(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
    }

    #[test]
    fn nspawn_machines_and_lxc() {
        assert_eq!(parse_cgroup_path("/machine.slice/systemd-nspawn@web.service/payload"), c("systemd-nspawn", "web"));
        assert_eq!(parse_cgroup_path("/machine.slice/systemd-nspawn@web.service"), c("systemd-nspawn", "web"));
        assert_eq!(parse_cgroup_path("/machine.slice/systemd-nspawn@web.service/supervisor"), None);
        assert_eq!(parse_cgroup_path("/machine.slice/machine-my\\x2dbox.scope/payload"), c("machine", "my-box"));
        assert_eq!(parse_cgroup_path("/user.slice/machine-x.scope"), None);
        assert_eq!(parse_cgroup_path("/lxc/c1"), c("lxc", "c1"));
        assert_eq!(parse_cgroup_path("/lxc.payload.c1/init.scope"), c("lxc", "c1"));
        assert_eq!(parse_cgroup_path("/lxc.payload/c1"), c("lxc", "c1"));
        assert_eq!(parse_cgroup_path("/lxc.monitor.c1"), None);
        assert_eq!(parse_cgroup_path("/lxc"), None);
    }

    #[test]
    fn host_processes_are_in_no_container() {
        for path in ["/", "/init.scope", "/system.slice/sshd.service", "/user.slice/user-0.slice/session-3.scope"] {
            assert_eq!(parse_cgroup_path(path), None, "{path}");
        }
    }

    #[test]
    fn whole_files_v2_v1_and_hybrid() {
        let v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(parse_cgroup_file(v2.as_bytes()), c("docker", ID));
        let v1 = format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n");
        assert_eq!(parse_cgroup_file(v1.as_bytes()), c("docker", ID));
        // Hybrid: the unified line says nothing, a v1 line does.
        let hybrid = "9:name=systemd:/\n8:pids:/lxc.payload.box\n0::/\n";
        assert_eq!(parse_cgroup_file(hybrid.as_bytes()), c("lxc", "box"));
        // The v2 line wins when both name something.
        let both = format!("3:cpu:/lxc/other\n0::/docker/{ID}\n");
        assert_eq!(parse_cgroup_file(both.as_bytes()), c("docker", ID));
        assert_eq!(parse_cgroup_file(b"0::/\n"), None);
        assert_eq!(parse_cgroup_file(b""), None);
        assert_eq!(parse_cgroup_file(b"garbage without colons\n\xff\xfe"), None);
        // A path containing ':' is kept whole.
        assert_eq!(parse_cgroup_file(format!("0::/odd:dir/docker/{ID}\n").as_bytes()), c("docker", ID));
    }

    #[test]
    fn this_process_reads_without_error() {
        // The test runner runs on the host (or in whatever container CI uses): just exercise the real file.
        let _ = of_pid(std::process::id(), None);
        assert_eq!(of_pid(u32::MAX, None), None);
    }
}
