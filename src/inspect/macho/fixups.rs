//! `LC_DYLD_CHAINED_FIXUPS`: the fixups blob of newer toolchains. A header points at an
//! imports table and at per-segment page tables; each page names the first fixup of a chain
//! and every chain word carries its own target and the distance to the next one
//! (layouts from Apple's public `<mach-o/fixup-chains.h>`).

use super::bytes::{c_str_at, malformed, range, u16_at, u32_at, u64_at};
use super::chained_ptr::{Fixup, PtrFormat};
use super::image::{Image, SegmentCommand};
use crate::inspect::model::ModelError;

const DYLD_CHAINED_IMPORT: u32 = 1;
const DYLD_CHAINED_IMPORT_ADDEND: u32 = 2;
const DYLD_CHAINED_IMPORT_ADDEND64: u32 = 3;

const DYLD_CHAINED_PTR_START_NONE: u16 = 0xffff;
/// In `page_start[]`: the low bits index the overflow list of starts for this page. In that
/// list: marks the last start.
const DYLD_CHAINED_PTR_START_MULTI: u16 = 0x8000;

/// Size of `dyld_chained_starts_in_segment` up to `page_start[]`.
const STARTS_IN_SEGMENT_HEADER: usize = 22;

/// One entry of the chained imports table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChainedImport<'a> {
    /// Symbol name as in the file (with the leading underscore).
    pub symbol: &'a [u8],
    /// Library ordinal, special values sign-extended (0 self, -1 main, -2 flat, -3 weak).
    pub ordinal: i64,
}

/// Everything the chains say.
#[derive(Debug, Default)]
pub(super) struct Chained<'a> {
    pub imports: Vec<ChainedImport<'a>>,
    /// `(site, target)` for every rebase.
    pub rebases: Vec<(u64, u64)>,
    /// `(site, index into imports)` for every bind.
    pub binds: Vec<(u64, u32)>,
}

/// `struct dyld_chained_fixups_header`.
struct Header {
    starts_offset: u32,
    imports_offset: u32,
    symbols_offset: u32,
    imports_count: u32,
    imports_format: u32,
}

/// Decode the fixups blob (`dataoff`/`datasize` of the load command) of `img`.
pub(super) fn chained_fixups<'a>(
    img: &Image<'_>,
    blob: &'a [u8],
) -> Result<Chained<'a>, ModelError> {
    let header = header(blob)?;
    let imports = imports(blob, &header)?;
    let mut walk = Walk {
        img,
        imports_len: imports.len(),
        budget: img.data.len() / usize::from(img.pointer_size.max(1)),
        out: Chained {
            imports,
            ..Chained::default()
        },
    };
    let starts = header.starts_offset as usize;
    let seg_count = u32_at(blob, starts, true)
        .ok_or_else(|| malformed("chained fixups starts table lies outside the blob"))?;
    let table = (seg_count as usize)
        .checked_mul(4)
        .and_then(|len| range(blob, starts as u64 + 4, len as u64))
        .ok_or_else(|| {
            malformed(format!(
                "chained fixups starts table ({seg_count} segments) runs past the blob"
            ))
        })?;
    for (i, entry) in table.chunks_exact(4).enumerate() {
        let info = u32_at(entry, 0, true).unwrap_or(0);
        if info != 0 {
            let seg = img.segment(i as u64, "chained fixups starts table")?;
            walk.segment(blob, starts.saturating_add(info as usize), seg)?;
        }
    }
    Ok(walk.out)
}

fn header(blob: &[u8]) -> Result<Header, ModelError> {
    let word = |i: usize| u32_at(blob, 4 * i, true);
    let (Some(version), Some(symbols_format)) = (word(0), word(6)) else {
        return Err(malformed(format!(
            "chained fixups blob of {} bytes is shorter than its header",
            blob.len()
        )));
    };
    if version != 0 {
        return Err(ModelError::Unsupported(format!(
            "chained fixups version {version}"
        )));
    }
    if symbols_format != 0 {
        return Err(ModelError::Unsupported(
            "compressed chained fixup symbol names".into(),
        ));
    }
    Ok(Header {
        starts_offset: word(1).unwrap_or(0),
        imports_offset: word(2).unwrap_or(0),
        symbols_offset: word(3).unwrap_or(0),
        imports_count: word(4).unwrap_or(0),
        imports_format: word(5).unwrap_or(0),
    })
}

