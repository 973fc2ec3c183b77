//! PE loader: turns a Windows extension module (`.pyd`, PE32 or PE32+) into the format-neutral
//! [`Binary`] model.
//!
//! goblin reads the DOS, COFF and optional headers and the section table. The tables the slot
//! reader depends on — base relocations (pointer sites), the import directory with its IAT slots,
//! delay-load imports and exports — are walked here, through the mapped sections, so that every
//! read is bounds-checked and every count read from the file is bounded by the bytes backing it.

use std::collections::{HashMap, HashSet};

use goblin::pe::data_directories::{DataDirectories, DataDirectory};
use goblin::pe::header::{self, DosHeader, Header};
use goblin::pe::optional_header::{MAGIC_32, MAGIC_64};
use goblin::pe::relocation::{
    IMAGE_REL_BASED_ABSOLUTE, IMAGE_REL_BASED_DIR64, IMAGE_REL_BASED_HIGHADJ,
    IMAGE_REL_BASED_HIGHLOW,
};
use goblin::pe::section_table::{
    IMAGE_SCN_CNT_CODE, IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE, SectionTable,
};

use super::model::{Arch, Binary, Format, Import, ModelError, Pointer, PointerMap, Segment};

/// PE signature + COFF file header.
const PE_AND_COFF_HEADER_SIZE: usize = 4 + 20;
const IMPORT_DESCRIPTOR_SIZE: u32 = 20;
const DELAY_DESCRIPTOR_SIZE: u32 = 32;
const EXPORT_DIRECTORY_SIZE: usize = 40;
/// Longest symbol or DLL name accepted (MSVC caps decorated names at 4096 characters).
const MAX_NAME: usize = 0x1_0000;
/// `grAttrs` bit of a delay-load descriptor: its fields are RVAs (else VAs, Visual C++ 6 style).
const DELAY_ATTR_RVA: u32 = 1;

/// Model a PE image. Fails with [`ModelError::Malformed`] naming the first table that cannot
/// be what it claims to be.
pub fn load(data: &[u8]) -> Result<Binary<'_>, ModelError> {
    let headers = parse_headers(data)?;
    let file_len = data.len() as u64;
    let mut bin = Binary {
        format: Format::Pe,
        arch: headers.arch,
        pointer_size: headers.pointer_size,
        little_endian: true,
        image_base: headers.image_base,
        segments: headers
            .sections
            .iter()
            .map(|s| segment(s, headers.image_base, file_len))
            .collect::<Result<_, _>>()?,
        pointers: PointerMap::default(),
        imports: Vec::new(),
        exports: HashMap::new(),
        stubs: Vec::new(),
        needed: Vec::new(),
        functions: Vec::new(),
        data,
    };
    bin.normalize_segments();

    let dirs = &headers.dirs;
    let mut budget = Budget::for_file(data);
    let mut imports = ImportTable::default();
    if let Some(dir) = present(dirs.get_import_table()) {
        read_imports(&bin, dir, &mut imports, &mut budget)?;
    }
    if let Some(dir) = present(dirs.get_delay_import_descriptor()) {
        read_delay_imports(&bin, dir, &mut imports, &mut budget)?;
    }
    if let Some(dir) = present(dirs.get_export_table()) {
        bin.exports = read_exports(&bin, dir, &mut budget)?;
    }
    bin.pointers = pointer_map(
        &bin,
        present(dirs.get_base_relocation_table()),
        &imports.slots,
    )?;
    bin.imports = imports.list;
    bin.needed = imports.needed;
    if bin.arch == Arch::X86_64
        && let Some(dir) = present(dirs.get_exception_table())
    {
        bin.functions = runtime_functions(&bin, dir);
        bin.normalize_functions();
    }
    Ok(bin)
}

/// x64 `.pdata`: `RUNTIME_FUNCTION { BeginAddress, EndAddress, UnwindInfo }` RVAs, one per
/// function or per separately described part of one. A part whose unwind info is chained
/// (`UNW_FLAG_CHAININFO`) to an entry of the range right before it continues that function
/// (MSVC describes the code after a register save separately) and is merged into it, so that
/// its start is not taken for a function entry. A table that runs past the file is read as
/// far as the file goes: it only ever helps code reading, which works without it.
fn runtime_functions(bin: &Binary<'_>, dir: &DataDirectory) -> Vec<(u64, u64)> {
    const UNW_FLAG_CHAININFO: u8 = 4;
    let Some(bytes) = file_bytes_from(bin, dir.virtual_address) else {
        return Vec::new();
    };
    let bytes = &bytes[..bytes.len().min(dir.size as usize)];
    // (begin, end, begin of the entry it is chained to)
    let mut entries: Vec<(u64, u64, Option<u64>)> = bytes
        .chunks_exact(12)
        .filter_map(|e| {
            let (begin, end) = (va(bin, le32(e, 0))?, va(bin, le32(e, 4))?);
            let unwind = le32(e, 8);
            let parent = table(bin, unwind, 4).and_then(|head| {
                if (head[0] >> 3) & UNW_FLAG_CHAININFO == 0 {
                    return None;
                }
                let codes = (u32::from(head[2]) + 1) & !1;
                let chained = table(bin, unwind.checked_add(4 + 2 * codes)?, 12)?;
                va(bin, le32(chained, 0))
            });
            Some((begin, end, parent))
        })
        .collect();
    entries.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(entries.len());
    for (begin, end, parent) in entries {
        if let (Some(p), Some(last)) = (parent, out.last_mut())
            && last.1 == begin
            && (last.0..last.1).contains(&p)
        {
            last.1 = end;
            continue;
        }
        out.push((begin, end));
    }
    out
}

/// What the headers say about the image as a whole.
struct Headers {
    arch: Arch,
    pointer_size: u8,
    image_base: u64,
    sections: Vec<SectionTable>,
    dirs: DataDirectories,
}

fn parse_headers(data: &[u8]) -> Result<Headers, ModelError> {
    let pe_offset = DosHeader::parse(data).map_err(goblin_error)?.pe_pointer as usize;
    let pe_bytes = data
        .get(pe_offset..)
        .ok_or_else(|| malformed(format!("PE header offset {pe_offset:#x} is past the file")))?;
    // Parsing from the PE signature skips the Rich header, which is irrelevant here and whose
    // corruption would otherwise reject the whole file.
    let header = Header::parse_without_dos(pe_bytes).map_err(goblin_error)?;
    let optional = header
        .optional_header
        .ok_or_else(|| malformed("no optional header: an object file, not an image"))?;
    let pointer_size = match optional.standard_fields.magic {
        MAGIC_32 => 4,
        MAGIC_64 => 8,
        magic => {
            return Err(malformed(format!(
                "unknown optional header magic {magic:#x}"
            )));
        }
    };
    Ok(Headers {
        arch: arch(header.coff_header.machine),
        pointer_size,
        image_base: optional.windows_fields.image_base,
        sections: section_headers(data, pe_offset, &header)?,
        dirs: optional.data_directories,
    })
}

