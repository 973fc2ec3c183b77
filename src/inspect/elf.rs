//! ELF loader: builds the binary model from a Linux (or any ELF) shared object.
//!
//! Pointer values come from the dynamic relocations, never from the bytes in place (lld leaves
//! zeros there): `R_*_RELATIVE` gives the addend (RELA) or the word in place (REL), symbolic
//! relocations give an import or a defined symbol, and `DT_RELR` (which goblin does not parse)
//! is decoded here.

use std::collections::HashMap;

use goblin::elf::{Elf, program_header, section_header, sym};

use super::model::{Arch, Binary, Format, Import, ModelError, Pointer, PointerMap, Segment};

const DT_RELRSZ: u64 = 35;
const DT_RELR: u64 = 36;

/// How one architecture numbers the relocations that matter to the pointer map.
struct RelocKinds {
    relative: u32,
    /// Relocations whose value is the symbol's address (plus addend): absolute words,
    /// GOT entries and PLT slots.
    symbolic: &'static [u32],
}

fn reloc_kinds(arch: Arch) -> Option<RelocKinds> {
    use goblin::elf::reloc::*;
    let (relative, symbolic): (u32, &'static [u32]) = match arch {
        Arch::X86_64 => (
            R_X86_64_RELATIVE,
            &[R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT],
        ),
        Arch::Aarch64 => (
            R_AARCH64_RELATIVE,
            &[R_AARCH64_ABS64, R_AARCH64_GLOB_DAT, R_AARCH64_JUMP_SLOT],
        ),
        Arch::X86 => (R_386_RELATIVE, &[R_386_32, R_386_GLOB_DAT, R_386_JMP_SLOT]),
        Arch::Arm => (
            R_ARM_RELATIVE,
            &[R_ARM_ABS32, R_ARM_GLOB_DAT, R_ARM_JUMP_SLOT],
        ),
        Arch::Ppc64 => (
            R_PPC64_RELATIVE,
            &[R_PPC64_ADDR64, R_PPC64_GLOB_DAT, R_PPC64_JMP_SLOT],
        ),
        // s390x numbers (goblin lacks them): RELATIVE 12, 64 22, GLOB_DAT 10, JMP_SLOT 11.
        Arch::S390x => (12, &[22, 10, 11]),
        Arch::Riscv64 => (R_RISCV_RELATIVE, &[R_RISCV_64, R_RISCV_JUMP_SLOT]),
        Arch::Other => return None,
    };
    Some(RelocKinds { relative, symbolic })
}

fn arch_of(machine: u16) -> Arch {
    use goblin::elf::header::*;
    match machine {
        EM_X86_64 => Arch::X86_64,
        EM_AARCH64 => Arch::Aarch64,
        EM_386 => Arch::X86,
        EM_ARM => Arch::Arm,
        EM_PPC64 => Arch::Ppc64,
        EM_S390 => Arch::S390x,
        EM_RISCV => Arch::Riscv64,
        _ => Arch::Other,
    }
}

