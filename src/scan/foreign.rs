//! Files named like extension modules that the import system cannot load — no init hook, one
//! that only returns NULL, or no binary at all (a script or text file that happens to end in
//! `.so`) — cannot turn the GIL on: the first two are native libraries a package opens with
//! ctypes or cffi (pycryptodome ships dozens), the last is not native code. They are not
//! counted as modules, and the wheel says so.

use super::{Readiness, WheelReport};
use crate::inspect::Arch;
use crate::inspect::verdict::{ModuleVerdict, Reason};

/// Whether a file named like an extension module is a native library the package loads with
/// ctypes or cffi instead, which the import system cannot load and so cannot turn the GIL on:
/// it exports symbols but no init hook for its name, or its init hook only returns NULL
/// (pycryptodome's stubs, which make importing fail). An unreadable export table, or any
/// other init code, is no proof: that stays an unknown module.
pub(super) fn is_foreign_loaded_library(
    v: &ModuleVerdict,
    data: &[u8],
    arch: Option<Arch>,
) -> bool {
    if v.reason == Reason::MalformedBinary {
        return is_text(data);
    }
    // Code not read in full (32-bit x86, ARM, ...) still shows a hook that only returns NULL.
    if !matches!(
        v.reason,
        Reason::NoInitHook | Reason::DefNotFound | Reason::UnsupportedArch
    ) {
        return false;
    }
    let Ok(bin) = crate::inspect::Binary::parse(data, arch) else {
        return false;
    };
    match v.reason {
        Reason::NoInitHook => !bin.exports.is_empty(),
        _ => {
            let hook = crate::wheel::hook_names(&v.module).init;
            let Some(&at) = bin.exports.get(&hook) else {
                return false;
            };
            // An ARM export with bit 0 set is Thumb code at the even address.
            let thumb = bin.arch == Arch::Arm && at & 1 == 1;
            bin.code_from(if thumb { at & !1 } else { at })
                .is_some_and(|code| returns_null(bin.arch, thumb, code))
        }
    }
}

/// Whether a file is text (a script, a linker script, a README) rather than a binary: not
/// empty, and its first 4 KiB are UTF-8 with no control character but tab, line feed, form
/// feed and carriage return. Noise and damaged binaries are not: they stay unknown.
fn is_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside a character at the 4 KiB mark.
        Err(e) => e.error_len().is_none() && head.len() == 4096,
    };
    !head.is_empty()
        && utf8
        && head
            .iter()
            .all(|&b| b >= 0x20 && b != 0x7f || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
}

