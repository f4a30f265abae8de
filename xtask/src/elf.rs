//! Is an executable static? An ELF file that names no program interpreter (no `PT_INTERP` header) is started by the
//! kernel directly, needs no dynamic loader and so no libc on the machine that runs it (static-pie included).

use crate::Result;

const PT_INTERP: u32 = 3;

/// `Ok(true)` when the 64-bit little-endian ELF file has no `PT_INTERP` program header.
pub fn is_static(bytes: &[u8]) -> Result<bool> {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at =
        |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let truncated = || "truncated ELF header".to_string();
    let phoff = usize::try_from(u64_at(0x20).ok_or_else(truncated)?).map_err(|_| truncated())?;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(truncated)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(truncated)?);
    if phentsize < 4 {
        return Err("bad program header size".into());
    }
    for i in 0..phnum {
        let kind = u32_at(phoff + i * phentsize).ok_or("truncated program headers")?;
        if kind == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header followed by `kinds.len()` program headers of those types.
    fn elf(kinds: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&u16::try_from(kinds.len()).unwrap_or(0).to_le_bytes());
        for k in kinds {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&k.to_le_bytes());
            b.extend(ph);
        }
        b
    }

    #[test]
    fn interpreter_means_dynamic() {
        assert_eq!(is_static(&elf(&[6, 3, 1])), Ok(false));
        assert_eq!(is_static(&elf(&[6, 1, 2])), Ok(true), "PT_DYNAMIC alone is static-pie");
        assert!(is_static(b"MZ\x90\0").is_err());
        let mut cut = elf(&[1, 3]);
        cut.truncate(64 + 58);
        assert!(is_static(&cut).is_err());
    }

    #[test]
    fn a_dynamic_program_here_is_seen_as_such() {
        // Any program of this machine's distribution is dynamically linked.
        let Ok(bytes) = std::fs::read("/bin/sh") else { return };
        if bytes.starts_with(b"\x7fELF") {
            assert_eq!(is_static(&bytes), Ok(false));
        }
    }
}
