//! An assembler for the few eBPF instructions the programs use: the instruction encoding, the opcodes, the helper
//! functions called by number, and jump labels resolved once a program is laid out.

/// One eBPF instruction: opcode, registers, offset, immediate (linux/bpf.h `struct bpf_insn`).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(super) struct Insn {
    pub(super) code: u8,
    pub(super) regs: u8,
    pub(super) off: i16,
    pub(super) imm: i32,
}

pub(super) const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

pub(super) const LDX_DW: u8 = 0x79; // dst = *(u64 *)(src + off)
pub(super) const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
pub(super) const STX_DW: u8 = 0x7b; // *(u64 *)(dst + off) = src
pub(super) const STX_W: u8 = 0x63; // *(u32 *)(dst + off) = src
pub(super) const JEQ_K: u8 = 0x15; // if dst == imm goto +off
pub(super) const JNE_K: u8 = 0x55; // if dst != imm goto +off
pub(super) const JGT_K: u8 = 0x25; // if dst > imm goto +off (unsigned)
pub(super) const JEQ_X: u8 = 0x1d; // if dst == src goto +off
pub(super) const JNE_X: u8 = 0x5d; // if dst != src goto +off
pub(super) const JA: u8 = 0x05; // goto +off
pub(super) const AND_K: u8 = 0x57; // dst &= imm (64-bit)
pub(super) const LSH_K: u8 = 0x67; // dst <<= imm (64-bit)
pub(super) const RSH_K: u8 = 0x77; // dst >>= imm (64-bit, unsigned)
pub(super) const RSH_X: u8 = 0x7f; // dst >>= src (64-bit, unsigned; the kernel masks the count to 0..63)
pub(super) const OR_K: u8 = 0x47; // dst |= imm (64-bit; imm sign-extended)
pub(super) const ADD_X: u8 = 0x0f; // dst += src (64-bit)
pub(super) const LDX_H: u8 = 0x69; // dst = *(u16 *)(src + off)
pub(super) const ADD_K: u8 = 0x07; // dst += imm (64-bit)
pub(super) const MOV_K: u8 = 0xb7; // dst = imm
pub(super) const MOV_X: u8 = 0xbf; // dst = src
pub(super) const CALL: u8 = 0x85;
pub(super) const EXIT: u8 = 0x95;
/// `bpf_seq_write(struct seq_file *m, const void *data, u32 len)`.
pub(super) const BPF_FUNC_SEQ_WRITE: i32 = 127;
/// `bpf_sock_from_file(struct file *file)`: the file's `struct socket`, or NULL if it is not a socket.
pub(super) const BPF_FUNC_SOCK_FROM_FILE: i32 = 162;

/// `src_reg` of a call to a kernel function (kfunc) by its BTF id.
pub(super) const PSEUDO_KFUNC_CALL: u8 = 2;

/// Jump labels, written as a jump's offset while a program is assembled and resolved by [`resolve_jumps`] once
/// it is laid out (no real offset comes near them: the programs are at most about a hundred instructions long).
pub(super) const TO_EXIT: i16 = i16::MIN;
pub(super) const TO_END: i16 = i16::MIN + 1;
pub(super) const TO_TOO_MANY: i16 = i16::MIN + 2;
pub(super) const TO_NEXT_WORD: i16 = i16::MIN + 3;
pub(super) const TO_NEXT_BIT: i16 = i16::MIN + 4;
pub(super) const TO_WORD_DONE: i16 = i16::MIN + 5;
pub(super) const TO_DOUBTFUL: i16 = i16::MIN + 6;
pub(super) const TO_WRITE: i16 = i16::MIN + 7;

/// Replaces each label in `p` by the offset from its jump to the instruction index `labels` gives it.
pub(super) fn resolve_jumps(p: &mut [Insn], labels: &[(i16, usize)]) {
    for (i, ins) in p.iter_mut().enumerate() {
        if let Some(&(_, to)) = labels.iter().find(|(label, _)| *label == ins.off) {
            ins.off = i16::try_from(to as isize - i as isize - 1).unwrap_or(i16::MAX);
        }
    }
}
