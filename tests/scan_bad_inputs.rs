//! `gilfree scan` end to end on inputs it cannot use: a missing path, a `.txt` file, an empty
//! folder, a wheel with a bad name, unknown `--python`/`--platform` values (usage errors,
//! exit 2 with a one-line cause), and damaged wheels built in temporary folders from the
//! fixtures — truncated at many lengths, not a zip at all, member data corrupted, the `.so`
//! member replaced by garbage, a member declaring a huge (or too small) uncompressed size — and
//! garbage lone module files. Each must give one clear line on stderr or an `unknown`
//! verdict with its reason, never a panic, and the other targets of the run are still scanned.

mod common;

use std::path::Path;

use common::*;
use gilfree::inspect::verdict::{Reason, Verdict};
use gilfree::scan::{Readiness, ScanConfig, scan_paths};
use serde_json::{Value, json};

/// The time-machine report of `doc` is intact: the bad input did not stop the run.
fn assert_time_machine_still_scanned(doc: &Value) {
    let reports = reports_for(doc, TIME_MACHINE);
    assert_eq!(reports.len(), 1, "{doc}");
    assert_eq!(reports[0]["readiness"], "ready");
    assert_eq!(reports[0]["modules"][0]["verdict"], "gil-not-used");
}

/// Copies the time-machine fixture into `dir`, so that a run there has one good wheel.
fn add_good_wheel(dir: &Path) {
    std::fs::copy(wheel_path(TIME_MACHINE), dir.join(TIME_MACHINE)).unwrap();
}

#[test]
fn a_missing_path_is_an_input_error_and_the_rest_is_scanned() {
    let root = fixtures_root();
    let good = wheel_arg(TIME_MACHINE);
    let run = gilfree(
        &root,
        &[
            "scan",
            "--format",
            "json",
            "no/such-1.0-py3-none-any.whl",
            &good,
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: no/such-1.0-py3-none-any.whl: No such file or directory"),
        "{}",
        lines[0]
    );
    let doc = run.json();
    assert_time_machine_still_scanned(&doc);
    assert_eq!(doc["errors"].as_array().unwrap().len(), 1);
    assert_eq!(doc["stats"]["files"], 1);

    // An input error outranks a blocking module in the exit code.
    let lru = wheel_arg(LRU);
    let run = gilfree(&root, &["scan", "missing.whl", &lru]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("TURNS THE GIL ON"), "{}", run.stdout);
}

#[test]
fn a_text_file_is_refused_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("requirements.txt"), "lru-dict==1.4.1\n").unwrap();
    add_good_wheel(tmp.path());
    let run = gilfree(
        tmp.path(),
        &["scan", "--format", "json", "requirements.txt", TIME_MACHINE],
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr_lines(),
        ["error: requirements.txt: not a wheel (.whl) or an extension module (.so, .pyd)"]
    );
    let doc = run.json();
    assert_eq!(
        doc["errors"],
        json!(["requirements.txt: not a wheel (.whl) or an extension module (.so, .pyd)"])
    );
    assert_time_machine_still_scanned(&doc);
}

#[test]
fn an_empty_folder_or_one_without_modules_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    std::fs::create_dir(tmp.path().join("docs")).unwrap();
    std::fs::write(tmp.path().join("docs/notes.txt"), "nothing to see\n").unwrap();
    for dir in ["empty", "docs"] {
        let run = gilfree(tmp.path(), &["scan", dir]);
        assert_eq!(run.code, 2, "{dir}: {run:?}");
        assert_eq!(
            run.stderr_lines(),
            [format!(
                "error: {dir}: no wheels or extension modules in this folder"
            )]
        );
        assert_eq!(run.stdout, "", "no summary of nothing after the error");
    }
}

#[test]
fn a_wheel_with_a_bad_file_name_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(wheel_path(LRU), tmp.path().join("lru_dict.whl")).unwrap();
    add_good_wheel(tmp.path());
    let run = gilfree(
        tmp.path(),
        &["scan", "--format", "json", "lru_dict.whl", TIME_MACHINE],
    );
    assert_eq!(run.code, 2);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: lru_dict.whl: invalid wheel file name \"lru_dict.whl\""),
        "{}",
        lines[0]
    );
    assert_time_machine_still_scanned(&run.json());
}

