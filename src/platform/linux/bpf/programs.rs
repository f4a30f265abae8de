//! The two iterator programs, each writing a record `{inode, start time, tgid, fd}` (see [`super::RECORD`]) for every
//! socket that is not connected: [`file_program`] for the task-file iterator, [`task_program`] for the task iterator.

use super::asm::*;
use super::layout::{Layout, TaskLayout};
use super::RECORD;

/// `SS_CONNECTED` in `enum socket_state` (linux/net.h, unchanged since Linux 1.x).
const SS_CONNECTED: i32 = 3;

const S_IFMT: i32 = 0o170000;
const S_IFSOCK: i32 = 0o140000;
/// The `inode` of the record the task walker writes for a process whose descriptor table is larger than it covers.
pub(super) const TOO_MANY_SLOTS: u64 = u64::MAX;
/// The largest table the task walker covers: the number iterator's limit (`BPF_MAX_LOOPS`).
const MAX_SLOTS: i32 = 1 << 23;

/// For each (task, fd, file) the iterator visits: if the file is a socket that is not connected, write
/// `{inode, task->group_leader->start_boottime, task->tgid, fd}` from the stack with `bpf_seq_write`.
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
        // The process's start time, its leader's: a thread with a table of its own is visited itself.
        insn(LDX_DW, r5, r7, l.task_group_leader, 0),
        insn(LDX_DW, r5, r5, l.task_start_boottime, 0),
        insn(LDX_W, r3, r7, l.task_tgid, 0),
        insn(STX_DW, r10, r4, rec, 0),
        insn(STX_DW, r10, r5, rec + 8, 0),
        insn(STX_W, r10, r3, rec + 16, 0),
        insn(STX_W, r10, r9, rec + 20, 0),
        insn(LDX_DW, r1, r6, 0, 0), // r1 = meta->seq
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

/// [`task_program`]'s record `{inode, start time, tgid, fd}` built at the stack's -48 from the registers `inode` and
/// `fd` and the start time and tgid saved at -24 and -16, written to the iterator's `seq_file` (in r6), then a jump
/// to the label `then`.
fn write_record(inode: u8, fd: u8, then: i16) -> [Insn; 12] {
    let (r1, r2, r3, r6, r10) = (1, 2, 3, 6, 10);
    [
        insn(STX_DW, r10, inode, -48, 0),
        insn(STX_W, r10, fd, -28, 0),
        insn(LDX_DW, r1, r10, -24, 0),
        insn(STX_DW, r10, r1, -40, 0),
        insn(LDX_DW, r1, r10, -16, 0),
        insn(STX_W, r10, r1, -32, 0),
        insn(MOV_X, r1, r6, 0, 0),
        insn(MOV_X, r2, r10, 0, 0),
        insn(ADD_K, r2, 0, 0, -48),
        insn(MOV_K, r3, 0, 0, RECORD as i32),
        insn(CALL, 0, 0, 0, BPF_FUNC_SEQ_WRITE),
        insn(JA, 0, 0, then, 0),
    ]
}

