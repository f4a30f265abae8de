//! The two iterator programs, each writing a record `{inode, start time, tgid, fd, uid}` (see [`super::RECORD`]) for
//! every socket that is not connected: [`file_program`] for the task-file iterator, [`task_program`] for the task iterator.

use super::asm::*;
use super::layout::{Layout, TaskLayout};
use super::RECORD;

/// `SS_CONNECTED` in `enum socket_state` (linux/net.h, unchanged since Linux 1.x).
const SS_CONNECTED: i32 = 3;

const S_IFMT: i32 = 0o170000;
const S_IFSOCK: i32 = 0o140000;
/// The `inode` of the record the task walker writes for a process whose descriptor table is larger than it covers.
pub(super) const TOO_MANY_SLOTS: u64 = u64::MAX;
/// The most bitmap words (64 descriptors each) the task walker covers: the number iterator's limit
/// (`BPF_MAX_LOOPS`), so tables of up to 2^29 slots.
const MAX_WORDS: i32 = 1 << 23;
/// The bit of a record's fd that marks it doubtful: the task walker saw its slot change while reading it (see
/// [`task_program`]); the record's inode field then holds the thread's id. Descriptors stay below 2^31
/// (`fs.nr_open` is at most `INT_MAX` rounded down).
pub(super) const DOUBTFUL: u32 = 1 << 31;

