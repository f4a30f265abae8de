//! The kernel's BTF (`/sys/kernel/btf/vmlinux`): getting hold of it, and reading in it the types, members and
//! parameters the programs depend on.

use std::ffi::CStr;
use std::io::{self, Read};

use super::super::sys::u32_at;

/// The kernel's BTF (megabytes): mapped where the kernel allows it (Linux 6.15+), which costs nothing up front,
/// else read (sysfs hands it out a page per `read`, which takes noticeably longer).
pub(super) enum KernelBtf {
    Mapped(*const u8, usize),
    Read(Vec<u8>),
}

impl KernelBtf {
    pub(super) fn open() -> io::Result<KernelBtf> {
        let file = std::fs::File::open("/sys/kernel/btf/vmlinux")?;
        let len = usize::try_from(file.metadata()?.len()).map_err(|_| bad_btf("too large"))?;
        if len > 0 {
            use std::os::fd::AsRawFd;
            // SAFETY: a fresh private read-only mapping of an open file; the kernel picks the address.
            let at = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_POPULATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if at != libc::MAP_FAILED {
                return Ok(KernelBtf::Mapped(at.cast::<u8>().cast_const(), len));
            }
        }
        let mut bytes = Vec::with_capacity(len);
        (&file).read_to_end(&mut bytes)?;
        Ok(KernelBtf::Read(bytes))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: the mapping is `len` readable bytes and lives until `self` is dropped.
            KernelBtf::Mapped(at, len) => unsafe { std::slice::from_raw_parts(*at, *len) },
            KernelBtf::Read(bytes) => bytes,
        }
    }
}

impl Drop for KernelBtf {
    fn drop(&mut self) {
        if let KernelBtf::Mapped(at, len) = *self {
            // SAFETY: unmaps exactly the mapping made in `open`; no slice of it outlives `self`.
            unsafe { libc::munmap(at.cast_mut().cast(), len) };
        }
    }
}

pub(super) const BTF_MAGIC: u16 = 0xeb9f;
pub(super) const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
pub(super) const KIND_STRUCT: u32 = 4;
pub(super) const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
pub(super) const KIND_FUNC: u32 = 12;
pub(super) const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

/// Bytes after a type's 12-byte header, by kind: a fixed part and a part per member (`vlen`).
const TAIL: [(u8, u8); 32] = {
    let mut tail = [(UNKNOWN_KIND, 0); 32];
    let mut kind = 0;
    while kind < 32 {
        tail[kind] = match kind as u32 {
            KIND_INT | KIND_VAR | KIND_DECL_TAG => (4, 0),
            KIND_ARRAY => (12, 0),
            KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => (0, 12),
            KIND_ENUM | KIND_FUNC_PROTO => (0, 8),
            // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
            2 | 7..=12 | 16 | 18 => (0, 0),
            _ => (UNKNOWN_KIND, 0),
        };
        kind += 1;
    }
    tail
};
const UNKNOWN_KIND: u8 = u8::MAX;

pub(super) fn bad_btf(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("kernel BTF: {what}"))
}

/// Types read between two remembered offsets (see [`Btf::checkpoints`]).
const STRIDE: usize = 64;

/// A view of a BTF blob: the type section, read only as far as needed (the types looked for usually come early,
/// and the section is large), and the string section.
pub(super) struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Offset in `types` of every [`STRIDE`]th type read (ids 1, 1 + STRIDE, ...): a type is found from the one
    /// before it, and an offset for each of the tens of thousands of types read cost more to store (fresh pages)
    /// than the few types looked up by id cost to step to.
    checkpoints: Vec<u32>,
    /// How many types have been read.
    read: usize,
    /// Where the next type to read starts.
    next: usize,
}