#[test]
fn unknown_python_or_platform_is_a_usage_error() {
    let root = fixtures_root();
    let lru = wheel_arg(LRU);
    for python in ["3.12t", "3.14", "2.7t", "pypy"] {
        let run = gilfree(&root, &["scan", "--python", python, &lru]);
        assert_eq!(run.code, 2, "{python}: {run:?}");
        assert_eq!(run.stdout, "", "nothing is scanned on a usage error");
        let first = run.stderr_lines()[0];
        assert!(
            first.starts_with(&format!(
                "error: invalid value '{python}' for '--python <VERSION>': "
            )),
            "{first}"
        );
        assert!(first.contains("3.13t, 3.14t or 3.15t"), "{first}");
    }
    insta::assert_snapshot!(
        "python_312t_stderr",
        gilfree(&root, &["scan", "--python", "3.12t", &lru]).stderr
    );

    let run = gilfree(&root, &["scan", "--platform", "linux-sparc", &lru]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr_lines()[0]
            .starts_with("error: invalid value 'linux-sparc' for '--platform <PLATFORM>': "),
        "{}",
        run.stderr
    );

    let run = gilfree(&root, &["scan"]);
    assert_eq!(run.code, 2, "a target is required: {run:?}");
}

/// Writes `bytes` under the lru-dict wheel's own name in `dir`, next to a good wheel, scans
/// both and returns the lru-dict report.
fn scan_damaged_lru(dir: &Path, bytes: &[u8]) -> (Run, Value) {
    std::fs::write(dir.join(LRU), bytes).unwrap();
    add_good_wheel(dir);
    let run = gilfree(dir, &["scan", "-v", "--format", "json", LRU, TIME_MACHINE]);
    let doc = run.json();
    assert_time_machine_still_scanned(&doc);
    let reports = reports_for(&doc, LRU);
    assert_eq!(reports.len(), 1, "{doc}");
    let report = reports[0].clone();
    assert_eq!(report["project"], "lru-dict");
    assert_eq!(report["readiness"], "unknown", "{report}");
    if report.get("error").is_none() {
        // A damaged member is an `unknown` verdict in the report, and the input given on
        // the command line could not be read: one line naming the member, exit 2.
        assert_eq!(run.code, 2, "{run:?}");
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].starts_with(&format!("error: {LRU}: lru/")),
            "{}",
            run.stderr
        );
    }
    (run, report)
}

/// A wheel whose zip structure cannot be read: one `unknown` report with the error and no
/// module, plus one line on stderr and exit code 2 (the other wheel is still scanned).
fn assert_unreadable_wheel(run: &Run, report: &Value, what: &str) {
    assert_eq!(run.code, 2, "{what}: {run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{what}: {}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("error: {LRU}: unreadable wheel: ")),
        "{what}: {}",
        run.stderr
    );
    let note = report["error"].as_str().unwrap_or_default();
    assert!(
        note.starts_with(&format!("unreadable wheel: cannot read wheel {LRU}: ")),
        "{what}: {note:?}"
    );
    assert_eq!(report["modules"], json!([]), "{what}");
    assert!(report.get("platform").is_none(), "{what}");
}

#[test]
fn a_truncated_wheel_reads_as_unknown_at_every_length() {
    let whole = std::fs::read(wheel_path(LRU)).unwrap();
    let n = whole.len();
    for cut in [
        0,
        1,
        4,
        22,
        100,
        1000,
        n / 2,
        n - 1000,
        n - 23,
        n - 22,
        n - 1,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (run, report) = scan_damaged_lru(tmp.path(), &whole[..cut]);
        assert_unreadable_wheel(&run, &report, &format!("cut at {cut}"));
    }
    // Through the library as well.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(LRU), &whole[..n / 2]).unwrap();
    let report = scan_paths(&[tmp.path().join(LRU)], &ScanConfig::default());
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.wheels.len(), 1);
    assert_eq!(report.wheels[0].readiness, Readiness::Unknown);
    assert!(report.wheels[0].modules.is_empty());
    assert!(
        report.wheels[0]
            .error
            .as_deref()
            .is_some_and(|n| n.contains("no end of central directory record")),
        "{:?}",
        report.wheels[0].error
    );
}

#[test]
fn a_truncated_wheel_in_the_text_table() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = std::fs::read(wheel_path(LRU)).unwrap();
    std::fs::write(tmp.path().join(LRU), &whole[..whole.len() / 2]).unwrap();
    add_good_wheel(tmp.path());
    let run = gilfree(tmp.path(), &["scan", LRU, TIME_MACHINE]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    // Unknown before ready.
    assert!(
        run.stdout
            .starts_with(&format!("{LRU}  [3.14t]  UNKNOWN\n"))
    );
    insta::assert_snapshot!("truncated_wheel_text", run.stdout);
}

