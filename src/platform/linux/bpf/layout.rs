//! Where the programs read: the offsets of the kernel's structures and the BTF ids they are loaded against, found
//! in the kernel's BTF.

use std::io;

use super::btf::{bad_btf, Btf, KIND_FUNC, KIND_STRUCT};

/// Where the programs read: byte offsets in the kernel's structures, and the BTF ids of the iterators' targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    /// `bpf_iter_task_file`.
    pub(super) iter_func_id: u32,
    pub(super) file_inode: i16,
    pub(super) socket_state: i16,
    pub(super) inode_ino: i16,
    pub(super) task_tgid: i16,
    pub(super) task_group_leader: i16,
    pub(super) task_start_boottime: i16,
    /// `task_struct.real_cred` and `cred.uid`: the process's real uid, as `/proc/PID/status` shows it first.
    pub(super) task_real_cred: i16,
    pub(super) cred_uid: i16,
    /// What only the task walker needs, where this kernel has all of it.
    pub(super) tasks: Option<TaskLayout>,
}

/// The task walker's share of [`Layout`]: the `bpf_iter_task` target, the kfuncs it calls, the types it casts to
/// and the fields it reads on the way from a task to its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TaskLayout {
    pub(super) iter_func_id: u32,
    pub(super) rdonly_cast: u32,
    pub(super) num_new: u32,
    pub(super) num_next: u32,
    pub(super) num_destroy: u32,
    /// `struct kiocb`, whose first member is a `struct file *`: a slot of a descriptor table read as one.
    pub(super) kiocb: u32,
    pub(super) socket: u32,
    pub(super) task_struct: u32,
    /// `struct cpumask`, a bitmap of `unsigned long`s: a word of the open-descriptor bitmap read as its first.
    pub(super) cpumask: u32,
    /// `task_struct.pid`: the thread's id, written in a doubtful record.
    pub(super) task_pid: i16,
    pub(super) task_files: i16,
    pub(super) files_fdt: i16,
    pub(super) fdt_max_fds: i16,
    pub(super) fdt_fd: i16,
    pub(super) fdt_open_fds: i16,
    pub(super) file_private_data: i16,
    pub(super) socket_file: i16,
    pub(super) inode_mode: i16,
}

