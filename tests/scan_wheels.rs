//! `gilfree scan` end to end on the three real cp314t wheels in `tests/fixtures/wheels`: each
//! wheel alone (schema-1 JSON, verdicts, exit codes), through the library's `scan_paths` too,
//! a folder of all three, `--python 3.13t`, several `--python` at once, `--platform` on a wheel
//! for another architecture, and the text table (blockers first), all pinned by snapshots.

mod common;

use common::*;
use gilfree::inspect::verdict::{Binder, Reason, Verdict};
use gilfree::scan::{Readiness, ScanConfig, scan_paths};
use gilfree::wheel::{Platform, PythonTarget};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[test]
fn fixtures_are_the_wheels_of_the_runtime_truth_set() {
    let mut total = 0;
    for f in &FIXTURES {
        let bytes = std::fs::read(wheel_path(f.file)).unwrap();
        assert_eq!(bytes.len() as u64, f.size, "{}", f.file);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha, f.sha256, "{}", f.file);
        total += bytes.len();
    }
    assert!(total < 300 * 1024, "fixture wheels take {total} bytes");
}

/// Checks one wheel report against schema 1 and the fixture's known verdict.
fn check_wheel_report(w: &Value, f: &Fixture) {
    assert_eq!(w["filename"], f.file);
    assert_eq!(w["project"], f.project);
    assert_eq!(w["version"], f.version);
    assert_eq!(w["sha256"], f.sha256);
    assert_eq!(w["python"], "3.14t");
    assert_eq!(w["platform"], "linux-x86_64");
    assert_eq!(w["readiness"], f.readiness);
    assert!(w.get("note").is_none(), "unexpected note in {w}");
    let modules = w["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1, "{}: {modules:?}", f.file);
    let m = &modules[0];
    assert_eq!(m["member"], f.member);
    assert_eq!(m["module"], f.module);
    assert_eq!(m["verdict"], f.verdict);
    assert_eq!(m["reason"], f.reason);
    assert_eq!(m["binder"], "c-api");
    let evidence = m["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(f.evidence),
        "{}: evidence {evidence:?} lacks {:?}",
        f.file,
        f.evidence
    );
    if f.verdict == "gil-used" {
        let fix = m["fix"].as_str().expect("a blocking module has a fix");
        assert!(
            fix.contains("PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED)"),
            "{fix}"
        );
    } else {
        assert!(m.get("fix").is_none(), "a ready module has no fix: {m}");
    }
}

#[test]
fn each_wheel_alone_as_json() {
    let root = fixtures_root();
    for f in &FIXTURES {
        let run = gilfree(&root, &["scan", "--format", "json", &wheel_arg(f.file)]);
        let expected_code = if f.verdict == "gil-used" { 1 } else { 0 };
        assert_eq!(run.code, expected_code, "{}: {run:?}", f.file);
        assert_eq!(run.stderr, "", "{}", f.file);
        let doc = run.json();
        assert_eq!(doc["schema"], 1);
        assert_eq!(doc["target"]["python"], json!(["3.14t"]));
        // Without --platform the target lists the platforms that were scanned.
        assert_eq!(doc["target"]["platform"], json!(["linux-x86_64"]));
        assert!(doc.get("errors").is_none(), "{doc}");
        assert_eq!(doc["stats"]["files"], 1);
        assert_eq!(doc["stats"]["bytes_read"], f.size);
        assert_eq!(doc["stats"]["bytes_downloaded"], 0);
        assert_eq!(doc["stats"]["requests"], 0);
        let wheels = doc["wheels"].as_array().unwrap();
        assert_eq!(wheels.len(), 1, "{doc}");
        check_wheel_report(&wheels[0], f);
        insta::assert_json_snapshot!(format!("alone_{}", f.project), redact(doc, &[]));
    }
}

#[test]
fn each_wheel_alone_through_the_library() {
    let expected = [
        (
            LRU,
            Verdict::GilUsed,
            Reason::SinglePhaseNoSetGil,
            Readiness::GilFallback,
        ),
        (
            TIME_MACHINE,
            Verdict::GilNotUsed,
            Reason::SlotValue1,
            Readiness::Ready,
        ),
        (
            BITSTRUCT,
            Verdict::GilNotUsed,
            Reason::SetGil1,
            Readiness::Ready,
        ),
    ];
    for (file, verdict, reason, readiness) in expected {
        let f = fixture_info(file);
        let report = scan_paths(&[wheel_path(file)], &ScanConfig::default());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.stats.files, 1);
        assert_eq!(report.wheels.len(), 1);
        let w = &report.wheels[0];
        assert_eq!(w.filename, file);
        assert_eq!(w.project.as_deref(), Some(f.project));
        assert_eq!(w.version.as_deref(), Some(f.version));
        assert_eq!(w.sha256.as_deref(), Some(f.sha256));
        assert_eq!(w.platform.as_deref(), Some("linux-x86_64"));
        assert_eq!(w.readiness, readiness, "{file}");
        assert_eq!(w.modules.len(), 1);
        let m = &w.modules[0];
        assert_eq!(m.member, f.member);
        assert_eq!(m.module, f.module);
        assert_eq!(m.verdict, verdict, "{file}: {m:?}");
        assert_eq!(m.reason, reason, "{file}: {m:?}");
        assert_eq!(m.binder, Binder::CApi);
        assert_eq!(m.fix.is_some(), verdict == Verdict::GilUsed);
    }
}