/// Parse an ELF shared object into the binary model.
pub fn load(data: &[u8]) -> Result<Binary<'_>, ModelError> {
    let elf = Elf::parse(data).map_err(|e| ModelError::Malformed(format!("ELF: {e}")))?;
    let arch = arch_of(elf.header.e_machine);
    let mut names = NameBudget::for_file(data);
    let mut bin = Binary {
        format: Format::Elf,
        arch,
        pointer_size: if elf.is_64 { 8 } else { 4 },
        little_endian: elf.little_endian,
        image_base: 0,
        segments: segments(&elf, data, &mut names)?,
        pointers: PointerMap::default(),
        imports: Vec::new(),
        exports: HashMap::new(),
        stubs: Vec::new(),
        functions: Vec::new(),
        needed: elf
            .libraries
            .iter()
            .map(|s| names.copy(s))
            .collect::<Result<_, _>>()?,
        data,
    };
    bin.normalize_segments();

    // Imports are the undefined dynamic symbols; remember which dynsym index is which import.
    let mut import_of_sym: HashMap<usize, u32> = HashMap::new();
    for (i, s) in elf.dynsyms.iter().enumerate() {
        let Some(name) = elf.dynstrtab.get_at(s.st_name) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if s.st_shndx == section_header::SHN_UNDEF as usize {
            import_of_sym.insert(i, bin.imports.len() as u32);
            bin.imports.push(Import {
                name: names.copy(name)?,
                library: None,
            });
        } else if s.st_bind() != sym::STB_LOCAL && s.st_value != 0 {
            bin.exports.insert(names.copy(name)?, s.st_value);
        }
    }

    let mut pointers = PointerMap::with_capacity(elf.dynrelas.len() + elf.pltrelocs.len());
    if let Some(kinds) = reloc_kinds(arch) {
        let relocs = elf
            .dynrelas
            .iter()
            .map(|r| (r, true))
            .chain(elf.dynrels.iter().map(|r| (r, false)))
            .chain(elf.pltrelocs.iter().map(|r| (r, r.r_addend.is_some())));
        for (r, is_rela) in relocs {
            let addend = if is_rela {
                Some(r.r_addend.unwrap_or(0) as u64)
            } else {
                None // REL: the addend is the word in place
            };
            let target = if r.r_type == kinds.relative {
                match addend {
                    Some(a) => Some(Pointer::Addr(a)),
                    None => bin.uptr_at(r.r_offset).map(Pointer::Addr),
                }
            } else if kinds.symbolic.contains(&r.r_type) {
                if let Some(&imp) = import_of_sym.get(&r.r_sym) {
                    Some(Pointer::Import(imp))
                } else {
                    elf.dynsyms
                        .get(r.r_sym)
                        .filter(|s| s.st_value != 0)
                        .map(|s| Pointer::Addr(s.st_value.wrapping_add(addend.unwrap_or(0))))
                }
            } else {
                None
            };
            if let Some(t) = target {
                pointers.insert(r.r_offset, t);
            }
        }
    }
    relr(&elf, &bin, &mut pointers)?;
    pointers.finish();
    bin.pointers = pointers;
    bin.functions = function_ranges(&elf, &bin);
    bin.normalize_functions();
    Ok(bin)
}

/// Function ranges: the FDEs of `.eh_frame` (found by section name or, in files without
/// section headers, through the `PT_GNU_EH_FRAME` header), and function symbols with a size
/// (`.symtab` when the file keeps it, else the exported ones; some compilers, such as
/// RISC-V gcc before 13, emit no unwind tables for C).
fn function_ranges(elf: &Elf, bin: &Binary) -> Vec<(u64, u64)> {
    let mut out = if let Some(s) = bin.segments.iter().find(|s| s.name == ".eh_frame") {
        super::eh_frame::functions(bin, s.vaddr, s.vsize)
    } else {
        elf.program_headers
            .iter()
            .find(|p| p.p_type == program_header::PT_GNU_EH_FRAME)
            .and_then(|p| super::eh_frame::table_from_hdr(bin, p.p_vaddr))
            .map(|table| super::eh_frame::functions(bin, table, u64::MAX))
            .unwrap_or_default()
    };
    if bin.arch == Arch::Arm {
        let exidx = bin
            .segments
            .iter()
            .find(|s| s.name == ".ARM.exidx")
            .map(|s| (s.vaddr, s.vsize))
            .or_else(|| {
                elf.program_headers
                    .iter()
                    .find(|p| p.p_type == program_header::PT_ARM_EXIDX)
                    .map(|p| (p.p_vaddr, p.p_memsz))
            });
        if let Some((addr, size)) = exidx {
            out.extend(arm_exidx(bin, addr, size));
        }
    }
    let funcs = elf
        .syms
        .iter()
        .chain(elf.dynsyms.iter())
        .filter(|s| s.st_type() == sym::STT_FUNC && s.st_size > 0 && s.st_value != 0)
        .filter_map(|s| {
            // An ARM Thumb function's address has bit 0 set, its code starts one byte lower:
            // the start keeps the bit (the code reader takes the instruction set from it),
            // the end does not.
            let code = if bin.arch == Arch::Arm {
                s.st_value & !1
            } else {
                s.st_value
            };
            Some((s.st_value, code.checked_add(s.st_size)?))
        });
    out.extend(funcs);
    out
}

