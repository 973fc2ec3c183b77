//! One model of a native module, whatever its container: segments, a pointer map, imports and
//! exports. The ELF, PE and Mach-O loaders each build a [`Binary`]; the slot reader only ever
//! looks at this model, so every detection rule works the same on every platform.

use std::borrow::Cow;
use std::collections::HashMap;

/// Highest end address of a mapped range the model keeps. User-space images live far below
/// (x86-64 and arm64 user space ends at 2^47 to 2^56); keeping every mapped address under
/// 2^63 lets the code readers step through instructions and offsets without overflowing.
pub const MAX_ADDRESS: u64 = 1 << 63;

/// Container format of a native module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Elf,
    Pe,
    MachO,
}

/// Instruction set of the code in a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86,
    X86_64,
    Aarch64,
    Arm,
    Ppc64,
    S390x,
    Riscv64,
    Other,
}

impl Arch {
    /// Name used in evidence and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Ppc64 => "ppc64",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
            Arch::Other => "other",
        }
    }
}

/// A mapped range of the module: where it lives in memory and which bytes of the file fill it.
/// Bytes past `filesize` up to `vsize` are zero at load time (`.bss`, zero-fill sections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Name for evidence: a section name (`.data.rel.ro`, `__DATA_CONST,__const`, `.rdata`)
    /// when the file has one, else the segment's.
    pub name: String,
    /// Virtual address (link-time, unslid; PE: image base + RVA).
    pub vaddr: u64,
    pub vsize: u64,
    /// Offset in the file of the byte at `vaddr`.
    pub offset: u64,
    /// How many bytes the file holds for this range (may be less than `vsize`).
    pub filesize: u64,
    pub exec: bool,
    pub write: bool,
}

impl Segment {
    fn contains(&self, addr: u64) -> bool {
        addr >= self.vaddr && addr - self.vaddr < self.vsize
    }

    /// Whether this is executable and its section name says it holds instructions only
    /// (`.text`, `__TEXT,__text`, Mach-O stubs): no name or string a search looks for is
    /// there. A segment without a section name is never assumed to be code only.
    pub fn instructions_only(&self) -> bool {
        let section = self.name.rsplit(',').next().unwrap_or(&self.name);
        self.exec
            && (matches!(section, ".text" | "__text" | "__stubs" | "__stub_helper")
                || section.starts_with(".text."))
    }
}

/// What a pointer-sized location holds once the loader has done its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// An address inside this module (link-time address, same space as [`Segment::vaddr`]).
    Addr(u64),
    /// The address of an imported symbol: index into [`Binary::imports`].
    Import(u32),
}

/// An imported symbol (`PyModule_Create2`, `PyUnstable_Module_SetGIL`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Symbol name without Mach-O's leading underscore and without ELF version suffixes.
    pub name: String,
    /// Library the symbol is bound to, when the format says (PE DLL, Mach-O dylib ordinal).
    pub library: Option<String>,
}

/// Everything the slot reader needs to know about one native module.
#[derive(Debug, Clone)]
pub struct Binary<'a> {
    pub format: Format,
    pub arch: Arch,
    /// 4 or 8.
    pub pointer_size: u8,
    pub little_endian: bool,
    /// PE image base (0 elsewhere); PE addresses in the model already include it.
    pub image_base: u64,
    /// Mapped ranges, sorted by `vaddr`, never overlapping (finer-grained sections when the
    /// file has them). Loaders call [`Binary::normalize_segments`] once they are done.
    pub segments: Vec<Segment>,
    /// Pointer sites → targets, sorted by site address (see [`PointerMap`]).
    pub pointers: PointerMap,
    pub imports: Vec<Import>,
    /// Exported symbols (name without Mach-O's leading underscore) → address.
    pub exports: HashMap<String, u64>,
    /// Stubs the loader identified (PLT entries, Mach-O `__stubs`, PE thunks) → import index.
    /// The code scanners add the ones they find by pattern.
    pub stubs: Vec<(u64, u32)>,
    /// Libraries this module links against (`DT_NEEDED`, PE DLL names, Mach-O dylibs).
    pub needed: Vec<String>,
    /// Function ranges `[start, end)` the file describes (ELF `.eh_frame` FDEs, PE `.pdata`),
    /// sorted by start. Each start is an instruction boundary, so code readers of
    /// variable-length instruction sets decode forward from one instead of guessing.
    pub functions: Vec<(u64, u64)>,
    /// The bytes of this module (for a fat Mach-O: the chosen slice).
    pub data: &'a [u8],
}

