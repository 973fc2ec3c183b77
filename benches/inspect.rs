//! Inspection throughput (MiB of extension binary per second, one core) on real modules read
//! from the wheels under `$GILFREE_WHEELS` (default `/tmp/gilfree-wheels`, filled by
//! `scripts/fetch-test-wheels.py`), against two baselines measured in the same run:
//!
//! - `floor`: one pass over the bytes (memchr counting the module's rarest byte), the
//!   memory-bandwidth floor of anything that reads the file;
//! - `parse`: `Binary::parse` alone (building the format-neutral model);
//! - `full`: `inspect_module`, what `gilfree scan` runs per module.
//!
//! After criterion's own report, a table gives each module's median throughput for the three
//! and the time ratios full/parse and full/floor. Absolute figures depend on the machine and
//! its load; compare ratios. Wheels are not committed: without them the bench prints why and
//! does nothing. Run with `cargo bench --bench inspect` (see benches/README.md).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput};
use gilfree::inspect::{Binary, ModuleRequest, NoLibraries, inspect_module};
use gilfree::wheel::{
    MemberKind, Platform, PythonTarget, WheelArchive, classify_member, hook_names,
};

/// One module to measure: a member of a wheel found by file-name prefix in a platform folder.
struct Pick {
    /// Benchmark group name: `<format>-<arch>.<class>.<project>`.
    id: &'static str,
    /// Folder under `$GILFREE_WHEELS` (as `scripts/fetch-test-wheels.py` names them).
    folder: &'static str,
    platform: Platform,
    /// Start of the wheel's file name (`<dist>-<version>-`).
    wheel: &'static str,
    member: &'static str,
}

/// A mix of binders, sizes, formats and detection paths: small Cython, PyO3 Rust, pybind11 C++
/// (whose slots are built by code at run time, so the code reader runs), a single-phase C module
/// (the `PyUnstable_Module_SetGIL` call-site path) and the large modules (mypy's 22–47 MB
/// mypyc group library, onnxruntime's 37 MB pybind11 module).
const PICKS: &[Pick] = &[
    Pick {
        id: "elf-x86_64.cython.msgpack",
        folder: "linux-x86_64",
        platform: Platform::LinuxX86_64,
        wheel: "msgpack-1.2.4-",
        member: "msgpack/_cmsgpack.cpython-314t-x86_64-linux-gnu.so",
    },
    Pick {
        id: "elf-x86_64.pyo3.pydantic_core",
        folder: "linux-x86_64",
        platform: Platform::LinuxX86_64,
        wheel: "pydantic_core-2.50.4-",
        member: "pydantic_core/_pydantic_core.cpython-314t-x86_64-linux-gnu.so",
    },
    Pick {
        id: "elf-x86_64.pybind11.contourpy",
        folder: "linux-x86_64",
        platform: Platform::LinuxX86_64,
        wheel: "contourpy-1.4.0-",
        member: "contourpy/_contourpy.cpython-314t-x86_64-linux-gnu.so",
    },
    Pick {
        id: "elf-x86_64.large-mypyc.mypy",
        folder: "linux-x86_64",
        platform: Platform::LinuxX86_64,
        wheel: "mypy-2.4.1-",
        member: "6ec57f84c680d3a3778b__mypyc.cpython-314t-x86_64-linux-gnu.so",
    },
    Pick {
        id: "elf-x86_64.large-pybind11.onnxruntime",
        folder: "linux-x86_64",
        platform: Platform::LinuxX86_64,
        wheel: "onnxruntime-1.32.0-",
        member: "onnxruntime/capi/onnxruntime_pybind11_state.cpython-314t-x86_64-linux-gnu.so",
    },
    Pick {
        id: "elf-aarch64.pyo3.pydantic_core",
        folder: "linux-aarch64",
        platform: Platform::LinuxAarch64,
        wheel: "pydantic_core-2.50.4-",
        member: "pydantic_core/_pydantic_core.cpython-314t-aarch64-linux-gnu.so",
    },
    Pick {
        id: "elf-aarch64.pybind11.contourpy",
        folder: "linux-aarch64",
        platform: Platform::LinuxAarch64,
        wheel: "contourpy-1.4.0-",
        member: "contourpy/_contourpy.cpython-314t-aarch64-linux-gnu.so",
    },
    Pick {
        id: "pe-amd64.cython.msgpack",
        folder: "win-amd64",
        platform: Platform::WindowsAmd64,
        wheel: "msgpack-1.2.4-",
        member: "msgpack/_cmsgpack.cp314t-win_amd64.pyd",
    },
    Pick {
        id: "pe-amd64.pyo3.pydantic_core",
        folder: "win-amd64",
        platform: Platform::WindowsAmd64,
        wheel: "pydantic_core-2.50.4-",
        member: "pydantic_core/_pydantic_core.cp314t-win_amd64.pyd",
    },
    Pick {
        id: "pe-amd64.c-single-phase.scipy_max_len_seq",
        folder: "win-amd64",
        platform: Platform::WindowsAmd64,
        wheel: "scipy-1.18.1-",
        member: "scipy/signal/_max_len_seq_inner.cp314t-win_amd64.pyd",
    },
    Pick {
        id: "macho-arm64.pybind11.sentencepiece",
        folder: "macos-arm64",
        platform: Platform::MacosArm64,
        wheel: "sentencepiece-0.2.3-",
        member: "sentencepiece/_sentencepiece.cpython-314t-darwin.so",
    },
    Pick {
        id: "macho-arm64.large-mypyc.mypy",
        folder: "macos-arm64",
        platform: Platform::MacosArm64,
        wheel: "mypy-2.4.1-",
        member: "6ec57f84c680d3a3778b__mypyc.cpython-314t-darwin.so",
    },
];

