//! Mach-O loader: turns a macOS extension module (a thin image, or one slice of a fat /
//! universal2 file) into the format-neutral [`Binary`] model.
//!
//! goblin parses the header and the load commands. The linkedit formats it does not decode
//! are read here: rebase and bind opcodes, chained fixups, the indirect symbol table, the
//! section `reserved` fields, and the export trie (goblin's walker has no cycle guard). Every
//! count and offset taken from the file is checked against the file before it is used.

mod bind;
mod bytes;
mod chained_ptr;
mod exports;
mod fat;
mod fixups;
mod image;
mod rebase;
mod segments;
mod slots;
mod symtab;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use goblin::mach::MachO;
use goblin::mach::constants::cputype::{
    CPU_TYPE_ARM, CPU_TYPE_ARM64, CPU_TYPE_ARM64_32, CPU_TYPE_POWERPC64, CPU_TYPE_X86,
    CPU_TYPE_X86_64,
};
use goblin::mach::load_command::{
    CommandVariant, DyldInfoCommand, DylibCommand, DysymtabCommand, LinkeditDataCommand,
    LoadCommand, SymtabCommand,
};

use self::bind::Stream;
use self::bytes::{c_str_at, malformed, range};
use self::image::{Image, SegmentCommand};
use self::symtab::{IndirectTable, SymbolTable};
use super::model::{Arch, Binary, Format, Import, ModelError, Pointer, PointerMap};

/// `mach_header.flags`: undefined symbols carry the ordinal of the library that defines them.
const MH_TWOLEVEL: u32 = 0x80;

/// Parse `data` (thin or fat) into the model; `prefer` picks the slice of a fat file.
pub fn load(data: &[u8], prefer: Option<Arch>) -> Result<Binary<'_>, ModelError> {
    let data = if fat::is_fat(data) {
        fat::select(data, prefer)?
    } else {
        data
    };
    let macho = MachO::parse_lossy(data, 0)
        .map_err(|e| malformed(format!("Mach-O header or load commands: {e}")))?;
    let cmds = Commands::read(&macho, data)?;
    let (segment_cmds, sections) = segments::read(&macho, data)?;
    let img = Image {
        data,
        little_endian: macho.little_endian,
        pointer_size: if macho.is_64 { 8 } else { 4 },
        base: base_address(&segment_cmds),
        segments: segment_cmds,
    };
    let symtab = cmds.symbol_table(
        macho.symbols.is_some(),
        data,
        macho.is_64,
        macho.little_endian,
    );
    let indirect = cmds.indirect_table(data, macho.little_endian)?;
    let two_level = macho.header.flags & MH_TWOLEVEL != 0;
    let mut imports = ImportTable::new(cmds.dylibs.clone(), two_level);

    let fixups = fixups(&img, &cmds, &mut imports)?;
    let slots = slots::slots(
        &sections,
        img.pointer_size,
        data.len(),
        &symtab,
        &indirect,
        &mut imports,
    )?;
    let exports = exports(&img, &cmds, &symtab)?;
    for sym in symtab.iter().filter(|s| s.is_import()) {
        imports.intern(sym.name.as_bytes(), sym.library_ordinal(two_level));
    }
    if symtab.exhausted() {
        return Err(malformed(
            "symbol names add up to more than twice the file (one string named over and over)",
        ));
    }

    let mut bin = Binary {
        format: Format::MachO,
        arch: arch_of(macho.header.cputype),
        pointer_size: img.pointer_size,
        little_endian: img.little_endian,
        image_base: 0,
        segments: sections
            .iter()
            .filter_map(|s| {
                Some(segments::model_segment(
                    s,
                    img.segments.get(s.segment)?,
                    data.len(),
                ))
            })
            .collect(),
        pointers: pointer_map(&fixups, &slots.pointers),
        imports: imports.list,
        exports,
        stubs: slots.stubs,
        functions: Vec::new(),
        needed: cmds.needed,
        data,
    };
    bin.normalize_segments();
    Ok(bin)
}

/// Every pointer site. Later inserts win: a bind says more than the indirect symbol table,
/// which says more than a rebase of the same slot (lazy pointers are rebased to their stub
/// helper, then bound).
fn pointer_map(fixups: &Fixups, slots: &[(u64, Pointer)]) -> PointerMap {
    let rebases = fixups
        .rebases
        .iter()
        .map(|&(site, target)| (site, Pointer::Addr(target)));
    let binds = fixups
        .binds
        .iter()
        .map(|&(site, import)| (site, Pointer::Import(import)));
    let all = rebases.chain(slots.iter().copied()).chain(binds);
    let mut map =
        PointerMap::with_capacity(fixups.rebases.len() + slots.len() + fixups.binds.len());
    for (site, p) in all {
        map.insert(site, p);
    }
    map.finish();
    map
}