/// Sorted (site, pointer) pairs with binary-search lookup. Built once per file by a loader.
#[derive(Debug, Clone)]
pub struct PointerMap {
    sites: Vec<(u64, Pointer)>,
    sorted: bool,
}

/// An empty map, already sorted (a derived default said otherwise, so looking anything up
/// in a map nobody had filled tripped the debug assertion in [`PointerMap::get`]).
impl Default for PointerMap {
    fn default() -> Self {
        PointerMap::with_capacity(0)
    }
}

impl PointerMap {
    pub fn with_capacity(n: usize) -> Self {
        PointerMap {
            sites: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Record that the pointer-sized word at `site` holds `target` at load time.
    pub fn insert(&mut self, site: u64, target: Pointer) {
        if let Some(&(last, _)) = self.sites.last()
            && last >= site
        {
            self.sorted = false;
        }
        self.sites.push((site, target));
    }

    /// Sort and drop duplicate sites (the last insert for a site wins). Loaders call this once.
    pub fn finish(&mut self) {
        if !self.sorted {
            // Stable sort keeps insertion order within a site; keep the last one.
            self.sites.sort_by_key(|&(site, _)| site);
            let mut out: Vec<(u64, Pointer)> = Vec::with_capacity(self.sites.len());
            for (site, p) in self.sites.drain(..) {
                match out.last_mut() {
                    Some(last) if last.0 == site => last.1 = p,
                    _ => out.push((site, p)),
                }
            }
            self.sites = out;
            self.sorted = true;
        }
    }

    pub fn get(&self, site: u64) -> Option<Pointer> {
        debug_assert!(self.sorted, "PointerMap::finish not called");
        self.sites
            .binary_search_by_key(&site, |&(s, _)| s)
            .ok()
            .map(|i| self.sites[i].1)
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Every (site, pointer) pair in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Pointer)> + '_ {
        self.sites.iter().copied()
    }

    /// Sites whose pointer is exactly `Addr(target)`.
    pub fn sites_pointing_to(&self, target: u64) -> impl Iterator<Item = u64> + '_ {
        self.sites
            .iter()
            .filter(move |&&(_, p)| p == Pointer::Addr(target))
            .map(|&(s, _)| s)
    }
}

/// What a pointer-sized word of the module holds, as far as the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// A relocated pointer.
    Pointer(Pointer),
    /// Plain bytes, no relocation: an integer (or, in a non-PIC image, an absolute address).
    Int(u64),
}