/// Relocated pointers first, then the IAT slots, so that a slot the file also relocates
/// (delay-load IATs point at their resolver thunks on disk) ends up as the import it is.
fn pointer_map(
    bin: &Binary<'_>,
    relocation_dir: Option<&DataDirectory>,
    iat_slots: &[(u64, u32)],
) -> Result<PointerMap, ModelError> {
    let relocations = match relocation_dir {
        Some(dir) => relocation_table(bin, dir)?,
        None => &[],
    };
    let mut pointers = PointerMap::with_capacity(relocations.len() / 2 + iat_slots.len());
    read_base_relocations(bin, relocations, &mut pointers)?;
    for &(site, index) in iat_slots {
        pointers.insert(site, Pointer::Import(index));
    }
    pointers.finish();
    Ok(pointers)
}

fn malformed(msg: impl Into<String>) -> ModelError {
    ModelError::Malformed(msg.into())
}

fn goblin_error(e: goblin::error::Error) -> ModelError {
    malformed(format!("PE headers: {e}"))
}

fn arch(machine: u16) -> Arch {
    match machine {
        header::COFF_MACHINE_X86 => Arch::X86,
        header::COFF_MACHINE_X86_64 => Arch::X86_64,
        header::COFF_MACHINE_ARM64 => Arch::Aarch64,
        header::COFF_MACHINE_ARMNT => Arch::Arm,
        _ => Arch::Other,
    }
}

/// A data directory the file actually uses (goblin keeps entries with a size but no address).
fn present(dir: Option<&DataDirectory>) -> Option<&DataDirectory> {
    dir.filter(|d| d.virtual_address != 0)
}

fn section_headers(
    data: &[u8],
    pe_offset: usize,
    header: &Header<'_>,
) -> Result<Vec<SectionTable>, ModelError> {
    let optional_size = usize::from(header.coff_header.size_of_optional_header);
    let mut offset = pe_offset
        .checked_add(PE_AND_COFF_HEADER_SIZE + optional_size)
        .ok_or_else(|| malformed("section table offset overflows"))?;
    header
        .coff_header
        .sections(data, &mut offset)
        .map_err(|e| malformed(format!("section table: {e}")))
}

fn segment(s: &SectionTable, image_base: u64, file_len: u64) -> Result<Segment, ModelError> {
    let name = section_name(s);
    let vsize = u64::from(if s.virtual_size != 0 {
        s.virtual_size
    } else {
        s.size_of_raw_data
    });
    let vaddr = image_base
        .checked_add(u64::from(s.virtual_address))
        .filter(|v| v.checked_add(vsize).is_some())
        .ok_or_else(|| {
            malformed(format!(
                "section {name} at RVA {:#x} lies past the end of the address space",
                s.virtual_address
            ))
        })?;
    let offset = u64::from(s.pointer_to_raw_data);
    // A section without raw data is all zero-fill, whatever SizeOfRawData says.
    let filesize = if offset == 0 {
        0
    } else {
        u64::from(s.size_of_raw_data)
            .min(vsize)
            .min(file_len.saturating_sub(offset))
    };
    Ok(Segment {
        name,
        vaddr,
        vsize,
        offset,
        filesize,
        exec: s.characteristics & (IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_CNT_CODE) != 0,
        write: s.characteristics & IMAGE_SCN_MEM_WRITE != 0,
    })
}

/// The section's name, with long (`/123`) names resolved through the COFF string table.
fn section_name(s: &SectionTable) -> String {
    if let Some(real) = &s.real_name {
        return real.clone();
    }
    let len = s.name.iter().position(|&b| b == 0).unwrap_or(s.name.len());
    String::from_utf8_lossy(&s.name[..len]).into_owned()
}

fn va(bin: &Binary<'_>, rva: u32) -> Option<u64> {
    bin.image_base.checked_add(u64::from(rva))
}

/// The bytes the file holds from `rva` to the end of its section's raw data.
fn file_bytes_from<'a>(bin: &Binary<'a>, rva: u32) -> Option<&'a [u8]> {
    let addr = va(bin, rva)?;
    let seg = bin.segment(addr)?;
    let rel = addr - seg.vaddr;
    if rel >= seg.filesize {
        return None;
    }
    let start = usize::try_from(seg.offset.checked_add(rel)?).ok()?;
    let end = usize::try_from(seg.offset.checked_add(seg.filesize)?).ok()?;
    bin.data.get(start..end)
}

/// `len` bytes at `rva`, all of them held by the file (tables never live in zero-fill memory).
fn table<'a>(bin: &Binary<'a>, rva: u32, len: usize) -> Option<&'a [u8]> {
    file_bytes_from(bin, rva)?.get(..len)
}

/// A table of `count` entries of `width` bytes at `rva`, checked against the file before
/// anything is sized by `count`.
fn array<'a>(
    bin: &Binary<'a>,
    rva: u32,
    count: u32,
    width: usize,
    what: &str,
) -> Result<&'a [u8], ModelError> {
    if count == 0 {
        return Ok(&[]);
    }
    usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(width))
        .and_then(|len| table(bin, rva, len))
        .ok_or_else(|| {
            malformed(format!(
                "{what} at RVA {rva:#x} with {count} entries runs past the file"
            ))
        })
}