/// Whether a function's code is nothing but `return NULL` (`xor eax, eax; ret` and the like),
/// after an optional landing pad. `thumb`: ARM code in the Thumb instruction set.
fn returns_null(arch: Arch, thumb: bool, code: &[u8]) -> bool {
    let le32 = |i: usize| {
        code.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match arch {
        Arch::X86_64 | Arch::X86 => {
            let code = code.strip_prefix(&[0xf3, 0x0f, 0x1e, 0xfa]).unwrap_or(code); // endbr64
            let code = code.strip_prefix(&[0xf3, 0x0f, 0x1e, 0xfb]).unwrap_or(code); // endbr32
            let code = code.strip_prefix(&[0x48]).unwrap_or(code); // REX.W
            [[0x31, 0xc0, 0xc3], [0x33, 0xc0, 0xc3]]
                .iter()
                .any(|p| code.starts_with(p))
        }
        Arch::Aarch64 => {
            // An optional `bti c`, then `mov x0, #0` / `mov w0, #0` / `mov x0, xzr`, `ret`.
            let first = usize::from(le32(0) == Some(0xd503_245f));
            matches!(le32(first), Some(0xd280_0000 | 0x5280_0000 | 0xaa1f_03e0))
                && le32(first + 1) == Some(0xd65f_03c0)
        }
        // Thumb `movs r0, #0; bx lr`; ARM `mov r0, #0; bx lr`.
        Arch::Arm if thumb => code.starts_with(&[0x00, 0x20, 0x70, 0x47]),
        Arch::Arm => le32(0) == Some(0xe3a0_0000) && le32(1) == Some(0xe12f_ff1e),
        // Little-endian ELFv2: an optional TOC set-up (`addis r2, r12, hi; addi r2, r2, lo`),
        // then `li r3, 0; blr`.
        Arch::Ppc64 => {
            let toc = le32(0).is_some_and(|w| w >> 16 == 0x3c4c)
                && le32(1).is_some_and(|w| w >> 16 == 0x3842);
            let first = if toc { 2 } else { 0 };
            le32(first) == Some(0x3860_0000) && le32(first + 1) == Some(0x4e80_0020)
        }
        // `lghi %r2, 0; br %r14`.
        Arch::S390x => code.starts_with(&[0xa7, 0x29, 0x00, 0x00, 0x07, 0xfe]),
        // `c.li a0, 0; c.jr ra`, or `li a0, 0; ret` uncompressed.
        Arch::Riscv64 => {
            code.starts_with(&[0x01, 0x45, 0x82, 0x80])
                || le32(0) == Some(0x0000_0513) && le32(1) == Some(0x0000_8067)
        }
        Arch::Other => false,
    }
}

/// The readiness and note of a target whose extension-named files include native libraries
/// loaded with ctypes or cffi (`libraries`): those do not count as modules, and when nothing
/// else is a module the native code is still no reason for the GIL.
pub(super) fn with_foreign_libraries(report: &mut WheelReport, libraries: &[String]) {
    let Some(first) = libraries.first() else {
        return;
    };
    if report.modules.is_empty() {
        report.readiness = Readiness::Ready;
    }
    let note = format!(
        "{} file(s) named like extension modules cannot be imported (no init hook, one that only returns NULL, or not a binary at all), such as {first}: native libraries loaded with ctypes or cffi, or text, so they cannot turn the GIL on",
        libraries.len()
    );
    report.note = Some(match report.note.take() {
        Some(n) => format!("{n}; {note}"),
        None => note,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_code_that_only_returns_null() {
        for (arch, code, want) in [
            (Arch::X86_64, &[0x31, 0xc0, 0xc3][..], true),
            (
                Arch::X86_64,
                &[0xf3, 0x0f, 0x1e, 0xfa, 0x33, 0xc0, 0xc3],
                true,
            ),
            (Arch::X86_64, &[0x48, 0x31, 0xc0, 0xc3], true),
            (Arch::X86_64, &[0x31, 0xc0, 0x90, 0xc3], false),
            (Arch::X86_64, &[0xb8, 0x01, 0, 0, 0, 0xc3], false),
            (
                Arch::Aarch64,
                &[0x00, 0x00, 0x80, 0xd2, 0xc0, 0x03, 0x5f, 0xd6],
                true,
            ),
            (
                Arch::Aarch64,
                &[
                    0x5f, 0x24, 0x03, 0xd5, 0x00, 0x00, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6,
                ],
                true,
            ),
            (
                Arch::Aarch64,
                &[0x20, 0x00, 0x80, 0xd2, 0xc0, 0x03, 0x5f, 0xd6],
                false,
            ),
            // Big-endian bytes of `li r3, 0`: not little-endian code.
            (Arch::Ppc64, &[0x38, 0x60, 0x00, 0x00], false),
            (
                Arch::Ppc64,
                &[0x00, 0x00, 0x60, 0x38, 0x20, 0x00, 0x80, 0x4e],
                true,
            ),
            (
                Arch::Ppc64,
                &[
                    0x02, 0x00, 0x4c, 0x3c, 0x00, 0x80, 0x42, 0x38, 0x00, 0x00, 0x60, 0x38, 0x20,
                    0x00, 0x80, 0x4e,
                ],
                true,
            ),
            (
                Arch::Ppc64,
                &[0x01, 0x00, 0x60, 0x38, 0x20, 0x00, 0x80, 0x4e],
                false,
            ),
            (Arch::S390x, &[0xa7, 0x29, 0x00, 0x00, 0x07, 0xfe], true),
            (Arch::S390x, &[0xa7, 0x29, 0x00, 0x01, 0x07, 0xfe], false),
            (Arch::Riscv64, &[0x01, 0x45, 0x82, 0x80], true),
            (
                Arch::Riscv64,
                &[0x13, 0x05, 0x00, 0x00, 0x67, 0x80, 0x00, 0x00],
                true,
            ),
            (Arch::Riscv64, &[0x05, 0x45, 0x82, 0x80], false),
            (
                Arch::Arm,
                &[0x00, 0x00, 0xa0, 0xe3, 0x1e, 0xff, 0x2f, 0xe1],
                true,
            ),
            (
                Arch::Arm,
                &[0x01, 0x00, 0xa0, 0xe3, 0x1e, 0xff, 0x2f, 0xe1],
                false,
            ),
            (Arch::Other, &[0x31, 0xc0, 0xc3], false),
        ] {
            assert_eq!(returns_null(arch, false, code), want, "{arch:?} {code:x?}");
        }
        // Thumb: the same bytes are ARM code only when the export says so.
        let thumb = [0x00, 0x20, 0x70, 0x47];
        assert!(returns_null(Arch::Arm, true, &thumb));
        assert!(!returns_null(Arch::Arm, false, &thumb));
        assert!(!returns_null(Arch::Arm, true, &[0x01, 0x20, 0x70, 0x47]));
    }

    #[test]
    fn scripts_and_text_are_not_binaries_but_noise_and_damaged_files_are_no_proof() {
        let long_utf8 = "é".repeat(3000); // 6,000 bytes: the 4 KiB cut falls inside a character
        let cases: [(&[u8], bool); 9] = [
            (b"#!/bin/sh\nexec python -m tool \"$@\"\n", true),
            (b"/* GNU ld script */\nGROUP ( libfoo.so.1 )\r\n", true),
            (long_utf8.as_bytes(), true),
            (b"", false),
            (b"\x7fELF\x02\x01\x01 this is not really an ELF file", false),
            (b"MZ\x90\x00", false),
            (b"text with a NUL\0 inside", false),
            (&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1], false),
            (&[0xff, 0xfe, 0x41], false),
        ];
        for (data, want) in cases {
            assert_eq!(is_text(data), want, "{:?}", String::from_utf8_lossy(data));
        }
    }
}