impl<'a> Binary<'a> {
    /// Parse any supported format. `prefer` picks the slice of a fat Mach-O file.
    pub fn parse(data: &'a [u8], prefer: Option<Arch>) -> Result<Binary<'a>, ModelError> {
        // goblin is robust but not fuzz-proof everywhere: a panic deep in a parser is a
        // malformed file, not a crash of the whole run.
        let parsed = std::panic::catch_unwind(|| Self::parse_inner(data, prefer));
        match parsed {
            Ok(r) => r,
            Err(_) => Err(ModelError::Malformed("parser panicked on this file".into())),
        }
    }

    fn parse_inner(data: &'a [u8], prefer: Option<Arch>) -> Result<Binary<'a>, ModelError> {
        match data {
            [0x7f, b'E', b'L', b'F', ..] => super::elf::load(data),
            [b'M', b'Z', ..] => super::pe::load(data),
            [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..]
            | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..]
            | [0xca, 0xfe, 0xba, 0xbe, ..]
            | [0xbe, 0xba, 0xfe, 0xca, ..] => super::macho::load(data, prefer),
            _ => Err(ModelError::NotABinary),
        }
    }

    /// The segment holding `addr`.
    pub fn segment(&self, addr: u64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let s = self.segments.get(i.checked_sub(1)?)?;
        s.contains(addr).then_some(s)
    }

    /// Sort segments by address, drop empty ones and ones that reach past [`MAX_ADDRESS`],
    /// and clip overlaps (hostile files declare them) so that every address belongs to at
    /// most one segment.
    pub fn normalize_segments(&mut self) {
        self.segments.retain(|s| {
            s.vsize > 0
                && s.vaddr
                    .checked_add(s.vsize)
                    .is_some_and(|end| end <= MAX_ADDRESS)
        });
        self.segments
            .sort_by_key(|s| (s.vaddr, std::cmp::Reverse(s.vsize)));
        let mut out: Vec<Segment> = Vec::with_capacity(self.segments.len());
        for mut s in self.segments.drain(..) {
            if let Some(prev) = out.last_mut() {
                let prev_end = prev.vaddr.saturating_add(prev.vsize);
                if s.vaddr < prev_end {
                    let end = s.vaddr.saturating_add(s.vsize);
                    if end <= prev_end {
                        continue; // nested in the previous one
                    }
                    let cut = prev_end - s.vaddr;
                    s.vaddr = prev_end;
                    s.vsize -= cut;
                    s.offset = s.offset.saturating_add(cut);
                    s.filesize = s.filesize.saturating_sub(cut);
                }
            }
            out.push(s);
        }
        self.segments = out;
    }

    /// `len` bytes at `addr`: borrowed from the file, or zeros for zero-fill memory.
    /// `None` when the range is not mapped or crosses the end of its segment.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<Cow<'a, [u8]>> {
        let seg = self.segment(addr)?;
        let rel = addr - seg.vaddr;
        if rel.checked_add(len as u64)? > seg.vsize {
            return None;
        }
        if rel + len as u64 <= seg.filesize {
            let start = seg.offset.checked_add(rel)? as usize;
            let end = start.checked_add(len)?;
            return self.data.get(start..end).map(Cow::Borrowed);
        }
        if rel >= seg.filesize {
            return Some(Cow::Owned(vec![0; len]));
        }
        let mut out = vec![0; len];
        let have = (seg.filesize - rel) as usize;
        let start = seg.offset.checked_add(rel)? as usize;
        out[..have].copy_from_slice(self.data.get(start..start.checked_add(have)?)?);
        Some(Cow::Owned(out))
    }

    /// `len` bytes at `addr` that the file itself holds. `None` when the range is not mapped,
    /// crosses the end of its segment or reaches into zero-fill memory: unlike
    /// [`Binary::bytes`] this never allocates, whatever size a header asks for.
    pub fn file_bytes(&self, addr: u64, len: usize) -> Option<&'a [u8]> {
        let seg = self.segment(addr)?;
        let rel = addr - seg.vaddr;
        if rel.checked_add(len as u64)? > seg.filesize.min(seg.vsize) {
            return None;
        }
        let start = usize::try_from(seg.offset.checked_add(rel)?).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    /// True when `addr` lies in memory the file leaves zero (`.bss`, zero-fill sections).
    pub fn is_zero_fill(&self, addr: u64) -> bool {
        self.segment(addr)
            .is_some_and(|s| addr - s.vaddr >= s.filesize)
    }

