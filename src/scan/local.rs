//! Local inputs: `.whl` files, lone `.so`/`.pyd` files, folders holding them, and the
//! dispatch of a folder that is an installed environment.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::env::scan_env;
use super::wheel::scan_wheel;
use super::{
    ModuleVerdict, Readiness, ScanConfig, ScanReport, WheelReport, hex, inspect_named,
    read_bounded, run_parallel,
};
use crate::inspect::verdict::{Reason, Verdict};
use crate::inspect::{self, Binary};
use crate::wheel::{
    MemberKind, OsFamily, Platform, PythonTarget, SuffixKind, WheelArchive, WheelFilename,
    classify_member,
};

/// A unit of work found among the command-line paths.
#[derive(Debug, Clone)]
enum Input {
    Wheel(PathBuf),
    Module(PathBuf),
    /// A virtualenv, prefix or site-packages folder.
    Env(crate::wheel::InstalledEnv),
}

/// Scan local paths: `.whl` files, `.so`/`.pyd` files and folders holding them.
pub fn scan_paths(paths: &[PathBuf], cfg: &ScanConfig) -> ScanReport {
    let started = Instant::now();
    let mut report = ScanReport::default();
    let mut inputs = Vec::new();
    for path in paths {
        if let Err(e) = collect(path, &mut inputs) {
            report.errors.push(e);
        }
    }
    let bytes = AtomicU64::new(0);
    let results = run_parallel(&inputs, cfg.jobs, |input| match input {
        Input::Wheel(p) => scan_wheel_file(p, cfg, &bytes),
        Input::Module(p) => scan_module_file(p, cfg, &bytes),
        Input::Env(env) => scan_env(env, cfg, &bytes),
    });
    for r in results {
        match r {
            Ok(mut w) => {
                // An unreadable wheel is reported (unknown) and also an input error.
                if let Some(e) = w.iter().find_map(|r| r.error.as_ref()) {
                    report.errors.push(format!("{}: {e}", w[0].filename));
                }
                // So is a file that is not a readable binary at all: the input is damaged,
                // which no verdict can say.
                let mut damaged: Vec<String> = Vec::new();
                for r in &w {
                    for m in r.modules.iter().filter(|m| {
                        matches!(m.reason, Reason::MalformedBinary | Reason::UnreadableMember)
                    }) {
                        let line = if m.member == r.filename || r.filename.ends_with(&m.member) {
                            format!("{}: {}", r.filename, m.evidence)
                        } else {
                            format!("{}: {}: {}", r.filename, m.member, m.evidence)
                        };
                        if !damaged.contains(&line) {
                            damaged.push(line);
                        }
                    }
                }
                report.errors.extend(damaged);
                report.wheels.append(&mut w);
            }
            Err(e) => report.errors.push(e),
        }
    }
    report.stats.files = inputs.len() as u64;
    report.stats.bytes_read = bytes.into_inner();
    report.stats.seconds = started.elapsed().as_secs_f64();
    report
}

/// Expand one command-line path into wheels and module files.
fn collect(path: &Path, out: &mut Vec<Input>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        if let Ok(env) = crate::wheel::InstalledEnv::locate(path) {
            out.push(Input::Env(env));
            return Ok(());
        }
        let before = out.len();
        walk_dir(path, out, 0).map_err(|e| format!("{}: {e}", path.display()))?;
        if out.len() == before {
            return Err(format!(
                "{}: no wheels or extension modules in this folder",
                path.display()
            ));
        }
        return Ok(());
    }
    match kind_of(path) {
        Some(input) => {
            out.push(input);
            Ok(())
        }
        None => Err(format!(
            "{}: not a wheel (.whl) or an extension module (.so, .pyd)",
            path.display()
        )),
    }
}

fn kind_of(path: &Path) -> Option<Input> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".whl") {
        Some(Input::Wheel(path.to_path_buf()))
    } else if name.ends_with(".so") || name.ends_with(".pyd") {
        Some(Input::Module(path.to_path_buf()))
    } else {
        None
    }
}

/// Wheels anywhere below `dir`; module files only when the folder holds no wheel.
fn walk_dir(dir: &Path, out: &mut Vec<Input>, depth: usize) -> std::io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_dir(&p, out, depth + 1)?;
        } else if let Some(input) = kind_of(&p) {
            out.push(input);
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), total))
}

/// The last component of a path as text ("" when it has none or is not UTF-8).
fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