/// The NUL-terminated name at `rva`.
fn name_at(bin: &Binary<'_>, rva: u32) -> Option<String> {
    let bytes = file_bytes_from(bin, rva)?;
    let bytes = &bytes[..bytes.len().min(MAX_NAME)];
    let len = memchr::memchr(0, bytes)?;
    Some(String::from_utf8_lossy(&bytes[..len]).into_owned())
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Caps how many bytes of names and slots the loader copies out of the import and export
/// tables. In a real file every entry occupies bytes of its own, so the total stays below the
/// file size; tables that overlap or point at each other over and over exhaust the budget
/// instead of memory.
struct Budget(usize);

impl Budget {
    fn for_file(data: &[u8]) -> Self {
        Budget(data.len().saturating_mul(2))
    }

    fn take(&mut self, n: usize) -> Result<(), ModelError> {
        self.0 = self.0.checked_sub(n).ok_or_else(|| {
            malformed("import and export tables list more symbols than the file can hold")
        })?;
        Ok(())
    }
}

/// Imports as the model wants them: one entry per (DLL, symbol), IAT slots pointing at them.
#[derive(Default)]
struct ImportTable {
    list: Vec<Import>,
    index: HashMap<(String, String), u32>,
    needed: Vec<String>,
    /// `needed`, ASCII-lowercased, for case-insensitive lookups without a scan.
    needed_lower: HashSet<String>,
    /// (IAT slot address, index into `list`).
    slots: Vec<(u64, u32)>,
}

impl ImportTable {
    fn library(&mut self, dll: &str) {
        if self.needed_lower.insert(dll.to_ascii_lowercase()) {
            self.needed.push(dll.to_owned());
        }
    }

    fn slot(&mut self, site: u64, dll: &str, name: String) -> Result<(), ModelError> {
        let next = u32::try_from(self.list.len()).map_err(|_| malformed("too many imports"))?;
        let list = &mut self.list;
        let index = *self
            .index
            .entry((dll.to_owned(), name))
            .or_insert_with_key(|(dll, name)| {
                list.push(Import {
                    name: name.clone(),
                    library: Some(dll.clone()),
                });
                next
            });
        self.slots.push((site, index));
        Ok(())
    }
}

/// Walks the import descriptors up to the first one without a name or an IAT, as the Windows
/// loader does.
fn read_imports(
    bin: &Binary<'_>,
    dir: &DataDirectory,
    out: &mut ImportTable,
    budget: &mut Budget,
) -> Result<(), ModelError> {
    let mut rva = dir.virtual_address;
    loop {
        let desc = table(bin, rva, IMPORT_DESCRIPTOR_SIZE as usize).ok_or_else(|| {
            malformed(format!(
                "import descriptor at RVA {rva:#x} is not inside the file"
            ))
        })?;
        let (lookup, name_rva, iat) = (le32(desc, 0), le32(desc, 12), le32(desc, 16));
        if name_rva == 0 || iat == 0 {
            return Ok(());
        }
        let dll = library_name(bin, rva, name_rva, budget)?;
        // Without a lookup table the IAT on disk still holds the names (unbound image).
        let lookup = if lookup != 0 { lookup } else { iat };
        read_thunks(bin, &dll, lookup, iat, out, budget)?;
        rva = rva
            .checked_add(IMPORT_DESCRIPTOR_SIZE)
            .ok_or_else(|| malformed("import descriptors run past the address space"))?;
    }
}

/// Delay-load descriptors (`ImgDelayDescr`): DLL name, IAT and name table, ended by an entry
/// without a DLL name.
fn read_delay_imports(
    bin: &Binary<'_>,
    dir: &DataDirectory,
    out: &mut ImportTable,
    budget: &mut Budget,
) -> Result<(), ModelError> {
    let mut rva = dir.virtual_address;
    loop {
        let desc = table(bin, rva, DELAY_DESCRIPTOR_SIZE as usize).ok_or_else(|| {
            malformed(format!(
                "delay-load descriptor at RVA {rva:#x} is not inside the file"
            ))
        })?;
        let attrs = le32(desc, 0);
        let (name_field, iat_field, names_field) = (le32(desc, 4), le32(desc, 12), le32(desc, 16));
        if name_field == 0 {
            return Ok(());
        }
        let to_rva = |field: u32| -> Result<u32, ModelError> {
            if attrs & DELAY_ATTR_RVA != 0 {
                return Ok(field);
            }
            u64::from(field)
                .checked_sub(bin.image_base)
                .and_then(|r| u32::try_from(r).ok())
                .ok_or_else(|| {
                    malformed(format!(
                        "delay-load descriptor at RVA {rva:#x} holds address {field:#x}, \
                         outside the image"
                    ))
                })
        };
        let dll = library_name(bin, rva, to_rva(name_field)?, budget)?;
        if iat_field != 0 && names_field != 0 {
            read_thunks(
                bin,
                &dll,
                to_rva(names_field)?,
                to_rva(iat_field)?,
                out,
                budget,
            )?;
        }
        rva = rva
            .checked_add(DELAY_DESCRIPTOR_SIZE)
            .ok_or_else(|| malformed("delay-load descriptors run past the address space"))?;
    }
}

fn library_name(
    bin: &Binary<'_>,
    descriptor: u32,
    name_rva: u32,
    budget: &mut Budget,
) -> Result<String, ModelError> {
    let dll = name_at(bin, name_rva).ok_or_else(|| {
        malformed(format!(
            "import descriptor at RVA {descriptor:#x} names its DLL at RVA {name_rva:#x}, \
             where the file holds no name"
        ))
    })?;
    budget.take(dll.len())?;
    Ok(dll)
}

/// Walks one DLL's lookup table (what is imported) in step with its IAT (where the address
/// lands), up to the zero entry that ends the lookup table.
fn read_thunks(
    bin: &Binary<'_>,
    dll: &str,
    lookup: u32,
    iat: u32,
    out: &mut ImportTable,
    budget: &mut Budget,
) -> Result<(), ModelError> {
    out.library(dll);
    let width = u32::from(bin.pointer_size);
    let ordinal_flag = 1u64 << (width * 8 - 1);
    let mut step = 0u32;
    loop {
        let (Some(entry_rva), Some(slot_rva)) = (lookup.checked_add(step), iat.checked_add(step))
        else {
            return Err(malformed(format!(
                "import tables of {dll} run past the address space"
            )));
        };
        let entry = va(bin, entry_rva)
            .and_then(|a| bin.uptr_at(a))
            .ok_or_else(|| {
                malformed(format!(
                    "import lookup table of {dll} at RVA {lookup:#x} runs out of its section \
                     at RVA {entry_rva:#x}"
                ))
            })?;
        if entry == 0 {
            return Ok(());
        }
        let name = if entry & ordinal_flag != 0 {
            format!("ordinal_{}", entry & 0xffff)
        } else {
            // Hint/name entry: a u16 hint, then the name.
            let hint_rva = (entry & 0x7fff_ffff) as u32;
            hint_rva
                .checked_add(2)
                .and_then(|r| name_at(bin, r))
                .ok_or_else(|| {
                    malformed(format!(
                        "import of {dll} at RVA {entry_rva:#x} points to RVA {hint_rva:#x}, \
                         where the file holds no name"
                    ))
                })?
        };
        budget.take(width as usize + name.len())?;
        let site = va(bin, slot_rva)
            .filter(|&a| bin.segment(a).is_some())
            .ok_or_else(|| {
                malformed(format!(
                    "IAT slot of {dll} at RVA {slot_rva:#x} is outside every section"
                ))
            })?;
        out.slot(site, dll, name)?;
        step = step
            .checked_add(width)
            .ok_or_else(|| malformed(format!("import tables of {dll} never end")))?;
    }
}

/// Named exports → address. Forwarders (`OTHER.Symbol` strings inside the export directory)
/// and unused slots are skipped.
fn read_exports(
    bin: &Binary<'_>,
    dir: &DataDirectory,
    budget: &mut Budget,
) -> Result<HashMap<String, u64>, ModelError> {
    let at = dir.virtual_address;
    let d = table(bin, at, EXPORT_DIRECTORY_SIZE).ok_or_else(|| {
        malformed(format!(
            "export directory at RVA {at:#x} is not inside the file"
        ))
    })?;
    let function_count = le32(d, 20);
    let functions = array(bin, le32(d, 28), function_count, 4, "export address table")?;
    let name_count = le32(d, 24);
    let names = array(bin, le32(d, 32), name_count, 4, "export name table")?;
    let ordinals = array(bin, le32(d, 36), name_count, 2, "export ordinal table")?;
    let forwarders = at..at.saturating_add(dir.size);

    let mut exports = HashMap::new();
    for i in 0..name_count as usize {
        let name_rva = le32(names, i * 4);
        let name = name_at(bin, name_rva).ok_or_else(|| {
            malformed(format!(
                "export name {i} points to RVA {name_rva:#x}, where the file holds no name"
            ))
        })?;
        // Counted before the skips below: every name read costs its bytes, or a table of
        // names with no address could make the loader read one long name over and over.
        budget.take(name.len() + 4)?;
        let index = usize::from(le16(ordinals, i * 2));
        let target = functions
            .get(index * 4..index * 4 + 4)
            .map(|b| le32(b, 0))
            .ok_or_else(|| {
                malformed(format!(
                    "export {name} has ordinal index {index}, past the {function_count} functions"
                ))
            })?;
        if target == 0 || forwarders.contains(&target) {
            continue;
        }
        let addr =
            va(bin, target).ok_or_else(|| malformed("export address overflows the image base"))?;
        exports.insert(name, addr);
    }
    Ok(exports)
}

fn relocation_table<'a>(bin: &Binary<'a>, dir: &DataDirectory) -> Result<&'a [u8], ModelError> {
    let (rva, size) = (dir.virtual_address, dir.size);
    if size == 0 {
        return Ok(&[]);
    }
    usize::try_from(size)
        .ok()
        .and_then(|len| table(bin, rva, len))
        .ok_or_else(|| {
            malformed(format!(
                "base relocation directory at RVA {rva:#x} (size {size:#x}) is not inside the file"
            ))
        })
}