#[test]
fn a_folder_of_the_three_wheels() {
    let run = gilfree(&fixtures_root(), &["scan", "--format", "json", "wheels"]);
    assert_eq!(run.code, 1, "lru-dict turns the GIL on: {run:?}");
    assert_eq!(run.stderr, "");
    let doc = run.json();
    // Wheels in file-name order; README.md next to them is ignored.
    let names: Vec<&str> = doc["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, [BITSTRUCT, LRU, TIME_MACHINE]);
    for f in &FIXTURES {
        let reports = reports_for(&doc, f.file);
        assert_eq!(reports.len(), 1);
        check_wheel_report(reports[0], f);
    }
    assert_eq!(doc["stats"]["files"], 3);
    assert_eq!(
        doc["stats"]["bytes_read"],
        FIXTURES.iter().map(|f| f.size).sum::<u64>()
    );
    insta::assert_json_snapshot!("folder_json", redact(doc, &[]));
}

#[test]
fn python_313t_finds_no_wheel_in_cp314t_wheels() {
    let run = gilfree(
        &fixtures_root(),
        &["scan", "--python", "3.13t", "--format", "json", "wheels"],
    );
    assert_eq!(run.code, 0, "nothing blocks on 3.13t: {run:?}");
    assert_eq!(run.stderr, "");
    let doc = run.json();
    assert_eq!(doc["target"]["python"], json!(["3.13t"]));
    let wheels = doc["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 3);
    for w in wheels {
        assert_eq!(w["python"], "3.13t");
        assert_eq!(w["platform"], "linux-x86_64");
        assert_eq!(w["readiness"], "no-wheel", "{w}");
        assert_eq!(
            w["note"],
            "not installable on 3.13t: built for another Python version (cp314t)"
        );
        assert_eq!(w["modules"], json!([]));
    }
    insta::assert_json_snapshot!("python_313t_json", redact(doc, &[]));
}

#[test]
fn several_pythons_at_once() {
    let run = gilfree(
        &fixtures_root(),
        &[
            "scan", "--python", "3.13t", "--python", "3.14t", "--python", "3.15t", "--format",
            "json", "wheels",
        ],
    );
    assert_eq!(run.code, 1, "lru-dict turns the GIL on for 3.14t: {run:?}");
    let doc = run.json();
    assert_eq!(doc["target"]["python"], json!(["3.13t", "3.14t", "3.15t"]));
    assert_eq!(doc["wheels"].as_array().unwrap().len(), 9);
    for f in &FIXTURES {
        let reports = reports_for(&doc, f.file);
        let pythons: Vec<&str> = reports
            .iter()
            .map(|w| w["python"].as_str().unwrap())
            .collect();
        assert_eq!(pythons, ["3.13t", "3.14t", "3.15t"], "{}", f.file);
        check_wheel_report(reports[1], f);
        for (w, py) in [(reports[0], "3.13t"), (reports[2], "3.15t")] {
            assert_eq!(w["readiness"], "no-wheel", "{} on {py}", f.file);
            assert_eq!(w["modules"], json!([]));
            assert_eq!(
                w["note"],
                format!("not installable on {py}: built for another Python version (cp314t)")
            );
        }
    }
    // Only the 3.14t reports carry modules, and the verdicts are the 3.14t ones.
    assert_eq!(
        verdicts(&doc),
        [
            (
                "bitstruct.c".into(),
                "gil-not-used".into(),
                "set-gil-1".into()
            ),
            (
                "lru._lru".into(),
                "gil-used".into(),
                "single-phase-no-set-gil".into()
            ),
            (
                "_time_machine".into(),
                "gil-not-used".into(),
                "slot-value-1".into()
            ),
        ]
    );
    insta::assert_json_snapshot!("several_pythons_json", redact(doc, &[]));
}

#[test]
fn several_pythons_through_the_library() {
    let cfg = ScanConfig {
        pythons: vec![PythonTarget::Py313t, PythonTarget::Py314t],
        ..ScanConfig::default()
    };
    let report = scan_paths(&[wheel_path(LRU)], &cfg);
    assert!(report.errors.is_empty());
    let summary: Vec<(String, Readiness, usize)> = report
        .wheels
        .iter()
        .map(|w| (w.python.clone(), w.readiness, w.modules.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("3.13t".to_string(), Readiness::NoWheel, 0),
            ("3.14t".to_string(), Readiness::GilFallback, 1),
        ]
    );
}

/// An x86_64 wheel asked for `linux-aarch64` yields no report at all: the platform filter
/// keeps only the platforms a wheel is built for, so that a folder of wheels for many
/// platforms shows only the asked-for ones. Nothing blocks, so the exit code is 0. (The text
/// output does not say that the wheel was skipped; see the summary line below.)
#[test]
fn platform_filter_reports_no_wheel_for_another_architecture() {
    let root = fixtures_root();
    let lru = wheel_arg(LRU);
    let run = gilfree(
        &root,
        &[
            "scan",
            "--platform",
            "linux-aarch64",
            "--format",
            "json",
            &lru,
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let doc = run.json();
    assert_eq!(doc["target"]["platform"], json!(["linux-aarch64"]));
    // The wheel named on the command line is not silently skipped: no wheel for the target.
    assert_eq!(doc["wheels"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["wheels"][0]["readiness"], "no-wheel");
    assert_eq!(doc["wheels"][0]["platform"], "linux-aarch64");
    assert_eq!(doc["wheels"][0]["note"], "not for linux-aarch64");
    assert_eq!(doc["wheels"][0]["modules"], json!([]));
    assert_eq!(doc["stats"]["files"], 1, "the wheel was still read");
    insta::assert_json_snapshot!("platform_aarch64_json", redact(doc, &[]));

    let text = gilfree(&root, &["scan", "--platform", "linux-aarch64", &lru]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("NO WHEEL FOR TARGET"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("not for linux-aarch64"),
        "{}",
        text.stdout
    );

    // The same wheel with its own platform, or an alias of it, is scanned as usual.
    for platform in ["linux-x86_64", "linux-amd64"] {
        let run = gilfree(
            &root,
            &["scan", "--platform", platform, "--format", "json", &lru],
        );
        assert_eq!(run.code, 1, "{platform}: {run:?}");
        let doc = run.json();
        assert_eq!(doc["target"]["platform"], json!(["linux-x86_64"]));
        check_wheel_report(&doc["wheels"][0], fixture_info(LRU));
    }

    // Both platforms: only the matching one gives a report.
    let cfg = ScanConfig {
        platforms: vec![Platform::LinuxAarch64, Platform::LinuxX86_64],
        ..ScanConfig::default()
    };
    let report = scan_paths(&[wheel_path(LRU)], &cfg);
    let platforms: Vec<Option<&str>> = report
        .wheels
        .iter()
        .map(|w| w.platform.as_deref())
        .collect();
    assert_eq!(platforms, [Some("linux-x86_64")]);
}

#[test]
fn text_output_lists_blockers_first() {
    let root = fixtures_root();
    let run = gilfree(&root, &["scan", "wheels"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    // The blocking wheel comes first although it is not first by name, with its module,
    // verdict, binder, evidence and fix; ready wheels are summarised.
    assert!(
        lines[0].starts_with(LRU) && lines[0].ends_with("[3.14t linux-x86_64]  TURNS THE GIL ON"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("  GIL lru._lru  gil-used")
            && lines[1].contains("c-api")
            && lines[1].contains("never calls PyUnstable_Module_SetGIL"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]
            .trim_start()
            .starts_with("fix: call `PyUnstable_Module_SetGIL")
    );
    assert!(lines[3].starts_with(BITSTRUCT) && lines[3].ends_with("READY"));
    assert!(lines[5].starts_with(TIME_MACHINE) && lines[5].ends_with("READY"));
    assert_eq!(
        lines.last().unwrap(),
        &"3 module(s) in 3 wheel/target pair(s): 2 keep the GIL off, 1 turn it on, 0 unknown, 0 incompatible"
    );
    insta::assert_snapshot!("folder_text", run.stdout);

    let verbose = gilfree(&root, &["scan", "-v", "wheels"]);
    assert_eq!(verbose.code, 1);
    assert!(verbose.stdout.contains("  ok  bitstruct.c  gil-not-used"));
    assert!(verbose.stdout.contains("  ok  _time_machine  gil-not-used"));
    insta::assert_snapshot!("folder_text_verbose", verbose.stdout);
}

#[test]
fn text_output_for_several_pythons() {
    let run = gilfree(
        &fixtures_root(),
        &["scan", "--python", "3.13t", "--python", "3.14t", "wheels"],
    );
    assert_eq!(run.code, 1);
    // gil-fallback, then no-wheel, then ready.
    let headers: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert!(headers[0].starts_with(LRU) && headers[0].contains("[3.14t linux-x86_64]"));
    for h in &headers[1..4] {
        assert!(
            h.ends_with("[3.13t linux-x86_64]  NO WHEEL FOR TARGET"),
            "{h}"
        );
    }
    for h in &headers[4..6] {
        assert!(h.ends_with("[3.14t linux-x86_64]  READY"), "{h}");
    }
    insta::assert_snapshot!("several_pythons_text", run.stdout);
}
