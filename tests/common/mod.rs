//! Helpers shared by the end-to-end tests: the fixture wheels and what the
//! runtime truth says about them, running the built binary, redacting machine-dependent parts
//! of its output, and building damaged wheels and installed environments in temporary folders.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// lru-dict 1.4.1: single-phase module that never calls `PyUnstable_Module_SetGIL`.
pub const LRU: &str =
    "lru_dict-1.4.1-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl";
/// time-machine 3.6.0: multi-phase module with `{Py_mod_gil, 1}` in its static `m_slots`.
pub const TIME_MACHINE: &str = "time_machine-3.6.0-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl";
/// bitstruct 8.24.0: single-phase module calling `PyUnstable_Module_SetGIL(m, 1)`.
pub const BITSTRUCT: &str = "bitstruct-8.24.0-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl";

pub const LRU_SO: &str = "lru/_lru.cpython-314t-x86_64-linux-gnu.so";
pub const TIME_MACHINE_SO: &str = "_time_machine.cpython-314t-x86_64-linux-gnu.so";
pub const BITSTRUCT_SO: &str = "bitstruct/c.cpython-314t-x86_64-linux-gnu.so";

/// What a fixture wheel is and what its one module must come out as on 3.14t.
pub struct Fixture {
    pub file: &'static str,
    pub project: &'static str,
    pub version: &'static str,
    /// As recorded in `tests/data/truth-cp314t-linux-x86_64.json`.
    pub sha256: &'static str,
    pub size: u64,
    pub member: &'static str,
    pub module: &'static str,
    pub verdict: &'static str,
    pub reason: &'static str,
    pub readiness: &'static str,
    /// A piece of the evidence text that names the declaration that was read.
    pub evidence: &'static str,
}

pub const FIXTURES: [Fixture; 3] = [
    Fixture {
        file: LRU,
        project: "lru-dict",
        version: "1.4.1",
        sha256: "b21d06dec64fb1952385262d9fcefaec147921dc0b55210007091a79da440d93",
        size: 36389,
        member: LRU_SO,
        module: "lru._lru",
        verdict: "gil-used",
        reason: "single-phase-no-set-gil",
        readiness: "gil-fallback",
        evidence: "never calls PyUnstable_Module_SetGIL",
    },
    Fixture {
        file: TIME_MACHINE,
        project: "time-machine",
        version: "3.6.0",
        sha256: "f23f7515014c77ae1ce7a686a832ad5b5106bda6dc71f92a1c8af01f9cc3d2d5",
        size: 73398,
        member: TIME_MACHINE_SO,
        module: "_time_machine",
        verdict: "gil-not-used",
        reason: "slot-value-1",
        readiness: "ready",
        evidence: "{Py_mod_gil, 1}",
    },
    Fixture {
        file: BITSTRUCT,
        project: "bitstruct",
        version: "8.24.0",
        sha256: "eab154c1d5910c29e457cdc1bc605d2d9a57660992b4b0da4078a831ae972117",
        size: 86244,
        member: BITSTRUCT_SO,
        module: "bitstruct.c",
        verdict: "gil-not-used",
        reason: "set-gil-1",
        readiness: "ready",
        evidence: "PyUnstable_Module_SetGIL(m, 1)",
    },
];

pub fn fixture_info(file: &str) -> &'static Fixture {
    FIXTURES
        .iter()
        .find(|f| f.file == file)
        .unwrap_or_else(|| panic!("no fixture {file}"))
}