/// Base relocation blocks: a page RVA and a block size, then 16-bit entries (4-bit kind,
/// 12-bit offset in the page). DIR64 and HIGHLOW sites hold absolute addresses.
fn read_base_relocations(
    bin: &Binary<'_>,
    relocs: &[u8],
    pointers: &mut PointerMap,
) -> Result<(), ModelError> {
    let mut pos = 0usize;
    while pos < relocs.len() {
        let block = &relocs[pos..];
        if block.len() < 8 {
            if block.iter().all(|&b| b == 0) {
                return Ok(()); // padding after the last block
            }
            return Err(malformed(format!(
                "base relocation block at offset {pos:#x} of the directory is truncated"
            )));
        }
        let (page, size) = (le32(block, 0), le32(block, 4));
        // The Windows loader stops at an empty block.
        if size == 0 {
            return Ok(());
        }
        let len = size as usize;
        if len < 8 || !len.is_multiple_of(2) {
            return Err(malformed(format!(
                "base relocation block for page {page:#x} has size {size}"
            )));
        }
        let entries = block.get(8..len).ok_or_else(|| {
            malformed(format!(
                "base relocation block for page {page:#x} has size {size}, more than the {} \
                 bytes left in the directory",
                block.len()
            ))
        })?;
        read_relocation_block(bin, page, entries, pointers)?;
        pos += len;
    }
    Ok(())
}

