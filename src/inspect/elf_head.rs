//! What an ELF file's first bytes say about its layout, before the rest is read: its loadable
//! segments (from the program headers, which follow the file header), so a reader can stop
//! inflating a member where the part the loader maps ends. Symbol tables, debug records and
//! the section headers come after that part in every linker's layout, and are often most of
//! an unstripped module.

/// A `PT_LOAD` segment's place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub offset: u64,
    pub filesz: u64,
    pub exec: bool,
}

impl LoadSegment {
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.filesz)
    }
}

/// Most program headers read: real files have about a dozen.
const MAX_PROGRAM_HEADERS: u64 = 64;

/// The `PT_LOAD` segments in file order of their headers, from an ELF file's first bytes (the
/// program header table must lie within `head`); `None` when `head` is not ELF or the table
/// is not in it.
pub fn load_segments(head: &[u8]) -> Option<Vec<LoadSegment>> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = *head.get(4)? == 2;
    let le = *head.get(5)? == 1;
    let rd = |at: usize, n: usize| -> Option<u64> {
        let b = head.get(at..at.checked_add(n)?)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if wide {
        (rd(0x20, 8)?, rd(0x36, 2)?, rd(0x38, 2)?)
    } else {
        (rd(0x1c, 4)?, rd(0x2a, 2)?, rd(0x2c, 2)?)
    };
    let mut out = Vec::new();
    for i in 0..phnum.min(MAX_PROGRAM_HEADERS) {
        let ph = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if rd(ph, 4)? != 1 {
            continue; // not PT_LOAD
        }
        let (flags, offset, filesz) = if wide {
            (rd(ph + 4, 4)?, rd(ph + 8, 8)?, rd(ph + 0x20, 8)?)
        } else {
            (rd(ph + 0x18, 4)?, rd(ph + 4, 4)?, rd(ph + 0x10, 4)?)
        };
        out.push(LoadSegment {
            offset,
            filesz,
            exec: flags & 1 != 0,
        });
    }
    Some(out)
}

/// For an ELF file whose first `PT_LOAD` segment is not executable (the layout of every
/// current linker: headers, dynamic symbols and their names first): where that segment ends
/// in the file. None for anything else.
pub fn read_only_prefix(head: &[u8]) -> Option<u64> {
    let first = *load_segments(head)?.first()?;
    (!first.exec).then(|| first.end())
}

/// Where the last byte any `PT_LOAD` segment maps from the file ends: everything the dynamic
/// loader reads (dynamic symbols, relocations, unwind tables, code and data) lies before it.
/// None when `head` is not ELF or has no loadable segment.
pub fn loaded_end(head: &[u8]) -> Option<u64> {
    load_segments(head)?.iter().map(LoadSegment::end).max()
}

/// Makes `data` (an ELF file cut at [`loaded_end`]) say it has no section headers, so a
/// parser builds its model from the program headers and the dynamic section alone instead of
/// looking for section headers past the cut. False (and `data` unchanged) when it is not ELF.
pub fn forget_section_headers(data: &mut [u8]) -> bool {
    if data.len() < 0x40 || data[..4] != *b"\x7fELF" {
        return false;
    }
    // e_shoff, e_shnum and e_shstrndx of ELF64 and ELF32 (the same in either byte order).
    let (shoff, shnum) = match data[4] {
        2 => (0x28..0x30, 0x3c..0x40),
        1 => (0x20..0x24, 0x30..0x34),
        _ => return false,
    };
    data[shoff].fill(0);
    data[shnum].fill(0);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 little-endian header with the given `PT_LOAD` segments (offset, size, flags)
    /// and a `PT_DYNAMIC` header before them, section headers at `shoff`.
    fn elf64(loads: &[(u64, u64, u32)], shoff: u64) -> Vec<u8> {
        let mut d = vec![0u8; 0x40];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        d[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        d[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        d[0x38..0x3a].copy_from_slice(&(loads.len() as u16 + 1).to_le_bytes());
        d[0x3c..0x3e].copy_from_slice(&30u16.to_le_bytes());
        d[0x3e..0x40].copy_from_slice(&29u16.to_le_bytes());
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&2u32.to_le_bytes()); // PT_DYNAMIC
        d.extend_from_slice(&ph);
        for &(offset, size, flags) in loads {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&1u32.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            d.extend_from_slice(&ph);
        }
        d
    }

    /// `PT_LOAD` segments as (offset, size, flags).
    type Loads = &'static [(u64, u64, u32)];

    #[test]
    fn layouts_from_the_program_headers() {
        // (segments, read-only prefix, loaded end)
        let table: &[(Loads, Option<u64>, Option<u64>)] = &[
            // ld's separate-code layout: R, R+X, R, RW.
            (
                &[
                    (0, 0x5000, 4),
                    (0x5000, 0x9000, 5),
                    (0xe000, 0x2000, 4),
                    (0x10000, 0x800, 6),
                ],
                Some(0x5000),
                Some(0x10800),
            ),
            // Older layout: code first.
            (&[(0, 0x9000, 5), (0x9000, 0x1000, 6)], None, Some(0xa000)),
            // No loadable segment.
            (&[], None, None),
        ];
        for &(loads, prefix, end) in table {
            let head = elf64(loads, 0x20000);
            assert_eq!(read_only_prefix(&head), prefix, "{loads:?}");
            assert_eq!(loaded_end(&head), end, "{loads:?}");
        }
    }

    #[test]
    fn other_bytes_and_cut_tables_have_no_layout() {
        assert_eq!(load_segments(b"MZ\x90\0"), None);
        assert_eq!(load_segments(b""), None);
        let head = elf64(&[(0, 0x5000, 4), (0x5000, 0x1000, 5)], 0x9000);
        // The second PT_LOAD header is cut off before its file size.
        assert_eq!(load_segments(&head[..head.len() - 30]), None);
        // A header count far past the bytes.
        let mut many = head.clone();
        many[0x38..0x3a].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(load_segments(&many), None);
    }

    #[test]
    fn forgetting_section_headers_zeroes_offset_and_count_only() {
        let mut head = elf64(&[(0, 0x5000, 4)], 0x9000);
        let before = head.clone();
        assert!(forget_section_headers(&mut head));
        assert_eq!(&head[0x28..0x30], &[0; 8]);
        assert_eq!(&head[0x3c..0x3e], &[0; 2]);
        let changed: Vec<usize> = (0..head.len()).filter(|&i| head[i] != before[i]).collect();
        assert!(
            changed.iter().all(|i| (0x28..0x40).contains(i)),
            "{changed:?}"
        );
        assert_eq!(load_segments(&head), load_segments(&before));
        let mut not_elf = vec![0u8; 0x40];
        assert!(!forget_section_headers(&mut not_elf));
        assert_eq!(not_elf, vec![0u8; 0x40]);
    }
}
