//! `gilfree scan` end to end on what is already unpacked on disk: a lone extension module
//! pulled out of a fixture wheel (tagged and untagged file names, another interpreter), and an
//! installed environment (a virtualenv with `pyvenv.cfg` and `lib/python3.14t/site-packages`,
//! and the site-packages folder itself) built from the fixture wheels, whose results come out
//! grouped by distribution, plus a module no distribution owns.

mod common;

use std::path::Path;

use common::*;
use gilfree::inspect::verdict::{Reason, Verdict};
use gilfree::scan::{Readiness, ScanConfig, scan_paths};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Writes member `member` of fixture `wheel` to `dir/name` and returns its bytes.
fn extract_to(wheel: &str, member: &str, dir: &Path, name: &str) -> Vec<u8> {
    let data = read_member(&wheel_path(wheel), member);
    std::fs::write(dir.join(name), &data).unwrap();
    data
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_lone_module_file_from_each_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    // The module name of a lone file is its file name's stem: the package it came from is
    // not known any more.
    let cases = [
        (LRU, "_lru", "gil-used", "single-phase-no-set-gil", 1),
        (
            TIME_MACHINE,
            "_time_machine",
            "gil-not-used",
            "slot-value-1",
            0,
        ),
        (BITSTRUCT, "c", "gil-not-used", "set-gil-1", 0),
    ];
    for (wheel, module, verdict, reason, code) in cases {
        let f = fixture_info(wheel);
        let name = f.member.rsplit('/').next().unwrap();
        let data = extract_to(wheel, f.member, tmp.path(), name);
        let run = gilfree(tmp.path(), &["scan", "--format", "json", name]);
        assert_eq!(run.code, code, "{name}: {run:?}");
        assert_eq!(run.stderr, "");
        let doc = run.json();
        assert_eq!(doc["schema"], 1);
        let w = &doc["wheels"][0];
        assert_eq!(doc["wheels"].as_array().unwrap().len(), 1);
        assert_eq!(w["filename"], name);
        assert!(w.get("project").is_none() && w.get("version").is_none());
        assert_eq!(w["sha256"], sha256_hex(&data));
        assert_eq!(w["python"], "3.14t");
        assert_eq!(w["platform"], "linux-x86_64");
        assert_eq!(w["readiness"], f.readiness);
        let m = &w["modules"][0];
        assert_eq!(m["member"], name);
        assert_eq!(m["module"], module);
        assert_eq!(m["verdict"], verdict);
        assert_eq!(m["reason"], reason);
        assert!(m["evidence"].as_str().unwrap().contains(f.evidence), "{m}");
        assert_eq!(doc["stats"]["bytes_read"], data.len());
    }
}

#[test]
fn a_lone_module_file_as_json_and_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("so");
    std::fs::create_dir(&dir).unwrap();
    extract_to(LRU, LRU_SO, &dir, "_lru.cpython-314t-x86_64-linux-gnu.so");
    // Given by absolute path, so that the temporary folder shows in the output and is redacted.
    let path = dir.join("_lru.cpython-314t-x86_64-linux-gnu.so");
    let arg = path.to_str().unwrap();
    let run = gilfree(tmp.path(), &["scan", "--format", "json", arg]);
    assert_eq!(run.code, 1);
    let doc = run.json();
    assert_eq!(doc["wheels"][0]["filename"], arg);
    assert_eq!(doc["wheels"][0]["modules"][0]["verdict"], "gil-used");
    insta::assert_json_snapshot!("lone_so_json", redact(doc, &[tmp.path()]));

    let text = gilfree(tmp.path(), &["scan", arg]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.starts_with(arg), "{}", text.stdout);
    insta::assert_snapshot!("lone_so_text", redact_text(&text.stdout, &[tmp.path()]));
}

