//! Tests of the task walker under stress (root only): tables that change while it reads them (the slots it reads
//! are not locked, so whatever a slot held when it was read must be checked again before it is written out as a
//! holding), and tables that are huge but nearly empty (the walk must cost what the open descriptors cost).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::btf::KernelBtf;
use super::layout::Layout;
use super::programs::task_program;
use super::syscalls::load;
use super::{run, walk_testable};

/// Pins the calling thread to `cpu`, so that the walk and the processes it races run on different cores.
fn pin_this_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it; the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Runs the task walker over and over on this thread until `done` says stop, and returns every `(PID, inode)` it
/// reported.
fn walk_until(done: &mut dyn FnMut() -> bool) -> HashSet<(u32, u64)> {
    let btf = KernelBtf::open().unwrap();
    let layout = Layout::from_btf(btf.bytes()).unwrap();
    let tasks = layout.tasks.as_ref().expect("this kernel has what the task walker needs");
    let prog = load(&task_program(&layout, tasks), tasks.iter_func_id).unwrap();
    let mut seen = HashSet::new();
    while !done() {
        // A table too large for the task walker (other tests in this process) ends a walk early: try again.
        let _ = run(&prog, &mut |part| seen.extend(part.iter().map(|h| (h.pid, h.inode))));
    }
    seen
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The table-replacement race, forced. For each round a fresh process A fills a 16,384-slot descriptor table with
/// 16,300 files (so that a walk spends long in it); at a random moment it opens 4 UDP sockets at the top, grows its
/// table (a `dup2` past the end: the kernel copies the slots into a new table and frees the old one only after the
/// walk's RCU read section) and closes the 4 sockets; the driver process, on the same core, then opens 4 sockets
/// of its own, which get the freed `struct file`s (the kernel reuses them at once since Linux 6.7, and first those
/// freed last on this core). A walk still reading A's old table finds A's old slots pointing at the driver's
/// sockets. None of them may be reported as A's.
#[test]
fn a_table_replaced_during_the_walk_lends_no_socket_to_its_old_owner() {
    let test = "a_table_replaced_during_the_walk_lends_no_socket_to_its_old_owner";
    if !walk_testable(test) {
        return;
    }
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    if limit.rlim_max < 20_000 {
        crate::platform::linux::sys::cannot_run(
            test,
            &format!("the hard descriptor limit ({}) is below 20,000", limit.rlim_max),
        );
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("table-race");
    let src = dir.path().join("table-race.c");
    std::fs::write(&src, TABLE_RACE).unwrap();
    match Command::new("cc").args(["-O2", "-o"]).arg(&driver).arg(&src).output() {
        Ok(out) => assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            crate::platform::linux::sys::cannot_run(test, &format!("no C compiler ({e})"));
            return;
        }
    }
    let (walk_cpu, driver_cpu) = if cpus >= 2 { (0, 1) } else { (0, -1) };
    let mut driver =
        Command::new(&driver).args(["300", &driver_cpu.to_string()]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    // Stopped however this test ends (a walk that cannot load panics).
    let driver = KillOnDrop(driver);
    let reader = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<String>>());
    pin_this_thread(walk_cpu);
    let start = Instant::now();
    let seen = walk_until(&mut || reader.is_finished() || start.elapsed() > Duration::from_secs(60));
    drop(driver);
    let lines = reader.join().unwrap();
    assert_eq!(lines.last().map(String::as_str), Some("done"), "the driver did not finish in a minute");
    let mut lent = Vec::new();
    for line in &lines[..lines.len() - 1] {
        let mut words = line.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        let old_owner = u32::try_from(words.next().unwrap()).unwrap();
        lent.extend(words.filter(|inode| seen.contains(&(old_owner, *inode))).map(|inode| (old_owner, inode)));
    }
    assert!(lent.is_empty(), "sockets of the driver reported as held by a process that never held them: {lent:?}");
}

/// Processes holding a listening socket at the highest descriptor their limit allows (1,048,575 where the limit can
/// be raised that far; without `CAP_SYS_RESOURCE` the hard limit decides): each has a descriptor table of up to a
/// million slots with two descriptors in it (4 such processes, up to 100 with smaller tables). The walk must find
/// each with its socket, and cost about what the same processes cost with the socket at a low descriptor (a walk
/// of every slot cost many times more: `benches/README.md`).
#[test]
fn a_huge_sparse_table_is_walked_at_the_price_of_its_open_descriptors() {
    let test = "a_huge_sparse_table_is_walked_at_the_price_of_its_open_descriptors";
    if !walk_testable(test) {
        return;
    }
    const SPARSE: &str = r#"
import os, resource, signal, socket, sys
high = sys.argv[1] == "high"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
nr_open = int(open("/proc/sys/fs/nr_open").read())
top = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], nr_open, 1 << 20) - 1
# About 4 million slots in all (8 bytes of kernel memory each): 100 tables of 32,768, or 4 of a million.
n = min(100, max(4, (1 << 22) // (top + 1)))
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        if high:
            os.dup2(s.fileno(), top)
            s.close()
        sys.stdin.read()
        os._exit(0)
    kids.append(pid)
print(top, os.fstat(s.fileno()).st_ino, " ".join(map(str, kids)), flush=True)
sys.stdin.read()
"#;
    let btf = KernelBtf::open().unwrap();
    let layout = Layout::from_btf(btf.bytes()).unwrap();
    let tasks = layout.tasks.as_ref().expect("this kernel has what the task walker needs");
    let prog = load(&task_program(&layout, tasks), tasks.iter_func_id).unwrap();
    // The median of 15 whole walks, and every (PID, inode) the last one saw.
    let timed = || {
        let mut times = Vec::new();
        let mut seen = HashSet::new();
        while times.len() < 15 {
            seen.clear();
            let t = Instant::now();
            // A table too large for the task walker (other tests in this process) ends a walk early: try again.
            if run(&prog, &mut |part| seen.extend(part.iter().map(|h| (h.pid, h.inode)))).is_ok() {
                times.push(t.elapsed());
            }
        }
        times.sort_unstable();
        (times[times.len() / 2], seen)
    };
    let mut medians = Vec::new();
    for mode in ["low", "high"] {
        let mut holder = Command::new("python3")
            .args(["-c", SPARSE, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (needed by the tests)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let mut words = line.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        let (top, inode) = (words.next().unwrap(), words.next().unwrap());
        let kids: Vec<u32> = words.map(|pid| u32::try_from(pid).unwrap()).collect();
        let (median, seen) = timed();
        drop(holder.stdin.take());
        let _ = holder.wait();
        let missing: Vec<u32> = kids.iter().copied().filter(|pid| !seen.contains(&(*pid, inode))).collect();
        assert!(missing.is_empty(), "{mode}: the socket at descriptor {top} not found in {missing:?}");
        let at = if mode == "low" { "a low descriptor".to_string() } else { format!("descriptor {top}") };
        eprintln!("{test}: a socket at {at} in {} processes: walk median {median:?}", kids.len());
        medians.push(median);
    }
    assert!(
        medians[1] < medians[0] * 2 + Duration::from_millis(2),
        "the walk with the sparse tables took {:?}, against {:?} with the same sockets at low descriptors",
        medians[1],
        medians[0]
    );
}

/// The driver of [`a_table_replaced_during_the_walk_lends_no_socket_to_its_old_owner`]: `table-race ROUNDS CPU`
/// prints, for each round, A's PID and the inodes of the driver's sockets that reused A's closed files, then `done`.
/// A fills its table with 16,300 files (`/dev/null` opened each time: a walk that reads each spends long in the table)
/// below the 64 sockets.
const TABLE_RACE: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOCKS 4
#define FIRST 16300
#define GROW 19999

int main(int argc, char **argv) {
    int rounds = atoi(argv[1]), cpu = atoi(argv[2]);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    struct rlimit l;
    getrlimit(RLIMIT_NOFILE, &l);
    l.rlim_cur = l.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &l)) return 1;
    srand(getpid());
    for (int n = 0; n < rounds; n++) {
        int up[2], down[2];
        char c;
        if (pipe(up) || pipe(down)) return 1;
        pid_t a = fork();
        if (a == 0) {
            int null = -1;
            while (null < FIRST - 1) null = open("/dev/null", O_RDONLY);
            write(up[1], "r", 1);
            read(down[0], &c, 1);
            /* Sockets made just now come from this core's current slab, where closing returns them first. */
            for (int k = 0; k < SOCKS; k++) socket(AF_INET, SOCK_DGRAM, 0);
            dup2(null, GROW); /* the table grows: a new one, the old one left to RCU readers */
            for (int k = 0; k < SOCKS; k++) close(FIRST + k);
            write(up[1], "c", 1);
            read(down[0], &c, 1);
            _exit(0);
        }
        read(up[0], &c, 1);
        usleep(rand() % 4000);
        write(down[1], "g", 1);
        read(up[0], &c, 1);
        int mine[SOCKS];
        for (int k = 0; k < SOCKS; k++) mine[k] = socket(AF_INET, SOCK_DGRAM, 0);
        printf("%d", (int)a);
        for (int k = 0; k < SOCKS; k++) {
            struct stat st;
            fstat(mine[k], &st);
            printf(" %lu", (unsigned long)st.st_ino);
        }
        printf("\n");
        fflush(stdout);
        usleep(3000);
        for (int k = 0; k < SOCKS; k++) close(mine[k]);
        write(down[1], "x", 1);
        waitpid(a, NULL, 0);
        close(up[0]); close(up[1]); close(down[0]); close(down[1]);
    }
    printf("done\n");
    return 0;
}
"#;