/// Function ranges from an ARM exception index table (`.ARM.exidx`): one entry per function,
/// sorted, each starting with a place-relative 31-bit offset to the function (bit 0 set for
/// Thumb code); a function ends where the next begins, the last at the end of its code.
fn arm_exidx(bin: &Binary, addr: u64, size: u64) -> Vec<(u64, u64)> {
    let n = usize::try_from(size / 8).unwrap_or(0).min(1 << 20);
    let Some(table) = bin.bytes(addr, n * 8) else {
        return Vec::new();
    };
    let mut starts: Vec<u64> = table
        .chunks_exact(8)
        .enumerate()
        .map(|(k, e)| {
            let w = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let off = i64::from(((w << 1) as i32) >> 1);
            (addr + 8 * k as u64).wrapping_add_signed(off) & 0xffff_ffff
        })
        .collect();
    starts.sort_unstable_by_key(|&s| s & !1);
    starts.dedup();
    let mut out = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let end = match starts.get(k + 1) {
            Some(&next) => next & !1,
            None => match bin.segment(start).filter(|s| s.exec) {
                Some(s) => s.vaddr + s.vsize,
                None => continue,
            },
        };
        if end > start & !1 {
            out.push((start, end));
        }
    }
    out
}

/// Caps the bytes of names (sections, symbols, needed libraries) the loader copies out of the
/// string tables. In a real file names are mostly distinct strings, so the total stays near
/// the size of the string tables; headers that all point at one long string would otherwise
/// copy it once per header (20,000 sections naming one 1 MB string: 20 GB).
struct NameBudget(usize);

impl NameBudget {
    fn for_file(data: &[u8]) -> Self {
        NameBudget(data.len().saturating_mul(2))
    }

    fn copy(&mut self, name: &str) -> Result<String, ModelError> {
        self.0 = self.0.checked_sub(name.len()).ok_or_else(|| {
            ModelError::Malformed(
                "ELF headers name more string bytes than the file holds (one string shared \
                 over and over)"
                    .into(),
            )
        })?;
        Ok(name.to_string())
    }
}

/// Mapped ranges: the allocated sections when the file has section headers (names make
/// better evidence), else the `PT_LOAD` segments.
fn segments(elf: &Elf, data: &[u8], names: &mut NameBudget) -> Result<Vec<Segment>, ModelError> {
    let file_len = data.len() as u64;
    let clip = |offset: u64, size: u64| -> u64 {
        if offset >= file_len {
            0
        } else {
            size.min(file_len - offset)
        }
    };
    let from_sections: Vec<Segment> = elf
        .section_headers
        .iter()
        .filter(|s| s.sh_flags & u64::from(section_header::SHF_ALLOC) != 0 && s.sh_addr != 0)
        .map(|s| {
            let nobits = s.sh_type == section_header::SHT_NOBITS;
            Ok(Segment {
                name: names.copy(elf.shdr_strtab.get_at(s.sh_name).unwrap_or("?"))?,
                vaddr: s.sh_addr,
                vsize: s.sh_size,
                offset: s.sh_offset,
                filesize: if nobits {
                    0
                } else {
                    clip(s.sh_offset, s.sh_size)
                },
                exec: s.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0,
                write: s.sh_flags & u64::from(section_header::SHF_WRITE) != 0,
            })
        })
        .collect::<Result<_, ModelError>>()?;
    if !from_sections.is_empty() {
        return Ok(from_sections);
    }
    Ok(elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == program_header::PT_LOAD)
        .map(|p| Segment {
            name: format!("LOAD@{:#x}", p.p_vaddr),
            vaddr: p.p_vaddr,
            vsize: p.p_memsz,
            offset: p.p_offset,
            filesize: clip(p.p_offset, p.p_filesz.min(p.p_memsz)),
            exec: p.p_flags & program_header::PF_X != 0,
            write: p.p_flags & program_header::PF_W != 0,
        })
        .collect())
}

