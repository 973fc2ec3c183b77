//! Recognise the binding generator that produced a module from fingerprints in its bytes
//! (symbol names and strings every generator leaves behind).

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use memchr::memmem;

use super::model::{Binary, Format};
use super::verdict::Binder;

/// Fingerprints in priority order: the first match wins. Generators that embed others'
/// strings come first (nanobind and mypyc modules never contain `__pyx_`, but a Cython
/// module can mention "pybind11" in a docstring only rarely; symbol prefixes are specific).
const FINGERPRINTS: &[(Binder, &[&[u8]])] = &[
    (
        Binder::Pyo3,
        &[b"pyo3-0.", b"pyo3_ffi", b"pyo3::", b"/pyo3/src/"],
    ),
    (
        Binder::Nanobind,
        &[b"nanobind", b"nb_func", b"__nb_signature__"],
    ),
    (Binder::Pybind11, &[b"__pybind11_internals_v", b"pybind11"]),
    (Binder::Cython, &[b"__pyx_", b"__Pyx_"]),
    (Binder::Mypyc, &[b"__mypyc", b"CPyStatics", b"CPy_"]),
    (Binder::F2py, &[b"f2py"]),
    (
        Binder::Swig,
        &[b"SWIG_", b"swig_runtime_data", b"SwigPyObject"],
    ),
    (Binder::Cffi, &[b"_cffi_backend", b"_cffi_"]),
    (Binder::RustCpython, &[b"cpython-0.", b"python3-sys"]),
];

/// The generator behind a parsed module: [`detect`] over the parts of its file that can hold
/// names and strings. Fingerprints are symbol names and strings, never instructions, unwind
/// tables, relocations, symbol entries or debug records, and those are most of a large
/// module (its machine code alone is often 60–80%). An ELF file's section headers say where
/// each part is; elsewhere only sections whose name says they hold instructions alone are
/// skipped (Mach-O's executable `__TEXT` segment also holds the strings).
pub fn detect_in(bin: &Binary) -> Binder {
    let mut skip = match bin.format {
        Format::Elf => elf_without_strings(bin.data),
        _ => None,
    }
    .unwrap_or_else(|| {
        bin.segments
            .iter()
            .filter(|s| s.instructions_only())
            .filter_map(|s| file_range(s.offset, s.filesize, bin.data.len()))
            .collect()
    });
    skip.sort_unstable();
    let mut best: Option<usize> = None;
    let mut at = 0;
    for (start, end) in skip.into_iter().chain([(bin.data.len(), bin.data.len())]) {
        if start > at {
            best = best_rank(&bin.data[at..start], best);
        }
        at = at.max(end);
    }
    best.map_or(Binder::CApi, |rank| FINGERPRINTS[rank].0)
}

/// `[offset, offset + size)` as indices into a file of `len` bytes, when it lies inside.
fn file_range(offset: u64, size: u64, len: usize) -> Option<(usize, usize)> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    (size > 0 && end <= len).then_some((start, end))
}

/// The file ranges of an ELF file's sections that hold no names or strings: code, unwind
/// and exception tables, relocations, symbol entries (their names are in string tables),
/// hash tables, pointer arrays, GPU kernels and debug records. None without section headers.
fn elf_without_strings(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    use goblin::container::Ctx;
    use goblin::elf::section_header::{
        SHF_EXECINSTR, SHT_DYNSYM, SHT_GNU_HASH, SHT_HASH, SHT_NOBITS, SHT_REL, SHT_RELA,
        SHT_SYMTAB,
    };
    use goblin::elf::{Elf, SectionHeader};
    let header = Elf::parse_header(data).ok()?;
    let ctx = Ctx::new(header.container().ok()?, header.endianness().ok()?);
    let offset = usize::try_from(header.e_shoff).ok()?;
    let sections = SectionHeader::parse(data, offset, header.e_shnum.into(), ctx).ok()?;
    let names = sections.get(usize::from(header.e_shstrndx))?;
    let (start, end) = file_range(names.sh_offset, names.sh_size, data.len())?;
    let names = &data[start..end];
    let name_of = |s: &SectionHeader| -> &[u8] {
        let tail = names.get(s.sh_name..).unwrap_or_default();
        &tail[..memchr::memchr(0, tail).unwrap_or(tail.len())]
    };
    let opaque = |s: &SectionHeader| {
        let name = name_of(s);
        s.sh_flags & u64::from(SHF_EXECINSTR) != 0
            || matches!(
                s.sh_type,
                SHT_REL | SHT_RELA | SHT_SYMTAB | SHT_DYNSYM | SHT_HASH | SHT_GNU_HASH
            )
            || [
                &b".eh_frame"[..],
                b".gcc_except_table",
                b".data.rel.ro",
                b".init_array",
                b".fini_array",
                b".dynamic",
                b".got",
                b".nv_fatbin",
                b".debug_",
                b".zdebug_",
                b".gnu.version",
                b".relr.dyn",
            ]
            .iter()
            .any(|p| name.starts_with(p))
    };
    Some(
        sections
            .iter()
            .filter(|s| s.sh_type != SHT_NOBITS && opaque(s))
            .filter_map(|s| file_range(s.sh_offset, s.sh_size, data.len()))
            .collect(),
    )
}