/// For each (task, fd, file) the iterator visits: if the file is a socket that is not connected, write
/// `{inode, task->group_leader->start_boottime, task->tgid, fd, task->group_leader->real_cred->uid}` from the stack
/// with `bpf_seq_write` (the uid is the leader's, as `/proc/PID/status` shows; the process's start time and real
/// uid, read here, spare reading `/proc` for them).
///
/// Socket or not is asked of `bpf_sock_from_file` (Linux 5.11+), which compares the file's operations and so reads
/// only the file, already in cache from the iterator's own visit; its answer, the `struct socket`, says whether
/// the socket is connected (`SS_CONNECTED`: a TCP connection either end, a socket pair), which a listening socket
/// never is (`listen` requires `SS_UNCONNECTED`) and which the kernel never sets for UDP. Only then is the inode
/// read, for its number. With many connections open this makes the walk shorter than testing the inode's `S_IFSOCK`
/// mode and writing every socket (connections are skipped before their inode is fetched). Testing
/// the socket's protocol state instead (`socket->sk->sk_state`) costs more than it saves: one more structure per
/// socket to fetch from memory.
pub(super) fn file_program(l: &Layout) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    let rec = -(RECORD as i16);
    let mut p = vec![
        insn(LDX_DW, r6, r1, 0, 0),     // r6 = ctx->meta
        insn(LDX_DW, r7, r1, 8, 0),     // r7 = ctx->task
        insn(LDX_DW, r9, r1, 16, 0),    // r9 = ctx->fd
        insn(LDX_DW, r8, r1, 24, 0),    // r8 = ctx->file
        insn(JEQ_K, r7, 0, TO_EXIT, 0), // no task: done
        insn(JEQ_K, r8, 0, TO_EXIT, 0), // no file (end of a task's table): done
        insn(MOV_X, r1, r8, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_SOCK_FROM_FILE),
        insn(JEQ_K, r0, 0, TO_EXIT, 0), // not a socket
        insn(LDX_W, r3, r0, l.socket_state, 0),
        insn(JEQ_K, r3, 0, TO_EXIT, SS_CONNECTED),
        insn(LDX_DW, r2, r8, l.file_inode, 0),
        insn(LDX_DW, r4, r2, l.inode_ino, 0),
        // The process's start time and uid, its leader's: a thread with a table of its own is visited itself.
        insn(LDX_DW, r5, r7, l.task_group_leader, 0),
        insn(LDX_DW, r1, r5, l.task_real_cred, 0),
        insn(LDX_W, r1, r1, l.cred_uid, 0),
        insn(LDX_DW, r5, r5, l.task_start_boottime, 0),
        insn(LDX_W, r3, r7, l.task_tgid, 0),
        insn(STX_DW, r10, r4, rec, 0),
        insn(STX_DW, r10, r5, rec + 8, 0),
        insn(STX_W, r10, r3, rec + 16, 0),
        insn(STX_W, r10, r9, rec + 20, 0),
        insn(STX_DW, r10, r1, rec + 24, 0), // the uid, and the record's last 4 bytes zero
        insn(LDX_DW, r1, r6, 0, 0),         // r1 = meta->seq
        insn(MOV_X, r2, r10, 0, 0),
        insn(ADD_K, r2, 0, 0, i32::from(rec)),
        insn(MOV_K, r3, 0, 0, RECORD as i32),
        insn(CALL, 0, 0, 0, BPF_FUNC_SEQ_WRITE),
    ];
    let exit = p.len();
    p.push(insn(MOV_K, r0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    resolve_jumps(&mut p, &[(TO_EXIT, exit)]);
    p
}

/// The task walker's stack, as offsets from the frame pointer r10 (in C these would be locals).
mod stack {
    /// `bpf_iter_num` over the words of the open-descriptor bitmap.
    pub(super) const WORDS: i16 = -8;
    /// `bpf_iter_num` over the 64 bits of one word.
    pub(super) const BITS: i16 = -16;
    /// The process's start time (its leader's `start_boottime`).
    pub(super) const START: i16 = -24;
    pub(super) const TGID: i16 = -32;
    /// The task (untrusted view), `task->files` and `files->fdt` as first read: what the re-check compares.
    pub(super) const TASK: i16 = -40;
    pub(super) const FILES: i16 = -48;
    pub(super) const FDT: i16 = -56;
    /// `fdt->open_fds` and `fdt->fd`, as addresses.
    pub(super) const OPEN_FDS: i16 = -64;
    pub(super) const SLOTS: i16 = -72;
    /// The slot being read, as a `struct kiocb` view (read again by the re-check), and its descriptor.
    pub(super) const SLOT: i16 = -80;
    pub(super) const FD: i16 = -88;
    /// The process's real uid (its leader's).
    pub(super) const UID: i16 = -96;
    /// The record `{inode, start time, tgid, fd, uid}`: 32 bytes.
    pub(super) const RECORD: i16 = -128;
}

/// Writes the record `{inode, start time, tgid, fd, uid}` built from the registers `inode` and `fd` and the start
/// time, tgid and uid saved on the stack to the iterator's `seq_file` (in r6).
fn write_record(inode: u8, fd: u8) -> [Insn; 13] {
    let (r1, r2, r3, r6, r10) = (1, 2, 3, 6, 10);
    let rec = stack::RECORD;
    [
        insn(STX_DW, r10, inode, rec, 0),
        insn(STX_W, r10, fd, rec + 20, 0),
        insn(LDX_DW, r1, r10, stack::START, 0),
        insn(STX_DW, r10, r1, rec + 8, 0),
        insn(LDX_DW, r1, r10, stack::TGID, 0),
        insn(STX_W, r10, r1, rec + 16, 0),
        insn(LDX_DW, r1, r10, stack::UID, 0),
        insn(STX_DW, r10, r1, rec + 24, 0),
        insn(MOV_X, r1, r6, 0, 0),
        insn(MOV_X, r2, r10, 0, 0),
        insn(ADD_K, r2, 0, 0, i32::from(rec)),
        insn(MOV_K, r3, 0, 0, RECORD as i32),
        insn(CALL, 0, 0, 0, BPF_FUNC_SEQ_WRITE),
    ]
}

/// The task walker: for each task the `bpf_iter_task` iterator visits, the program walks the descriptor table
/// itself, where [`file_program`] has the kernel visit each open file (taking a lock and a reference per file and
/// calling the program once per file). It writes the same records, and marks those it cannot vouch for.
///
/// In C it would read (`cast` is `bpf_rdonly_cast`, which gives an untrusted view the verifier lets the program read
/// through, each read faulting harmlessly to zero on a bad address; loops are open-coded `bpf_iter_num` loops,
/// Linux 6.4+):
///
/// ```c
/// task = cast(ctx->task, task_struct); leader = task->group_leader; files = task->files;
/// if (task != leader && files == leader->files) return 0;  /* a thread sharing its leader's table */
/// if (!files) return 0;                                    /* an exiting task */
/// fdt = files->fdt;
/// words = fdt->max_fds / 64;             /* max_fds is a multiple of BITS_PER_LONG (64-bit kernels only) */
/// if (words > MAX_WORDS) { write(TOO_MANY_SLOTS, start, tgid, words); return 0; }
/// for (w = 0; w < words; w++) {
///     bits = cast(&fdt->open_fds[w], cpumask)->bits[0];   /* read as a scalar */
///     for (b = 0; b < 64 && bits >> b; b++) {
///         if (!((bits >> b) & 1)) continue;
///         fd = w * 64 + b;
///         slot = cast(&fdt->fd[fd], kiocb);  /* a struct file * read as kiocb.ki_filp */
///         file = slot->ki_filp;
///         if (!file) continue;                               /* allocated, not yet installed */
///         sock = cast(file->private_data, socket);
///         if (sock->file != file || sock->state == SS_CONNECTED) continue;
///         inode = file->f_inode;
///         if ((inode->i_mode & S_IFMT) != S_IFSOCK) continue;
///         ino = inode->i_ino;
///         /* The re-check (see below). */
///         if (file->f_inode == inode && slot->ki_filp == file && task->files == files && files->fdt == fdt)
///             write(ino, start, tgid, fd);
///         else
///             write(task->pid, start, tgid, fd | DOUBTFUL);
///     }
/// }
/// ```
///
/// **Why the re-check.** Nothing here holds the table's lock or a reference on the file, as the kernel's own
/// look-ups do (`files_lookup_fdget_rcu` takes a reference, then checks that the slot and the table are unchanged).
/// The program runs under RCU, which keeps the memory readable, but since Linux 6.7 `struct file` is
/// `SLAB_TYPESAFE_BY_RCU`: a file closed while it is read can at once become another process's file, so the socket
/// found through it may not be this task's. The same happens at length when the table is replaced (it grows past
/// its size): the old one stays readable until the walk's RCU section ends, with slots that point to files
/// closed since. So after reading a socket the program checks that the file still has that inode, that the slot
/// still holds the file, that the task still has that table and the table that array (a replaced table is freed
/// only after the walk's RCU section, so its address cannot come back meanwhile). If any of them changed, the
/// record is marked [`DOUBTFUL`] in its fd and carries the thread's id instead of the inode, and user space asks
/// `/proc/TGID/task/TID/fd/FD` what the slot holds now ([`super::confirm`]). What the checks cannot rule out is
/// an object freed and reused twice within the nanoseconds between two of these loads and back where it was (a
/// file back in the same slot, or a task's table freed, which is not deferred past RCU, and reallocated as its
/// next one): then a record could name the inode of the middle occupant. The test that forces the race
/// (`a_table_replaced_during_the_walk_lends_no_socket_to_its_old_owner`) failed without the re-check in every
/// run, and has not failed with it.
///
/// **Why the bitmap.** A slot is read only where `open_fds` has its bit set, a word of 64 bits at a time, zero words
/// skipped: the walk costs what the open descriptors cost, not what the table's size does (a process with one
/// descriptor at 1,048,575 has a table of 1,048,576 slots: 16,384 words to look at, not a million slots). A bit is
/// set from `alloc_fd` until `close`; a set bit with an empty slot is a descriptor not yet installed. Tables of more
/// than `MAX_WORDS` words (half a billion slots, possible only with `fs.nr_open` raised that far) get a record with
/// inode [`TOO_MANY_SLOTS`], and [`walk`](super::walk) runs the task-file program instead.
pub(super) fn task_program(l: &Layout, t: &TaskLayout) -> Vec<Insn> {
    task_walker(l, t, false)
}

/// [`task_program`] with every record found marked doubtful, so that tests can follow that path on demand.
#[cfg(test)]
pub(super) fn task_program_doubting_all(l: &Layout, t: &TaskLayout) -> Vec<Insn> {
    task_walker(l, t, true)
}

fn task_walker(l: &Layout, t: &TaskLayout, doubt_all: bool) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    let btf_id = |id: u32| i32::try_from(id).unwrap_or(i32::MAX);
    let kfunc = |id: u32| insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, btf_id(id));
    let at = |slot: i16| [insn(MOV_X, r1, r10, 0, 0), insn(ADD_K, r1, 0, 0, i32::from(slot))];
    // Registers kept across calls: r6 the seq_file, r7 the current word of the bitmap, r8 the descriptor of its bit
    // 0, r9 the file being read. The word is never changed in place: a value shifted right on every pass would
    // have bounds the verifier tracks down to zero, making it precise and the loop's states never the same
    // (the verifier then gives up on "the sequence of jumps"); a shift by the loop's counter stays unknown.
    let mut p = vec![
        insn(LDX_DW, r6, r1, 0, 0),     // r6 = ctx->meta
        insn(LDX_DW, r1, r1, 8, 0),     // r1 = ctx->task
        insn(JEQ_K, r1, 0, TO_EXIT, 0), // no task: done
        // Read on through an untrusted view of the task: pointers loaded through a trusted one make the verifier
        // look up, for each, whether the kernel marks that field trusted (a search of the kernel's BTF by name each
        // time, which made verification many times slower than loading this way).
        insn(MOV_K, r2, 0, 0, btf_id(t.task_struct)),
        kfunc(t.rdonly_cast),
        insn(MOV_X, r7, r0, 0, 0), // r7 = task
        insn(LDX_DW, r8, r7, l.task_group_leader, 0),
        insn(LDX_DW, r2, r7, t.task_files, 0),
        insn(JEQ_X, r7, r8, 2, 0), // the leader itself: walk its table
        insn(LDX_DW, r3, r8, t.task_files, 0),
        insn(JEQ_X, r2, r3, TO_EXIT, 0), // a thread sharing its leader's table: walked with the leader
        insn(JEQ_K, r2, 0, TO_EXIT, 0),  // no table (an exiting task)
        insn(STX_DW, r10, r7, stack::TASK, 0),
        insn(STX_DW, r10, r2, stack::FILES, 0),
        insn(LDX_DW, r1, r8, l.task_start_boottime, 0),
        insn(STX_DW, r10, r1, stack::START, 0),
        insn(LDX_W, r1, r7, l.task_tgid, 0),
        insn(STX_DW, r10, r1, stack::TGID, 0),
        insn(LDX_DW, r1, r8, l.task_real_cred, 0),
        insn(LDX_W, r1, r1, l.cred_uid, 0),
        insn(STX_DW, r10, r1, stack::UID, 0),
        insn(LDX_DW, r6, r6, 0, 0), // r6 = meta->seq
        insn(LDX_DW, r3, r2, t.files_fdt, 0),
        insn(STX_DW, r10, r3, stack::FDT, 0),
        insn(LDX_DW, r1, r3, t.fdt_fd, 0), // the slots (a number to the verifier)
        insn(STX_DW, r10, r1, stack::SLOTS, 0),
        insn(LDX_DW, r1, r3, t.fdt_open_fds, 0), // the bitmap (a number too)
        insn(STX_DW, r10, r1, stack::OPEN_FDS, 0),
        insn(LDX_W, r3, r3, t.fdt_max_fds, 0),
        insn(RSH_K, r3, 0, 0, 6), // r3 = words of the bitmap
        insn(JGT_K, r3, 0, TO_TOO_MANY, MAX_WORDS),
    ];
    p.extend(at(stack::WORDS));
    p.extend([insn(MOV_K, r2, 0, 0, 0), kfunc(t.num_new)]); // for w in 0..words
    let next_word = p.len();
    p.extend(at(stack::WORDS));
    p.extend([
        kfunc(t.num_next),
        insn(JEQ_K, r0, 0, TO_END, 0),
        insn(LDX_W, r1, r0, 0, 0), // r1 = w
        insn(MOV_X, r8, r1, 0, 0),
        insn(LSH_K, r8, 0, 0, 6), // r8 = the descriptor of bit 0
        insn(LSH_K, r1, 0, 0, 3),
        insn(LDX_DW, r2, r10, stack::OPEN_FDS, 0),
        insn(ADD_X, r1, r2, 0, 0),
        insn(MOV_K, r2, 0, 0, btf_id(t.cpumask)),
        kfunc(t.rdonly_cast),
        insn(LDX_DW, r7, r0, 0, 0),          // r7 = open_fds[w]
        insn(JEQ_K, r7, 0, TO_NEXT_WORD, 0), // no descriptor in these 64
    ]);
    p.extend(at(stack::BITS));
    p.extend([insn(MOV_K, r2, 0, 0, 0), insn(MOV_K, r3, 0, 0, 64), kfunc(t.num_new)]); // for b in 0..64
    let next_bit = p.len();
    p.extend(at(stack::BITS));
    p.extend([
        kfunc(t.num_next),
        insn(JEQ_K, r0, 0, TO_WORD_DONE, 0),
        insn(LDX_W, r2, r0, 0, 0), // r2 = b
        insn(MOV_X, r1, r7, 0, 0),
        insn(RSH_X, r1, r2, 0, 0),
        insn(JEQ_K, r1, 0, TO_WORD_DONE, 0), // no bit set from b on
        insn(AND_K, r1, 0, 0, 1),
        insn(JEQ_K, r1, 0, TO_NEXT_BIT, 0), // descriptor w * 64 + b is not open
        insn(ADD_X, r2, r8, 0, 0),
        insn(STX_DW, r10, r2, stack::FD, 0),
        insn(LDX_DW, r1, r10, stack::SLOTS, 0),
        insn(LSH_K, r2, 0, 0, 3),
        insn(ADD_X, r1, r2, 0, 0),
        insn(MOV_K, r2, 0, 0, btf_id(t.kiocb)),
        kfunc(t.rdonly_cast),
        insn(STX_DW, r10, r0, stack::SLOT, 0),
        insn(LDX_DW, r9, r0, 0, 0),         // r9 = fdt->fd[fd]
        insn(JEQ_K, r9, 0, TO_NEXT_BIT, 0), // not installed yet
        insn(LDX_DW, r1, r9, t.file_private_data, 0),
        insn(MOV_K, r2, 0, 0, btf_id(t.socket)),
        kfunc(t.rdonly_cast),
        insn(LDX_DW, r2, r0, t.socket_file, 0),
        insn(JNE_X, r2, r9, TO_NEXT_BIT, 0), // not a socket
        insn(LDX_W, r2, r0, l.socket_state, 0),
        insn(JEQ_K, r2, 0, TO_NEXT_BIT, SS_CONNECTED),
        insn(LDX_DW, r2, r9, l.file_inode, 0),
        insn(LDX_H, r3, r2, t.inode_mode, 0),
        insn(AND_K, r3, 0, 0, S_IFMT),
        insn(JNE_K, r3, 0, TO_NEXT_BIT, S_IFSOCK),
        insn(LDX_DW, r3, r2, l.inode_ino, 0), // r3 = the inode's number
        insn(LDX_DW, r4, r10, stack::FD, 0),  // r4 = the descriptor
    ]);
    if doubt_all {
        // Always taken (no descriptor is -1), but a conditional jump: the verifier refuses code it cannot reach.
        p.push(insn(JNE_K, r4, 0, TO_DOUBTFUL, -1));
    }
    // The re-check: the file still on that inode, the slot still holding the file, the task still on that table
    // and the table on that array.
    p.extend([
        insn(LDX_DW, r1, r9, l.file_inode, 0),
        insn(JNE_X, r1, r2, TO_DOUBTFUL, 0),
        insn(LDX_DW, r1, r10, stack::SLOT, 0),
        insn(LDX_DW, r1, r1, 0, 0),
        insn(JNE_X, r1, r9, TO_DOUBTFUL, 0),
        insn(LDX_DW, r1, r10, stack::TASK, 0),
        insn(LDX_DW, r1, r1, t.task_files, 0),
        insn(LDX_DW, r5, r10, stack::FILES, 0),
        insn(JNE_X, r1, r5, TO_DOUBTFUL, 0),
        insn(LDX_DW, r1, r5, t.files_fdt, 0),
        insn(LDX_DW, r5, r10, stack::FDT, 0),
        insn(JNE_X, r1, r5, TO_DOUBTFUL, 0),
        insn(JA, 0, 0, TO_WRITE, 0),
    ]);
    let doubtful = p.len();
    p.extend([
        insn(OR_K, r4, 0, 0, DOUBTFUL as i32),
        insn(LDX_DW, r1, r10, stack::TASK, 0),
        insn(LDX_W, r3, r1, t.task_pid, 0), // r3 = the thread's id, for /proc/TGID/task/TID/fd/FD
    ]);
    let write = p.len();
    p.extend(write_record(r3, r4));
    p.push(insn(JA, 0, 0, TO_NEXT_BIT, 0));
    let word_done = p.len();
    p.extend(at(stack::BITS));
    p.extend([kfunc(t.num_destroy), insn(JA, 0, 0, TO_NEXT_WORD, 0)]);
    let end = p.len();
    p.extend(at(stack::WORDS));
    p.push(kfunc(t.num_destroy));
    let exit = p.len();
    p.extend([insn(MOV_K, r0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    let too_many = p.len();
    p.push(insn(MOV_K, r1, 0, 0, -1)); // inode TOO_MANY_SLOTS (all ones); r3 is the number of words
    p.extend(write_record(r1, r3));
    p.push(insn(JA, 0, 0, TO_EXIT, 0));
    resolve_jumps(
        &mut p,
        &[
            (TO_EXIT, exit),
            (TO_END, end),
            (TO_TOO_MANY, too_many),
            (TO_NEXT_WORD, next_word),
            (TO_NEXT_BIT, next_bit),
            (TO_WORD_DONE, word_done),
            (TO_DOUBTFUL, doubtful),
            (TO_WRITE, write),
        ],
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up layout, for programs that are looked at, never loaded.
    fn made_up_layout(tasks: Option<TaskLayout>) -> Layout {
        Layout {
            iter_func_id: 1,
            file_inode: 32,
            socket_state: 0,
            inode_ino: 64,
            task_tgid: 1000,
            task_group_leader: 1100,
            task_start_boottime: 1200,
            task_real_cred: 1300,
            cred_uid: 4,
            tasks,
        }
    }

    #[test]
    fn jumps_land_on_the_exit() {
        let p = file_program(&made_up_layout(None));
        let done = p.len() - 2;
        for (i, ins) in p.iter().enumerate().filter(|(_, ins)| ins.code == JEQ_K) {
            assert_eq!(i + 1 + usize::try_from(ins.off).unwrap(), done, "jump at {i}");
        }
        assert_eq!((p[done].code, p[done + 1].code), (MOV_K, EXIT));
        assert_eq!(p.len(), 30);
    }

    #[test]
    fn task_program_jumps_land_inside_and_loops_go_back_to_their_heads() {
        let tasks = TaskLayout {
            iter_func_id: 1,
            rdonly_cast: 2,
            num_new: 3,
            num_next: 4,
            num_destroy: 5,
            kiocb: 6,
            socket: 7,
            task_struct: 8,
            cpumask: 9,
            task_pid: 24,
            task_files: 16,
            files_fdt: 32,
            fdt_max_fds: 0,
            fdt_fd: 8,
            fdt_open_fds: 24,
            file_private_data: 200,
            socket_file: 16,
            inode_mode: 0,
        };
        let layout = made_up_layout(Some(tasks.clone()));
        for p in [task_program(&layout, &tasks), task_program_doubting_all(&layout, &tasks)] {
            let jumps = [JEQ_K, JNE_K, JGT_K, JEQ_X, JNE_X, JA];
            // The two loops' heads: the two instructions that set up each number iterator's next call (the words'
            // first, then the bits').
            let heads: Vec<usize> =
                p.iter().enumerate().filter(|(_, ins)| ins.code == CALL && ins.imm == 4).map(|(i, _)| i - 2).collect();
            assert_eq!(heads.len(), 2);
            let mut back = std::collections::BTreeSet::new();
            for (i, ins) in p.iter().enumerate().filter(|(_, ins)| jumps.contains(&ins.code)) {
                let to = i as isize + 1 + isize::from(ins.off);
                assert!((0..p.len() as isize).contains(&to), "jump at {i} to {to}");
                if ins.off < 0 && i + 1 < p.len() {
                    assert!(heads.contains(&(to as usize)), "loop jump at {i} to {to}, heads {heads:?}");
                    back.insert(to as usize);
                }
            }
            assert_eq!(back.into_iter().collect::<Vec<_>>(), heads, "both loops go back to their heads");
            // Every iterator made is destroyed: two `new`, two `destroy`.
            assert_eq!(p.iter().filter(|ins| ins.code == CALL && ins.imm == 3).count(), 2);
            assert_eq!(p.iter().filter(|ins| ins.code == CALL && ins.imm == 5).count(), 2);
            // The too-many record ends with a jump back to the exit: `r0 = 0; exit`, the program's only exit.
            let exit = p.iter().position(|ins| ins.code == EXIT).unwrap();
            assert_eq!(p.iter().filter(|ins| ins.code == EXIT).count(), 1);
            let last = p.len() - 1;
            assert_eq!((p[last].code, last as isize + 1 + isize::from(p[last].off)), (JA, exit as isize - 1));
        }
    }
}