#[test]
fn a_wheel_with_a_hole_in_the_middle_reads_as_unknown() {
    // The central directory survives but points past the shortened file.
    let whole = std::fs::read(wheel_path(LRU)).unwrap();
    let mut holed = whole[..10_000].to_vec();
    holed.extend_from_slice(&whole[15_000..]);
    let tmp = tempfile::tempdir().unwrap();
    let (run, report) = scan_damaged_lru(tmp.path(), &holed);
    assert_unreadable_wheel(&run, &report, "hole");
}

#[test]
fn a_file_named_like_a_wheel_but_not_a_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, report) = scan_damaged_lru(tmp.path(), b"<html>404 Not Found</html>\n");
    assert_unreadable_wheel(&run, &report, "html");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .ends_with("no end of central directory record (truncated or not a zip)"),
        "{report}"
    );
    // Its sha256 is still that of the file as read.
    assert_eq!(report["sha256"], sha256_of(b"<html>404 Not Found</html>\n"));
}

fn sha256_of(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn corrupted_member_data_reads_as_an_unreadable_member() {
    let mut bytes = std::fs::read(wheel_path(LRU)).unwrap();
    // Inside the compressed `.so`, which starts near the top of the file.
    for b in &mut bytes[5_000..6_000] {
        *b ^= 0x55;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (run, report) = scan_damaged_lru(tmp.path(), &bytes);
    assert_eq!(run.code, 2, "a damaged input");
    assert_eq!(report["platform"], "linux-x86_64");
    let m = &report["modules"][0];
    assert_eq!(m["module"], "lru._lru");
    assert_eq!(m["verdict"], "unknown");
    assert_eq!(m["reason"], "unreadable-member");
    assert!(
        m["evidence"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot read member \"{LRU_SO}\": ")),
        "{m}"
    );
}

#[test]
fn a_so_member_replaced_by_garbage_reads_as_malformed() {
    let real = read_member(&wheel_path(LRU), LRU_SO);
    // Deterministic noise.
    let noise: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut elf_magic_then_noise = b"\x7fELF".to_vec();
    elf_magic_then_noise.extend_from_slice(&noise);
    let mut elf_header_then_noise = real[..64].to_vec();
    elf_header_then_noise.extend_from_slice(&noise);
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("noise", noise.clone(), "not an ELF, PE or Mach-O file"),
        ("empty", Vec::new(), "not an ELF, PE or Mach-O file"),
        (
            "ELF magic, then noise",
            elf_magic_then_noise,
            "malformed binary: ELF: ",
        ),
        (
            "ELF header, then noise",
            elf_header_then_noise,
            "malformed binary: ELF: ",
        ),
        (
            "first 64 bytes",
            real[..64].to_vec(),
            "malformed binary: ELF: ",
        ),
        (
            "first half",
            real[..real.len() / 2].to_vec(),
            "malformed binary: ELF: ",
        ),
    ];
    for (what, data, evidence) in cases {
        let bytes = replace_member(&wheel_path(LRU), LRU_SO, &data);
        let tmp = tempfile::tempdir().unwrap();
        let (run, report) = scan_damaged_lru(tmp.path(), &bytes);
        assert_eq!(run.code, 2, "{what}: a damaged input");
        assert!(report.get("note").is_none(), "{what}: {report}");
        let modules = report["modules"].as_array().unwrap();
        assert_eq!(modules.len(), 1, "{what}: {report}");
        let m = &modules[0];
        assert_eq!(m["member"], LRU_SO, "{what}");
        assert_eq!(m["module"], "lru._lru", "{what}");
        assert_eq!(m["verdict"], "unknown", "{what}: {m}");
        assert_eq!(m["reason"], "malformed-binary", "{what}: {m}");
        assert!(
            m["evidence"].as_str().unwrap().starts_with(evidence),
            "{what}: {m}"
        );
        assert!(m.get("fix").is_none(), "{what}: {m}");
    }
}

#[test]
fn a_member_declaring_a_huge_size_is_not_read() {
    let mut bytes = std::fs::read(wheel_path(LRU)).unwrap();
    declare_size(&mut bytes, LRU_SO, 0xF000_0000);
    let tmp = tempfile::tempdir().unwrap();
    let (run, report) = scan_damaged_lru(tmp.path(), &bytes);
    assert_eq!(run.code, 2, "a damaged input");
    let m = &report["modules"][0];
    assert_eq!(m["verdict"], "unknown");
    assert_eq!(m["reason"], "unreadable-member");
    assert_eq!(
        m["evidence"],
        format!(
            "member \"{LRU_SO}\" is larger than the limit of 1073741824 bytes (4026531840 bytes declared)"
        )
    );

    // Through the library: no allocation of the declared size, a verdict instead.
    let path = tmp.path().join(LRU);
    let report = scan_paths(&[path], &ScanConfig::default());
    let m = &report.wheels[0].modules[0];
    assert_eq!(
        (m.verdict, m.reason),
        (Verdict::Unknown, Reason::UnreadableMember)
    );
}

