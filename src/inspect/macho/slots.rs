//! Symbol pointer slots (`__got`, `__auth_got`, `__la_symbol_ptr`, `__nl_symbol_ptr`) and
//! stubs (`__stubs`, `__auth_stubs`) mapped through the indirect symbol table: the section's
//! `reserved1` is its first entry there, and each entry names the symbol of one slot or stub.

use goblin::mach::constants::{
    S_LAZY_DYLIB_SYMBOL_POINTERS, S_LAZY_SYMBOL_POINTERS, S_NON_LAZY_SYMBOL_POINTERS,
    S_SYMBOL_STUBS,
};

use super::ImportTable;
use super::bytes::malformed;
use super::segments::Section;
use super::symtab::{Indirect, IndirectTable, SymbolTable};
use crate::inspect::model::{ModelError, Pointer};

/// What the indirect symbol table says about pointer slots and stubs.
#[derive(Debug, Default)]
pub(super) struct Slots {
    /// Pointer slots: `Import` for undefined symbols, `Addr` for symbols defined here.
    pub pointers: Vec<(u64, Pointer)>,
    /// Stub address → import index.
    pub stubs: Vec<(u64, u32)>,
}

pub(super) fn slots(
    sections: &[Section],
    pointer_size: u8,
    file_len: usize,
    symtab: &SymbolTable<'_>,
    indirect: &IndirectTable<'_>,
    imports: &mut ImportTable,
) -> Result<Slots, ModelError> {
    let mut out = Slots::default();
    // Slots and stubs occupy distinct bytes of the file: no more entries than bytes.
    let mut budget = file_len as u64;
    for s in sections {
        let Some(entry_size) = entry_size(s, pointer_size)? else {
            continue;
        };
        let count = s.size / entry_size;
        budget = budget.checked_sub(count).ok_or_else(|| {
            malformed("symbol pointer and stub sections list more entries than the file has bytes")
        })?;
        let entries = indirect.slice(s.reserved1, count, &s.full_name())?;
        for (i, entry) in entries.enumerate() {
            let Indirect::Symbol(index) = entry else {
                continue;
            };
            let Some(sym) = symtab.get(index) else {
                continue;
            };
            let addr = s.addr.wrapping_add(i as u64 * entry_size);
            let is_stub = s.kind() == S_SYMBOL_STUBS;
            if sym.is_undefined() {
                let import =
                    imports.intern(sym.name.as_bytes(), sym.library_ordinal(imports.two_level));
                if is_stub {
                    out.stubs.push((addr, import));
                } else {
                    out.pointers.push((addr, Pointer::Import(import)));
                }
            } else if !is_stub {
                out.pointers.push((addr, Pointer::Addr(sym.nlist.n_value)));
            }
        }
    }
    Ok(out)
}

/// Bytes per entry of a symbol pointer or stub section, `None` for other sections.
fn entry_size(s: &Section, pointer_size: u8) -> Result<Option<u64>, ModelError> {
    match s.kind() {
        S_NON_LAZY_SYMBOL_POINTERS | S_LAZY_SYMBOL_POINTERS | S_LAZY_DYLIB_SYMBOL_POINTERS => {
            Ok(Some(u64::from(pointer_size)))
        }
        S_SYMBOL_STUBS if s.reserved2 == 0 => Err(malformed(format!(
            "stub section {} has stub size 0",
            s.full_name()
        ))),
        S_SYMBOL_STUBS => Ok(Some(u64::from(s.reserved2))),
        _ => Ok(None),
    }
}
