//! Tests of the Mach-O loader on real modules: both slices of a universal2 tornado module
//! (classic rebase/bind opcodes), LLD-linked chained-fixup modules, fat-slice selection, the
//! synthetic images of [`synth`] in every supported fixup encoding, hostile variants of all
//! of these ([`malformed`]), and, when the wheels are on this machine, more real modules
//! ([`corpus`]).

mod corpus;
mod malformed;
mod synth;

use super::load;
use crate::inspect::model::{Arch, Binary, Format, Pointer};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/macho/",
            $name
        ))
    };
}

const TORNADO_ARM64: &[u8] = fixture!("tornado_speedups_arm64.so");
const TORNADO_X86_64: &[u8] = fixture!("tornado_speedups_x86_64.so");
const CHAINED_ARM64: &[u8] = fixture!("chained_arm64.so");
const CHAINED_X86_64: &[u8] = fixture!("chained_x86_64.so");

/// Offsets in a free-threaded 64-bit `PyModuleDef`.
const M_NAME: u64 = 56;
const M_SLOTS: u64 = 88;

/// Sites holding a pointer to the NUL-terminated string `name`.
fn sites_naming(bin: &Binary<'_>, name: &str) -> Vec<u64> {
    bin.pointers
        .iter()
        .filter_map(|(site, p)| match p {
            Pointer::Addr(a) if bin.c_str(a) == Some(name.as_bytes()) => Some(site),
            _ => None,
        })
        .collect()
}

/// What every real module shows: its hook exported, module creation imported, and its def's
/// `m_name` found through the pointer map. Returns the def's address.
fn assert_module(bin: &Binary<'_>, module: &str) -> u64 {
    assert!(
        bin.exports.contains_key(&format!("PyInit_{module}")),
        "{:?}",
        bin.exports
    );
    assert!(bin.imports_name("PyModuleDef_Init") || bin.imports_name("PyModule_Create2"));
    let sites = sites_naming(bin, module);
    // A static free-threaded def has ob_ref_local 0xffffffff at offset 12.
    let def = sites
        .iter()
        .map(|s| s - M_NAME)
        .find(|&d| bin.u32_at(d + 12) == Some(0xffff_ffff));
    def.unwrap_or_else(|| panic!("no PyModuleDef among the m_name sites {sites:x?} of {module}"))
}

fn import(bin: &Binary<'_>, name: &str) -> Pointer {
    Pointer::Import(
        bin.import(name)
            .unwrap_or_else(|| panic!("no import {name}")),
    )
}

/// The `{id, value}` pairs of the slot array at `addr`, up to the terminator.
fn slots(bin: &Binary<'_>, mut addr: u64) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    while let Some(id) = bin.u32_at(addr).filter(|&id| id != 0) {
        let value = match bin.word_at(addr + 8) {
            Some(crate::inspect::model::Word::Int(v)) => v,
            Some(crate::inspect::model::Word::Pointer(Pointer::Addr(a))) => a,
            other => panic!("slot value {other:?}"),
        };
        out.push((id, value));
        addr += 16;
    }
    out
}

#[test]
fn tornado_arm64_classic_opcodes() {
    let bin = load(TORNADO_ARM64, None).unwrap();
    assert_eq!(
        (bin.format, bin.arch, bin.pointer_size),
        (Format::MachO, Arch::Aarch64, 8)
    );
    assert!(bin.little_endian);
    assert_eq!(bin.image_base, 0);
    assert_eq!(bin.data.len(), TORNADO_ARM64.len());
    assert_eq!(bin.exports.get("PyInit_speedups"), Some(&0x538));
    assert_eq!(bin.needed, ["/usr/lib/libSystem.B.dylib"]);

    let def = assert_module(&bin, "speedups");
    assert_eq!(def, 0x8030);
    let slot_array = bin.addr_at(def + M_SLOTS).unwrap();
    assert_eq!(slots(&bin, slot_array), [(2, 0x7ac), (3, 2), (4, 1)]);

    // Binds, lazy binds and the indirect symbol table.
    assert_eq!(
        bin.pointers.get(0x4008),
        Some(import(&bin, "PyExc_ValueError"))
    );
    assert_eq!(
        bin.pointers.get(0x4000),
        Some(import(&bin, "dyld_stub_binder"))
    );
    assert_eq!(
        bin.pointers.get(0x8020),
        Some(import(&bin, "PyModuleDef_Init"))
    );
    let binder = &bin.imports[bin.import("dyld_stub_binder").unwrap() as usize];
    assert_eq!(
        binder.library.as_deref(),
        Some("/usr/lib/libSystem.B.dylib")
    );
    let init = &bin.imports[bin.import("PyModuleDef_Init").unwrap() as usize];
    assert_eq!(init.library, None, "flat-namespace lookup names no library");
    let stub = bin.import("PyModuleDef_Init").unwrap();
    assert!(bin.stubs.contains(&(0x7e4, stub)), "{:x?}", bin.stubs);
    assert_eq!(bin.stubs.len(), 5);

    let text = bin.segment(0x538).unwrap();
    assert_eq!(
        (text.name.as_str(), text.exec, text.write),
        ("__TEXT,__text", true, false)
    );
    let data = bin.segment(0x8030).unwrap();
    assert_eq!(
        (data.name.as_str(), data.exec, data.write),
        ("__DATA,__data", false, true)
    );
    assert_eq!(bin.section_name(0x4000), "__DATA_CONST,__got");
}