impl<'a> Btf<'a> {
    pub(super) fn parse(blob: &'a [u8]) -> io::Result<Btf<'a>> {
        let magic = blob.get(0..2).map(|m| u16::from_le_bytes([m[0], m[1]]));
        if magic != Some(BTF_MAGIC) || cfg!(target_endian = "big") {
            // Big-endian kernels write the magic the other way round; they are not supported here (the fields
            // below are read in the host's byte order).
            return Err(bad_btf("not little-endian BTF"));
        }
        let field = |at| u32_at(blob, at).map(|v| v as usize).ok_or_else(|| bad_btf("truncated header"));
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (field(4)?, field(8)?, field(12)?, field(16)?, field(20)?);
        let section = |off: usize, len: usize| {
            blob.get(hdr_len + off..hdr_len + off + len).ok_or_else(|| bad_btf("section out of bounds"))
        };
        let (types, strings) = (section(type_off, type_len)?, section(str_off, str_len)?);
        Ok(Btf { types, strings, checkpoints: Vec::with_capacity(type_len / 16 / STRIDE), read: 0, next: 0 })
    }

    /// Where the type after the one at `at` starts; `None` if that one's kind (so its length) is unknown or its
    /// header is cut off.
    fn after(&self, at: usize) -> Option<usize> {
        let info = u32_at(self.types, at + 4)?;
        // A table rather than a match: kinds follow each other unpredictably, and this runs once per type read.
        let (fixed, per_member) = TAIL[((info >> 24) & 0x1f) as usize];
        (fixed != UNKNOWN_KIND).then(|| at + 12 + fixed as usize + per_member as usize * (info & 0xffff) as usize)
    }

    /// Reads the next type; returns where it starts, or `None` if the section ends (or is malformed) there.
    fn read_one(&mut self) -> Option<usize> {
        let at = self.next;
        let offset = u32::try_from(at).ok()?;
        let after = self.after(at)?;
        if self.read.is_multiple_of(STRIDE) {
            self.checkpoints.push(offset);
        }
        self.read += 1;
        self.next = after;
        Some(at)
    }

    /// Where type `index + 1` starts, reading types up to it if need be.
    fn offset(&mut self, index: usize) -> Option<usize> {
        while self.read <= index {
            self.read_one()?;
        }
        let mut at = *self.checkpoints.get(index / STRIDE)? as usize;
        for _ in 0..index % STRIDE {
            at = self.after(at)?;
        }
        Some(at)
    }

    fn name(&self, name_off: u32) -> &'a [u8] {
        let rest = self.strings.get(name_off as usize..).unwrap_or_default();
        CStr::from_bytes_until_nul(rest).map_or(&[][..], CStr::to_bytes)
    }

    /// Where `name` is first stored in the string section. Kernel BTF stores each string once, so every type with
    /// that name has this `name_off`.
    fn first_name_offset(&self, name: &str) -> Option<u32> {
        // Every string is preceded by a NUL: the section opens with the empty string.
        let needle = [&[0u8][..], name.as_bytes(), &[0]].concat();
        memchr::memmem::find(self.strings, &needle).and_then(|at| u32::try_from(at + 1).ok())
    }

    /// [`Btf::first_name_offset`] of each name. The names of BPF functions (`bpf_...`) lie deep in the section,
    /// where a search of its own for each would be costly; they are found together, in one pass over the strings
    /// that begin with `bpf_`.
    fn first_name_offsets<const N: usize>(&self, names: [&str; N]) -> [Option<u32>; N] {
        const PREFIX: &[u8] = b"\0bpf_";
        let mut at = names.map(|name| (!name.starts_with("bpf_")).then(|| self.first_name_offset(name)).flatten());
        let mut left = names.iter().zip(&at).filter(|(name, at)| name.starts_with("bpf_") && at.is_none()).count();
        for hit in memchr::memmem::find_iter(self.strings, PREFIX) {
            if left == 0 {
                break;
            }
            let (start, rest) = (hit + 1, &self.strings[hit + 1..]);
            let Ok(off) = u32::try_from(start) else { break };
            for (name, slot) in names.iter().zip(at.iter_mut()) {
                let name = name.as_bytes();
                if slot.is_none() && rest.starts_with(name) && rest.get(name.len()) == Some(&0) {
                    *slot = Some(off);
                    left -= 1;
                }
            }
        }
        at
    }

    /// Whether the string at `name_off` is `name` (without looking further than its length).
    fn name_is(&self, name_off: u32, name: &[u8]) -> bool {
        let at = name_off as usize;
        self.strings.get(at..at + name.len()) == Some(name) && self.strings.get(at + name.len()) == Some(&0)
    }

    /// `(name_off, info, size_or_type, offset of the members)` of type `id`.
    fn header(&mut self, id: u32) -> Option<(u32, u32, u32, usize)> {
        let at = self.offset(usize::try_from(id).ok()?.checked_sub(1)?)?;
        Some((u32_at(self.types, at)?, u32_at(self.types, at + 4)?, u32_at(self.types, at + 8)?, at + 12))
    }