/// Decode `DT_RELR` packed relative relocations: an even word is an address to relocate,
/// an odd word a bitmap of the next 63 (or 31) words. The addend is the word in place.
fn relr(elf: &Elf, bin: &Binary, pointers: &mut PointerMap) -> Result<(), ModelError> {
    let Some(dynamic) = &elf.dynamic else {
        return Ok(());
    };
    let tag = |t: u64| dynamic.dyns.iter().find(|d| d.d_tag == t).map(|d| d.d_val);
    let (Some(addr), Some(size)) = (tag(DT_RELR), tag(DT_RELRSZ)) else {
        return Ok(());
    };
    decode_relr(bin, addr, size, pointers)
}

/// Decode the `DT_RELR` table of `size` bytes at `addr`. The table must be bytes of the file
/// (a size pointing into zero-fill memory would otherwise be allocated and walked), and it may
/// relocate at most as many sites as the file has pointer-sized words: every real site is a
/// distinct word the file holds, so more means entries that revisit the same words.
fn decode_relr(
    bin: &Binary,
    addr: u64,
    size: u64,
    pointers: &mut PointerMap,
) -> Result<(), ModelError> {
    let word = u64::from(bin.pointer_size);
    let table = usize::try_from(size)
        .ok()
        .and_then(|len| bin.file_bytes(addr, len))
        .ok_or_else(|| {
            ModelError::Malformed(format!(
                "DT_RELR table at {addr:#x} ({size} bytes) is not in the file"
            ))
        })?;
    let mut budget = bin.data.len() / usize::from(bin.pointer_size);
    let mut relocate = |site: u64| -> Result<(), ModelError> {
        if let Some(v) = bin.uptr_at(site) {
            budget = budget.checked_sub(1).ok_or_else(|| {
                ModelError::Malformed(format!(
                    "DT_RELR table at {addr:#x} relocates more sites than the file has words"
                ))
            })?;
            pointers.insert(site, Pointer::Addr(v));
        }
        Ok(())
    };
    let bits = word * 8 - 1;
    let mut next = 0u64;
    for chunk in table.chunks_exact(word as usize) {
        let entry = match (word, bin.little_endian) {
            (8, true) => u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
            (8, false) => u64::from_be_bytes(chunk.try_into().unwrap_or_default()),
            (_, true) => u64::from(u32::from_le_bytes(chunk.try_into().unwrap_or_default())),
            (_, false) => u64::from(u32::from_be_bytes(chunk.try_into().unwrap_or_default())),
        };
        if entry & 1 == 0 {
            relocate(entry)?;
            next = entry.wrapping_add(word);
        } else {
            let mut bitmap = entry >> 1;
            let mut site = next;
            while bitmap != 0 {
                if bitmap & 1 != 0 {
                    relocate(site)?;
                }
                bitmap >>= 1;
                site = site.wrapping_add(word);
            }
            next = next.wrapping_add(bits * word);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian 64-bit ELF model over `data`: `.data` holds the file's first
    /// `data.len()` bytes at 0x1000, `.bss` is `bss` zero-fill bytes at 0x10_0000.
    fn model(data: &[u8], bss: u64) -> Binary<'_> {
        let seg = |name: &str, vaddr, vsize, filesize| Segment {
            name: name.into(),
            vaddr,
            vsize,
            offset: 0,
            filesize,
            exec: false,
            write: true,
        };
        let len = data.len() as u64;
        Binary::bare(
            Arch::X86_64,
            data,
            vec![
                seg(".data", 0x1000, len, len),
                seg(".bss", 0x10_0000, bss, 0),
            ],
        )
    }

    /// A minimal ELF64 x86-64 shared object: no program headers, a section-name string
    /// table holding `name`, and `sections` allocated sections that are all called `name`.
    fn elf_with_shared_section_name(name: &[u8], sections: u64) -> Vec<u8> {
        let strtab_off = 64u64;
        let mut strtab = vec![0u8];
        strtab.extend_from_slice(name);
        strtab.push(0);
        let shoff = (strtab_off + strtab.len() as u64).next_multiple_of(8);
        let shnum = sections + 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN
        out.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // entry
        out.extend_from_slice(&0u64.to_le_bytes()); // phoff
        out.extend_from_slice(&shoff.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        for v in [64u16, 56, 0, 64, shnum as u16, 1] {
            out.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        }
        out.extend_from_slice(&strtab);
        out.resize(shoff as usize, 0);
        let mut shdr = |name: u32, kind: u32, flags: u64, addr: u64, off: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            for v in [flags, addr, off, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&[0; 8]); // link, info
            out.extend_from_slice(&1u64.to_le_bytes()); // align
            out.extend_from_slice(&0u64.to_le_bytes()); // entsize
        };
        shdr(0, 0, 0, 0, 0, 0);
        shdr(0, 3, 0, 0, strtab_off, strtab.len() as u64); // .shstrtab
        for k in 0..sections {
            shdr(1, 1, 2, 0x1000 + 16 * k, 0, 16); // PROGBITS, SHF_ALLOC
        }
        out
    }

    #[test]
    fn sections_keep_their_names() {
        let data = elf_with_shared_section_name(b".data", 3);
        let bin = load(&data).unwrap();
        assert_eq!(bin.segments.len(), 3);
        assert!(bin.segments.iter().all(|s| s.name == ".data"));
    }

    /// Resource check regression: 20,000 section headers naming one 1 MB string in a
    /// 2.3 MB file made the loader copy the string once per section, 20 GB (aborted after
    /// 29 s under a 6 GB limit). Copied names are now bounded by twice the file size.
    #[test]
    fn sections_sharing_one_long_name_are_malformed() {
        let data = elf_with_shared_section_name(&[b'A'; 4096], 200);
        let err = load(&data).unwrap_err();
        assert!(err.to_string().contains("more string bytes"), "{err}");
    }

    #[test]
    fn relr_decodes_addresses_and_bitmaps() {
        // Table at 0x1000: relocate 0x1010, then bitmap 0b101 → 0x1018 and 0x1028.
        let mut data = Vec::new();
        data.extend_from_slice(&0x1010u64.to_le_bytes());
        data.extend_from_slice(&0b1011u64.to_le_bytes());
        data.extend_from_slice(&0x2222u64.to_le_bytes()); // 0x1010
        data.extend_from_slice(&0x3333u64.to_le_bytes()); // 0x1018
        data.extend_from_slice(&0u64.to_le_bytes());
        data.extend_from_slice(&0x5555u64.to_le_bytes()); // 0x1028
        let bin = model(&data, 0);
        let mut p = PointerMap::default();
        decode_relr(&bin, 0x1000, 16, &mut p).unwrap();
        p.finish();
        let got: Vec<_> = p.iter().collect();
        assert_eq!(
            got,
            [
                (0x1010, Pointer::Addr(0x2222)),
                (0x1018, Pointer::Addr(0x3333)),
                (0x1028, Pointer::Addr(0x5555)),
            ]
        );
    }

    /// Fuzzing regression: `DT_RELR`/`DT_RELRSZ` naming a 1 TiB table in `.bss` made the
    /// loader allocate the whole table as zeros (abort on allocation failure); 4 GiB took
    /// 11 s to walk. A table must be file bytes.
    #[test]
    fn relr_table_in_zero_fill_memory_is_malformed() {
        let data = [0u8; 64];
        let bin = model(&data, 1 << 40);
        let mut p = PointerMap::default();
        let err = decode_relr(&bin, 0x10_0000, 1 << 40, &mut p).unwrap_err();
        assert!(err.to_string().contains("not in the file"), "{err}");
        assert!(p.is_empty());
    }

    /// Entries that revisit the same words over and over (every odd word a full bitmap of
    /// the same 63 sites) are capped by the number of words in the file.
    #[test]
    fn relr_revisiting_the_same_words_runs_out_of_budget() {
        // One even entry setting the base, then bitmaps; every bitmap advances `next` by
        // 63 words, so re-aim it with an even entry each time.
        let mut data = Vec::new();
        for _ in 0..256 {
            data.extend_from_slice(&0x1000u64.to_le_bytes());
            data.extend_from_slice(&u64::MAX.to_le_bytes());
        }
        data.resize(data.len() + 63 * 8, 0);
        let bin = model(&data, 0);
        let mut p = PointerMap::default();
        let err = decode_relr(&bin, 0x1000, 256 * 16, &mut p).unwrap_err();
        assert!(
            err.to_string()
                .contains("more sites than the file has words"),
            "{err}"
        );
    }
}
