//! `gilfree scan NAME==VERSION` end to end against the local test index server: the verdicts,
//! the bytes fetched (tail and extension members only), the store answering a second run and
//! `--offline`, HTML-only indexes, and every fault the server injects ending in a retry that
//! succeeds or a clear one-line error.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::{BITSTRUCT, LRU, Run, TIME_MACHINE};
use support::{Fault, FileSpec, PageFormat, ProjectSpec, Scope, TestIndex, Times};

/// Runs the binary against `index` with a store in `db`, no proxy, short timeouts.
fn scan(index: &TestIndex, db: &Path, extra: &[&str], targets: &[&str]) -> Run {
    let db = db.to_str().unwrap();
    let url = index.index_url();
    let mut args = vec!["scan", "--format", "json", "--index-url", &url];
    args.extend([
        "--db",
        db,
        "--timeout",
        "2",
        "--retries",
        "3",
        "--platform",
        "linux-x86_64",
    ]);
    args.extend_from_slice(extra);
    args.extend_from_slice(targets);
    common::gilfree_on_loopback(&args)
}

fn project(name: &str, wheel: &str, format: PageFormat) -> ProjectSpec {
    ProjectSpec::new(name)
        .format(format)
        .file(FileSpec::new(wheel, support::fixture_wheel(wheel)))
}

fn serve_all(format: PageFormat) -> TestIndex {
    let index = TestIndex::start();
    index.add_project(project("lru-dict", LRU, format));
    index.add_project(project("time-machine", TIME_MACHINE, format));
    index.add_project(project("bitstruct", BITSTRUCT, format));
    index
}