/// The generator behind `data`, or plain C-API when no fingerprint matches. One pass over
/// the bytes finds every fingerprint; the first binder in priority order that has one wins.
pub fn detect(data: &[u8]) -> Binder {
    best_rank(data, None).map_or(Binder::CApi, |rank| FINGERPRINTS[rank].0)
}

/// The best (lowest) fingerprint rank in `data`, or `best` when nothing better is there.
fn best_rank(data: &[u8], mut best: Option<usize>) -> Option<usize> {
    if best == Some(0) {
        return best;
    }
    static MATCHER: OnceLock<(AhoCorasick, Vec<usize>)> = OnceLock::new();
    let (matcher, owner) = MATCHER.get_or_init(|| {
        let mut needles: Vec<&[u8]> = Vec::new();
        let mut owner = Vec::new();
        for (rank, (_, list)) in FINGERPRINTS.iter().enumerate() {
            for n in *list {
                needles.push(n);
                owner.push(rank);
            }
        }
        let matcher = AhoCorasick::new(needles).expect("fingerprints build an automaton");
        (matcher, owner)
    });
    for m in matcher.find_overlapping_iter(data) {
        let rank = owner[m.pattern().as_usize()];
        if best.is_none_or(|b| rank < b) {
            best = Some(rank);
            if rank == 0 {
                break;
            }
        }
    }
    best
}

/// The PyO3 version a module was built with, from the crate path in its panic locations
/// ("pyo3-0.26.0/src/...").
pub fn pyo3_version(data: &[u8]) -> Option<String> {
    let at = memmem::find(data, b"pyo3-0.")?;
    let tail = &data[at + 5..data.len().min(at + 20)];
    let end = tail
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))?;
    let v = std::str::from_utf8(&tail[..end])
        .ok()?
        .trim_end_matches('.');
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_pick_the_generator() {
        let cases: &[(&[u8], Binder)] = &[
            (b"xx__pyx_module_is_main_lxml__etree\0", Binder::Cython),
            (
                b"/root/.cargo/registry/src/pyo3-0.26.0/src/err/mod.rs\0",
                Binder::Pyo3,
            ),
            (
                b"__pybind11_internals_v11_gcc_libstdcpp_cxxabi1018\0",
                Binder::Pybind11,
            ),
            (
                b"nanobind_v15_gcc_libstdcpp_cxxabi1018_ft\0",
                Binder::Nanobind,
            ),
            (b"SWIG_Python_TypeQuery\0", Binder::Swig),
            (b"this module was generated by f2py\0", Binder::F2py),
            (b"_cffi_backend\0", Binder::Cffi),
            (b"PyModuleDef_Init\0", Binder::CApi),
        ];
        for (data, want) in cases {
            assert_eq!(detect(data), *want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn pyo3_version_from_panic_path() {
        assert_eq!(
            pyo3_version(b"/src/pyo3-0.26.0/src/gil.rs"),
            Some("0.26.0".into())
        );
        assert_eq!(pyo3_version(b"no rust here"), None);
    }
}
