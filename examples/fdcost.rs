//! What the kernel charges per open file for the `/proc` owner scan, measured on this machine: one thread walks
//! every `/proc/PID/fd` the way `procfs` does (`getdents64`, then `readlinkat` per entry) and times each part.
//! The floor of any tool that finds socket owners through `/proc` (portwarden, `ss -p`, `netstat -p`, `lsof`).
//!
//! `cargo run --release --example fdcost -- [--repeat N]` (Linux; run as root to see every process).

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    let repeat = std::env::args().skip_while(|a| a != "--repeat").nth(1).and_then(|n| n.parse().ok()).unwrap_or(3);
    let pids: Vec<u32> =
        std::fs::read_dir("/proc")?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    let mut dents = vec![0u8; 64 * 1024];
    for round in 1..=repeat {
        let (mut listing, mut resolving) = (Duration::ZERO, Duration::ZERO);
        let (mut fds, mut sockets, mut processes) = (0usize, 0usize, 0usize);
        for &pid in &pids {
            let Ok(path) = std::ffi::CString::new(format!("/proc/{pid}/fd")) else { continue };
            // SAFETY: `path` is NUL-terminated; the descriptor returned is owned below.
            let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
            if raw < 0 {
                continue;
            }
            // SAFETY: `raw` was just opened and is owned by nobody else.
            let dir = unsafe { OwnedFd::from_raw_fd(raw) };
            processes += 1;
            let mut names = Vec::new();
            let start = Instant::now();
            loop {
                // SAFETY: `dents` is writable for its length; `dir` is an open directory.
                let n =
                    unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), dents.as_mut_ptr(), dents.len()) };
                let Ok(n) = usize::try_from(n) else { break };
                if n == 0 {
                    break;
                }
                let mut at = 0;
                while at + 19 < n {
                    let reclen = usize::from(u16::from_ne_bytes([dents[at + 16], dents[at + 17]]));
                    if reclen == 0 || at + reclen > n {
                        break;
                    }
                    let name = &dents[at + 19..at + reclen];
                    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                    if name != b"." && name != b".." {
                        let mut owned = name.to_vec();
                        owned.push(0);
                        names.push(owned);
                    }
                    at += reclen;
                }
            }
            listing += start.elapsed();
            let start = Instant::now();
            let mut link = [0u8; 64];
            for name in &names {
                // SAFETY: `name` is NUL-terminated, `link` writable for its length, `dir` open.
                let n =
                    unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr().cast(), link.as_mut_ptr().cast(), 64) };
                fds += 1;
                sockets += usize::from(n > 8 && link.starts_with(b"socket:["));
            }
            resolving += start.elapsed();
        }
        let per_fd = |d: Duration| d.as_secs_f64() * 1e6 / fds.max(1) as f64;
        println!(
            "round {round}: {processes} processes, {fds} fds ({sockets} sockets): getdents64 {:.1} ms ({:.2} us/fd), \
             readlinkat {:.1} ms ({:.2} us/fd), one thread",
            listing.as_secs_f64() * 1e3,
            per_fd(listing),
            resolving.as_secs_f64() * 1e3,
            per_fd(resolving)
        );
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("fdcost measures the Linux /proc scan; nothing to do here");
}
