//! Function ranges from an ELF file's `.eh_frame` (the call-frame records every Linux
//! compiler emits for unwinding, kept in stripped files because they are loaded): each FDE
//! names the start and length of one function. Code readers of variable-length instruction
//! sets (x86, s390x, RISC-V with compressed instructions) decode forward from a function's
//! start, where instruction boundaries are certain, instead of guessing them backwards.
//!
//! Only the fields that locate functions are read: the CIE's augmentation (for the FDE
//! pointer encoding) and each FDE's `pc_begin` / `pc_range`. Records that use encodings
//! this reader does not know are skipped, never guessed.

use std::collections::HashMap;

use super::model::Binary;

const PE_OMIT: u8 = 0xff;
const PE_PCREL: u8 = 0x10;

/// Most records read from one table (a real table holds one FDE per function; a corrupt
/// length field cannot make the loop longer than the table anyway, this bounds the output).
const MAX_RECORDS: usize = 1 << 20;

/// Function ranges described by the `.eh_frame` table of `size` bytes at `addr` (pass
/// `u64::MAX` as size when only the start is known: the table then ends at its zero
/// terminator or at the end of its segment).
pub fn functions(bin: &Binary, addr: u64, size: u64) -> Vec<(u64, u64)> {
    let Some(seg) = bin.segment(addr) else {
        return Vec::new();
    };
    let avail = seg.filesize.min(seg.vsize).saturating_sub(addr - seg.vaddr);
    let Ok(len) = usize::try_from(size.min(avail)) else {
        return Vec::new();
    };
    let Some(table) = bin.file_bytes(addr, len) else {
        return Vec::new();
    };
    let r = Reader {
        table,
        base: addr,
        le: bin.little_endian,
        ptr: bin.pointer_size,
    };
    let mut out = Vec::new();
    let mut cies: HashMap<usize, Option<u8>> = HashMap::new();
    let mut pos = 0usize;
    while out.len() < MAX_RECORDS {
        let Some(len32) = r.u32(pos) else { break };
        if len32 == 0 {
            break; // terminator
        }
        let (body, len) = if len32 == u32::MAX {
            match r.u64(pos + 4).and_then(|l| usize::try_from(l).ok()) {
                Some(l) => (pos + 12, l),
                None => break,
            }
        } else {
            (pos + 4, len32 as usize)
        };
        let Some(end) = body.checked_add(len).filter(|&e| e <= table.len()) else {
            break;
        };
        let Some(id) = r.u32(body) else { break };
        if id != 0 {
            // FDE: `id` is the distance back from this field to its CIE.
            let cie = body.checked_sub(id as usize);
            let enc = cie.and_then(|c| *cies.entry(c).or_insert_with(|| r.cie_fde_encoding(c)));
            if let Some(enc) = enc
                && let Some((start, at)) = r.encoded(body + 4, enc, true)
                && let Some((range, _)) = r.encoded(at, enc & 0x0f, false)
                && at <= end
                && let Some(stop) = start.checked_add(range)
            {
                out.push((start, stop));
            }
        }
        pos = end;
    }
    out
}

/// The address of the `.eh_frame` table an `.eh_frame_hdr` at `hdr` points to (the
/// `PT_GNU_EH_FRAME` segment, for files without section headers).
pub fn table_from_hdr(bin: &Binary, hdr: u64) -> Option<u64> {
    let head = bin.file_bytes(hdr, 4)?;
    if head[0] != 1 {
        return None;
    }
    let len = if bin.pointer_size == 8 { 8 } else { 4 };
    let r = Reader {
        table: bin.file_bytes(hdr, 4 + len)?,
        base: hdr,
        le: bin.little_endian,
        ptr: bin.pointer_size,
    };
    r.encoded(4, head[1], true).map(|(v, _)| v)
}

