//! The `bpf(2)` calls: loading a program (with the verifier's log when it is refused), attaching it to its
//! iterator, and creating the iterator whose reads run it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::asm::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_ITER: u32 = 28;

/// `union bpf_attr` as a zeroed byte buffer written field by field at the kernel's offsets; 128 bytes covers
/// every field used here, and the kernel requires the bytes it does not know to be zero.
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, at: usize, v: u32) -> &mut Attr {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, at: usize, v: u64) -> &mut Attr {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn call(&mut self, cmd: libc::c_long) -> io::Result<OwnedFd> {
        // SAFETY: the attribute buffer is valid for its whole length during the call, and every pointer written in
        // it points to memory the caller keeps alive across the call.
        let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, self.0.as_mut_ptr(), self.0.len() as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::other("bpf(2) returned no descriptor"))?;
        // SAFETY: on success these commands return a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

pub(super) fn load(program: &[Insn], attach_btf_id: u32) -> io::Result<OwnedFd> {
    load_with_log(program, attach_btf_id, None).or_else(|e| {
        // Once more with the verifier's log, to say why.
        let mut log = vec![0u8; 16 * 1024];
        match load_with_log(program, attach_btf_id, Some(&mut log)) {
            Ok(fd) => Ok(fd),
            Err(_) => {
                let text = CStr::from_bytes_until_nul(&log).map(|c| c.to_string_lossy()).unwrap_or_default();
                // The verifier's complaint is the line before its closing statistics.
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                let why = lines.iter().rev().find(|l| !l.starts_with("processed ")).copied().unwrap_or("");
                Err(io::Error::new(e.kind(), format!("loading the BPF iterator program: {e}: {why}")))
            }
        }
    })
}

fn load_with_log(program: &[Insn], attach_btf_id: u32, log: Option<&mut Vec<u8>>) -> io::Result<OwnedFd> {
    // The helper bpf_seq_write is offered to GPL-compatible programs only.
    let license = c"Dual MIT/GPL";
    let insn_cnt = u32::try_from(program.len()).map_err(|_| io::Error::other("program too long"))?;
    let mut attr = Attr::new();
    // prog_name, so that `bpftool prog` names it while it exists.
    let name = b"pw_sock_owners";
    attr.0[48..48 + name.len()].copy_from_slice(name);
    if let Some(log) = log {
        let size = u32::try_from(log.len()).map_err(|_| io::Error::other("log too long"))?;
        attr.u32(24, 1).u32(28, size).u64(32, log.as_mut_ptr() as u64);
    }
    attr.u32(0, BPF_PROG_TYPE_TRACING)
        .u32(4, insn_cnt)
        .u64(8, program.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(68, BPF_TRACE_ITER) // expected_attach_type
        .u32(108, attach_btf_id)
        .call(BPF_PROG_LOAD)
}

pub(super) fn link_create(prog: &OwnedFd) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let prog_fd = u32::try_from(prog.as_raw_fd()).map_err(|_| io::Error::other("bad descriptor"))?;
    Attr::new().u32(0, prog_fd).u32(8, BPF_TRACE_ITER).call(BPF_LINK_CREATE)
}

pub(super) fn iter_create(link: &OwnedFd) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let link_fd = u32::try_from(link.as_raw_fd()).map_err(|_| io::Error::other("bad descriptor"))?;
    Attr::new().u32(0, link_fd).call(BPF_ITER_CREATE)
}