fn scan_wheel_file(
    path: &Path,
    cfg: &ScanConfig,
    bytes: &AtomicU64,
) -> Result<Vec<WheelReport>, String> {
    let filename = file_name(path);
    let wf = WheelFilename::parse(&filename).map_err(|e| format!("{}: {e}", path.display()))?;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(failed)?;
    let len = file.metadata().map_err(failed)?.len();
    let scan = || {
        scan_wheel(
            &wf,
            None,
            WheelArchive::new(BufReader::new(file), &filename),
            cfg,
        )
    };
    // A big wheel is hashed on a second core while its members are read: for torch's 540 MB
    // the hash is half the time.
    let (reports, (sha, size)) = if cfg.jobs > 1 && len >= HASH_ASIDE_MIN {
        std::thread::scope(|s| {
            let hash = s.spawn(|| sha256_file(path));
            let reports = scan();
            let hashed = hash.join().unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "the thread hashing the wheel panicked",
                ))
            });
            hashed.map(|h| (reports, h))
        })
        .map_err(failed)?
    } else {
        let hashed = sha256_file(path).map_err(failed)?;
        (scan(), hashed)
    };
    bytes.fetch_add(size, Ordering::Relaxed);
    // The reports were made before the hash was known.
    Ok(reports
        .into_iter()
        .map(|r| WheelReport {
            sha256: Some(sha.clone()),
            ..r
        })
        .collect())
}

/// Wheels at least this big are hashed beside the scan when a second job is allowed.
const HASH_ASIDE_MIN: u64 = 16 << 20;

/// A lone extension file: its module name comes from the file name, its platform from the
/// suffix (or, for an untagged suffix, from the binary itself).
fn scan_module_file(
    path: &Path,
    cfg: &ScanConfig,
    bytes: &AtomicU64,
) -> Result<Vec<WheelReport>, String> {
    let name = file_name(path);
    let data = read_bounded(path)?;
    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    let platform = platform_of_file(&name, &data);
    let mut out = Vec::new();
    for &python in &cfg.pythons {
        let mut r = WheelReport {
            filename: path.display().to_string(),
            project: None,
            version: None,
            sha256: Some(crate::index::sha256_hex(&data)),
            python: python.to_string(),
            platform: platform.map(|p| p.to_string()),
            readiness: Readiness::Unknown,
            note: None,
            error: None,
            modules: Vec::new(),
        };
        let module = match platform.map(|p| classify_member(&name, python, p)) {
            Some(MemberKind::Extension(e)) => {
                let v = inspect_named(
                    &data,
                    &name,
                    &e.module,
                    python,
                    platform.unwrap_or(Platform::LinuxX86_64),
                    &inspect::NoLibraries,
                );
                Some(v)
            }
            Some(MemberKind::ForeignExtension(f)) => Some(ModuleVerdict {
                member: name.clone(),
                module: f.module.clone(),
                verdict: Verdict::Incompatible,
                reason: Reason::WrongAbi,
                binder: inspect::binder::detect(&data),
                evidence: format!("{}: {}", f.suffix, f.reason),
                fix: Some(format!(
                    "build the module for the free-threaded ABI ({})",
                    python.abi_tag()
                )),
            }),
            _ => {
                r.note = Some("not an extension module by its name".into());
                None
            }
        };
        r.modules.extend(module);
        r.readiness = if r.modules.is_empty() {
            Readiness::Unknown
        } else {
            Readiness::of_modules(&r.modules)
        };
        out.push(r);
    }
    Ok(out)
}

/// The platform a lone file is for: from its suffix when it names one, else from its format.
fn platform_of_file(name: &str, data: &[u8]) -> Option<Platform> {
    let tagged = Platform::ALL.iter().copied().find(|p| {
        PythonTarget::ALL.iter().any(|py| {
            matches!(classify_member(name, *py, *p), MemberKind::Extension(ref e) if e.suffix_kind != SuffixKind::Bare)
        })
    });
    if tagged.is_some() {
        return tagged;
    }
    let bin = Binary::parse(data, None).ok()?;
    let os = match bin.format {
        inspect::Format::Elf => OsFamily::Linux,
        inspect::Format::Pe => OsFamily::Windows,
        inspect::Format::MachO => OsFamily::MacOs,
    };
    Platform::ALL
        .iter()
        .copied()
        .find(|p| p.os() == os && p.arch() == bin.arch && !p.is_musl())
}
