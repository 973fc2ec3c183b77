//! A small store with two crawl runs over synthetic projects, filled through the store API,
//! and a helper that builds the site from it with the `gilfree` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gilfree::index::DistFile;
use gilfree::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use gilfree::scan::Readiness;
use gilfree::store::{
    AnalysisKey, AnalysisRecord, CrawlProject, FirstReady, FirstReadyBasis, ReleaseReadiness, Store,
};

pub const ANALYZER: &str = "0.1.0+site-test";
pub const BETA: &str = "Programming Language :: Python :: Free Threading :: 2 - Beta";

fn file(filename: &str, n: u32, upload: &str) -> DistFile {
    DistFile {
        filename: filename.to_string(),
        url: format!("https://files.example/{filename}"),
        sha256: Some(format!("{n:064x}")),
        size: Some(10_000 + u64::from(n)),
        requires_python: Some(">=3.9".into()),
        yanked: None,
        upload_time: Some(upload.to_string()),
    }
}

fn module(
    name: &str,
    verdict: Verdict,
    reason: Reason,
    binder: Binder,
    evidence: &str,
) -> ModuleVerdict {
    ModuleVerdict {
        member: format!(
            "{}.cpython-314t-x86_64-linux-gnu.so",
            name.replace('.', "/")
        ),
        module: name.to_string(),
        verdict,
        reason,
        binder,
        evidence: evidence.to_string(),
        fix: (verdict == Verdict::GilUsed).then(|| binder.fix(false).to_string()),
    }
}

fn analyse(store: &mut Store, n: u32, python: &str, platform: &str, modules: &[ModuleVerdict]) {
    let sha = format!("{n:064x}");
    let key = AnalysisKey::new(&sha, ANALYZER, python, platform);
    let record = AnalysisRecord {
        readiness: Readiness::of_modules(modules),
        note: None,
        error: None,
        modules,
    };
    store.save_analysis(&key, &record).unwrap();
}

fn rr<'a>(
    version: &'a str,
    python: &'a str,
    platform: &'a str,
    readiness: Readiness,
) -> ReleaseReadiness<'a> {
    ReleaseReadiness {
        version,
        python,
        platform,
        readiness,
    }
}