/// The model's architecture for a Mach-O `cputype`.
pub(super) fn arch_of(cputype: u32) -> Arch {
    match cputype {
        CPU_TYPE_X86_64 => Arch::X86_64,
        CPU_TYPE_X86 => Arch::X86,
        CPU_TYPE_ARM64 | CPU_TYPE_ARM64_32 => Arch::Aarch64,
        CPU_TYPE_ARM => Arch::Arm,
        CPU_TYPE_POWERPC64 => Arch::Ppc64,
        _ => Arch::Other,
    }
}

/// Address the first file byte is mapped at: the `__TEXT` segment's.
fn base_address(segments: &[SegmentCommand]) -> u64 {
    segments
        .iter()
        .find(|s| s.name == "__TEXT")
        .map_or(0, |s| s.vmaddr)
}

/// The load commands the loader uses, beyond segments.
#[derive(Default)]
struct Commands {
    dyld_info: Option<DyldInfoCommand>,
    chained_fixups: Option<LinkeditDataCommand>,
    exports_trie: Option<LinkeditDataCommand>,
    symtab: Option<SymtabCommand>,
    dysymtab: Option<DysymtabCommand>,
    /// Install names of all dylib commands, in library-ordinal order.
    dylibs: Vec<String>,
    /// Install names of the `LC_LOAD_DYLIB`, `LC_LOAD_WEAK_DYLIB`, `LC_REEXPORT_DYLIB`.
    needed: Vec<String>,
}

impl Commands {
    fn read(macho: &MachO<'_>, data: &[u8]) -> Result<Commands, ModelError> {
        let mut c = Commands::default();
        for lc in &macho.load_commands {
            match &lc.command {
                CommandVariant::DyldInfo(d) | CommandVariant::DyldInfoOnly(d) => {
                    c.dyld_info = Some(*d);
                }
                CommandVariant::DyldChainedFixups(d) => c.chained_fixups = Some(*d),
                CommandVariant::DyldExportsTrie(d) => c.exports_trie = Some(*d),
                CommandVariant::Symtab(d) => c.symtab = Some(*d),
                CommandVariant::Dysymtab(d) => c.dysymtab = Some(*d),
                CommandVariant::LoadDylib(d)
                | CommandVariant::LoadWeakDylib(d)
                | CommandVariant::ReexportDylib(d) => {
                    let name = dylib_name(data, lc, d)?;
                    c.needed.push(name.clone());
                    c.dylibs.push(name);
                }
                CommandVariant::LoadUpwardDylib(d) | CommandVariant::LazyLoadDylib(d) => {
                    c.dylibs.push(dylib_name(data, lc, d)?);
                }
                _ => {}
            }
        }
        Ok(c)
    }

    fn symbol_table<'a>(
        &self,
        parsed: bool,
        data: &'a [u8],
        is_64: bool,
        le: bool,
    ) -> SymbolTable<'a> {
        SymbolTable::new(parsed, data, self.symtab.as_ref(), is_64, le)
    }

    fn indirect_table<'a>(
        &self,
        data: &'a [u8],
        le: bool,
    ) -> Result<IndirectTable<'a>, ModelError> {
        match self.dysymtab {
            Some(d) => IndirectTable::new(data, d.indirectsymoff, d.nindirectsyms, le),
            None => Ok(IndirectTable::empty()),
        }
    }
}

/// The install name a dylib command carries inside its own bytes.
fn dylib_name(data: &[u8], lc: &LoadCommand, d: &DylibCommand) -> Result<String, ModelError> {
    let cmd = range(data, lc.offset as u64, d.cmdsize.into());
    let name = cmd.and_then(|cmd| c_str_at(cmd, d.dylib.name as usize));
    let name = name.ok_or_else(|| {
        malformed(format!(
            "dylib load command at {:#x} has no name inside it",
            lc.offset
        ))
    })?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// `len` bytes at `off` of the linkedit data a load command points at.
fn linkedit<'a>(data: &'a [u8], off: u32, len: u32, what: &str) -> Result<&'a [u8], ModelError> {
    range(data, off.into(), len.into()).ok_or_else(|| {
        malformed(format!(
            "{what} ({len:#x} bytes at {off:#x}) run past the end of the file ({:#x} bytes)",
            data.len()
        ))
    })
}