/// The imports table: the count is checked against the blob before anything is allocated.
fn imports<'a>(blob: &'a [u8], h: &Header) -> Result<Vec<ChainedImport<'a>>, ModelError> {
    let entry_size: usize = match h.imports_format {
        DYLD_CHAINED_IMPORT => 4,
        DYLD_CHAINED_IMPORT_ADDEND => 8,
        DYLD_CHAINED_IMPORT_ADDEND64 => 16,
        f => return Err(malformed(format!("unknown chained imports format {f}"))),
    };
    let start = h.imports_offset as usize;
    let fits = (h.imports_count as usize)
        .checked_mul(entry_size)
        .and_then(|n| n.checked_add(start))
        .is_some_and(|end| end <= blob.len());
    if !fits {
        return Err(malformed(format!(
            "chained imports table ({} entries at {start:#x}) runs past the fixups blob ({} bytes)",
            h.imports_count,
            blob.len()
        )));
    }
    let symbols = blob.get(h.symbols_offset as usize..).unwrap_or(&[]);
    let mut out = Vec::with_capacity(h.imports_count as usize);
    for i in 0..h.imports_count as usize {
        let at = start + i * entry_size;
        let (ordinal, name_offset) = if entry_size == 16 {
            let v = u64_at(blob, at, true).unwrap_or(0);
            (ordinal16((v & 0xffff) as u16), v >> 32)
        } else {
            let v = u32_at(blob, at, true).unwrap_or(0);
            (ordinal8((v & 0xff) as u8), u64::from(v >> 9))
        };
        let symbol = usize::try_from(name_offset)
            .ok()
            .and_then(|o| c_str_at(symbols, o))
            .ok_or_else(|| {
                malformed(format!(
                    "chained import {i} names a symbol outside the string pool"
                ))
            })?;
        out.push(ChainedImport { symbol, ordinal });
    }
    Ok(out)
}

/// 8-bit library ordinals above 0xf0 are the negative special values.
fn ordinal8(raw: u8) -> i64 {
    if raw > 0xf0 {
        i64::from(raw as i8)
    } else {
        i64::from(raw)
    }
}

/// 16-bit library ordinals above 0xfff0 are the negative special values.
fn ordinal16(raw: u16) -> i64 {
    if raw > 0xfff0 {
        i64::from(raw as i16)
    } else {
        i64::from(raw)
    }
}

/// The chain walker's state across segments.
struct Walk<'i, 'a, 'b> {
    img: &'i Image<'a>,
    imports_len: usize,
    /// Fixups still allowed: a file cannot hold more pointers than it has words.
    budget: usize,
    out: Chained<'b>,
}