/// (module, verdict) pairs of a JSON report.
fn verdicts(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["modules"].as_array().unwrap().clone())
        .map(|m| {
            (
                m["module"].as_str().unwrap().to_string(),
                m["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn expected() -> Vec<(String, String)> {
    [
        ("_time_machine", "gil-not-used"),
        ("bitstruct.c", "gil-not-used"),
        ("lru._lru", "gil-used"),
    ]
    .iter()
    .map(|(m, v)| (m.to_string(), v.to_string()))
    .collect()
}

/// `scan time-machine` without a store.
fn scan_time_machine(index: &TestIndex) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    scan(
        index,
        &tmp.path().join("db"),
        &["--no-store"],
        &["time-machine"],
    )
}

fn time_machine_ready() -> Vec<(String, String)> {
    vec![("_time_machine".to_string(), "gil-not-used".to_string())]
}

fn file_requests(index: &TestIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/files/"))
        .count()
}

#[test]
fn releases_are_scanned_and_a_second_run_is_answered_from_the_store() {
    let index = serve_all(PageFormat::Json);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("store.sqlite3");
    let targets = ["lru-dict==1.4.1", "time-machine", "bitstruct==8.24.0"];
    let first = scan(&index, &db, &[], &targets);
    assert_eq!(first.code, 1, "lru-dict turns the GIL on: {first:?}");
    let doc = first.json();
    assert_eq!(verdicts(&doc), expected());
    assert!(
        doc["stats"]["requests"].as_u64().unwrap() >= 6,
        "{}",
        doc["stats"]
    );
    assert!(file_requests(&index) >= 3);

    index.clear_requests();
    let again = scan(&index, &db, &[], &targets);
    assert_eq!(again.code, 1);
    assert_eq!(verdicts(&again.json()), expected());
    assert_eq!(file_requests(&index), 0, "no wheel byte the second time");
    assert!(
        index.requests().is_empty(),
        "pages recorded minutes ago are reused"
    );

    index.clear_requests();
    let refreshed = scan(&index, &db, &["--refresh"], &targets);
    assert_eq!(verdicts(&refreshed.json()), expected());
    assert_eq!(file_requests(&index), 0);
    assert!(
        index
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/simple/")),
        "{:?}",
        index.requests()
    );
    assert_eq!(
        index.requests().len(),
        3,
        "one page per project with --refresh"
    );

    index.clear_requests();
    let offline = scan(&index, &db, &["--offline"], &targets);
    assert_eq!(verdicts(&offline.json()), expected());
    assert!(index.requests().is_empty(), "--offline fetches nothing");
    let unknown = scan(&index, &db, &["--offline"], &["numpy"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("numpy: not in the store"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn an_html_only_index_with_relative_links_works() {
    let index = serve_all(PageFormat::Html);
    let tmp = tempfile::tempdir().unwrap();
    let run = scan(
        &index,
        &tmp.path().join("db"),
        &["--no-store"],
        &["lru-dict", "time-machine", "bitstruct"],
    );
    assert_eq!(verdicts(&run.json()), expected(), "{}", run.stderr);
}

#[test]
fn every_fault_ends_in_a_retry_or_a_clear_error() {
    let retried = [
        Fault::server_error(),
        Fault::too_many_requests(),
        Fault::Close,
        Fault::DropMidBody,
        Fault::Truncate,
        Fault::ShortRange,
    ];
    for fault in retried {
        for scope in [
            Scope::path(&format!("/files/{TIME_MACHINE}")),
            Scope::path("/simple/time-machine/"),
        ] {
            let index = serve_all(PageFormat::Json);
            index.inject(scope.clone(), fault.clone(), Times::First(2));
            let run = scan_time_machine(&index);
            assert_eq!(run.code, 0, "{fault:?} on {scope:?}: {run:?}");
            assert_eq!(verdicts(&run.json()), time_machine_ready());
        }
    }
    // Failing for good: a one-line error and exit 2, never a verdict.
    for fault in [Fault::server_error(), Fault::Close] {
        let index = serve_all(PageFormat::Json);
        index.inject(
            Scope::path(&format!("/files/{TIME_MACHINE}")),
            fault.clone(),
            Times::Always,
        );
        let tmp = tempfile::tempdir().unwrap();
        let run = scan(
            &index,
            &tmp.path().join("db"),
            &["--no-store"],
            &["time-machine", "bitstruct"],
        );
        assert_eq!(run.code, 2, "{fault:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        let doc = run.json();
        assert_eq!(
            verdicts(&doc),
            [("bitstruct.c".to_string(), "gil-not-used".to_string())],
            "the rest goes on"
        );
    }
}

#[test]
fn a_server_ignoring_ranges_is_read_whole_and_checked() {
    let index = serve_all(PageFormat::Json);
    index.inject(Scope::All, Fault::IgnoreRange, Times::Always);
    let run = scan_time_machine(&index);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(verdicts(&run.json()), time_machine_ready());

    // The same, with a wrong sha256 on the page: the whole file does not match, so no verdict.
    index.inject(Scope::All, Fault::WrongSha256, Times::Always);
    let run = scan_time_machine(&index);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("sha256 mismatch"), "{}", run.stderr);
    assert!(verdicts(&run.json()).is_empty());
}

#[test]
fn unknown_projects_versions_and_indexes_are_one_line_errors() {
    let index = serve_all(PageFormat::Json);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let run = scan(
        &index,
        &db,
        &["--no-store"],
        &["no-such-project", "lru-dict==9.9"],
    );
    assert_eq!(run.code, 2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines.iter().any(|l| l.contains("no-such-project")),
        "{}",
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("no release 9.9") && l.contains("latest: 1.4.1")),
        "{}",
        run.stderr
    );

    let gone = support::unreachable_url();
    let run = common::gilfree_on_loopback(&[
        "scan",
        "--index-url",
        &gone,
        "--no-store",
        "--timeout",
        "1",
        "--retries",
        "1",
        "lru-dict",
    ]);
    assert_eq!(run.code, 2);
    let err = run.stderr;
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(gone.trim_end_matches('/')), "{err}");
}

/// Opt-in: the real index (`cargo test --test scan_index -- --ignored`).
#[test]
#[ignore = "uses the network"]
fn live_index_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(["scan", "--format", "json", "--db", db.to_str().unwrap()])
        .args([
            "--platform",
            "linux-x86_64",
            "markupsafe==3.0.4",
            "lxml==6.1.3",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "lxml turns the GIL on");
    let v = verdicts(&doc);
    assert!(
        v.contains(&("markupsafe._speedups".into(), "gil-not-used".into())),
        "{v:?}"
    );
    assert!(
        v.contains(&("lxml.etree".into(), "gil-used".into())),
        "{v:?}"
    );
    assert!(doc["stats"]["bytes_downloaded"].as_u64().unwrap() > 0);
}

#[test]
fn a_wheel_url_is_read_by_ranges() {
    let index = serve_all(PageFormat::Json);
    let tmp = tempfile::tempdir().unwrap();
    let url = index.file_url(TIME_MACHINE);
    let run = scan(&index, &tmp.path().join("db"), &["--no-store"], &[&url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(verdicts(&run.json()), time_machine_ready());
    assert!(
        index
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/files/")),
        "no page needed"
    );
}