/// `tests/fixtures`, the folder the binary is run from so that paths in its output are short
/// and the same on every machine.
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/wheels`.
pub fn wheels_dir() -> PathBuf {
    fixtures_root().join("wheels")
}

pub fn wheel_path(file: &str) -> PathBuf {
    wheels_dir().join(file)
}

/// A fixture wheel as given on the command line when run from [`fixtures_root`].
pub fn wheel_arg(file: &str) -> String {
    format!("wheels/{file}")
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stderr lines, without blank ones.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `gilfree ARGS...` in `cwd`, and fails the test if it crashed rather than exited.
pub fn gilfree(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gilfree"));
    cmd.current_dir(cwd);
    finish(cmd, args)
}

/// Runs `gilfree ARGS...` against an index on 127.0.0.1: no proxy from the environment may
/// take the loopback requests elsewhere.
pub fn gilfree_on_loopback(args: &[&str]) -> Run {
    finish(loopback_command(), args)
}

/// [`gilfree_on_loopback`] run in `cwd`.
pub fn gilfree_on_loopback_in(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = loopback_command();
    cmd.current_dir(cwd);
    finish(cmd, args)
}

/// [`gilfree_on_loopback_in`] with these environment variables set.
pub fn gilfree_on_loopback_with(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = loopback_command();
    cmd.current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd, args)
}

/// The gilfree the loopback tests run: this build's, or `$GILFREE_TEST_BIN` (for timing a
/// release build under the same tests: `GILFREE_TEST_BIN=target/release/gilfree`).
fn loopback_command() -> Command {
    let bin = std::env::var_os("GILFREE_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gilfree").into());
    let mut cmd = Command::new(bin);
    cmd.env("NO_PROXY", "127.0.0.1,localhost");
    // The settings a developer's environment may hold do not leak into the tests.
    for var in [
        "GILFREE_PYTHON",
        "GILFREE_PLATFORM",
        "GILFREE_FAIL_ON",
        "GILFREE_INDEX_URL",
        "NO_COLOR",
        "FORCE_COLOR",
        "CLICOLOR_FORCE",
    ] {
        cmd.env_remove(var);
    }
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs the command and checks that it exited (0, 1 or 2) rather than crashed.
fn finish(mut cmd: Command, args: &[&str]) -> Run {
    let out = cmd
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run gilfree");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        out.status.code().is_some(),
        "gilfree {args:?} was killed by a signal: {run:?}"
    );
    assert!(
        !run.stderr.contains("panicked"),
        "gilfree {args:?} panicked: {}",
        run.stderr
    );
    assert!(
        [0, 1, 2].contains(&run.code),
        "gilfree {args:?} exited with {}: {run:?}",
        run.code
    );
    run
}

/// Replaces what depends on the machine or the moment: the elapsed time and the temporary
/// folders the test made. Everything else in the output is deterministic.
pub fn redact(mut doc: Value, tmp: &[&Path]) -> Value {
    let seconds = &mut doc["stats"]["seconds"];
    assert!(
        seconds.as_f64().is_some_and(|s| s >= 0.0),
        "stats.seconds is not a non-negative number: {seconds}"
    );
    *seconds = Value::String("[seconds]".into());
    redact_paths(&mut doc, tmp);
    doc
}

fn redact_paths(v: &mut Value, tmp: &[&Path]) {
    match v {
        Value::String(s) => *s = redact_text(s, tmp),
        Value::Array(items) => items.iter_mut().for_each(|i| redact_paths(i, tmp)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_paths(i, tmp)),
        _ => {}
    }
}

/// Replaces each temporary folder in `text` with `[TMP]`.
pub fn redact_text(text: &str, tmp: &[&Path]) -> String {
    let mut out = text.to_string();
    for t in tmp {
        out = out.replace(&t.display().to_string(), "[TMP]");
    }
    out
}

/// `(module, verdict, reason)` of every module of every report, in output order.
pub fn verdicts(doc: &Value) -> Vec<(String, String, String)> {
    doc["wheels"]
        .as_array()
        .expect("wheels is an array")
        .iter()
        .flat_map(|w| w["modules"].as_array().expect("modules is an array"))
        .map(|m| {
            (
                m["module"].as_str().unwrap().to_string(),
                m["verdict"].as_str().unwrap().to_string(),
                m["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The reports of `doc` for the wheel `file` (one per target).
pub fn reports_for<'d>(doc: &'d Value, file: &str) -> Vec<&'d Value> {
    doc["wheels"]
        .as_array()
        .expect("wheels is an array")
        .iter()
        .filter(|w| w["filename"] == file)
        .collect()
}

/// The bytes of one member of a wheel.
pub fn read_member(wheel: &Path, member: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut data = Vec::new();
    zip.by_name(member)
        .unwrap_or_else(|e| panic!("{member} in {}: {e}", wheel.display()))
        .read_to_end(&mut data)
        .unwrap();
    data
}

/// Unpacks a wheel into `site_packages` as an installer would (without writing scripts).
pub fn install(wheel: &Path, site_packages: &Path) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    zip.extract(site_packages).unwrap();
}

/// A copy of `wheel` in which `member` holds `data` (stored); every other member is copied
/// byte for byte.
pub fn replace_member(wheel: &Path, member: &str, data: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut replaced = false;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).unwrap();
        if entry.name() == member {
            let name = entry.name().to_string();
            drop(entry);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            out.start_file(name, options).unwrap();
            out.write_all(data).unwrap();
            replaced = true;
        } else {
            out.raw_copy_file(entry).unwrap();
        }
    }
    assert!(replaced, "{member} is not in {}", wheel.display());
    out.finish().unwrap().into_inner()
}

/// Rewrites, in a whole zip file without comment or zip64 records, the uncompressed size that
/// the central directory and the local header declare for `member`.
pub fn declare_size(zip: &mut [u8], member: &str, size: u32) {
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let end = zip.len() - 22;
    assert_eq!(
        &zip[end..end + 4],
        b"PK\x05\x06",
        "end record without comment"
    );
    let entries = u16_at(zip, end + 10);
    let mut at = u32_at(zip, end + 16) as usize;
    let mut found = false;
    for _ in 0..entries {
        assert_eq!(&zip[at..at + 4], b"PK\x01\x02", "central directory entry");
        let name_len = u16_at(zip, at + 28);
        let extra_len = u16_at(zip, at + 30);
        let comment_len = u16_at(zip, at + 32);
        let local = u32_at(zip, at + 42) as usize;
        if &zip[at + 46..at + 46 + name_len] == member.as_bytes() {
            zip[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
            assert_eq!(&zip[local..local + 4], b"PK\x03\x04", "local header");
            zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
            found = true;
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    assert!(found, "{member} not in the central directory");
}

/// The (name, readiness) of every package of an audit's JSON, in report order.
pub fn readiness_of(doc: &Value) -> Vec<(String, String)> {
    doc["packages"]
        .as_array()
        .expect("packages is an array")
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (field("name"), field("readiness"))
        })
        .collect()
}

/// Every file under `dir`, by relative path, with the build time taken out (the one
/// `generated_at` of the build, wherever it is written).
pub fn site_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("api/projects.json")).unwrap()).unwrap();
    let built = api["generated_at"].as_str().unwrap().to_string();
    assert!(!built.is_empty());
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let bytes = match String::from_utf8(bytes) {
                Ok(text) => text.replace(&built, "BUILD-TIME").into_bytes(),
                Err(e) => e.into_bytes(),
            };
            out.insert(rel, bytes);
        }
    }
    out
}