impl Layout {
    pub(super) fn from_btf(blob: &[u8]) -> io::Result<Layout> {
        let mut btf = Btf::parse(blob)?;
        let [iter_func, file, inode, task, socket, iter_task, rdonly_cast, num_new, num_next, num_destroy, kiocb, files, fdt, cpumask, cred] =
            btf.find([
                (KIND_FUNC, "bpf_iter_task_file"),
                (KIND_STRUCT, "file"),
                (KIND_STRUCT, "inode"),
                (KIND_STRUCT, "task_struct"),
                (KIND_STRUCT, "socket"),
                (KIND_FUNC, "bpf_iter_task"),
                (KIND_FUNC, "bpf_rdonly_cast"),
                (KIND_FUNC, "bpf_iter_num_new"),
                (KIND_FUNC, "bpf_iter_num_next"),
                (KIND_FUNC, "bpf_iter_num_destroy"),
                (KIND_STRUCT, "kiocb"),
                (KIND_STRUCT, "files_struct"),
                (KIND_STRUCT, "fdtable"),
                (KIND_STRUCT, "cpumask"),
                (KIND_STRUCT, "cred"),
            ]);
        let iter_func_id = iter_func.ok_or_else(|| bad_btf("no task-file iterator (Linux 5.8 or later has one)"))?;
        if !btf.params_are(iter_func_id, &["meta", "task", "fd", "file"]) {
            return Err(bad_btf("the task-file iterator has unexpected arguments"));
        }
        let mut offset = |id: Option<u32>, ty: &str, member: &str| -> io::Result<i16> {
            let id = id.ok_or_else(|| bad_btf(&format!("no struct {ty}")))?;
            let off = btf.member_offset(id, member).ok_or_else(|| bad_btf(&format!("no {ty}.{member}")))?;
            i16::try_from(off).map_err(|_| bad_btf(&format!("{ty}.{member} out of reach")))
        };
        let mut layout = Layout {
            iter_func_id,
            file_inode: offset(file, "file", "f_inode")?,
            socket_state: offset(socket, "socket", "state")?,
            inode_ino: offset(inode, "inode", "i_ino")?,
            task_tgid: offset(task, "task_struct", "tgid")?,
            task_group_leader: offset(task, "task_struct", "group_leader")?,
            task_start_boottime: offset(task, "task_struct", "start_boottime")?,
            task_real_cred: offset(task, "task_struct", "real_cred")?,
            cred_uid: offset(cred, "cred", "uid")?,
            tasks: None,
        };
        // The task walker, if every piece is there (any missing: the task-file program does the walk).
        let mut tasks = || -> io::Result<TaskLayout> {
            let missing = || bad_btf("not all the task walker needs");
            let iter_task = iter_task.ok_or_else(missing)?;
            if offset(kiocb, "kiocb", "ki_filp")? != 0 {
                return Err(bad_btf("kiocb.ki_filp is not its first member"));
            }
            if offset(cpumask, "cpumask", "bits")? != 0 {
                return Err(bad_btf("cpumask.bits is not its first member"));
            }
            Ok(TaskLayout {
                iter_func_id: iter_task,
                rdonly_cast: rdonly_cast.ok_or_else(missing)?,
                num_new: num_new.ok_or_else(missing)?,
                num_next: num_next.ok_or_else(missing)?,
                num_destroy: num_destroy.ok_or_else(missing)?,
                kiocb: kiocb.ok_or_else(missing)?,
                socket: socket.ok_or_else(missing)?,
                task_struct: task.ok_or_else(missing)?,
                cpumask: cpumask.ok_or_else(missing)?,
                task_pid: offset(task, "task_struct", "pid")?,
                task_files: offset(task, "task_struct", "files")?,
                files_fdt: offset(files, "files_struct", "fdt")?,
                fdt_max_fds: offset(fdt, "fdtable", "max_fds")?,
                fdt_fd: offset(fdt, "fdtable", "fd")?,
                fdt_open_fds: offset(fdt, "fdtable", "open_fds")?,
                file_private_data: offset(file, "file", "private_data")?,
                socket_file: offset(socket, "socket", "file")?,
                inode_mode: offset(inode, "inode", "i_mode")?,
            })
        };
        layout.tasks = tasks().ok().filter(|t| btf.params_are(t.iter_func_id, &["meta", "task"]));
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::super::btf::{BTF_MAGIC, KIND_FUNC_PROTO, KIND_INT, KIND_UNION};
    use super::*;

    /// A type for [`blob`]: name, kind, vlen, size or type, then the words after the header.
    type TestType<'a> = (&'a str, u32, u32, u32, Vec<(&'a str, u32)>);

    /// A small BTF blob: types as `(name, kind, vlen, size_or_type, extra u32s)`, names interned.
    fn blob(types: &[TestType<'_>]) -> Vec<u8> {
        let mut strings = vec![0u8];
        let mut intern = |name: &str| -> u32 {
            if name.is_empty() {
                return 0;
            }
            let at = strings.len() as u32;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            at
        };
        let mut section = Vec::new();
        for (name, kind, vlen, size_or_type, extra) in types {
            let name_off = intern(name);
            for v in [name_off, (kind << 24) | vlen, *size_or_type] {
                section.extend_from_slice(&v.to_le_bytes());
            }
            for (name, value) in extra {
                // Members (name, type, offset) and params (name, type) are written by the caller as pairs of
                // (name, value) words; a name of "-" is a plain number.
                let word = if *name == "-" { *value } else { intern(name) };
                section.extend_from_slice(&word.to_le_bytes());
                if *name != "-" {
                    section.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [24u32, 0, section.len() as u32, section.len() as u32, strings.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&section);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn layout_from_constructed_btf_looks_into_anonymous_members() {
        let member = |name, ty, bits| vec![(name, ty), ("-", bits)];
        let types = vec![
            ("int", KIND_INT, 0, 4, vec![("-", 32)]), // 1
            ("inode", KIND_STRUCT, 2, 16, [member("i_mode", 1, 0), member("i_ino", 1, 64)].concat()), // 2
            ("", KIND_UNION, 1, 8, member("f_inode", 1, 0)), // 3: anonymous
            ("file", KIND_STRUCT, 2, 32, [member("f_x", 1, 0), member("", 3, 128)].concat()), // 4
            // 5; its member named "socket" stores that string before the struct named "socket" does: the lookup
            // by the string's first place misses the struct, and the second pass comparing strings finds it.
            (
                "task_struct",
                KIND_STRUCT,
                5,
                300,
                [
                    member("socket", 1, 0),
                    member("tgid", 1, 800),
                    member("group_leader", 1, 1200),
                    member("start_boottime", 1, 1600),
                    member("real_cred", 1, 2000),
                ]
                .concat(),
            ),
            ("", KIND_FUNC_PROTO, 4, 0, vec![("meta", 1), ("task", 1), ("fd", 1), ("file", 1)]), // 6
            ("bpf_iter_task_file", KIND_FUNC, 0, 6, vec![]),                                     // 7
            ("socket", KIND_STRUCT, 2, 16, [member("type", 1, 0), member("state", 1, 32)].concat()), // 8
            ("cred", KIND_STRUCT, 2, 16, [member("usage", 1, 0), member("uid", 1, 64)].concat()), // 9
        ];
        let layout = Layout::from_btf(&blob(&types)).unwrap();
        assert_eq!(
            layout,
            Layout {
                iter_func_id: 7,
                file_inode: 16,
                socket_state: 4,
                inode_ino: 8,
                task_tgid: 100,
                task_group_leader: 150,
                task_start_boottime: 200,
                task_real_cred: 250,
                cred_uid: 8,
                tasks: None,
            }
        );
        // Another argument list, a missing struct, a truncated blob: errors, never a wrong layout.
        let mut other = types.clone();
        other[5].4[3].0 = "f";
        assert!(Layout::from_btf(&blob(&other)).is_err());
        let mut missing = types.clone();
        missing[4].0 = "task";
        assert!(Layout::from_btf(&blob(&missing)).is_err());
        let whole = blob(&types);
        for cut in [0, 10, 24, 60, whole.len() - 1] {
            assert!(Layout::from_btf(&whole[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn btf_of_this_kernel_gives_the_layout() {
        let Ok(blob) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            crate::platform::linux::sys::cannot_run(
                "btf_of_this_kernel_gives_the_layout",
                "no /sys/kernel/btf/vmlinux",
            );
            return;
        };
        let layout = Layout::from_btf(&blob).unwrap();
        assert!(layout.iter_func_id > 0);
        assert!(layout.inode_ino > 0 && layout.file_inode > 0 && layout.task_real_cred > 0 && layout.cred_uid > 0);
    }
}