#[test]
fn a_member_declaring_too_small_a_size_is_not_trusted() {
    let mut bytes = std::fs::read(wheel_path(LRU)).unwrap();
    declare_size(&mut bytes, LRU_SO, 100);
    let tmp = tempfile::tempdir().unwrap();
    let (run, report) = scan_damaged_lru(tmp.path(), &bytes);
    assert_eq!(run.code, 2, "a damaged input");
    let m = &report["modules"][0];
    assert_eq!(m["verdict"], "unknown");
    assert_eq!(m["reason"], "unreadable-member");
    assert_eq!(
        m["evidence"],
        format!("member \"{LRU_SO}\" declares 100 bytes but decompresses to 100192")
    );
}

#[test]
fn garbage_lone_module_files_read_as_malformed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("empty.cpython-314t-x86_64-linux-gnu.so"),
        b"",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("noise.cpython-314t-x86_64-linux-gnu.so"),
        b"\x7fELF\x02\x01\x01 this is not really an ELF file",
    )
    .unwrap();
    add_good_wheel(tmp.path());
    let run = gilfree(
        tmp.path(),
        &[
            "scan",
            "--format",
            "json",
            "empty.cpython-314t-x86_64-linux-gnu.so",
            "noise.cpython-314t-x86_64-linux-gnu.so",
            TIME_MACHINE,
        ],
    );
    // Files that are not binaries at all: unknown in the report, and input errors.
    assert_eq!(run.code, 2, "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: empty.cpython-314t-x86_64-linux-gnu.so: "),
        "{}",
        run.stderr
    );
    let doc = run.json();
    assert_time_machine_still_scanned(&doc);
    assert_eq!(
        verdicts(&doc),
        [
            ("empty".into(), "unknown".into(), "malformed-binary".into()),
            ("noise".into(), "unknown".into(), "malformed-binary".into()),
            (
                "_time_machine".into(),
                "gil-not-used".into(),
                "slot-value-1".into()
            ),
        ]
    );
}

#[test]
fn every_bad_input_at_once_through_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let whole = std::fs::read(wheel_path(LRU)).unwrap();
    std::fs::create_dir(dir.join("truncated")).unwrap();
    std::fs::write(dir.join("truncated").join(LRU), &whole[..300]).unwrap();
    std::fs::write(dir.join("notes.txt"), "hello\n").unwrap();
    std::fs::create_dir(dir.join("empty")).unwrap();
    let paths = [
        dir.join("missing.whl"),
        dir.join("notes.txt"),
        dir.join("empty"),
        dir.join("truncated"),
        wheel_path(BITSTRUCT),
    ];
    let report = scan_paths(&paths, &ScanConfig::default());
    // Three inputs that are not wheels at all, and one wheel that cannot be read.
    assert_eq!(report.errors.len(), 4, "{:?}", report.errors);
    assert!(
        report.errors[3].contains("unreadable wheel"),
        "{:?}",
        report.errors
    );
    for (error, path) in report.errors.iter().zip(&paths[..3]) {
        assert!(
            error.starts_with(&format!("{}: ", path.display())),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }
    let got: Vec<(String, Readiness)> = report
        .wheels
        .iter()
        .map(|w| (w.filename.clone(), w.readiness))
        .collect();
    assert_eq!(
        got,
        [
            (LRU.to_string(), Readiness::Unknown),
            (BITSTRUCT.to_string(), Readiness::Ready)
        ]
    );
}

#[test]
fn a_script_named_like_a_module_is_not_a_module() {
    // A text file under an extension module's name cannot be imported: it is no module, and
    // not an error; the wheel says so.
    let script = b"#!/bin/sh\nexec python3 -m lru \"$@\"\n";
    let bytes = replace_member(&wheel_path(LRU), LRU_SO, script);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(LRU), &bytes).unwrap();
    let run = gilfree(tmp.path(), &["scan", "--format", "json", LRU]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let doc = run.json();
    let report = &reports_for(&doc, LRU)[0];
    assert_eq!(report["modules"], serde_json::json!([]), "{report}");
    assert_eq!(report["readiness"], "ready");
    let note = report["note"].as_str().unwrap();
    assert!(
        note.contains("or not a binary at all), such as lru/_lru.cpython-314t"),
        "{note}"
    );
}