    pub fn u16_at(&self, addr: u64) -> Option<u16> {
        let b = self.bytes(addr, 2)?;
        let a = [b[0], b[1]];
        Some(if self.little_endian {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }

    pub fn u32_at(&self, addr: u64) -> Option<u32> {
        let b = self.bytes(addr, 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if self.little_endian {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    pub fn u64_at(&self, addr: u64) -> Option<u64> {
        let b = self.bytes(addr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Some(if self.little_endian {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        })
    }

    /// The raw pointer-sized integer at `addr`.
    pub fn uptr_at(&self, addr: u64) -> Option<u64> {
        if self.pointer_size == 8 {
            self.u64_at(addr)
        } else {
            self.u32_at(addr).map(u64::from)
        }
    }

    /// What the pointer-sized word at `addr` holds: the relocated pointer when the loader
    /// recorded one there, else the integer in the file.
    pub fn word_at(&self, addr: u64) -> Option<Word> {
        if let Some(p) = self.pointers.get(addr) {
            return Some(Word::Pointer(p));
        }
        self.uptr_at(addr).map(Word::Int)
    }

    /// The address stored at `addr`, if it is a pointer into this module. In images without
    /// relocations for a site (non-PIC PE, Mach-O without rebase info) a raw value that
    /// lands in a mapped segment is taken as an address.
    pub fn addr_at(&self, addr: u64) -> Option<u64> {
        match self.word_at(addr)? {
            Word::Pointer(Pointer::Addr(a)) => Some(a),
            Word::Pointer(Pointer::Import(_)) => None,
            Word::Int(0) => None,
            Word::Int(v) if self.format != Format::Elf && self.segment(v).is_some() => Some(v),
            Word::Int(_) => None,
        }
    }

    /// The NUL-terminated string at `addr` (at most 1024 bytes, without the NUL).
    pub fn c_str(&self, addr: u64) -> Option<&'a [u8]> {
        let seg = self.segment(addr)?;
        let rel = addr - seg.vaddr;
        if rel >= seg.filesize {
            return None;
        }
        let start = seg.offset.checked_add(rel)? as usize;
        let end = (seg.offset.checked_add(seg.filesize)? as usize).min(self.data.len());
        let hay = self.data.get(start..end)?;
        let hay = &hay[..hay.len().min(1024)];
        let n = memchr::memchr(0, hay)?;
        Some(&hay[..n])
    }

    /// Index of the import called `name`, if this module imports it.
    pub fn import(&self, name: &str) -> Option<u32> {
        self.imports
            .iter()
            .position(|i| i.name == name)
            .map(|i| i as u32)
    }

    pub fn imports_name(&self, name: &str) -> bool {
        self.import(name).is_some()
    }

    /// Executable ranges with their bytes (the part the file holds).
    pub fn code(&self) -> impl Iterator<Item = (u64, &'a [u8])> + '_ {
        self.code_segments().map(|(s, bytes)| (s.vaddr, bytes))
    }

    /// Executable segments with their bytes (the part the file holds).
    pub fn code_segments(&self) -> impl Iterator<Item = (&Segment, &'a [u8])> + '_ {
        self.segments
            .iter()
            .filter(|s| s.exec)
            .filter_map(|s| Some((s, self.segment_bytes(s)?)))
    }

    /// The executable bytes from `addr` to the end of the executable range holding it: the
    /// entry of [`Binary::code`] that contains `addr`, found by binary search.
    pub fn code_from(&self, addr: u64) -> Option<&'a [u8]> {
        let s = self.segment(addr).filter(|s| s.exec)?;
        let bytes = self.segment_bytes(s)?;
        bytes
            .get(usize::try_from(addr - s.vaddr).ok()?..)
            .filter(|b| !b.is_empty())
    }

    fn segment_bytes(&self, s: &Segment) -> Option<&'a [u8]> {
        let start = usize::try_from(s.offset).ok()?;
        let len = usize::try_from(s.filesize.min(s.vsize)).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    /// File offset → address, for turning a byte found in the file into a location.
    pub fn addr_of_offset(&self, offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| offset >= s.offset && offset - s.offset < s.filesize)
            .map(|s| s.vaddr + (offset - s.offset))
    }

    /// An index answering [`Binary::addr_of_offset`] in logarithmic time, for callers that
    /// turn many file offsets into addresses.
    pub fn offset_index(&self) -> OffsetIndex<'_> {
        OffsetIndex::new(&self.segments)
    }

    /// Name of the section or segment holding `addr`, for evidence.
    pub fn section_name(&self, addr: u64) -> &str {
        self.segment(addr).map(|s| s.name.as_str()).unwrap_or("?")
    }

    /// The described function range holding `addr` (the one starting last when ranges
    /// overlap).
    pub fn function_at(&self, addr: u64) -> Option<(u64, u64)> {
        let i = self.functions.partition_point(|&(start, _)| start <= addr);
        self.functions[..i]
            .iter()
            .rev()
            .take(8)
            .find(|&&(start, end)| addr >= start && addr < end)
            .copied()
    }

    /// Sort [`Binary::functions`] and drop empty ranges, duplicates and ranges outside
    /// executable memory. Loaders call this once they are done.
    pub fn normalize_functions(&mut self) {
        let mut f = std::mem::take(&mut self.functions);
        f.retain(|&(start, end)| {
            start < end
                && self
                    .segment(start)
                    .is_some_and(|s| s.exec && end - s.vaddr <= s.vsize)
        });
        f.sort_unstable();
        f.dedup();
        self.functions = f;
    }
}

/// File offset → address, with the answers of [`Binary::addr_of_offset`] (the first segment
/// in address order whose file bytes hold the offset) but without a scan of every segment
/// per lookup: a file with tens of thousands of sections and as many hits made that scan
/// quadratic.
#[derive(Debug, Clone)]
pub struct OffsetIndex<'s> {
    segments: &'s [Segment],
    /// Sorted offsets where the answer changes.
    bounds: Vec<u64>,
    /// `owner[i]`: the segment answering for offsets in `bounds[i]..bounds[i + 1]`.
    owner: Vec<Option<usize>>,
}

impl<'s> OffsetIndex<'s> {
    fn new(segments: &'s [Segment]) -> Self {
        // Sweep the file ranges' ends and starts in offset order, keeping the segments that
        // cover the current offset; the lowest index among them answers.
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (i, s) in segments.iter().enumerate().filter(|(_, s)| s.filesize > 0) {
            events.push((s.offset, true, i));
            events.push((s.offset.saturating_add(s.filesize), false, i));
        }
        events.sort_unstable();
        let mut active = std::collections::BTreeSet::new();
        let (mut bounds, mut owner) = (Vec::new(), Vec::new());
        let mut k = 0;
        while k < events.len() {
            let at = events[k].0;
            while k < events.len() && events[k].0 == at {
                let (_, start, i) = events[k];
                if start {
                    active.insert(i);
                } else {
                    active.remove(&i);
                }
                k += 1;
            }
            bounds.push(at);
            owner.push(active.first().copied());
        }
        OffsetIndex {
            segments,
            bounds,
            owner,
        }
    }

    /// The address of the byte at file offset `offset`.
    pub fn addr(&self, offset: u64) -> Option<u64> {
        let i = self
            .bounds
            .partition_point(|&b| b <= offset)
            .checked_sub(1)?;
        let s = &self.segments[self.owner[i]?];
        Some(s.vaddr + (offset - s.offset))
    }
}

#[cfg(test)]
impl<'a> Binary<'a> {
    /// A little-endian 64-bit ELF model of `segments` over `data` and nothing else, for tests
    /// that build the model by hand (add fields with struct update syntax).
    pub(crate) fn bare(arch: Arch, data: &'a [u8], segments: Vec<Segment>) -> Binary<'a> {
        Binary {
            format: Format::Elf,
            arch,
            pointer_size: 8,
            little_endian: true,
            image_base: 0,
            segments,
            pointers: PointerMap::default(),
            imports: Vec::new(),
            exports: HashMap::new(),
            stubs: Vec::new(),
            needed: Vec::new(),
            functions: Vec::new(),
            data,
        }
    }
}

/// Why a file could not be modelled. Each becomes an `unknown` verdict naming the cause.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    #[error("not an ELF, PE or Mach-O file")]
    NotABinary,
    #[error("malformed binary: {0}")]
    Malformed(String),
    #[error("unsupported binary: {0}")]
    Unsupported(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::code::Code;

    fn segment(vaddr: u64, vsize: u64) -> Segment {
        Segment {
            name: "__text".into(),
            vaddr,
            vsize,
            offset: 0,
            filesize: vsize,
            exec: true,
            write: false,
        }
    }

    /// Ranges outside executable memory, empty or repeated are dropped; an address inside
    /// nested ranges belongs to the one starting last.
    #[test]
    fn function_ranges_are_normalized_and_looked_up() {
        let data = [0u8; 0x100];
        let mut bin = Binary::bare(
            Arch::X86_64,
            &data,
            vec![
                segment(0x1000, 0x100),
                Segment {
                    exec: false,
                    ..segment(0x2000, 0x100)
                },
            ],
        );
        bin.functions = vec![
            (0x1040, 0x1080),
            (0x1000, 0x1040),
            (0x1000, 0x1040),
            (0x1050, 0x1060),
            (0x1090, 0x1090),
            (0x10f0, 0x1200),
            (0x2000, 0x2010),
        ];
        bin.normalize_functions();
        assert_eq!(
            bin.functions,
            [(0x1000, 0x1040), (0x1040, 0x1080), (0x1050, 0x1060)]
        );
        assert_eq!(bin.function_at(0x1000), Some((0x1000, 0x1040)));
        assert_eq!(bin.function_at(0x1040), Some((0x1040, 0x1080)));
        assert_eq!(bin.function_at(0x1055), Some((0x1050, 0x1060)));
        assert_eq!(bin.function_at(0x1070), Some((0x1040, 0x1080)));
        assert_eq!(bin.function_at(0x1080), None);
    }

    #[test]
    fn an_empty_pointer_map_can_be_read() {
        assert_eq!(PointerMap::default().get(0x1000), None);
    }

    /// The index gives `addr_of_offset`'s answers, overlapping file ranges included.
    #[test]
    fn offset_index_agrees_with_the_linear_lookup() {
        let data = [0u8; 0x400];
        let seg = |vaddr, offset, filesize| Segment {
            offset,
            filesize,
            ..segment(vaddr, 0x100)
        };
        let bin = Binary::bare(
            Arch::X86_64,
            &data,
            vec![
                seg(0x1000, 0x100, 0x80),
                seg(0x2000, 0x40, 0x100),  // overlaps the first in the file
                seg(0x3000, 0x100, 0x100), // same start as the first
                seg(0x4000, 0x300, 0),     // zero-fill
                seg(0x5000, 0x300, 0x100),
            ],
        );
        let index = bin.offset_index();
        for off in 0..0x500 {
            assert_eq!(index.addr(off), bin.addr_of_offset(off), "offset {off:#x}");
        }
    }

    /// Resource check regression: with 60,000 executable sections, the x86-64 call-site
    /// scan looked each section's bytes up by a scan of all sections (4 s for a 4.8 MB
    /// file), and every backwards decode window did the same. Both now go straight to the
    /// segment; `code_from` answers what the linear lookup answered.
    #[test]
    fn code_lookups_over_many_sections() {
        let data = vec![0xc3u8; 32];
        let segments: Vec<Segment> = (0..60_000u64)
            .map(|k| Segment {
                offset: k % 16,
                filesize: 16,
                ..segment(0x10_0000 + 16 * k, 16)
            })
            .collect();
        let bin = Binary::bare(Arch::X86_64, &data, segments);
        assert!(Code::new(&bin).call_sites(&[0]).is_empty());
        let linear = |addr: u64| {
            bin.code()
                .find(|&(start, bytes)| addr >= start && addr - start < bytes.len() as u64)
                .map(|(start, bytes)| &bytes[(addr - start) as usize..])
        };
        for addr in (0x10_0000 - 8..0x10_0000 + 64).chain([0, u64::MAX, 0x10_0000 + 16 * 60_000]) {
            assert_eq!(bin.code_from(addr), linear(addr), "{addr:#x}");
        }
    }

    /// Fuzzing regression: a Mach-O whose executable section starts 8 bytes below 2^64.
    /// The arm64 stub finder stepped `pc + 4` past `u64::MAX` (an overflow panic in checked
    /// builds, a wrapped address otherwise). Segments now end at or below `MAX_ADDRESS`.
    #[test]
    fn code_at_the_top_of_the_address_space_is_dropped() {
        let adrp_x16 = 0x9000_0010u32.to_le_bytes();
        let data: Vec<u8> = adrp_x16.iter().copied().cycle().take(16).collect();
        let mut bin = Binary {
            format: Format::MachO,
            ..Binary::bare(
                Arch::Aarch64,
                &data,
                vec![segment(u64::MAX - 7, 16), segment(0x1000, 16)],
            )
        };
        bin.normalize_segments();
        let _ = Code::new(&bin);
        assert_eq!(bin.segments.len(), 1);
        assert_eq!(bin.segments[0].vaddr, 0x1000);

        // Ending exactly at MAX_ADDRESS is kept; one byte further is not.
        bin.segments = vec![segment(MAX_ADDRESS - 16, 16), segment(MAX_ADDRESS - 8, 9)];
        bin.normalize_segments();
        assert_eq!(bin.segments.len(), 1);
        assert_eq!(bin.segments[0].vaddr, MAX_ADDRESS - 16);
    }
}