    /// The id of the first type of each `(kind, name)`, reading types until all are found.
    ///
    /// Each name is first looked up in the string section, so that the types are told apart by comparing numbers
    /// (the iterator's function comes after tens of thousands of types, many of them functions, whose names would
    /// each be a cache miss). A blob that stores a name more than once (not the kernel's) gets a second pass comparing
    /// the strings.
    pub(super) fn find<const N: usize>(&mut self, wanted: [(u32, &str); N]) -> [Option<u32>; N] {
        let at_names = self.first_name_offsets(wanted.map(|(_, name)| name));
        let mut found = [None; N];
        let mut left = at_names.iter().filter(|off| off.is_some()).count();
        // Nearly every type is none of those wanted: one bit of a small filter of their names' offsets tells most
        // of them apart, before the names are compared.
        let bit = |off: u32| ((off as usize >> 6) & 63, 1u64 << (off & 63));
        let mut filter = [0u64; 64];
        for (word, mask) in at_names.iter().flatten().map(|&off| bit(off)) {
            filter[word] |= mask;
        }
        let mut id = 0;
        while left > 0 {
            let next = if id == self.read { self.read_one() } else { self.offset(id) };
            let Some(at) = next else { break };
            id += 1;
            let Some(name_off) = u32_at(self.types, at) else { continue };
            let (word, mask) = bit(name_off);
            if filter[word] & mask == 0 || !at_names.contains(&Some(name_off)) {
                continue;
            }
            let kind = u32_at(self.types, at + 4).map_or(0, |info| (info >> 24) & 0x1f);
            for ((slot, &(want, _)), off) in found.iter_mut().zip(&wanted).zip(&at_names) {
                if slot.is_none() && kind == want && *off == Some(name_off) {
                    *slot = u32::try_from(id).ok();
                    left -= 1;
                }
            }
        }
        if found.iter().any(Option::is_none) {
            // Every type read, in order, each found from the one before.
            let mut at = self.checkpoints.first().map(|&at| at as usize);
            for id in 1..=u32::try_from(self.read).unwrap_or(u32::MAX) {
                let Some((name_off, info)) =
                    at.and_then(|at| Some((u32_at(self.types, at)?, u32_at(self.types, at + 4)?)))
                else {
                    break;
                };
                for (slot, &(kind, name)) in found.iter_mut().zip(&wanted) {
                    if slot.is_none() && (info >> 24) & 0x1f == kind && self.name_is(name_off, name.as_bytes()) {
                        *slot = Some(id);
                    }
                }
                at = at.and_then(|at| self.after(at));
            }
        }
        found
    }

    /// Byte offset of member `member` of struct `id`, looking into anonymous struct and union members.
    pub(super) fn member_offset(&mut self, id: u32, member: &str) -> Option<u32> {
        let (_, info, _, members) = self.header(id)?;
        if !matches!((info >> 24) & 0x1f, KIND_STRUCT | KIND_UNION) {
            return None;
        }
        let bitfields = info >> 31 == 1;
        for i in 0..(info & 0xffff) as usize {
            let m = members + 12 * i;
            let (name_off, ty, raw) = (u32_at(self.types, m)?, u32_at(self.types, m + 4)?, u32_at(self.types, m + 8)?);
            let bits = if bitfields { raw & 0x00ff_ffff } else { raw };
            if bits % 8 != 0 {
                continue;
            }
            let name = self.name(name_off);
            if name == member.as_bytes() {
                return Some(bits / 8);
            }
            if name.is_empty() {
                if let Some(inner) = self.member_offset(ty, member) {
                    return Some(bits / 8 + inner);
                }
            }
        }
        None
    }

    /// The parameter names of function `id`'s prototype.
    fn params(&mut self, func: u32) -> Option<Vec<&'a [u8]>> {
        let (_, _, proto, _) = self.header(func)?;
        let (_, info, _, params) = self.header(proto)?;
        if (info >> 24) & 0x1f != KIND_FUNC_PROTO {
            return None;
        }
        (0..(info & 0xffff) as usize).map(|i| Some(self.name(u32_at(self.types, params + 8 * i)?))).collect()
    }

    /// Whether function `func` takes exactly the parameters `names`, in that order: how a program reads its
    /// context, 8 bytes per parameter.
    pub(super) fn params_are(&mut self, func: u32, names: &[&str]) -> bool {
        self.params(func).is_some_and(|params| params.iter().copied().eq(names.iter().map(|n| n.as_bytes())))
    }
}