#[test]
fn tornado_x86_64_classic_opcodes() {
    let bin = load(TORNADO_X86_64, None).unwrap();
    assert_eq!((bin.arch, bin.pointer_size), (Arch::X86_64, 8));
    assert_eq!(bin.exports.get("PyInit_speedups"), Some(&0x530));
    let def = assert_module(&bin, "speedups");
    assert_eq!(
        slots(&bin, bin.addr_at(def + M_SLOTS).unwrap()).last(),
        Some(&(4, 1))
    );
    let init = bin.import("PyModuleDef_Init").unwrap();
    assert!(bin.stubs.contains(&(0x7d0, init)), "{:x?}", bin.stubs);
    assert_eq!(bin.pointers.get(0x2020), Some(Pointer::Import(init)));
}

/// A universal2 file holding `slices` (cputype, bytes), each aligned to 16 KiB.
fn fat(slices: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = vec![0xca, 0xfe, 0xba, 0xbe];
    out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut offset = 0x4000usize;
    let mut body = Vec::new();
    for (cputype, bytes) in slices {
        for v in [*cputype, 0, offset as u32, bytes.len() as u32, 14] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        body.push((offset, *bytes));
        offset = (offset + bytes.len()).next_multiple_of(0x4000);
    }
    for (at, bytes) in body {
        out.resize(at, 0);
        out.extend_from_slice(bytes);
    }
    out
}

const X86_64: u32 = 0x0100_0007;
const ARM64: u32 = 0x0100_000c;
const PPC: u32 = 18;

#[test]
fn fat_file_slice_selection() {
    let universal = fat(&[(X86_64, TORNADO_X86_64), (ARM64, TORNADO_ARM64)]);
    let pick = |prefer| {
        let bin = Binary::parse(&universal, prefer).unwrap();
        (bin.arch, bin.data.as_ptr(), bin.data.len())
    };
    let arm = (
        Arch::Aarch64,
        universal[0x8000..].as_ptr(),
        TORNADO_ARM64.len(),
    );
    let x86 = (
        Arch::X86_64,
        universal[0x4000..].as_ptr(),
        TORNADO_X86_64.len(),
    );
    assert_eq!(pick(None), arm);
    assert_eq!(pick(Some(Arch::Aarch64)), arm);
    assert_eq!(pick(Some(Arch::X86_64)), x86);
    assert_eq!(pick(Some(Arch::Ppc64)), arm);

    let bin = load(&universal, Some(Arch::X86_64)).unwrap();
    assert_module(&bin, "speedups");
    assert_eq!(bin.exports.get("PyInit_speedups"), Some(&0x530));

    // Without arm64: x86_64; with neither: the first slice.
    let intel = fat(&[(PPC, TORNADO_ARM64), (X86_64, TORNADO_X86_64)]);
    assert_eq!(load(&intel, None).unwrap().arch, Arch::X86_64);
    let other = fat(&[(PPC, TORNADO_X86_64), (PPC, TORNADO_ARM64)]);
    assert_eq!(load(&other, None).unwrap().data.len(), TORNADO_X86_64.len());
}