/// Imports deduplicated by name, in first-seen order.
pub(super) struct ImportTable {
    list: Vec<Import>,
    by_name: HashMap<String, u32>,
    /// Install names by library ordinal (1-based).
    dylibs: Vec<String>,
    /// Whether undefined symbols in the symbol table carry library ordinals.
    two_level: bool,
}

impl ImportTable {
    fn new(dylibs: Vec<String>, two_level: bool) -> Self {
        ImportTable {
            list: Vec::new(),
            by_name: HashMap::new(),
            dylibs,
            two_level,
        }
    }

    /// Index of `symbol` (as in the file, with its underscore) bound from library `ordinal`.
    pub(super) fn intern(&mut self, symbol: &[u8], ordinal: i64) -> u32 {
        let symbol = symbol.strip_prefix(b"_").unwrap_or(symbol);
        let name = String::from_utf8_lossy(symbol).into_owned();
        let library = usize::try_from(ordinal)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.dylibs.get(i))
            .cloned();
        if let Some(&i) = self.by_name.get(&name) {
            if let Some(import) = self.list.get_mut(i as usize) {
                import.library = import.library.take().or(library);
            }
            return i;
        }
        // Every import comes from a record of a file that fits in memory: far below u32::MAX.
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.by_name.insert(name.clone(), i);
        self.list.push(Import { name, library });
        i
    }
}

/// Rebase and bind sites from whichever fixup encodings the file has.
#[derive(Debug, Default)]
struct Fixups {
    rebases: Vec<(u64, u64)>,
    /// Site → import index.
    binds: Vec<(u64, u32)>,
}

fn fixups(
    img: &Image<'_>,
    cmds: &Commands,
    imports: &mut ImportTable,
) -> Result<Fixups, ModelError> {
    let mut out = Fixups::default();
    if let Some(c) = cmds.chained_fixups {
        let blob = linkedit(img.data, c.dataoff, c.datasize, "chained fixups")?;
        let chained = fixups::chained_fixups(img, blob)?;
        let index: Vec<u32> = chained
            .imports
            .iter()
            .map(|i| imports.intern(i.symbol, i.ordinal))
            .collect();
        out.rebases = chained.rebases;
        out.binds = chained
            .binds
            .iter()
            .filter_map(|&(site, n)| Some((site, *index.get(n as usize)?)))
            .collect();
    }
    if let Some(d) = cmds.dyld_info {
        let opcodes = linkedit(img.data, d.rebase_off, d.rebase_size, "rebase opcodes")?;
        out.rebases.extend(rebase::rebases(img, opcodes)?);
        let streams = [
            (d.bind_off, d.bind_size, Stream::Bind, "bind opcodes"),
            (
                d.lazy_bind_off,
                d.lazy_bind_size,
                Stream::Lazy,
                "lazy bind opcodes",
            ),
            (
                d.weak_bind_off,
                d.weak_bind_size,
                Stream::Weak,
                "weak bind opcodes",
            ),
        ];
        for (off, len, stream, what) in streams {
            let opcodes = linkedit(img.data, off, len, what)?;
            for b in bind::binds(img, opcodes, stream)? {
                out.binds
                    .push((b.site, imports.intern(b.symbol, b.ordinal)));
            }
        }
    }
    Ok(out)
}

/// Exported names (without the underscore) → address: the export trie, completed by the
/// external symbols of the symbol table.
fn exports(
    img: &Image<'_>,
    cmds: &Commands,
    symtab: &SymbolTable<'_>,
) -> Result<HashMap<String, u64>, ModelError> {
    let trie = match (cmds.exports_trie, cmds.dyld_info) {
        (Some(c), _) => linkedit(img.data, c.dataoff, c.datasize, "export trie")?,
        (None, Some(d)) => linkedit(img.data, d.export_off, d.export_size, "export trie")?,
        (None, None) => &[],
    };
    let mut out = HashMap::new();
    for (name, addr) in exports::export_trie(trie, img.base)? {
        out.insert(export_name(&name), addr);
    }
    for sym in symtab.iter().filter(|s| s.is_exported()) {
        out.entry(export_name(sym.name.as_bytes()))
            .or_insert(sym.nlist.n_value);
    }
    Ok(out)
}

fn export_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw.strip_prefix(b"_").unwrap_or(raw)).into_owned()
}