/// The task walker: for each task the `bpf_iter_task` iterator visits, the program walks the descriptor table
/// itself, where [`file_program`] has the kernel visit each open file (taking a lock and a reference per file and
/// calling the program once per file). It writes the same records.
///
/// A thread that shares its process's table is skipped; then for each slot `i` below `fdt->max_fds` (an open-coded
/// `bpf_iter_num` loop, Linux 6.4+): the slot is read as a `struct kiocb` (whose first member is a `struct file *`)
/// through `bpf_rdonly_cast`, so that the verifier lets the program read on (each read can fault harmlessly: the
/// kernel fixes up a bad address to zero). A file is a socket when its `private_data`, read as a `struct socket`,
/// points back to the file; if that socket is connected it is skipped (as in [`file_program`]); otherwise the
/// inode's mode must say socket (ruling out a file whose private data merely looks like a socket) and its number
/// is written. A table of more than `MAX_SLOTS` slots gets a record with inode [`TOO_MANY_SLOTS`], and
/// [`walk`](super::walk) runs the task-file program instead.
///
/// Reads happen under RCU, as the kernel's own lock-free descriptor look-ups do: a table is freed only after a
/// grace period, so a slot is at worst a file being closed at that moment.
pub(super) fn task_program(l: &Layout, t: &TaskLayout) -> Vec<Insn> {
    let (r0, r1, r2, r3, r6, r7, r8, r9, r10) = (0, 1, 2, 3, 6, 7, 8, 9, 10);
    let btf_id = |id: u32| i32::try_from(id).unwrap_or(i32::MAX);
    let kfunc = |id: u32| insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, btf_id(id));
    // Stack: -8 the number iterator, -16 tgid, -24 start time, -48..-24 the record.
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
        insn(LDX_DW, r1, r8, l.task_start_boottime, 0),
        insn(STX_DW, r10, r1, -24, 0),
        insn(LDX_W, r1, r7, l.task_tgid, 0),
        insn(STX_DW, r10, r1, -16, 0),
        insn(LDX_DW, r6, r6, 0, 0), // r6 = meta->seq
        insn(LDX_DW, r3, r2, t.files_fdt, 0),
        insn(LDX_DW, r7, r3, t.fdt_fd, 0), // r7 = the slots (a number to the verifier)
        insn(LDX_W, r3, r3, t.fdt_max_fds, 0),
        insn(JGT_K, r3, 0, TO_TOO_MANY, MAX_SLOTS),
        insn(MOV_X, r1, r10, 0, 0),
        insn(ADD_K, r1, 0, 0, -8),
        insn(MOV_K, r2, 0, 0, 0),
        kfunc(t.num_new), // for i in 0..max_fds
    ];
    let next = p.len();
    p.extend([
        insn(MOV_X, r1, r10, 0, 0),
        insn(ADD_K, r1, 0, 0, -8),
        kfunc(t.num_next),
        insn(JEQ_K, r0, 0, TO_END, 0),
        insn(LDX_W, r9, r0, 0, 0), // r9 = i
        insn(MOV_X, r1, r9, 0, 0),
        insn(LSH_K, r1, 0, 0, 3),
        insn(ADD_X, r1, r7, 0, 0),
        insn(MOV_K, r2, 0, 0, btf_id(t.kiocb)),
        kfunc(t.rdonly_cast),
        insn(LDX_DW, r8, r0, 0, 0),     // r8 = slots[i]
        insn(JEQ_K, r8, 0, TO_NEXT, 0), // an empty slot
        insn(LDX_DW, r1, r8, t.file_private_data, 0),
        insn(MOV_K, r2, 0, 0, btf_id(t.socket)),
        kfunc(t.rdonly_cast),
        insn(LDX_DW, r2, r0, t.socket_file, 0),
        insn(JNE_X, r2, r8, TO_NEXT, 0), // not a socket
        insn(LDX_W, r2, r0, l.socket_state, 0),
        insn(JEQ_K, r2, 0, TO_NEXT, SS_CONNECTED),
        insn(LDX_DW, r2, r8, l.file_inode, 0),
        insn(LDX_H, r3, r2, t.inode_mode, 0),
        insn(AND_K, r3, 0, 0, S_IFMT),
        insn(JNE_K, r3, 0, TO_NEXT, S_IFSOCK),
        insn(LDX_DW, r3, r2, l.inode_ino, 0),
    ]);
    p.extend(write_record(r3, r9, TO_NEXT));
    let end = p.len();
    p.extend([insn(MOV_X, r1, r10, 0, 0), insn(ADD_K, r1, 0, 0, -8), kfunc(t.num_destroy)]);
    let exit = p.len();
    p.extend([insn(MOV_K, r0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    let too_many = p.len();
    p.push(insn(MOV_K, r1, 0, 0, -1)); // inode TOO_MANY_SLOTS (all ones); r3 is max_fds
    p.extend(write_record(r1, r3, TO_EXIT));
    resolve_jumps(&mut p, &[(TO_EXIT, exit), (TO_NEXT, next), (TO_END, end), (TO_TOO_MANY, too_many)]);
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
        assert_eq!(p.len(), 27, "the README and module docs say 27 instructions");
    }

    #[test]
    fn task_program_jumps_land_inside_and_the_loop_goes_back_to_its_head() {
        let tasks = TaskLayout {
            iter_func_id: 1,
            rdonly_cast: 2,
            num_new: 3,
            num_next: 4,
            num_destroy: 5,
            kiocb: 6,
            socket: 7,
            task_struct: 8,
            task_files: 16,
            files_fdt: 32,
            fdt_max_fds: 0,
            fdt_fd: 8,
            file_private_data: 200,
            socket_file: 16,
            inode_mode: 0,
        };
        let p = task_program(&made_up_layout(Some(tasks.clone())), &tasks);
        let jumps = [JEQ_K, JNE_K, JGT_K, JEQ_X, JNE_X, JA];
        let next_call = p.iter().position(|ins| ins.code == CALL && ins.imm == 4).unwrap();
        for (i, ins) in p.iter().enumerate().filter(|(_, ins)| jumps.contains(&ins.code)) {
            let to = i as isize + 1 + isize::from(ins.off);
            assert!((0..p.len() as isize).contains(&to), "jump at {i} to {to}");
            if ins.off < 0 && i + 1 < p.len() {
                // Back to the loop's head: the two instructions that set up the number iterator's next call.
                assert_eq!(to as usize, next_call - 2, "loop jump at {i}");
            }
        }
        // The too-many record ends with a jump back to the exit: `r0 = 0; exit`, the program's only exit.
        let exit = p.iter().position(|ins| ins.code == EXIT).unwrap();
        assert_eq!(p.iter().filter(|ins| ins.code == EXIT).count(), 1);
        let last = p.len() - 1;
        assert_eq!((p[last].code, last as isize + 1 + isize::from(p[last].off)), (JA, exit as isize - 1));
    }
}
