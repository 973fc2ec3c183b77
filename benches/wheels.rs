//! Whole-wheel CPU against the decompression floor, in the same run: for each wheel (found by
//! file-name prefix under `$GILFREE_WHEELS`, default `/tmp/gilfree-wheels`, filled by
//! `scripts/fetch-test-wheels.py`),
//!
//! - `inflate`: open the archive and merely inflate the bytes the scan reads: each member the
//!   scan read, as far as its farthest read went, once (the scan's own reads are logged by
//!   the archive, see `WheelArchive::inflated`);
//! - `scan`: `scan_archive` for CPython 3.14t on linux-x86_64, what `gilfree scan` runs per
//!   wheel after hashing it.
//!
//! After criterion's report, a table gives per wheel the bytes inflated by each, the median
//! times and their ratio scan/inflate (issue: at most 3 for any wheel). Absolute times depend
//! on the machine and its load; compare ratios. Run with `cargo bench --bench wheels`
//! (see benches/README.md); without the wheels it prints why and does nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use gilfree::scan::{ScanConfig, scan_archive};
use gilfree::wheel::{Platform, PythonTarget, WheelArchive, WheelFilename};

/// Wheels to measure: (benchmark id, folder under `$GILFREE_WHEELS`, file-name prefix). The
/// heavy ones (a stub-and-library layout, CUDA kernels, a 35 MB C++ module, a mypyc group
/// library, ortools' libraries looked up for a libc name, torch's libraries read by prefix) and a
/// few ordinary ones.
const PICKS: &[(&str, &str, &str)] = &[
    ("jaxlib", "linux-x86_64-b", "jaxlib-0.12.0.1-"),
    ("cupy-cuda12x", "linux-x86_64-b", "cupy_cuda12x-14.2.0-"),
    ("onnxruntime", "linux-x86_64", "onnxruntime-1.32.0-"),
    ("mypy", "linux-x86_64", "mypy-2.4.1-"),
    ("scipy", "linux-x86_64", "scipy-1.18.1-"),
    ("pyarrow", "linux-x86_64", "pyarrow-26.0.1-"),
    ("ortools", "linux-x86_64", "ortools-9.15.6755-"),
    ("pydantic-core", "linux-x86_64", "pydantic_core-2.50.4-"),
    ("numpy", "linux-x86_64-b", "numpy-2.5.5-"),
    ("msgpack", "linux-x86_64", "msgpack-1.2.4-"),
    ("torch", "big", "torch-"),
];

struct Wheel {
    id: &'static str,
    path: PathBuf,
    name: WheelFilename,
    /// Member → farthest byte any read of the scan inflated.
    reads: BTreeMap<String, u64>,
    /// Bytes the scan inflated, repeats included.
    scan_bytes: u64,
}

fn config() -> ScanConfig {
    ScanConfig {
        pythons: vec![PythonTarget::Py314t],
        platforms: vec![Platform::LinuxX86_64],
        jobs: 1,
        progress: false,
        page_max_age: None,
    }
}

fn scan(w: &Wheel) -> WheelArchive<std::io::BufReader<std::fs::File>> {
    let mut archive = WheelArchive::open_path(&w.path).expect("opened before");
    black_box(scan_archive(&w.name, None, &mut archive, &config()));
    archive
}

fn inflate(w: &Wheel) -> u64 {
    let mut archive = WheelArchive::open_path(&w.path).expect("opened before");
    let mut n = 0;
    for (member, &len) in &w.reads {
        n += archive
            .read_member_prefix(member, len)
            .map_or(0, |d| d.len() as u64);
    }
    black_box(n)
}

fn load(root: &Path, id: &'static str, folder: &str, prefix: &str) -> Result<Wheel, String> {
    let dir = root.join(folder);
    let path = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        })
        .min()
        .ok_or_else(|| format!("no {prefix}*.whl in {}", dir.display()))?;
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = WheelFilename::parse(file).map_err(|e| e.to_string())?;
    load_path(path, id, name)
}

/// Scan a wheel once to learn what its scan reads.
fn load_path(path: PathBuf, id: &'static str, name: WheelFilename) -> Result<Wheel, String> {
    let mut w = Wheel {
        id,
        path,
        name,
        reads: BTreeMap::new(),
        scan_bytes: 0,
    };
    let archive = scan(&w);
    for (member, len) in archive.inflated() {
        let far = w.reads.entry(member.clone()).or_default();
        *far = (*far).max(*len);
        w.scan_bytes += len;
    }
    Ok(w)
}

fn wheels_dir() -> PathBuf {
    std::env::var_os("GILFREE_WHEELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/gilfree-wheels"))
}

/// Where criterion writes its estimates (its own default precedence, made explicit).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion's median time per iteration (ns), when this run measured it.
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(format!("wheel.{group}"))
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

