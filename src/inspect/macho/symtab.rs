//! The nlist symbol table (read through goblin) and the indirect symbol table of
//! `LC_DYSYMTAB`, which names the symbol behind every `__got` / `__la_symbol_ptr` /
//! `__auth_got` slot and every `__stubs` / `__auth_stubs` entry.

use goblin::mach::symbols::{N_EXT, N_PEXT, N_SECT, N_STAB, N_TYPE, N_UNDF, Nlist, Symbols};

use super::bytes::{malformed, u32_at};
use crate::inspect::model::ModelError;

/// Indirect-table entry for a slot that points inside the image (no symbol).
const INDIRECT_SYMBOL_LOCAL: u32 = 0x8000_0000;
/// Indirect-table entry for an absolute symbol (no symbol).
const INDIRECT_SYMBOL_ABS: u32 = 0x4000_0000;

/// `n_desc` library ordinal of an undefined symbol resolved by flat lookup.
const DYNAMIC_LOOKUP_ORDINAL: u8 = 0xfe;
const EXECUTABLE_ORDINAL: u8 = 0xff;

/// A symbol as the loader uses it.
#[derive(Debug, Clone)]
pub(super) struct Symbol<'a> {
    /// Name as in the file (with the leading underscore).
    pub name: &'a str,
    pub nlist: Nlist,
}

impl Symbol<'_> {
    pub fn is_undefined(&self) -> bool {
        self.nlist.n_type & N_STAB == 0 && self.nlist.n_type & N_TYPE == N_UNDF
    }

    /// An undefined external: something dyld must find in another image.
    pub fn is_import(&self) -> bool {
        self.is_undefined() && self.nlist.n_type & N_EXT != 0
    }

    /// Exported from this image: external, not private, defined in a section.
    pub fn is_exported(&self) -> bool {
        let t = self.nlist.n_type;
        t & N_STAB == 0 && t & N_EXT != 0 && t & N_PEXT == 0 && t & N_TYPE == N_SECT
    }

    /// The library ordinal of an undefined symbol (special values as negative numbers).
    pub fn library_ordinal(&self, two_level: bool) -> i64 {
        if !two_level {
            return -2;
        }
        match (self.nlist.n_desc >> 8) as u8 {
            DYNAMIC_LOOKUP_ORDINAL => -2,
            EXECUTABLE_ORDINAL => -1,
            n => i64::from(n),
        }
    }
}

/// The symbol table with its entry count bounded by what the file holds.
pub(super) struct SymbolTable<'a> {
    symbols: Option<Symbols<'a>>,
    count: usize,
}

impl<'a> SymbolTable<'a> {
    /// `symbols` as goblin parsed it from `LC_SYMTAB` (`symoff`, `nsyms`).
    pub fn new(
        symbols: Option<Symbols<'a>>,
        symoff: u32,
        nsyms: u32,
        file_len: usize,
        is_64: bool,
    ) -> Self {
        let entry = if is_64 { 16 } else { 12 };
        let room = file_len.saturating_sub(symoff as usize) / entry;
        SymbolTable {
            count: if symbols.is_some() {
                room.min(nsyms as usize)
            } else {
                0
            },
            symbols,
        }
    }

    pub fn get(&self, index: u32) -> Option<Symbol<'a>> {
        let index = index as usize;
        if index >= self.count {
            return None;
        }
        let (name, nlist) = self.symbols.as_ref()?.get(index).ok()?;
        Some(Symbol { name, nlist })
    }

    /// Every symbol whose entry and name can be read.
    pub fn iter(&self) -> impl Iterator<Item = Symbol<'a>> + '_ {
        let all = self.symbols.as_ref().map(|s| s.iter().take(self.count));
        all.into_iter()
            .flatten()
            .filter_map(|r| r.ok())
            .map(|(name, nlist)| Symbol { name, nlist })
    }
}

/// What an indirect-table entry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Indirect {
    /// Index into the symbol table.
    Symbol(u32),
    /// A slot filled from inside the image (local or absolute symbol).
    Local,
}

/// `LC_DYSYMTAB` `indirectsymoff` / `nindirectsyms`, checked to lie inside the file.
pub(super) struct IndirectTable<'a> {
    entries: &'a [u8],
    little_endian: bool,
}

impl<'a> IndirectTable<'a> {
    pub fn new(data: &'a [u8], off: u32, count: u32, le: bool) -> Result<Self, ModelError> {
        let entries = super::bytes::range(data, u64::from(off), u64::from(count) * 4)
            .ok_or_else(|| {
                malformed(format!(
                    "indirect symbol table ({count} entries at {off:#x}) runs past the end of the file"
                ))
            })?;
        Ok(IndirectTable {
            entries,
            little_endian: le,
        })
    }

    pub fn empty() -> Self {
        IndirectTable {
            entries: &[],
            little_endian: true,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len() / 4
    }

    pub fn get(&self, index: usize) -> Option<Indirect> {
        let raw = u32_at(self.entries, index.checked_mul(4)?, self.little_endian)?;
        if raw & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS) != 0 {
            Some(Indirect::Local)
        } else {
            Some(Indirect::Symbol(raw))
        }
    }

    /// Entries `first .. first + count` for one section, or an error naming the section when
    /// they run past the table.
    pub fn slice(
        &self,
        first: u32,
        count: u64,
        section: &str,
    ) -> Result<impl Iterator<Item = Indirect> + '_, ModelError> {
        let fits = u64::from(first)
            .checked_add(count)
            .is_some_and(|end| end <= self.len() as u64);
        if !fits {
            return Err(malformed(format!(
                "section {section} uses indirect symbols {first}..+{count}, the table has {}",
                self.len()
            )));
        }
        let first = first as usize;
        Ok((0..count as usize).map(move |i| self.get(first + i).unwrap_or(Indirect::Local)))
    }
}