impl Walk<'_, '_, '_> {
    /// Walk every chain of `seg`, whose `dyld_chained_starts_in_segment` is at `at`.
    fn segment(&mut self, blob: &[u8], at: usize, seg: &SegmentCommand) -> Result<(), ModelError> {
        let cut = || {
            malformed(format!(
                "chained fixups starts for segment {} cut short",
                seg.name
            ))
        };
        let page_size = u16_at(blob, at.saturating_add(4), true).ok_or_else(cut)?;
        let format = u16_at(blob, at.saturating_add(6), true).ok_or_else(cut)?;
        let max_valid = u32_at(blob, at.saturating_add(16), true).ok_or_else(cut)?;
        let page_count = u16_at(blob, at.saturating_add(20), true).ok_or_else(cut)?;
        let format = PtrFormat::new(format)?;
        if usize::from(page_size) < usize::from(format.size) {
            return Err(malformed(format!(
                "chained fixups for segment {} have page size {page_size}",
                seg.name
            )));
        }
        let table = at.saturating_add(STARTS_IN_SEGMENT_HEADER);
        for page in 0..usize::from(page_count) {
            let start = u16_at(blob, table.saturating_add(2 * page), true).ok_or_else(cut)?;
            if start == DYLD_CHAINED_PTR_START_NONE {
                continue;
            }
            let page_base = page as u64 * u64::from(page_size);
            let ctx = Page {
                seg,
                base: page_base,
                size: page_size,
                format,
                max_valid,
            };
            if start & DYLD_CHAINED_PTR_START_MULTI == 0 {
                self.chain(&ctx, start)?;
            } else {
                self.multi(blob, table, &ctx, start & !DYLD_CHAINED_PTR_START_MULTI)?;
            }
        }
        Ok(())
    }

    /// A page with several chains (32-bit formats): `first` indexes the overflow list, which
    /// continues until an entry with the high bit set.
    fn multi(
        &mut self,
        blob: &[u8],
        table: usize,
        page: &Page<'_>,
        first: u16,
    ) -> Result<(), ModelError> {
        // A page cannot start more chains than it has fixup slots.
        let limit = usize::from(page.size) / usize::from(page.format.stride);
        for k in 0..=limit {
            let index = usize::from(first) + k;
            let entry = u16_at(blob, table.saturating_add(2 * index), true).ok_or_else(|| {
                malformed(format!(
                    "chained fixups chain-start list for {} cut short",
                    page.seg.name
                ))
            })?;
            self.chain(page, entry & !DYLD_CHAINED_PTR_START_MULTI)?;
            if entry & DYLD_CHAINED_PTR_START_MULTI != 0 {
                return Ok(());
            }
        }
        Err(malformed(format!(
            "chained fixups chain-start list for segment {} never ends",
            page.seg.name
        )))
    }

    /// Follow one chain from `start` (offset in the page) to its last link.
    fn chain(&mut self, page: &Page<'_>, start: u16) -> Result<(), ModelError> {
        let seg = page.seg;
        let mut offset = page.base + u64::from(start);
        if offset >= seg.vmsize {
            return Err(malformed(format!(
                "chained fixups page start {offset:#x} beyond segment {} (size {:#x})",
                seg.name, seg.vmsize
            )));
        }
        let page_end = page.base + u64::from(page.size);
        loop {
            let next = self.link(page, offset)?;
            if next == 0 {
                return Ok(());
            }
            offset += next * u64::from(page.format.stride);
            if offset >= page_end {
                return Err(malformed(format!(
                    "chained fixup chain in segment {} strides out of its page to offset {offset:#x}",
                    seg.name
                )));
            }
        }
    }

    /// Record the fixup at `offset` of the page's segment; returns its `next` field.
    fn link(&mut self, page: &Page<'_>, offset: u64) -> Result<u64, ModelError> {
        let seg = page.seg;
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            malformed("chained fixups hold more links than the file has pointer-sized words")
        })?;
        let site = self
            .img
            .site(seg, offset, page.format.size, "chained fixup")?;
        let raw = self
            .img
            .word(seg, offset, page.format.size)
            .ok_or_else(|| {
                malformed(format!(
                    "chained fixup at {site:#x} in {} has no bytes in the file",
                    seg.name
                ))
            })?;
        let (fixup, next) = page.format.decode(raw, self.img.base, page.max_valid);
        match fixup {
            Fixup::Rebase(target) => self.out.rebases.push((site, target)),
            Fixup::Bind(n) if (n as usize) < self.imports_len => self.out.binds.push((site, n)),
            Fixup::Bind(n) => {
                return Err(malformed(format!(
                    "chained bind at {site:#x} uses import {n}, the table has {}",
                    self.imports_len
                )));
            }
            Fixup::NotPointer => {}
        }
        Ok(next)
    }
}

/// One page of a segment being walked.
struct Page<'s> {
    seg: &'s SegmentCommand,
    /// Offset of the page in its segment.
    base: u64,
    size: u16,
    format: PtrFormat,
    max_valid: u32,
}
