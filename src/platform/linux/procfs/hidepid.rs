//! Whether `/proc` is mounted with `hidepid=`, which makes other users' processes invisible rather than merely
//! unreadable.

/// True when the last procfs mounted on `/proc` in `mounts` (the text of `/proc/mounts`) has a `hidepid=` option
/// that hides processes: any value but `0` / `off` (`1`/`noaccess`, `2`/`invisible`, `4`/`ptraceable`).
pub fn hidepid_in_mounts(mounts: &str) -> bool {
    let proc_mount = mounts.lines().rev().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_source, target, fstype, options) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        (target == "/proc" && fstype == "proc").then_some(options)
    });
    proc_mount.is_some_and(|options| {
        options
            .split(',')
            .filter_map(|option| option.strip_prefix("hidepid="))
            .any(|value| value != "0" && value != "off")
    })
}

/// Whether `/proc` is mounted with a hiding `hidepid=` option (false when it cannot be told).
pub fn proc_hides_pids() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| hidepid_in_mounts(&mounts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidepid_detection() {
        let plain = "sysfs /sys sysfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n";
        assert!(!hidepid_in_mounts(plain));
        assert!(hidepid_in_mounts("proc /proc proc rw,relatime,hidepid=2 0 0\n"));
        assert!(hidepid_in_mounts("proc /proc proc rw,relatime,hidepid=invisible,gid=10 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=0 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=off 0 0\n"));
        // Only /proc counts, and the last mount on it wins.
        assert!(!hidepid_in_mounts("proc /mnt/proc proc rw,hidepid=2 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=2 0 0\nproc /proc proc rw 0 0\n"));
    }
}