fn read_relocation_block(
    bin: &Binary<'_>,
    page: u32,
    entries: &[u8],
    pointers: &mut PointerMap,
) -> Result<(), ModelError> {
    let mut entries = entries
        .chunks_exact(2)
        .map(|e| u16::from_le_bytes([e[0], e[1]]));
    while let Some(entry) = entries.next() {
        let (kind, offset) = (entry >> 12, u32::from(entry & 0xfff));
        let width = match kind {
            IMAGE_REL_BASED_DIR64 => 8,
            IMAGE_REL_BASED_HIGHLOW => 4,
            IMAGE_REL_BASED_ABSOLUTE => continue,
            IMAGE_REL_BASED_HIGHADJ => {
                entries.next(); // its parameter: the low half of the adjusted value
                continue;
            }
            // The other kinds patch halves of words or instruction immediates: no pointer
            // to read from the file there.
            _ => continue,
        };
        let rva = page.checked_add(offset).ok_or_else(|| {
            malformed(format!(
                "base relocation at page {page:#x} + {offset:#x} overflows"
            ))
        })?;
        let read = |site| match width {
            8 => bin.u64_at(site),
            _ => bin.u32_at(site).map(u64::from),
        };
        let (site, value) = va(bin, rva)
            .and_then(|site| Some((site, read(site)?)))
            .ok_or_else(|| {
                malformed(format!(
                    "base relocation at RVA {rva:#x} is outside every section"
                ))
            })?;
        pointers.insert(site, Pointer::Addr(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::Word;

    const BASE64: u64 = 0x1_8000_0000;
    const BASE32: u64 = 0x1000_0000;
    const ORDINAL64: u64 = 1 << 63;
    const ORDINAL32: u64 = 1 << 31;

    /// A PE32+ model over `data` mapped at RVA 0x1000 (image base 0), for table readers.
    fn flat(data: &[u8]) -> Binary<'_> {
        let len = data.len() as u64;
        Binary {
            format: Format::Pe,
            arch: Arch::X86_64,
            pointer_size: 8,
            little_endian: true,
            image_base: 0,
            segments: vec![Segment {
                name: ".rdata".into(),
                vaddr: 0x1000,
                vsize: len,
                offset: 0,
                filesize: len,
                exec: false,
                write: false,
            }],
            pointers: PointerMap::default(),
            imports: Vec::new(),
            exports: HashMap::new(),
            stubs: Vec::new(),
            functions: Vec::new(),
            needed: Vec::new(),
            data,
        }
    }

    /// `.pdata` entries: a function, the part of it after a register save (unwind info
    /// chained to the function, placed right after it: merged), a separate cold part
    /// chained to it (kept apart), and an unrelated function.
    #[test]
    fn runtime_functions_merge_adjacent_chained_parts() {
        let mut data = vec![0u8; 0x100];
        let entry = |d: &mut Vec<u8>, at: usize, begin: u32, end: u32, unwind: u32| {
            d[at..at + 4].copy_from_slice(&begin.to_le_bytes());
            d[at + 4..at + 8].copy_from_slice(&end.to_le_bytes());
            d[at + 8..at + 12].copy_from_slice(&unwind.to_le_bytes());
        };
        entry(&mut data, 0x00, 0x5000, 0x5040, 0x1080);
        entry(&mut data, 0x0c, 0x5040, 0x5060, 0x1090);
        entry(&mut data, 0x18, 0x7000, 0x7010, 0x1090);
        entry(&mut data, 0x24, 0x5060, 0x5070, 0x1080);
        // 0x1080: plain unwind info (version 1, no flags, no codes).
        data[0x80] = 1;
        // 0x1090: version 1 with UNW_FLAG_CHAININFO, one unwind code (padded to two), then
        // the RUNTIME_FUNCTION it continues.
        data[0x90] = 1 | (4 << 3);
        data[0x92] = 1;
        entry(&mut data, 0x98, 0x5000, 0x5040, 0x1080);
        let bin = flat(&data);
        let dir = DataDirectory {
            virtual_address: 0x1000,
            size: 4 * 12,
        };
        assert_eq!(
            runtime_functions(&bin, &dir),
            [(0x5000, 0x5060), (0x5060, 0x5070), (0x7000, 0x7010)]
        );
    }

    /// Resource check regression: an export directory whose 20,000 names all point at one
    /// 60 KB name and whose one function address is 0. Skipped exports were not charged to
    /// the budget, so the loader read (and copied) the long name 20,000 times, 1.2 GB of
    /// work from a 180 KB table; a 6 MB file would cost 64 GB. Every name read now counts.
    #[test]
    fn export_names_without_addresses_still_cost_budget() {
        const N: u32 = 20_000;
        let (dir, functions, names, ordinals, name) =
            (0x1000, 0x1040, 0x1100, 0x1100 + 4 * N, 0x1100 + 6 * N);
        let mut data = vec![0u8; (name - 0x1000) as usize];
        let mut put32 = |rva: u32, v: u32| {
            let at = (rva - 0x1000) as usize;
            data[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        put32(dir + 20, 1); // one function, address 0
        put32(dir + 24, N);
        put32(dir + 28, functions);
        put32(dir + 32, names);
        put32(dir + 36, ordinals);
        for i in 0..N {
            put32(names + 4 * i, name);
        }
        data.extend(std::iter::repeat_n(b'A', 60_000));
        data.push(0);
        let bin = flat(&data);
        let mut budget = Budget::for_file(&data);
        let dir = DataDirectory {
            virtual_address: dir,
            size: 40,
        };
        let err = read_exports(&bin, &dir, &mut budget).unwrap_err();
        assert!(
            err.to_string().contains("more symbols than the file"),
            "{err}"
        );
    }

    /// Resource check regression: 50,000 import descriptors naming 50,000 different DLLs
    /// (each with an empty lookup table). Every new DLL name was compared with all the
    /// ones before it, 1.25 * 10^9 comparisons for a 1.3 MB table. The set of names is
    /// now hashed; the first spelling of a name is kept, case-insensitively, as before.
    #[test]
    fn many_distinct_dlls_are_not_quadratic() {
        const N: u32 = 50_000;
        let (descriptors, zero, names) = (0x1000, 0x1000 + 20 * (N + 2), 0x1000 + 20 * (N + 2) + 8);
        let mut data = vec![0u8; (names - 0x1000 + 8 * (N + 1)) as usize];
        let mut put = |rva: u32, b: &[u8]| {
            let at = (rva - 0x1000) as usize;
            data[at..at + b.len()].copy_from_slice(b);
        };
        for i in 0..N {
            let d = descriptors + 20 * i;
            put(d, &zero.to_le_bytes()); // lookup table: one zero entry
            put(d + 12, &(names + 8 * i).to_le_bytes());
            put(d + 16, &zero.to_le_bytes());
            put(names + 8 * i, format!("{i:06x}\0").as_bytes());
        }
        // A repeat in another case adds nothing.
        put(descriptors + 20 * N, &zero.to_le_bytes());
        put(descriptors + 20 * N + 12, &(names + 8 * N).to_le_bytes());
        put(descriptors + 20 * N + 16, &zero.to_le_bytes());
        put(names + 8 * N, b"00000A\0");
        let bin = flat(&data);
        let mut budget = Budget::for_file(&data);
        let mut table = ImportTable::default();
        let dir = DataDirectory {
            virtual_address: descriptors,
            size: 20,
        };
        read_imports(&bin, &dir, &mut table, &mut budget).unwrap();
        assert_eq!(table.needed.len(), N as usize);
        assert_eq!(table.needed[10], "00000a");
    }

    /// Raw size of every synthetic section; section `i` sits at RVA `0x1000 * (i + 1)` and file
    /// offset `SECTION_RAW * (i + 1)`, so [`off`] turns an RVA into its file offset.
    const SECTION_RAW: usize = 0x400;

    fn off(rva: u32) -> usize {
        (rva as usize / 0x1000) * SECTION_RAW + (rva as usize % 0x1000)
    }

    struct Section {
        name: &'static str,
        vsize: u32,
        flags: u32,
        bytes: Vec<u8>,
    }

    /// One section's contents, filled by RVA.
    struct Contents {
        rva: u32,
        bytes: Vec<u8>,
    }

    impl Contents {
        fn new(rva: u32) -> Self {
            Contents {
                rva,
                bytes: vec![0; SECTION_RAW],
            }
        }

        fn put(&mut self, rva: u32, b: &[u8]) -> &mut Self {
            let at = (rva - self.rva) as usize;
            self.bytes[at..at + b.len()].copy_from_slice(b);
            self
        }

        fn str(&mut self, rva: u32, s: &str) -> &mut Self {
            self.put(rva, s.as_bytes()).put(rva + s.len() as u32, &[0])
        }

        fn u16(&mut self, rva: u32, v: u16) -> &mut Self {
            self.put(rva, &v.to_le_bytes())
        }

        fn u32(&mut self, rva: u32, v: u32) -> &mut Self {
            self.put(rva, &v.to_le_bytes())
        }

        fn ptr(&mut self, ps: u8, rva: u32, v: u64) -> &mut Self {
            if ps == 8 {
                self.put(rva, &v.to_le_bytes())
            } else {
                self.u32(rva, v as u32)
            }
        }

        fn section(&self, name: &'static str, vsize: u32, flags: u32) -> Section {
            Section {
                name,
                vsize,
                flags,
                bytes: self.bytes.clone(),
            }
        }
    }

    fn put(buf: &mut [u8], at: usize, b: &[u8]) {
        buf[at..at + b.len()].copy_from_slice(b);
    }

    /// Offset of the optional header.
    const OPT: usize = 0x58;

    fn optional_header_size(ps: u8) -> usize {
        if ps == 8 { 240 } else { 224 }
    }

    fn data_dir_offset(ps: u8, index: usize) -> usize {
        OPT + if ps == 8 { 112 } else { 96 } + 8 * index
    }

    fn section_header_offset(ps: u8, index: usize) -> usize {
        OPT + optional_header_size(ps) + 40 * index
    }

    /// A minimal PE image (PE32+ when `ps` is 8, PE32 when 4) with the given sections and
    /// data directories `(index, rva, size)`.
    fn build(ps: u8, machine: u16, sections: &[Section], dirs: &[(usize, u32, u32)]) -> Vec<u8> {
        let mut f = vec![0u8; SECTION_RAW * (sections.len() + 1)];
        put(&mut f, 0, b"MZ");
        put(&mut f, 0x3c, &0x40u32.to_le_bytes());
        put(&mut f, 0x40, b"PE\0\0");
        put(&mut f, 0x44, &machine.to_le_bytes());
        put(&mut f, 0x46, &(sections.len() as u16).to_le_bytes());
        put(
            &mut f,
            0x54,
            &(optional_header_size(ps) as u16).to_le_bytes(),
        );
        put(&mut f, 0x56, &0x2022u16.to_le_bytes());
        let size_of_image = 0x1000 * (sections.len() as u32 + 1);
        if ps == 8 {
            put(&mut f, OPT, &0x20bu16.to_le_bytes());
            put(&mut f, OPT + 24, &BASE64.to_le_bytes());
            put(&mut f, OPT + 108, &16u32.to_le_bytes());
        } else {
            put(&mut f, OPT, &0x10bu16.to_le_bytes());
            put(&mut f, OPT + 28, &(BASE32 as u32).to_le_bytes());
            put(&mut f, OPT + 92, &16u32.to_le_bytes());
        }
        put(&mut f, OPT + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
        put(&mut f, OPT + 36, &0x200u32.to_le_bytes()); // FileAlignment
        put(&mut f, OPT + 56, &size_of_image.to_le_bytes());
        put(&mut f, OPT + 60, &(SECTION_RAW as u32).to_le_bytes()); // SizeOfHeaders
        for &(index, rva, size) in dirs {
            let at = data_dir_offset(ps, index);
            put(&mut f, at, &rva.to_le_bytes());
            put(&mut f, at + 4, &size.to_le_bytes());
        }
        for (i, s) in sections.iter().enumerate() {
            let h = section_header_offset(ps, i);
            let mut name = [0u8; 8];
            name[..s.name.len()].copy_from_slice(s.name.as_bytes());
            put(&mut f, h, &name);
            put(&mut f, h + 8, &s.vsize.to_le_bytes());
            put(&mut f, h + 12, &(0x1000 * (i as u32 + 1)).to_le_bytes());
            put(&mut f, h + 16, &(SECTION_RAW as u32).to_le_bytes());
            put(
                &mut f,
                h + 20,
                &(SECTION_RAW as u32 * (i as u32 + 1)).to_le_bytes(),
            );
            put(&mut f, h + 36, &s.flags.to_le_bytes());
            put(&mut f, SECTION_RAW * (i + 1), &s.bytes);
        }
        f
    }

    const TEXT: u32 = 0x6000_0020;
    const RDATA: u32 = 0x4000_0040;
    const DATA: u32 = 0xC000_0040;
    const RELOC: u32 = 0x4200_0040;

    // Layout of the demo module.
    const MODULE_NAME: u32 = 0x2000;
    const EXPORT_DIR: u32 = 0x2080;
    const EXPORT_FUNCTIONS: u32 = 0x20b0;
    const EXPORT_NAMES: u32 = 0x20c0;
    const EXPORT_ORDINALS: u32 = 0x20d0;
    const IMPORT_DIR: u32 = 0x2100;
    const ILT: u32 = 0x2140;
    const IAT: u32 = 0x2180;
    const DELAY_DIR: u32 = 0x2200;
    const DELAY_INT: u32 = 0x2260;
    const DELAY_IAT: u32 = 0x3040;
    const RELOC_DIR: u32 = 0x4000;

    /// A module `demo` exporting `PyInit_demo` and a forwarder, importing two functions and
    /// one ordinal from python314t.dll and one delay-loaded function from late.dll, with two
    /// relocated pointers in `.data` (to the module name and to the init function).
    fn demo(ps: u8) -> Vec<u8> {
        let (machine, base, ordinal, kind) = if ps == 8 {
            (
                header::COFF_MACHINE_X86_64,
                BASE64,
                ORDINAL64,
                IMAGE_REL_BASED_DIR64,
            )
        } else {
            (
                header::COFF_MACHINE_X86,
                BASE32,
                ORDINAL32,
                IMAGE_REL_BASED_HIGHLOW,
            )
        };
        let p = u32::from(ps);

        let mut text = Contents::new(0x1000);
        text.put(0x1000, &[0xc3]).put(0x1010, &[0xc3]);

        let mut rdata = Contents::new(0x2000);
        rdata
            .str(MODULE_NAME, "demo")
            .str(0x2010, "demo.pyd")
            .str(0x2020, "PyInit_demo")
            .str(0x2030, "python314t.dll")
            .str(0x2042, "PyModuleDef_Init")
            .str(0x205a, "PyModule_Create2");
        // Export directory: name, base 1, 2 functions, 2 names, then the three tables.
        rdata
            .u32(EXPORT_DIR + 12, 0x2010)
            .u32(EXPORT_DIR + 16, 1)
            .u32(EXPORT_DIR + 20, 2)
            .u32(EXPORT_DIR + 24, 2)
            .u32(EXPORT_DIR + 28, EXPORT_FUNCTIONS)
            .u32(EXPORT_DIR + 32, EXPORT_NAMES)
            .u32(EXPORT_DIR + 36, EXPORT_ORDINALS)
            .u32(EXPORT_FUNCTIONS, 0x1000)
            .u32(EXPORT_FUNCTIONS + 4, 0x20e0)
            .u32(EXPORT_NAMES, 0x2020)
            .u32(EXPORT_NAMES + 4, 0x20f0)
            .u16(EXPORT_ORDINALS, 0)
            .u16(EXPORT_ORDINALS + 2, 1)
            .str(0x20e0, "other.Fn")
            .str(0x20f0, "Fwd");
        rdata
            .u32(IMPORT_DIR, ILT)
            .u32(IMPORT_DIR + 12, 0x2030)
            .u32(IMPORT_DIR + 16, IAT);
        for table in [ILT, IAT] {
            rdata.ptr(ps, table, 0x2040).ptr(ps, table + p, 0x2058).ptr(
                ps,
                table + 2 * p,
                ordinal | 123,
            );
        }
        rdata
            .u32(DELAY_DIR, DELAY_ATTR_RVA)
            .u32(DELAY_DIR + 4, 0x2240)
            .u32(DELAY_DIR + 8, 0x3100)
            .u32(DELAY_DIR + 12, DELAY_IAT)
            .u32(DELAY_DIR + 16, DELAY_INT)
            .str(0x2240, "late.dll")
            .ptr(ps, DELAY_INT, 0x2280)
            .str(0x2282, "LateFn");

        let mut data = Contents::new(0x3000);
        data.ptr(ps, 0x3000, base + u64::from(MODULE_NAME))
            .ptr(ps, 0x3000 + p, base + 0x1000)
            .ptr(ps, DELAY_IAT, base + 0x1010);

        let mut reloc = Contents::new(RELOC_DIR);
        reloc.u32(RELOC_DIR, 0x3000).u32(RELOC_DIR + 4, 16);
        for (i, at) in [0, p, DELAY_IAT - 0x3000].into_iter().enumerate() {
            reloc.u16(RELOC_DIR + 8 + 2 * i as u32, (kind << 12) | at as u16);
        }

        build(
            ps,
            machine,
            &[
                text.section(".text", 0x20, TEXT),
                rdata.section(".rdata", 0x300, RDATA),
                data.section(".data", 0x1000, DATA),
                reloc.section(".reloc", 0x10, RELOC),
            ],
            &[
                (0, EXPORT_DIR, 0x80),
                (1, IMPORT_DIR, 40),
                (5, RELOC_DIR, 16),
                (13, DELAY_DIR, 64),
            ],
        )
    }

    fn import(name: &str, dll: &str) -> Import {
        Import {
            name: name.into(),
            library: Some(dll.into()),
        }
    }

    fn check_demo(ps: u8, arch: Arch, base: u64) {
        let file = demo(ps);
        let bin = load(&file).expect("demo loads");
        let p = u64::from(ps);
        assert_eq!(bin.format, Format::Pe);
        assert_eq!(bin.arch, arch);
        assert_eq!(bin.pointer_size, ps);
        assert!(bin.little_endian);
        assert_eq!(bin.image_base, base);

        let names: Vec<_> = bin.segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [".text", ".rdata", ".data", ".reloc"]);
        let text = &bin.segments[0];
        assert!(text.exec && !text.write);
        let data = &bin.segments[2];
        assert_eq!(
            (data.vaddr, data.vsize, data.filesize),
            (base + 0x3000, 0x1000, 0x400)
        );
        assert!(data.write && !data.exec);
        assert_eq!(bin.segments[3].filesize, 0x10);
        assert!(bin.is_zero_fill(base + 0x3800));

        assert_eq!(bin.exports.len(), 1, "the forwarder is skipped");
        assert_eq!(bin.exports["PyInit_demo"], base + 0x1000);

        assert_eq!(
            bin.imports,
            [
                import("PyModuleDef_Init", "python314t.dll"),
                import("PyModule_Create2", "python314t.dll"),
                import("ordinal_123", "python314t.dll"),
                import("LateFn", "late.dll"),
            ]
        );
        assert_eq!(bin.needed, ["python314t.dll", "late.dll"]);

        let iat = base + u64::from(IAT);
        let expected = [
            (iat, Pointer::Import(0)),
            (iat + p, Pointer::Import(1)),
            (iat + 2 * p, Pointer::Import(2)),
            (base + 0x3000, Pointer::Addr(base + u64::from(MODULE_NAME))),
            (base + 0x3000 + p, Pointer::Addr(base + 0x1000)),
            (base + u64::from(DELAY_IAT), Pointer::Import(3)),
        ];
        assert_eq!(bin.pointers.iter().collect::<Vec<_>>(), expected);
        let site = bin
            .pointers
            .sites_pointing_to(base + u64::from(MODULE_NAME))
            .next();
        assert_eq!(site, Some(base + 0x3000));
        assert_eq!(
            bin.c_str(bin.addr_at(base + 0x3000).unwrap()),
            Some(&b"demo"[..])
        );
        assert!(bin.stubs.is_empty());
        assert_eq!(bin.data.len(), file.len());
    }

    #[test]
    fn synthetic_pe32_plus() {
        check_demo(8, Arch::X86_64, BASE64);
    }

    #[test]
    fn synthetic_pe32() {
        check_demo(4, Arch::X86, BASE32);
    }

    #[test]
    fn machine_names_architecture() {
        assert_eq!(arch(0xaa64), Arch::Aarch64);
        assert_eq!(arch(0x1c4), Arch::Arm);
        assert_eq!(arch(0x200), Arch::Other);
    }

    #[test]
    fn truncated_files_never_panic() {
        for ps in [8, 4] {
            let file = demo(ps);
            for cut in 0..file.len() {
                let r = load(&file[..cut]);
                if cut < 0x200 {
                    assert!(r.is_err(), "cut at {cut:#x} of a PE{ps} file loaded");
                }
            }
        }
    }

    #[test]
    fn every_corrupted_byte_never_panics() {
        for ps in [8, 4] {
            let file = demo(ps);
            for at in 0..file.len() {
                for value in [0x00, 0x7f, 0xff] {
                    let mut bad = file.clone();
                    bad[at] = value;
                    let _ = load(&bad);
                }
            }
        }
    }

    fn set16(f: &mut [u8], at: usize, v: u16) {
        put(f, at, &v.to_le_bytes());
    }

    fn set32(f: &mut [u8], at: usize, v: u32) {
        put(f, at, &v.to_le_bytes());
    }

    fn set64(f: &mut [u8], at: usize, v: u64) {
        put(f, at, &v.to_le_bytes());
    }

    /// `Ok` or an error whose message contains the text.
    type Expect = Result<(), &'static str>;
    /// What the file is, how to break it, what loading it must give.
    type Case = (&'static str, fn(&mut Vec<u8>), Expect);

    #[test]
    fn malformed_variants() {
        fn sec(i: usize) -> usize {
            section_header_offset(8, i)
        }
        fn dir(i: usize) -> usize {
            data_dir_offset(8, i)
        }
        let cases: &[Case] = &[
            (
                "huge NumberOfSections",
                |f| set16(f, 0x46, 0xffff),
                Err("section table"),
            ),
            (
                "no sections",
                |f| set16(f, 0x46, 0),
                Err("not inside the file"),
            ),
            (
                "PE offset past the file",
                |f| set32(f, 0x3c, 0xffff_fff0),
                Err("PE headers"),
            ),
            (
                "unknown optional magic",
                |f| set16(f, OPT, 0x999),
                Err("PE headers"),
            ),
            (
                "too many data directories",
                |f| set32(f, OPT + 108, 0x1000),
                Err("PE headers"),
            ),
            ("no optional header", |f| set16(f, 0x54, 0), Err("")),
            (
                "image base at the top of the address space",
                |f| set64(f, OPT + 24, u64::MAX - 0x1000),
                Err("address space"),
            ),
            (
                "reloc block of size 0 ends the table",
                |f| set32(f, off(RELOC_DIR + 4), 0),
                Ok(()),
            ),
            (
                "reloc block of size 3",
                |f| set32(f, off(RELOC_DIR + 4), 3),
                Err("has size 3"),
            ),
            (
                "reloc block of odd size",
                |f| set32(f, off(RELOC_DIR + 4), 13),
                Err("has size 13"),
            ),
            (
                "reloc block larger than the directory",
                |f| set32(f, off(RELOC_DIR + 4), 0x1000),
                Err("more than the 16 bytes"),
            ),
            (
                "reloc block of u32::MAX bytes",
                |f| set32(f, off(RELOC_DIR + 4), u32::MAX - 1),
                Err("bytes left"),
            ),
            (
                "reloc directory larger than its section",
                |f| set32(f, dir(5) + 4, 0x10000),
                Err("base relocation directory"),
            ),
            (
                "reloc site outside every section",
                |f| set32(f, off(RELOC_DIR), 0x9_0000),
                Err("outside every section"),
            ),
            (
                "reloc page overflows",
                |f| {
                    set32(f, off(RELOC_DIR), u32::MAX);
                    set16(f, off(RELOC_DIR + 8), 0xa010);
                },
                Err("overflows"),
            ),
            (
                "HIGHADJ swallows the next entry",
                |f| set16(f, off(RELOC_DIR + 8), 0x4000),
                Ok(()),
            ),
            (
                "unknown reloc kinds are ignored",
                |f| set16(f, off(RELOC_DIR + 8), 0x9000),
                Ok(()),
            ),
            (
                "import lookup table outside the image",
                |f| set32(f, off(IMPORT_DIR), 0x7fff_0000),
                Err("runs out of its section"),
            ),
            (
                "import name outside the image",
                |f| set64(f, off(ILT), 0x7fff_0000),
                Err("holds no name"),
            ),
            (
                "DLL name outside the image",
                |f| set32(f, off(IMPORT_DIR + 12), 0x5_0000),
                Err("names its DLL"),
            ),
            (
                "IAT wraps around the address space",
                |f| set32(f, off(IMPORT_DIR + 16), 0xffff_fff8),
                Err("outside every section"),
            ),
            (
                "import directory outside the image",
                |f| set32(f, dir(1), 0x8_0000),
                Err("import descriptor"),
            ),
            (
                "export NumberOfNames huge",
                |f| set32(f, off(EXPORT_DIR + 24), u32::MAX),
                Err("export name table"),
            ),
            (
                "export NumberOfFunctions huge",
                |f| set32(f, off(EXPORT_DIR + 20), 0x4000_0000),
                Err("export address table"),
            ),
            (
                "export ordinal past the functions",
                |f| set16(f, off(EXPORT_ORDINALS), 7),
                Err("ordinal index 7"),
            ),
            (
                "export name outside the image",
                |f| set32(f, off(EXPORT_NAMES), 0x6_0000),
                Err("export name 0"),
            ),
            (
                "delay descriptor with addresses below the image base",
                |f| set32(f, off(DELAY_DIR), 0),
                Err("outside the image"),
            ),
            (
                "section without raw data",
                |f| set32(f, sec(2) + 20, 0),
                Ok(()),
            ),
            (
                "raw data past the file",
                |f| set32(f, sec(2) + 20, 0x10_0000),
                Ok(()),
            ),
            (
                "huge SizeOfRawData",
                |f| set32(f, sec(1) + 16, u32::MAX),
                Ok(()),
            ),
            (
                "huge VirtualSize",
                |f| set32(f, sec(3) + 8, u32::MAX),
                Ok(()),
            ),
            (
                "a section swallowing the relocations",
                |f| set32(f, sec(2) + 8, u32::MAX),
                Err("base relocation directory"),
            ),
            (
                "overlapping sections",
                |f| set32(f, sec(2) + 12, 0x2100),
                Ok(()),
            ),
            (
                "long section name without string table",
                |f| put(f, sec(0), b"/4\0"),
                Ok(()),
            ),
        ];
        for (what, edit, expect) in cases {
            let mut file = demo(8);
            edit(&mut file);
            match (load(&file), expect) {
                (Ok(_), Ok(())) => {}
                (Err(ModelError::Malformed(msg)), Err(text)) => {
                    assert!(msg.contains(text), "{what}: error {msg:?} lacks {text:?}")
                }
                (got, want) => panic!("{what}: got {:?}, expected {want:?}", got.map(|_| ())),
            }
        }
    }

    #[test]
    fn reloc_block_of_size_zero_ends_the_table() {
        let mut file = demo(8);
        set32(&mut file, off(RELOC_DIR + 4), 0);
        let bin = load(&file).unwrap();
        assert!(
            bin.pointers
                .iter()
                .all(|(_, p)| matches!(p, Pointer::Import(_)))
        );
    }

    #[test]
    fn repeated_import_tables_exhaust_the_budget() {
        // 1500 descriptors sharing one lookup table of 1000 entries: 1.5 million imports
        // described by a 20 KB file.
        let entries = 1000u32;
        let mut names = Contents::new(0x1000);
        names.str(0x1000, "x.dll").str(0x1012, "f");
        let mut ilt = Contents {
            rva: 0x2000,
            bytes: vec![0; 0x1000],
        };
        for i in 0..entries {
            ilt.u32(0x2000 + 4 * i, 0x1010);
        }
        let mut descriptors = Contents {
            rva: 0x3000,
            bytes: vec![0; 0x8000],
        };
        for i in 0..1500u32 {
            let d = 0x3000 + 20 * i;
            descriptors
                .u32(d, 0x2000)
                .u32(d + 12, 0x1000)
                .u32(d + 16, 0x2000);
        }
        let sections = [
            names.section(".rdata", 0x1000, RDATA),
            ilt.section(".idata", 0x1000, RDATA),
            descriptors.section(".data", 0x8000, DATA),
        ];
        // Sections larger than SECTION_RAW: lay them out by hand.
        let mut file = build(4, header::COFF_MACHINE_X86, &[], &[(1, 0x3000, 20)]);
        set16(&mut file, 0x46, 3);
        for (i, s) in sections.iter().enumerate() {
            let h = section_header_offset(4, i);
            let at = file.len();
            put(&mut file, h, s.name.as_bytes());
            set32(&mut file, h + 8, s.vsize);
            set32(&mut file, h + 12, 0x1000 + 0x1000 * i as u32);
            set32(&mut file, h + 16, s.bytes.len() as u32);
            set32(&mut file, h + 20, at as u32);
            set32(&mut file, h + 36, s.flags);
            file.extend_from_slice(&s.bytes);
        }
        let err = load(&file).unwrap_err();
        assert!(
            matches!(&err, ModelError::Malformed(m) if m.contains("more symbols")),
            "{err}"
        );
    }

    /// The `Py_mod_gil` value of the module whose `m_name` is `name`: the pointer map leads
    /// from the name to the `PyModuleDef` and from its `m_slots` to the slot array.
    fn gil_slot(bin: &Binary<'_>, name: &[u8], m_name: u64, m_slots: u64) -> Option<u64> {
        let strings = bin.pointers.iter().filter_map(|(site, p)| match p {
            Pointer::Addr(target) if bin.c_str(target) == Some(name) => Some(site),
            _ => None,
        });
        let p = u64::from(bin.pointer_size);
        for site in strings {
            let Some(slots) = bin.addr_at(site - m_name + m_slots) else {
                continue;
            };
            for slot in (0..64).map(|i| slots + i * 2 * p) {
                match bin.u32_at(slot)? {
                    0 => break,
                    4 => {
                        return match bin.word_at(slot + p)? {
                            Word::Int(v) => Some(v),
                            Word::Pointer(_) => None,
                        };
                    }
                    _ => {}
                }
            }
        }
        None
    }

    fn check_markupsafe(file: &[u8], arch: Arch, m_name: u64, m_slots: u64) {
        let bin = Binary::parse(file, None).unwrap();
        assert_eq!(bin.format, Format::Pe);
        assert_eq!(bin.arch, arch);
        assert!(bin.exports.contains_key("PyInit__speedups"));
        assert!(bin.needed.iter().any(|n| n == "python314t.dll"));
        let init = bin
            .import("PyModuleDef_Init")
            .expect("PyModuleDef_Init imported");
        assert_eq!(
            bin.imports[init as usize].library.as_deref(),
            Some("python314t.dll")
        );
        assert!(bin.pointers.iter().any(|(_, p)| p == Pointer::Import(init)));
        assert_eq!(
            gil_slot(&bin, b"markupsafe._speedups", m_name, m_slots),
            Some(1)
        );
    }

    #[test]
    fn markupsafe_win_amd64() {
        let file = include_bytes!("../../tests/fixtures/pe/markupsafe-3.0.4-cp314t-win_amd64.pyd");
        check_markupsafe(file, Arch::X86_64, 56, 88);
    }

    #[test]
    fn markupsafe_win32() {
        let file = include_bytes!("../../tests/fixtures/pe/markupsafe-3.0.4-cp314t-win32.pyd");
        check_markupsafe(file, Arch::X86, 32, 48);
        let bin = load(file).unwrap();
        assert_eq!((bin.pointer_size, bin.image_base), (4, 0x1000_0000));
    }

    #[test]
    fn markupsafe_win_arm64() {
        let file = include_bytes!("../../tests/fixtures/pe/markupsafe-3.0.4-cp314t-win_arm64.pyd");
        check_markupsafe(file, Arch::Aarch64, 56, 88);
    }

    /// Loads every `.pyd` and `.dll` of the downloaded Windows wheels and counts the modules
    /// whose name a relocated pointer leads to:
    /// `cargo test --lib inspect::pe -- --ignored --nocapture`.
    #[test]
    #[ignore = "needs the wheels under /tmp/gilfree-wheels/win-amd64"]
    fn downloaded_wheels() {
        use std::io::Read;
        let dir = std::path::Path::new("/tmp/gilfree-wheels/win-amd64");
        let (mut loaded, mut named) = (0, 0);
        let mut failures = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "whl") {
                continue;
            }
            let Ok(Ok(mut zip)) = std::fs::File::open(&path).map(zip::ZipArchive::new) else {
                continue;
            };
            for i in 0..zip.len() {
                let mut member = zip.by_index(i).unwrap();
                let name = member.name().to_owned();
                if !name.ends_with(".pyd") && !name.ends_with(".dll") {
                    continue;
                }
                let mut data = Vec::new();
                member.read_to_end(&mut data).unwrap();
                let bin = match load(&data) {
                    Ok(bin) => bin,
                    Err(e) => {
                        failures.push(format!("{}: {name}: {e}", path.display()));
                        continue;
                    }
                };
                loaded += 1;
                let file = name.rsplit('/').next().unwrap_or(&name);
                let short = file.split('.').next().unwrap_or(file).as_bytes();
                let targets_name = bin.pointers.iter().any(|(_, p)| match p {
                    Pointer::Addr(t) => bin.c_str(t).is_some_and(|s| s.ends_with(short)),
                    Pointer::Import(_) => false,
                });
                if name.ends_with(".pyd") && targets_name {
                    named += 1;
                }
            }
        }
        println!("{loaded} files loaded, {named} modules with a pointer to their name");
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