/// A module read into memory, with what `inspect_module` needs to look for it.
struct Loaded {
    id: &'static str,
    platform: Platform,
    member: &'static str,
    module: String,
    init_hook: String,
    export_hook: String,
    data: Vec<u8>,
    /// The byte value that occurs least often (the floor's needle, so memchr rarely stops).
    rare: u8,
}

impl Loaded {
    fn request(&self) -> ModuleRequest<'_> {
        ModuleRequest {
            member: self.member,
            module: &self.module,
            init_hook: &self.init_hook,
            export_hook: &self.export_hook,
            py315: false,
            arch: Some(self.platform.arch()),
        }
    }
}

fn wheels_dir() -> PathBuf {
    std::env::var_os("GILFREE_WHEELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/gilfree-wheels"))
}

/// Reads one pick's member out of its wheel, or says why it cannot.
fn load(root: &Path, pick: &'static Pick) -> Result<Loaded, String> {
    let folder = root.join(pick.folder);
    let wheel = std::fs::read_dir(&folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(pick.wheel) && n.ends_with(".whl"))
        })
        .ok_or_else(|| format!("no {}*.whl in {}", pick.wheel, folder.display()))?;
    let mut archive = WheelArchive::open_path(&wheel).map_err(|e| e.to_string())?;
    let data = archive
        .read_member(pick.member)
        .map_err(|e| e.to_string())?;
    let module = match classify_member(pick.member, PythonTarget::Py314t, pick.platform) {
        MemberKind::Extension(e) => e.module,
        other => {
            return Err(format!(
                "{} is not an extension module: {other:?}",
                pick.member
            ));
        }
    };
    let hooks = hook_names(&module);
    let mut counts = [0usize; 256];
    for &b in &data {
        counts[b as usize] += 1;
    }
    let rare = (0..=255u8).min_by_key(|&b| counts[b as usize]).unwrap_or(0);
    Ok(Loaded {
        id: pick.id,
        platform: pick.platform,
        member: pick.member,
        module,
        init_hook: hooks.init,
        export_hook: hooks.export,
        data,
        rare,
    })
}

/// Where criterion writes its estimates: the same precedence criterion uses by default, set
/// explicitly so that the summary can find them.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

const BASELINES: [&str; 3] = ["floor", "parse", "full"];

fn bench(c: &mut Criterion, modules: &[Loaded]) {
    for m in modules {
        let mut group = c.benchmark_group(m.id);
        group.throughput(Throughput::Bytes(m.data.len() as u64));
        // Few, short samples: the machine is small and shared; repeat runs instead.
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.bench_function("floor", |b| {
            b.iter(|| memchr::memchr_iter(m.rare, black_box(&m.data)).count())
        });
        group.bench_function("parse", |b| {
            b.iter(|| {
                Binary::parse(black_box(&m.data), Some(m.platform.arch()))
                    .map(|bin| bin.segments.len())
                    .ok()
            })
        });
        let req = m.request();
        group.bench_function("full", |b| {
            b.iter(|| inspect_module(black_box(&m.data), &req, &NoLibraries))
        });
        group.finish();
    }
}

/// Criterion's median time per iteration (ns) of one benchmark, when this run measured it.
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(group.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_"))
        .join(function)
        .join("new")
        .join("estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn summary(dir: &Path, modules: &[Loaded], since: SystemTime) {
    let mib = |bytes: usize, ns: f64| bytes as f64 / (1024.0 * 1024.0) / (ns * 1e-9);
    let mut rows = Vec::new();
    for m in modules {
        let t: Vec<Option<f64>> = BASELINES
            .iter()
            .map(|f| median_ns(dir, m.id, f, since))
            .collect();
        let (Some(floor), Some(parse), Some(full)) = (t[0], t[1], t[2]) else {
            continue;
        };
        let v = inspect_module(&m.data, &m.request(), &NoLibraries);
        rows.push(format!(
            "{:<44} {:>8.2} {:>10.0} {:>9.0} {:>8.0} {:>10.1} {:>10.0}  {:?}",
            m.id,
            m.data.len() as f64 / (1024.0 * 1024.0),
            mib(m.data.len(), floor),
            mib(m.data.len(), parse),
            mib(m.data.len(), full),
            full / parse,
            full / floor,
            v.reason,
        ));
    }
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Median throughput, MiB/s on one core; ratios are time(full)/time(baseline):");
    println!(
        "{:<44} {:>8} {:>10} {:>9} {:>8} {:>10} {:>10}  path taken",
        "module", "MiB", "floor", "parse", "full", "full/parse", "full/floor"
    );
    for r in rows {
        println!("{r}");
    }
}

fn main() {
    let root = wheels_dir();
    if !root.is_dir() {
        println!(
            "inspect bench skipped: no wheels at {} (set GILFREE_WHEELS, or run scripts/fetch-test-wheels.py)",
            root.display()
        );
        return;
    }
    let mut modules = Vec::new();
    for pick in PICKS {
        match load(&root, pick) {
            Ok(m) => modules.push(m),
            Err(e) => println!("inspect bench: skipping {}: {e}", pick.id),
        }
    }
    if modules.is_empty() {
        println!(
            "inspect bench skipped: none of its modules are under {}",
            root.display()
        );
        return;
    }
    let dir = criterion_dir();
    let since = SystemTime::now();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    bench(&mut c, &modules);
    c.final_summary();
    summary(&dir, &modules, since);
}