struct Reader<'a> {
    table: &'a [u8],
    /// Address of `table[0]`.
    base: u64,
    le: bool,
    ptr: u8,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.table.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.bytes::<2>(at)?;
        Some(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.bytes::<4>(at)?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let b = self.bytes::<8>(at)?;
        Some(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    /// An unsigned LEB128 number and the position after it.
    fn uleb(&self, mut at: usize) -> Option<(u64, usize)> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.table.get(at)?;
            at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some((v, at));
            }
        }
        None
    }

    fn sleb(&self, at: usize) -> Option<(u64, usize)> {
        let (mut v, next) = self.uleb(at)?;
        let bits = 7 * (next - at) as u32;
        if bits < 64 && self.table[next - 1] & 0x40 != 0 {
            v |= u64::MAX << bits;
        }
        Some((v, next))
    }

    /// A value in DWARF pointer encoding `enc` at `at`, and the position after it. `apply`
    /// adds the base for pc-relative values; other applications (data-relative, indirect)
    /// are not known here.
    fn encoded(&self, at: usize, enc: u8, apply: bool) -> Option<(u64, usize)> {
        let (raw, next) = match enc & 0x0f {
            0x00 if self.ptr == 8 => (self.u64(at)?, at + 8),
            0x00 => (u64::from(self.u32(at)?), at + 4),
            0x01 => self.uleb(at)?,
            0x02 => (u64::from(self.u16(at)?), at + 2),
            0x03 => (u64::from(self.u32(at)?), at + 4),
            0x04 => (self.u64(at)?, at + 8),
            0x09 => self.sleb(at)?,
            0x0a => (self.u16(at)? as i16 as u64, at + 2),
            0x0b => (self.u32(at)? as i32 as u64, at + 4),
            0x0c => (self.u64(at)?, at + 8),
            _ => return None,
        };
        if !apply {
            return Some((raw, next));
        }
        let v = match enc & 0x70 {
            0x00 => raw,
            PE_PCREL => (self.base + at as u64).wrapping_add(raw),
            _ => return None,
        };
        if enc & 0x80 != 0 {
            return None; // indirect: the value is the address of the pointer
        }
        Some((v, next))
    }

    /// The pointer encoding of the FDEs that use the CIE at `at` (`None` when the CIE cannot
    /// be read or uses an augmentation this reader does not know).
    fn cie_fde_encoding(&self, at: usize) -> Option<u8> {
        let len32 = self.u32(at)?;
        let body = if len32 == u32::MAX { at + 12 } else { at + 4 };
        if self.u32(body)? != 0 {
            return None; // not a CIE
        }
        let version = *self.table.get(body + 4)?;
        let aug_start = body + 5;
        let aug_len = self.table.get(aug_start..)?.iter().position(|&b| b == 0)?;
        let aug = self.table.get(aug_start..aug_start + aug_len)?;
        let mut p = aug_start + aug_len + 1;
        if aug.starts_with(b"eh") {
            p += usize::from(self.ptr);
        }
        p = self.uleb(p)?.1; // code alignment
        p = self.sleb(p)?.1; // data alignment
        p = if version == 1 { p + 1 } else { self.uleb(p)?.1 }; // return address register
        let mut enc = 0u8; // absolute pointers unless `R` says otherwise
        if aug.first() != Some(&b'z') {
            return (aug.is_empty() || aug == b"eh").then_some(enc);
        }
        p = self.uleb(p)?.1; // augmentation data length
        for &c in &aug[1..] {
            match c {
                b'R' => {
                    enc = *self.table.get(p)?;
                    p += 1;
                }
                b'L' => p += 1,
                b'P' => {
                    let penc = *self.table.get(p)?;
                    p = self.encoded(p + 1, penc & 0x0f, false)?.1;
                }
                b'S' | b'B' | b'G' => {}
                _ => return None,
            }
        }
        (enc != PE_OMIT).then_some(enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Segment};

    fn seg(name: &str, vaddr: u64, len: usize, offset: u64, exec: bool) -> Segment {
        Segment {
            name: name.into(),
            vaddr,
            vsize: len as u64,
            offset,
            filesize: len as u64,
            exec,
            write: false,
        }
    }

    /// A CIE with augmentation `zR` (pc-relative sdata4 FDE pointers), then two FDEs, a
    /// CIE with an augmentation nobody knows and an FDE using it (skipped), and the
    /// terminator.
    fn table(le: bool) -> Vec<u8> {
        let w32 = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut t = Vec::new();
        // CIE at 0: length, id 0, version 1, "zR", code align 1, data align -8, ra 16,
        // aug length 1, encoding 0x1b, padding.
        let cie = [1u8, b'z', b'R', 0, 1, 0x78, 16, 1, 0x1b, 0, 0, 0];
        t.extend_from_slice(&w32(4 + cie.len() as u32));
        t.extend_from_slice(&w32(0));
        t.extend_from_slice(&cie);
        let fde = |t: &mut Vec<u8>, cie_at: usize, target: u64, range: u32| {
            let at = t.len();
            t.extend_from_slice(&w32(16));
            t.extend_from_slice(&w32((at + 4 - cie_at) as u32));
            let field = 0x2000 + t.len() as u64;
            t.extend_from_slice(&w32(target.wrapping_sub(field) as u32));
            t.extend_from_slice(&w32(range));
            t.extend_from_slice(&[0; 4]);
        };
        fde(&mut t, 0, 0x1000, 0x40);
        fde(&mut t, 0, 0x1080, 0x10);
        let odd = t.len();
        let cie = [1u8, b'z', b'Q', 0, 1, 0x78, 16, 1, 0x1b, 0, 0, 0];
        t.extend_from_slice(&w32(4 + cie.len() as u32));
        t.extend_from_slice(&w32(0));
        t.extend_from_slice(&cie);
        fde(&mut t, odd, 0x1100, 0x10);
        t.extend_from_slice(&w32(0));
        t
    }

    #[test]
    fn reads_fdes_in_either_byte_order() {
        for le in [true, false] {
            let mut data = vec![0x90u8; 0x1000];
            let t = table(le);
            data.extend_from_slice(&t);
            let bin = Binary {
                little_endian: le,
                ..Binary::bare(
                    Arch::X86_64,
                    &data,
                    vec![
                        seg(".text", 0x1000, 0x1000, 0, true),
                        seg(".eh_frame", 0x2000, t.len(), 0x1000, false),
                    ],
                )
            };
            assert_eq!(
                functions(&bin, 0x2000, u64::MAX),
                [(0x1000, 0x1040), (0x1080, 0x1090)],
                "little-endian {le}"
            );
        }
    }

    /// A length field pointing past the table ends the walk without reading out of bounds.
    #[test]
    fn truncated_tables_end_the_walk() {
        let mut t = table(true);
        t.truncate(39); // one byte short of the first FDE's end
        let bin = Binary::bare(
            Arch::X86_64,
            &t,
            vec![seg(".eh_frame", 0x2000, 39, 0, false)],
        );
        assert_eq!(functions(&bin, 0x2000, u64::MAX), []);
        for cut in 0..t.len() {
            let bin = Binary::bare(
                Arch::X86_64,
                &t[..cut],
                vec![seg(".eh_frame", 0x2000, cut, 0, false)],
            );
            let _ = functions(&bin, 0x2000, u64::MAX);
        }
    }
}
