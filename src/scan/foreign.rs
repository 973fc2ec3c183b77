//! Files named like extension modules that the import system cannot load — no init hook, or
//! one that only returns NULL — are native libraries a package opens with ctypes or cffi
//! (pycryptodome ships dozens): they cannot turn the GIL on, so they are not counted as
//! modules, and the wheel says so.

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
    if !matches!(v.reason, Reason::NoInitHook | Reason::DefNotFound) {
        return false;
    }
    let Ok(bin) = crate::inspect::Binary::parse(data, arch) else {
        return false;
    };
    match v.reason {
        Reason::NoInitHook => !bin.exports.is_empty(),
        _ => {
            let hook = crate::wheel::hook_names(&v.module).init;
            bin.exports
                .get(&hook)
                .and_then(|&at| bin.code_from(at))
                .is_some_and(|code| returns_null(bin.arch, code))
        }
    }
}

/// Whether a function's code is nothing but `return NULL` (`xor eax, eax; ret` and the like),
/// after an optional landing pad.
fn returns_null(arch: Arch, code: &[u8]) -> bool {
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
            let word = |i: usize| {
                code.get(i * 4..i * 4 + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            // An optional `bti c`, then `mov x0, #0` / `mov w0, #0` / `mov x0, xzr`, `ret`.
            let first = usize::from(word(0) == Some(0xd503_245f));
            matches!(word(first), Some(0xd280_0000 | 0x5280_0000 | 0xaa1f_03e0))
                && word(first + 1) == Some(0xd65f_03c0)
        }
        _ => false,
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
        "{} file(s) named like extension modules cannot be imported (no init hook, or one that only returns NULL), such as {first}: native libraries loaded with ctypes or cffi, so they cannot turn the GIL on",
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
            (Arch::Ppc64, &[0x38, 0x60, 0x00, 0x00], false),
        ] {
            assert_eq!(returns_null(arch, code), want, "{arch:?} {code:x?}");
        }
    }
}