/// Every wheel under the x86-64 folders, in process, best of `runs`: the whole-wheel table
/// the "no wheel over 3x its own inflate" is checked against, without the process
/// start-up (about 1 ms) that one process per wheel adds to wheels inflated in 0.2 ms.
/// Run with `GILFREE_BENCH_ALL=1 cargo bench --bench wheels`.
fn all_wheels(root: &Path, runs: usize) {
    let mut paths: Vec<PathBuf> = ["linux-x86_64", "linux-x86_64-b", "big"]
        .iter()
        .filter_map(|folder| std::fs::read_dir(root.join(folder)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    paths.sort();
    let best = |f: &mut dyn FnMut()| {
        (0..runs)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let mut rows: Vec<Row> = Vec::new();
    for path in &paths {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Ok(name) = WheelFilename::parse(file) else {
            continue;
        };
        let Ok(w) = load_path(path.clone(), "all", name) else {
            continue;
        };
        if w.reads.is_empty() {
            continue; // no extension member read: no floor to compare with
        }
        rows.push(Row {
            wheel: file.to_string(),
            mb: w.reads.values().sum::<u64>() as f64 / 1e6,
            inflate: best(&mut || {
                inflate(&w);
            }),
            scan: best(&mut || {
                scan(&w);
            }),
            hash: best(&mut || {
                black_box(sha256(&w.path));
            }),
        });
        eprint!("\r{}/{}", rows.len(), paths.len());
    }
    eprintln!();
    rows.sort_by(|a, b| (b.scan / b.inflate).total_cmp(&(a.scan / a.inflate)));
    println!(
        "{} wheels in process, best of {runs}; x = scan / inflate of the same member bytes",
        rows.len()
    );
    println!(
        "{:<60} {:>8} {:>10} {:>9} {:>6} {:>9} {:>7}",
        "wheel", "MB", "inflate s", "scan s", "x", "hash s", "x+hash"
    );
    for r in rows.iter().take(15) {
        println!(
            "{:<60} {:>8.1} {:>10.4} {:>9.4} {:>6.2} {:>9.4} {:>7.2}",
            &r.wheel[..r.wheel.len().min(60)],
            r.mb,
            r.inflate,
            r.scan,
            r.scan / r.inflate,
            r.hash,
            (r.scan + r.hash) / r.inflate
        );
    }
    let sum = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>();
    let (i, s, h) = (sum(|r| r.inflate), sum(|r| r.scan), sum(|r| r.hash));
    println!(
        "{:<60} {:>8} {:>10.3} {:>9.3} {:>6.2} {:>9.3} {:>7.2}",
        "total",
        "",
        i,
        s,
        s / i,
        h,
        (s + h) / i
    );
    let big: Vec<&Row> = rows.iter().filter(|r| r.inflate >= 0.01).collect();
    for (what, with_hash) in [("scan", false), ("scan + hash", true)] {
        let cost = |r: &Row| r.scan + if with_hash { r.hash } else { 0.0 };
        let over = rows.iter().filter(|r| cost(r) / r.inflate > 3.0).count();
        let worst_big = big.iter().map(|r| cost(r) / r.inflate).fold(0.0, f64::max);
        println!(
            "{what}: {over} wheel(s) over 3x; worst of the {} wheels inflated in >= 10 ms: {worst_big:.2}x",
            big.len()
        );
    }
}

/// One wheel of [`all_wheels`]: MB inflated once, and the best seconds of each measure.
struct Row {
    wheel: String,
    mb: f64,
    inflate: f64,
    scan: f64,
    hash: f64,
}

/// The wheel's sha256, as `gilfree scan` computes it before the scan.
fn sha256(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).expect("opened before");
    std::io::copy(&mut f, &mut h).expect("read before");
    h.finalize().to_vec()
}

fn main() {
    let root = wheels_dir();
    if std::env::var_os("GILFREE_BENCH_ALL").is_some() {
        let runs = std::env::var("GILFREE_BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        all_wheels(&root, runs);
        return;
    }
    let mut wheels = Vec::new();
    for &(id, folder, prefix) in PICKS {
        match load(&root, id, folder, prefix) {
            Ok(w) => wheels.push(w),
            Err(e) => println!("wheels bench: skipping {id}: {e}"),
        }
    }
    if wheels.is_empty() {
        println!(
            "wheels bench skipped: none of its wheels are under {} (set GILFREE_WHEELS, or run scripts/fetch-test-wheels.py)",
            root.display()
        );
        return;
    }
    let dir = criterion_dir();
    let since = SystemTime::now();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    for w in &wheels {
        let mut group = c.benchmark_group(format!("wheel.{}", w.id));
        // Few samples: big wheels take seconds each, and the machine is shared.
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(200));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("inflate", |b| b.iter(|| inflate(w)));
        group.bench_function("scan", |b| b.iter(|| scan(w)));
        group.finish();
    }
    c.final_summary();

    let mb = |b: u64| b as f64 / 1e6;
    let mut rows = Vec::new();
    let (mut sum_inflate, mut sum_scan) = (0.0, 0.0);
    for w in &wheels {
        let (Some(i), Some(s)) = (
            median_ns(&dir, w.id, "inflate", since),
            median_ns(&dir, w.id, "scan", since),
        ) else {
            continue;
        };
        sum_inflate += i;
        sum_scan += s;
        let once: u64 = w.reads.values().sum();
        rows.push(format!(
            "{:<16} {:>10.1} {:>10.1} {:>11.1} {:>9.1} {:>10.2}",
            w.id,
            mb(once),
            mb(w.scan_bytes),
            i / 1e6,
            s / 1e6,
            s / i
        ));
    }
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Medians; MB = 10^6 bytes inflated; ratio = time(scan) / time(inflate):");
    println!(
        "{:<16} {:>10} {:>10} {:>11} {:>9} {:>10}",
        "wheel", "floor MB", "scan MB", "inflate ms", "scan ms", "scan/infl"
    );
    for r in rows {
        println!("{r}");
    }
    println!(
        "{:<16} {:>10} {:>10} {:>11.1} {:>9.1} {:>10.2}",
        "all",
        "",
        "",
        sum_inflate / 1e6,
        sum_scan / 1e6,
        sum_scan / sum_inflate
    );
}
