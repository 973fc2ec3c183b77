//! Real macOS modules read straight from the wheels downloaded on this machine
//! (`/tmp/gilfree-wheels/macos-arm64`). Too large to commit, so these tests skip, saying so,
//! when the wheels are absent.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{assert_module, sites_naming};
use crate::inspect::macho::load;
use crate::inspect::model::Arch;

const WHEELS: &str = "/tmp/gilfree-wheels/macos-arm64";

/// The wheels whose file name starts with `prefix`.
fn wheels(prefix: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(WHEELS) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".whl")
        })
        .collect();
    out.sort();
    out
}

/// `(member path, bytes)` of every `.so` in the wheel.
fn modules(wheel: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(file) = std::fs::File::open(wheel) else {
        return Vec::new();
    };
    let Ok(mut zip) = zip::ZipArchive::new(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        let name = entry.name().to_string();
        if name.ends_with(".so") {
            let mut bytes = Vec::new();
            if entry.read_to_end(&mut bytes).is_ok() {
                out.push((name, bytes));
            }
        }
    }
    out
}

/// Module name of a wheel member: the file name up to its first dot.
fn module_name(member: &str) -> &str {
    let file = member.rsplit('/').next().unwrap_or(member);
    file.split('.').next().unwrap_or(file)
}

#[test]
fn apple_ld_chained_fixups_offset_format() {
    // pikepdf 10.18 is linked for macOS 15 with LC_DYLD_CHAINED_FIXUPS, pointer format 6.
    let Some(wheel) = wheels("pikepdf-").into_iter().next() else {
        eprintln!("skipped: no pikepdf wheel under {WHEELS}");
        return;
    };
    let (_, bytes) = modules(&wheel)
        .into_iter()
        .find(|(m, _)| m.contains("_core."))
        .unwrap();
    let bin = load(&bytes, None).unwrap();
    assert_eq!(bin.arch, Arch::Aarch64);
    assert!(bin.exports.contains_key("PyInit__core"));
    assert!(bin.imports.len() > 800, "{}", bin.imports.len());
    assert!(bin.pointers.len() > 1000, "{}", bin.pointers.len());
    assert!(bin.imports_name("PyModuleDef_Init") || bin.imports_name("PyModule_Create2"));
    assert!(!bin.stubs.is_empty());
}

#[test]
fn universal2_wheels() {
    let found = wheels("")
        .into_iter()
        .filter(|w| w.to_string_lossy().contains("universal2"));
    let mut seen = 0;
    for wheel in found {
        for (member, bytes) in modules(&wheel) {
            let name = module_name(&member);
            for arch in [Arch::Aarch64, Arch::X86_64] {
                let bin = load(&bytes, Some(arch)).unwrap_or_else(|e| panic!("{member}: {e}"));
                assert_eq!(bin.arch, arch, "{member}");
                assert!(
                    bin.exports.contains_key(&format!("PyInit_{name}")),
                    "{member}"
                );
            }
            seen += 1;
        }
    }
    if seen == 0 {
        eprintln!("skipped: no universal2 wheel under {WHEELS}");
    }
}

/// Every module of every local wheel loads; reports how many expose their `m_name` through
/// the pointer map (single-phase and run-time-built defs have none).
#[test]
#[ignore = "reads every local macOS wheel; run with --ignored"]
fn every_local_module_loads() {
    let (mut total, mut named, mut failures) = (0, 0, Vec::new());
    for wheel in wheels("") {
        for (member, bytes) in modules(&wheel) {
            total += 1;
            match load(&bytes, None) {
                Ok(bin) => {
                    let name = module_name(&member);
                    if bin.exports.contains_key(&format!("PyInit_{name}"))
                        && !sites_naming(&bin, name).is_empty()
                    {
                        named += 1;
                        assert_module(&bin, name);
                    }
                }
                Err(e) => failures.push(format!("{member}: {e}")),
            }
        }
    }
    eprintln!(
        "{total} modules, {named} with m_name found, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
