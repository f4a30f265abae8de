//! Small helpers used by several of the Linux modules: who we run as, whether a PID is a kernel thread, what counts
//! as "permission denied", and fixed-width reads from byte buffers.

use std::io;

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// For tests: returns true after printing why `test` cannot run here (the caller then returns). Under `CI=true` it
/// fails instead: CI runs as root with every tool installed, and a skip there would pass without testing.
#[cfg(test)]
pub fn cannot_run(test: &str, why: &str) -> bool {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!in_ci, "{test} cannot run: {why}; under CI=true that is a failure, never a skip");
    eprintln!("SKIP {test}: {why}");
    true
}

/// `PF_KTHREAD` from linux/sched.h: the task is a kernel thread.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in the flags, field 9, of `/proc/PID/stat`).
pub fn is_kernel_thread(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(|stat| super::procfs::stat_field(stat, 9))
        .and_then(|flags| flags.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Whether an error means "exists but may not be touched": `EACCES` or `EPERM`.
pub fn is_permission_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
}

/// The native-endian `u16` at byte `at` of `bytes`, if it is there.
pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// The native-endian `u32` at byte `at` of `bytes`, if it is there.
pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Clock ticks per second (`_SC_CLK_TCK`), the unit of process start times in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> io::Result<u64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match u64::try_from(ticks) {
        Ok(t) if t > 0 && 1_000_000_000 % t == 0 => Ok(t),
        _ => Err(io::Error::other("unexpected clock tick rate")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_threads_are_told_from_processes() {
        if std::fs::read("/proc/2/stat").is_ok_and(|stat| stat.starts_with(b"2 (kthreadd)")) {
            assert!(is_kernel_thread(2));
        }
        assert!(!is_kernel_thread(std::process::id()));
    }

    #[test]
    fn permission_errors_are_eacces_and_eperm() {
        for (code, refused) in [(libc::EACCES, true), (libc::EPERM, true), (libc::ENOENT, false), (libc::ESRCH, false)]
        {
            assert_eq!(is_permission_error(&io::Error::from_raw_os_error(code)), refused, "errno {code}");
        }
    }

    #[test]
    fn reads_stay_in_bounds() {
        let bytes = 0x0403_0201u32.to_ne_bytes();
        assert_eq!(u32_at(&bytes, 0), Some(0x0403_0201));
        assert_eq!(u32_at(&bytes, 1), None);
        assert_eq!(u16_at(&bytes, 2), Some(u16::from_ne_bytes([bytes[2], bytes[3]])));
        assert_eq!(u16_at(&bytes, 3), None);
    }
}
