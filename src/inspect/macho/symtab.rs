//! The nlist symbol table (bounds and acceptance from goblin, entries and names read here) and the indirect symbol table of
//! `LC_DYSYMTAB`, which names the symbol behind every `__got` / `__la_symbol_ptr` /
//! `__auth_got` slot and every `__stubs` / `__auth_stubs` entry.

use std::cell::Cell;

use goblin::mach::load_command::SymtabCommand;
use goblin::mach::symbols::{N_EXT, N_PEXT, N_SECT, N_STAB, N_TYPE, N_UNDF, Nlist};

use super::bytes::{malformed, u16_at, u32_at, u64_at};
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
///
/// Entries and names are read here rather than through goblin's iterator, so that every
/// name read is bounded and paid for: symbols whose names all point at one long string
/// would otherwise cost (symbols x string length), minutes for a 3 MB file. Names longer
/// than [`MAX_NAME`] are skipped, and once the names read add up to twice the file size
/// the table stops answering and [`SymbolTable::exhausted`] says so.
pub(super) struct SymbolTable<'a> {
    data: &'a [u8],
    symoff: usize,
    stroff: usize,
    count: usize,
    is_64: bool,
    little_endian: bool,
    budget: Cell<usize>,
    exhausted: Cell<bool>,
}

/// Longest symbol name read, in bytes.
const MAX_NAME: usize = 64 * 1024;

impl<'a> SymbolTable<'a> {
    /// The table `LC_SYMTAB` describes; `parsed` says whether goblin accepted it (no
    /// symbols otherwise).
    pub fn new(
        parsed: bool,
        data: &'a [u8],
        symtab: Option<&SymtabCommand>,
        is_64: bool,
        little_endian: bool,
    ) -> Self {
        let (symoff, nsyms, stroff) = symtab.map_or((0, 0, 0), |s| (s.symoff, s.nsyms, s.stroff));
        let entry = if is_64 { 16 } else { 12 };
        let room = data.len().saturating_sub(symoff as usize) / entry;
        SymbolTable {
            data,
            symoff: symoff as usize,
            stroff: stroff as usize,
            count: if parsed { room.min(nsyms as usize) } else { 0 },
            is_64,
            little_endian,
            budget: Cell::new(data.len().saturating_mul(2)),
            exhausted: Cell::new(false),
        }
    }

    pub fn get(&self, index: u32) -> Option<Symbol<'a>> {
        let index = index as usize;
        if index >= self.count {
            return None;
        }
        let le = self.little_endian;
        let at = self.symoff + index * if self.is_64 { 16 } else { 12 };
        let nlist = Nlist {
            n_strx: u32_at(self.data, at, le)? as usize,
            n_type: *self.data.get(at + 4)?,
            n_sect: usize::from(*self.data.get(at + 5)?),
            n_desc: u16_at(self.data, at + 6, le)?,
            n_value: if self.is_64 {
                u64_at(self.data, at + 8, le)?
            } else {
                u64::from(u32_at(self.data, at + 8, le)?)
            },
        };
        let name = self.name(nlist.n_strx)?;
        Some(Symbol { name, nlist })
    }

    /// Every symbol whose entry and name can be read.
    pub fn iter(&self) -> impl Iterator<Item = Symbol<'a>> + '_ {
        (0..self.count).filter_map(|i| self.get(u32::try_from(i).ok()?))
    }

    /// True when names stopped being read because they added up to more than the file.
    pub fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// The name at `strx` in the string table: up to a NUL or the end of the file (as goblin
    /// reads it), UTF-8, at most [`MAX_NAME`] bytes. Charges the bytes looked at.
    fn name(&self, strx: usize) -> Option<&'a str> {
        if self.exhausted.get() {
            return None;
        }
        let start = self.stroff.checked_add(strx)?;
        if start >= self.data.len() {
            return None;
        }
        let rest = &self.data[start..];
        let window = &rest[..rest.len().min(MAX_NAME + 1)];
        let len = memchr::memchr(0, window).unwrap_or(window.len());
        let left = self.budget.get();
        if len > left {
            self.exhausted.set(true);
            return None;
        }
        self.budget.set(left - len);
        if len > MAX_NAME {
            return None;
        }
        std::str::from_utf8(&rest[..len]).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` 64-bit nlist entries (exported, in section 1) naming `names[i % names.len()]`,
    /// followed by the string table.
    fn table(names: &[&[u8]], n: usize) -> (Vec<u8>, SymtabCommand) {
        let mut strtab = vec![0u8];
        let mut at = Vec::new();
        for name in names {
            at.push(strtab.len() as u32);
            strtab.extend_from_slice(name);
            strtab.push(0);
        }
        let mut data = Vec::new();
        for i in 0..n {
            data.extend_from_slice(&at[i % at.len()].to_le_bytes());
            data.extend_from_slice(&[N_SECT | N_EXT, 1, 0, 0]);
            data.extend_from_slice(&(0x1000 + i as u64).to_le_bytes());
        }
        let cmd = SymtabCommand {
            symoff: 0,
            nsyms: n as u32,
            stroff: data.len() as u32,
            strsize: strtab.len() as u32,
            ..SymtabCommand::default()
        };
        data.extend_from_slice(&strtab);
        (data, cmd)
    }

    #[test]
    fn reads_entries_and_names() {
        let (data, cmd) = table(&[b"_PyInit_a", b"_b"], 3);
        let syms = SymbolTable::new(true, &data, Some(&cmd), true, true);
        let got: Vec<(&str, u64)> = syms.iter().map(|s| (s.name, s.nlist.n_value)).collect();
        assert_eq!(
            got,
            [("_PyInit_a", 0x1000), ("_b", 0x1001), ("_PyInit_a", 0x1002)]
        );
        assert!(syms.iter().all(|s| s.is_exported()));
        assert_eq!(syms.get(1).map(|s| s.name), Some("_b"));
        assert!(syms.get(3).is_none());
        assert!(!syms.exhausted());
        // A table goblin refused has no symbols.
        assert_eq!(
            SymbolTable::new(false, &data, Some(&cmd), true, true)
                .iter()
                .count(),
            0
        );
    }

    /// Resource check regression: 100,000 symbols all named by one 1 MB string (2.7 MB)
    /// took 110 s as exports and 153 s as imports, each symbol scanning and copying the
    /// whole string. Names read are now charged; past twice the file the table stops.
    #[test]
    fn one_long_name_shared_by_every_symbol_exhausts_the_budget() {
        let long = vec![b'A'; 8192];
        let (data, cmd) = table(&[&long], 2000);
        let syms = SymbolTable::new(true, &data, Some(&cmd), true, true);
        let read = syms.iter().count();
        assert!(read < 20, "{read} names read");
        assert!(syms.exhausted());
    }
}