#[test]
fn a_lone_module_with_an_untagged_name_is_placed_by_its_binary() {
    let tmp = tempfile::tempdir().unwrap();
    extract_to(LRU, LRU_SO, tmp.path(), "_lru.so");
    let run = gilfree(tmp.path(), &["scan", "--format", "json", "_lru.so"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    let w = &doc["wheels"][0];
    // The ELF x86-64 file decides the platform when the name does not.
    assert_eq!(w["platform"], "linux-x86_64");
    assert_eq!(
        verdicts(&doc),
        [(
            "_lru".into(),
            "gil-used".into(),
            "single-phase-no-set-gil".into()
        )]
    );
}

#[test]
fn a_lone_cp314t_module_is_incompatible_with_313t() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "c.cpython-314t-x86_64-linux-gnu.so";
    extract_to(BITSTRUCT, BITSTRUCT_SO, tmp.path(), name);
    let run = gilfree(
        tmp.path(),
        &["scan", "--python", "3.13t", "--format", "json", name],
    );
    assert_eq!(
        run.code, 0,
        "an incompatible module does not turn the GIL on"
    );
    let doc = run.json();
    let m = &doc["wheels"][0]["modules"][0];
    assert_eq!(m["verdict"], "incompatible");
    assert_eq!(m["reason"], "wrong-abi");
    assert_eq!(
        m["evidence"],
        ".cpython-314t-x86_64-linux-gnu.so: built for Python 3.14"
    );
    assert_eq!(
        m["fix"],
        "build the module for the free-threaded ABI (cp313t)"
    );
    // Nothing in it is loadable by 3.13t: no build for that target.
    assert_eq!(doc["wheels"][0]["readiness"], "no-wheel");
}

/// A virtualenv as `python3.14t -m venv` lays it out, with the three fixture wheels (and one
/// stray module no distribution owns) unpacked into its site-packages.
fn make_venv(root: &Path) -> std::path::PathBuf {
    let venv = root.join("venv");
    let site = venv.join("lib/python3.14t/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        venv.join("pyvenv.cfg"),
        "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.14.0\n\
         executable = /usr/local/bin/python3.14t\n",
    )
    .unwrap();
    for f in &FIXTURES {
        install(&wheel_path(f.file), &site);
    }
    venv
}

#[test]
fn an_installed_environment_grouped_by_distribution() {
    let tmp = tempfile::tempdir().unwrap();
    make_venv(tmp.path());
    let run = gilfree(tmp.path(), &["scan", "--format", "json", "venv"]);
    assert_eq!(run.code, 1, "lru-dict turns the GIL on: {run:?}");
    assert_eq!(run.stderr, "");
    let doc = run.json();
    let wheels = doc["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 3, "one report per distribution: {doc}");
    let mut seen = Vec::new();
    for w in wheels {
        let project = w["project"].as_str().unwrap();
        let f = FIXTURES.iter().find(|f| f.project == project).unwrap();
        assert_eq!(w["version"], f.version);
        assert_eq!(
            w["filename"],
            format!("{}=={} (installed in venv)", f.project, f.version)
        );
        assert_eq!(w["python"], "3.14t");
        assert_eq!(w["platform"], "linux-x86_64");
        assert_eq!(w["readiness"], f.readiness);
        // Installed files are not wheels: no sha256 of an archive.
        assert!(w.get("sha256").is_none());
        let modules = w["modules"].as_array().unwrap();
        assert_eq!(modules.len(), 1, "{w}");
        assert_eq!(modules[0]["member"], f.member);
        assert_eq!(modules[0]["module"], f.module);
        assert_eq!(modules[0]["verdict"], f.verdict);
        assert_eq!(modules[0]["reason"], f.reason);
        seen.push(project);
    }
    seen.sort();
    assert_eq!(seen, ["bitstruct", "lru-dict", "time-machine"]);
    insta::assert_json_snapshot!("venv_json", redact(doc, &[tmp.path()]));

    let text = gilfree(tmp.path(), &["scan", "venv"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.starts_with(
            "lru-dict==1.4.1 (installed in venv)  [3.14t linux-x86_64]  TURNS THE GIL ON\n"
        ),
        "{}",
        text.stdout
    );
    insta::assert_snapshot!("venv_text", text.stdout);
}

#[test]
fn site_packages_given_directly() {
    let tmp = tempfile::tempdir().unwrap();
    make_venv(tmp.path());
    let site = "venv/lib/python3.14t/site-packages";
    let run = gilfree(tmp.path(), &["scan", "--format", "json", site]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    let mut labels: Vec<&str> = doc["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["filename"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            format!("bitstruct==8.24.0 (installed in {site})"),
            format!("lru-dict==1.4.1 (installed in {site})"),
            format!("time-machine==3.6.0 (installed in {site})"),
        ]
    );
    let mut got = verdicts(&doc);
    got.sort();
    assert_eq!(
        got,
        [
            (
                "_time_machine".into(),
                "gil-not-used".into(),
                "slot-value-1".into()
            ),
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
        ]
    );
}

#[test]
fn an_environment_through_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = make_venv(tmp.path());
    let site = venv.join("lib/python3.14t/site-packages");
    for path in [venv, site] {
        let report = scan_paths(std::slice::from_ref(&path), &ScanConfig::default());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let mut got: Vec<(String, Readiness, String, Verdict, Reason)> = report
            .wheels
            .iter()
            .map(|w| {
                (
                    w.project.clone().unwrap(),
                    w.readiness,
                    w.modules[0].module.clone(),
                    w.modules[0].verdict,
                    w.modules[0].reason,
                )
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                (
                    "bitstruct".into(),
                    Readiness::Ready,
                    "bitstruct.c".into(),
                    Verdict::GilNotUsed,
                    Reason::SetGil1
                ),
                (
                    "lru-dict".into(),
                    Readiness::GilFallback,
                    "lru._lru".into(),
                    Verdict::GilUsed,
                    Reason::SinglePhaseNoSetGil
                ),
                (
                    "time-machine".into(),
                    Readiness::Ready,
                    "_time_machine".into(),
                    Verdict::GilNotUsed,
                    Reason::SlotValue1
                ),
            ],
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_module_no_distribution_owns_is_reported_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = make_venv(tmp.path());
    let site = venv.join("lib/python3.14t/site-packages");
    // A copy of lru's module dropped at the top of site-packages, outside every RECORD.
    std::fs::write(
        site.join("_lru.cpython-314t-x86_64-linux-gnu.so"),
        read_member(&wheel_path(LRU), LRU_SO),
    )
    .unwrap();
    let run = gilfree(tmp.path(), &["scan", "--format", "json", "venv"]);
    assert_eq!(run.code, 1);
    let doc = run.json();
    let wheels = doc["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 4, "{doc}");
    let stray: Vec<_> = wheels
        .iter()
        .filter(|w| w.get("project").is_none())
        .collect();
    assert_eq!(stray.len(), 1, "{doc}");
    assert_eq!(stray[0]["filename"], "files no distribution owns (in venv)");
    assert_eq!(stray[0]["readiness"], "gil-fallback");
    assert_eq!(
        stray[0]["modules"],
        json!([{
            "member": "_lru.cpython-314t-x86_64-linux-gnu.so",
            "module": "_lru",
            "verdict": "gil-used",
            "reason": "single-phase-no-set-gil",
            "binder": "c-api",
            "evidence": stray[0]["modules"][0]["evidence"],
            "fix": "call `PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED)` right after creating the module",
        }])
    );
    // The owned copy is still reported with its distribution.
    let lru: Vec<_> = wheels
        .iter()
        .filter(|w| w["project"] == "lru-dict")
        .collect();
    assert_eq!(lru.len(), 1);
    assert_eq!(lru[0]["modules"][0]["module"], "lru._lru");
}

/// A wheel big enough to be hashed on a second thread (16 MiB of stub data in a stored
/// member) gets the same reports, and the same sha256, as with one job.
#[test]
fn a_big_wheel_hashed_beside_its_scan_reports_as_with_one_job() {
    let tmp = tempfile::tempdir().unwrap();
    let big = replace_member(&wheel_path(LRU), "lru/__init__.pyi", &vec![b'#'; 17 << 20]);
    let path = tmp.path().join(LRU);
    std::fs::write(&path, &big).unwrap();
    let reports = |jobs| {
        let cfg = ScanConfig {
            jobs,
            ..ScanConfig::default()
        };
        let report = scan_paths(std::slice::from_ref(&path), &cfg);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        serde_json::to_value(&report.wheels).unwrap()
    };
    let (one, two) = (reports(1), reports(2));
    assert_eq!(one, two);
    assert_eq!(two[0]["sha256"], json!(sha256_hex(&big)));
    assert_eq!(two[0]["modules"][0]["verdict"], json!("gil-used"));
}