/// Fills a store at `path`: `fastlib` turns ready for 3.14t between the runs (and claims
/// nothing), `slowext` claims support but turns the GIL on (its evidence carries markup
/// that must be escaped), `purepkg` is pure Python, `broken` failed, `tiered` is ready on
/// the main platforms it ships for but undecided on linux-armv7l (its 1.0 is its first
/// release with cp314t wheels).
pub fn fill(path: &Path) {
    use Readiness::*;
    let mut store = Store::open(path).unwrap();
    store
        .record_project_files(
            "fastlib",
            &[
                file(
                    "fastlib-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                    1,
                    "2025-01-10T00:00:00Z",
                ),
                file(
                    "fastlib-2.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                    2,
                    "2025-06-10T00:00:00Z",
                ),
                file(
                    "fastlib-2.0-cp314-cp314t-macosx_11_0_arm64.whl",
                    3,
                    "2025-06-10T00:00:00Z",
                ),
                file("fastlib-2.0.tar.gz", 4, "2025-06-10T00:00:00Z"),
            ],
        )
        .unwrap();
    store
        .record_project_files(
            "slowext",
            &[
                file(
                    "slowext-3.1-cp314-cp314t-manylinux_2_28_x86_64.whl",
                    5,
                    "2025-05-01T00:00:00Z",
                ),
                file(
                    "slowext-3.1-cp314-cp314t-macosx_11_0_arm64.whl",
                    6,
                    "2025-05-01T00:00:00Z",
                ),
            ],
        )
        .unwrap();
    store
        .record_project_files(
            "purepkg",
            &[file(
                "purepkg-0.5-py3-none-any.whl",
                7,
                "2024-03-01T00:00:00Z",
            )],
        )
        .unwrap();
    store
        .record_project_files(
            "tiered",
            &[
                file(
                    "tiered-0.9-cp313-cp313-manylinux_2_28_x86_64.whl",
                    8,
                    "2025-02-01T00:00:00Z",
                ),
                file(
                    "tiered-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                    9,
                    "2025-07-01T00:00:00Z",
                ),
                file(
                    "tiered-1.0-cp314-cp314t-macosx_11_0_arm64.whl",
                    10,
                    "2025-07-01T00:00:00Z",
                ),
                file(
                    "tiered-1.0-cp314-cp314t-manylinux_2_28_armv7l.whl",
                    11,
                    "2025-07-01T00:00:00Z",
                ),
            ],
        )
        .unwrap();
    store
        .record_classifiers::<&str>("fastlib", "2.0", &[])
        .unwrap();
    store.record_classifiers("slowext", "3.1", &[BETA]).unwrap();

    let cy_used = module(
        "fastlib._core",
        Verdict::GilUsed,
        Reason::SlotValue0,
        Binder::Cython,
        "m_slots[2] = {Py_mod_gil, 0}",
    );
    let cy_ok = module(
        "fastlib._core",
        Verdict::GilNotUsed,
        Reason::SlotValue1,
        Binder::Cython,
        "m_slots[2] = {Py_mod_gil, 1}",
    );
    analyse(
        &mut store,
        1,
        "3.14t",
        "linux-x86_64",
        std::slice::from_ref(&cy_used),
    );
    analyse(
        &mut store,
        2,
        "3.14t",
        "linux-x86_64",
        std::slice::from_ref(&cy_ok),
    );
    analyse(
        &mut store,
        3,
        "3.14t",
        "macos-arm64",
        std::slice::from_ref(&cy_ok),
    );
    let pb = [
        module(
            "slowext._ext",
            Verdict::GilUsed,
            Reason::NoGilSlot,
            Binder::Pybind11,
            "no Py_mod_gil slot <script>alert(1)</script>",
        ),
        module(
            "slowext.fast",
            Verdict::GilNotUsed,
            Reason::SlotValue1,
            Binder::Pybind11,
            "m_slots[1] = {Py_mod_gil, 1}",
        ),
    ];
    analyse(&mut store, 5, "3.14t", "linux-x86_64", &pb);
    analyse(&mut store, 6, "3.14t", "macos-arm64", &pb);
    analyse(&mut store, 5, "3.15t", "linux-x86_64", &pb);

    let ti_ok = module(
        "tiered._speedups",
        Verdict::GilNotUsed,
        Reason::SlotValue1,
        Binder::CApi,
        "m_slots[1] = {Py_mod_gil, 1}",
    );
    let ti_unknown = module(
        "tiered._speedups",
        Verdict::Unknown,
        Reason::UnsupportedArch,
        Binder::CApi,
        "armv7l code is not decoded",
    );
    analyse(
        &mut store,
        9,
        "3.14t",
        "linux-x86_64",
        std::slice::from_ref(&ti_ok),
    );
    analyse(
        &mut store,
        10,
        "3.14t",
        "macos-arm64",
        std::slice::from_ref(&ti_ok),
    );
    analyse(
        &mut store,
        11,
        "3.14t",
        "linux-armv7l",
        std::slice::from_ref(&ti_unknown),
    );

    // Run 1: fastlib 1.0 still turns the GIL on.
    let run = store.begin_crawl_run("top-test", 4, ANALYZER).unwrap();
    let r1 = [
        rr("1.0", "3.14t", "linux-x86_64", GilFallback),
        rr("1.0", "3.15t", "linux-x86_64", NoWheel),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "fastlib",
                rank: 1,
                latest: Some("1.0"),
                error: None,
                readiness: &r1,
            },
        )
        .unwrap();
    let s1 = [
        rr("3.1", "3.14t", "linux-x86_64", GilFallback),
        rr("3.1", "3.14t", "macos-arm64", GilFallback),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "slowext",
                rank: 2,
                latest: Some("3.1"),
                error: None,
                readiness: &s1,
            },
        )
        .unwrap();
    store.finish_crawl_run(run, &Default::default()).unwrap();

    // Run 2: fastlib 2.0 keeps it off for 3.14t.
    let run = store.begin_crawl_run("top-test", 5, ANALYZER).unwrap();
    let r2 = [
        rr("2.0", "3.14t", "linux-x86_64", Ready),
        rr("2.0", "3.14t", "macos-arm64", Ready),
        rr("2.0", "3.15t", "linux-x86_64", NoWheel),
        rr("2.0", "3.15t", "macos-arm64", NoWheel),
        rr("1.0", "3.14t", "linux-x86_64", GilFallback),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "fastlib",
                rank: 1,
                latest: Some("2.0"),
                error: None,
                readiness: &r2,
            },
        )
        .unwrap();
    let s2 = [
        rr("3.1", "3.14t", "linux-x86_64", GilFallback),
        rr("3.1", "3.14t", "macos-arm64", GilFallback),
        rr("3.1", "3.15t", "linux-x86_64", GilFallback),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "slowext",
                rank: 2,
                latest: Some("3.1"),
                error: None,
                readiness: &s2,
            },
        )
        .unwrap();
    let p2 = [
        rr("0.5", "3.14t", "linux-x86_64", Pure),
        rr("0.5", "3.15t", "linux-x86_64", Pure),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "purepkg",
                rank: 3,
                latest: Some("0.5"),
                error: None,
                readiness: &p2,
            },
        )
        .unwrap();
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "broken",
                rank: 4,
                latest: None,
                error: Some("HTTP 404"),
                readiness: &[],
            },
        )
        .unwrap();
    let t2 = [
        rr("1.0", "3.14t", "linux-x86_64", Ready),
        rr("1.0", "3.14t", "macos-arm64", Ready),
        rr("1.0", "3.14t", "linux-armv7l", Unknown),
        rr("1.0", "3.14t", "windows-amd64", NoWheel),
    ];
    store
        .record_crawl_project(
            run,
            &CrawlProject {
                project: "tiered",
                rank: 5,
                latest: Some("1.0"),
                error: None,
                readiness: &t2,
            },
        )
        .unwrap();
    store.finish_crawl_run(run, &Default::default()).unwrap();

    // What the crawl's first-ready searches found.
    let since = |python: &str, platform: &str, version: &str, basis| FirstReady {
        python: python.into(),
        platform: platform.into(),
        version: version.into(),
        basis,
        earlier_ready: None,
        wheels_read: 1,
        analyzer_version: ANALYZER.into(),
    };
    let after = |v: &str| FirstReadyBasis::AfterNotReady(v.into());
    store
        .record_first_ready(
            "fastlib",
            &[
                since("3.14t", "linux-x86_64", "2.0", after("1.0")),
                since("3.14t", "macos-arm64", "2.0", after("1.0")),
            ],
            &[],
        )
        .unwrap();
    store
        .record_first_ready(
            "tiered",
            &[
                since("3.14t", "linux-x86_64", "1.0", after("0.9")),
                since(
                    "3.14t",
                    "macos-arm64",
                    "1.0",
                    FirstReadyBasis::Undecided("0.9".into()),
                ),
            ],
            &[],
        )
        .unwrap();
    store
        .record_project_urls(
            "slowext",
            "3.1",
            &[
                ("Homepage", "https://slowext.example"),
                ("Source", "https://github.com/slowext/slowext"),
                ("Bug Tracker", "https://github.com/slowext/slowext/issues"),
            ],
        )
        .unwrap();
}

/// A store filled by [`fill`] and the site built from it with `gilfree site`.
pub fn build_site(dir: &Path) -> PathBuf {
    let db = dir.join("store.sqlite3");
    fill(&db);
    let out = dir.join("site");
    let result = Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(["site", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "gilfree site failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}