#[test]
fn lld_chained_fixups_arm64() {
    let bin = load(CHAINED_ARM64, None).unwrap();
    assert_eq!(bin.arch, Arch::Aarch64);
    let def = assert_module(&bin, "chained");
    assert_eq!(slots(&bin, bin.addr_at(def + M_SLOTS).unwrap()), [(4, 1)]);
    assert_eq!(
        bin.pointers.get(0x4000),
        Some(import(&bin, "PyModuleDef_Init"))
    );
    assert_eq!(
        bin.pointers.get(0x4008),
        Some(import(&bin, "PyExc_ValueError"))
    );
    assert_eq!(
        bin.pointers.get(0x80d8),
        Some(import(&bin, "PyExc_TypeError"))
    );
    assert_eq!(bin.pointers.len(), 8);
    let init = bin.import("PyModuleDef_Init").unwrap();
    assert!(
        bin.stubs.iter().any(|&(_, i)| i == init),
        "{:x?}",
        bin.stubs
    );
    // m_methods[0].ml_meth points at code.
    let methods = bin.addr_at(def + 80).unwrap();
    assert_eq!(bin.c_str(bin.addr_at(methods).unwrap()), Some(&b"noop"[..]));
    assert!(bin.segment(bin.addr_at(methods + 8).unwrap()).unwrap().exec);
}

#[test]
fn lld_chained_fixups_x86_64() {
    let bin = load(CHAINED_X86_64, None).unwrap();
    assert_eq!(bin.arch, Arch::X86_64);
    let def = assert_module(&bin, "chained");
    assert_eq!(slots(&bin, bin.addr_at(def + M_SLOTS).unwrap()), [(4, 1)]);
    assert_eq!(
        bin.pointers.get(0x20d8),
        Some(import(&bin, "PyExc_TypeError"))
    );
    assert_eq!(bin.needed, Vec::<String>::new());
}

/// What every synthetic image must load as, whatever its fixup encoding.
fn assert_synth(bin: &Binary<'_>) {
    use synth::*;
    assert_eq!(bin.exports.get("PyInit_synth"), Some(&TEXT_ADDR));
    assert_eq!(bin.imports.len(), 2, "{:?}", bin.imports);
    let init = bin.import("PyModuleDef_Init").unwrap();
    let exc = bin.import("PyExc_TypeError").unwrap();
    assert_eq!(bin.imports[init as usize].library, None);
    assert_eq!(
        bin.imports[exc as usize].library.as_deref(),
        Some(LIBSYSTEM)
    );
    let pointers: Vec<_> = bin.pointers.iter().collect();
    assert_eq!(
        pointers,
        [
            (GOT_SITE, Pointer::Import(init)),
            (NAME_SITE, Pointer::Addr(NAME_ADDR)),
            (SLOTS_SITE, Pointer::Addr(SLOTS_ADDR)),
            (IMPORT_SITE, Pointer::Import(exc)),
        ]
    );
    assert_eq!(sites_naming(bin, "synth"), [NAME_SITE]);
    assert_eq!(slots(bin, bin.addr_at(SLOTS_SITE).unwrap()), [(4, 1)]);
    assert_eq!(bin.stubs, [(STUB_ADDR, init)]);
    assert_eq!(bin.needed, [LIBSYSTEM]);
    let names: Vec<_> = bin.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "__TEXT,__text",
            "__TEXT,__cstring",
            "__TEXT,__stubs",
            "__DATA,__got",
            "__DATA,__data",
            "__DATA,__bss"
        ]
    );
    assert!(bin.is_zero_fill(BSS_ADDR));
    assert_eq!(bin.segment(BSS_ADDR).unwrap().filesize, 0);
}

#[test]
fn synthetic_classic_opcodes() {
    let s = synth::build(synth::Fixups::Classic);
    assert_synth(&load(&s.bytes, None).unwrap());
}

#[test]
fn synthetic_chained_pointer_formats() {
    for format in [1, 2, 6, 9, 12] {
        let s = synth::build(synth::Fixups::Chained(format));
        let bin = load(&s.bytes, None).unwrap_or_else(|e| panic!("format {format}: {e}"));
        assert_synth(&bin);
    }
}

#[test]
fn chained_high8_bits_are_kept() {
    // A tagged rebase keeps its top byte, as dyld applies it.
    let mut s = synth::build(synth::Fixups::Chained(2));
    let link = s.get_u64("link_name");
    s.put_u64("link_name", link | (0x5a << 36));
    let bin = load(&s.bytes, None).unwrap();
    assert_eq!(
        bin.pointers.get(synth::NAME_SITE),
        Some(Pointer::Addr(0x5a00_0000_0000_0900))
    );
}
