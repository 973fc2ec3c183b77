//! Bytes fetched by `gilfree scan` through the local test index, counted at the server: a
//! wheel whose members are read more than once (a stub module's library, read for its
//! exports and again for its slots, after more than the in-memory budget was read in
//! between) costs each byte once, and never more than the wheel's own size.

mod common;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use support::{FileSpec, ProjectSpec, TestIndex};

/// The free-threaded build's `PyModuleDef` and slot types, and `PyModuleDef_Init`.
const PRELUDE: &str = r#"
#include <stdint.h>
typedef struct { int slot; void *value; } Slot;
typedef struct {
    uintptr_t ob_tid; uint16_t ob_flags; uint8_t ob_mutex; uint8_t ob_gc_bits;
    uint32_t ob_ref_local; intptr_t ob_ref_shared; void *ob_type;
    void *m_init; intptr_t m_index; void *m_copy;
    const char *m_name; const char *m_doc; intptr_t m_size; void *m_methods;
    Slot *m_slots; void *m_traverse; void *m_clear; void *m_free;
} Def;
extern void *PyModuleDef_Init(Def *);
"#;

const LIB: &str = r#"
static int exec_mod(void *m) { (void)m; return 0; }
static Slot slots[] = { {2, (void *)exec_mod}, {4, (void *)1}, {0, 0} };
static Def def = { 0, 4, 0, 0, 0xFFFFFFFFu, 0, 0, 0, 0, 0, "big", 0, 0, 0, slots, 0, 0, 0 };
__attribute__((visibility("default"))) void *Wrapped_PyInit_big(void) { return PyModuleDef_Init(&def); }
"#;

const STUB: &str = r#"
extern void *Wrapped_PyInit_big(void);
__attribute__((visibility("default"))) void *PyInit_big(void) { return Wrapped_PyInit_big(); }
"#;

const WHEEL: &str = "big-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl";

fn gcc(dir: &Path, args: &[&str]) {
    let out = Command::new("gcc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("gcc is needed");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` bytes no compressor shrinks (xorshift).
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A wheel with the stub module and its library, each padded at its end (after the section
/// headers, where no reader looks) with `pad` incompressible bytes, stored.
fn big_wheel(dir: &Path, pad: usize) -> Vec<u8> {
    std::fs::write(dir.join("lib.c"), format!("{PRELUDE}{LIB}")).unwrap();
    std::fs::write(dir.join("stub.c"), STUB).unwrap();
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "libbigimpl.so", "lib.c"],
    );
    gcc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-O2",
            "-o",
            "stub.so",
            "stub.c",
            "-L.",
            "-lbigimpl",
        ],
    );
    let mut stub = std::fs::read(dir.join("stub.so")).unwrap();
    let mut lib = std::fs::read(dir.join("libbigimpl.so")).unwrap();
    stub.extend(noise(pad, 7));
    lib.extend(noise(pad, 11));
    stored_zip(&[
        ("big.cpython-314t-x86_64-linux-gnu.so", &stub),
        ("big.libs/libbigimpl.so", &lib),
        (
            "big-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n",
        ),
        (
            "big-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp314-cp314t-manylinux_2_17_x86_64\n",
        ),
    ])
}

/// A zip of `files`, stored (so bytes fetched map to bytes of a member one to one).
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in files {
        zip.start_file(*name, stored).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The byte ranges `[start, end)` the server sent for `path`, from each request's `Range`
/// header and body size.
fn served(index: &TestIndex, path: &str, total: u64) -> Vec<(u64, u64)> {
    index
        .requests_to(path)
        .iter()
        .map(|r| {
            let range = r.range().expect("every file request asks for a range");
            let spec = range.strip_prefix("bytes=").unwrap();
            let start = match spec.split_once('-').unwrap() {
                ("", _) => total - r.body_bytes,
                (first, _) => first.parse().unwrap(),
            };
            (start, start + r.body_bytes)
        })
        .collect()
}

#[test]
fn a_library_read_twice_is_fetched_once_and_no_wheel_costs_more_than_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    // Each member larger than what is kept in memory: the library's second read comes after
    // more than that was read since its first.
    let wheel = big_wheel(tmp.path(), 70 << 20);
    let size = wheel.len() as u64;
    let index = TestIndex::start();
    index.add_project(ProjectSpec::new("big").file(FileSpec::new(WHEEL, wheel)));
    let url = index.index_url();
    let run = common::gilfree_on_loopback(&[
        "scan",
        "--format",
        "json",
        "--no-store",
        "--index-url",
        &url,
        "--platform",
        "linux-x86_64",
        "big==1.0",
    ]);
    let doc = run.json();
    let modules = doc["wheels"][0]["modules"].as_array().unwrap().clone();
    assert_eq!(modules.len(), 1, "{doc}");
    assert_eq!(modules[0]["verdict"], "gil-not-used", "{doc}");
    assert_eq!(modules[0]["reason"], "delegated", "{doc}");

    let mut ranges = served(&index, &format!("/files/{WHEEL}"), size);
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "{w:?} sent twice; all: {ranges:?}");
    }
    let sent: u64 = ranges.iter().map(|(s, e)| e - s).sum();
    assert!(sent <= size, "{sent} bytes sent for a wheel of {size}");
    assert_eq!(
        doc["stats"]["bytes_downloaded"].as_u64(),
        Some(sent + page_bytes(&index))
    );
}

/// Body bytes of everything but the wheel: the project page.
fn page_bytes(index: &TestIndex) -> u64 {
    index
        .requests()
        .iter()
        .filter(|r| !r.path.starts_with("/files/"))
        .map(|r| r.body_bytes)
        .sum()
}

/// A module declaring `Py_mod_gil = Py_MOD_GIL_NOT_USED` in its static slots, with a string
/// Cython modules carry (so its generator is known from its loaded part alone).
const TAILED: &str = r#"
__attribute__((visibility("default"))) const char *capi_name = "__pyx_capi__";
static int exec_mod(void *m) { (void)m; return 0; }
static Slot slots[] = { {2, (void *)exec_mod}, {4, (void *)1}, {0, 0} };
static Def def = { 0, 4, 0, 0, 0xFFFFFFFFu, 0, 0, 0, 0, 0, "tailed", 0, 0, 0, slots, 0, 0, 0 };
__attribute__((visibility("default"))) void *PyInit_tailed(void) { return PyModuleDef_Init(&def); }
"#;

const TAILED_WHEEL: &str = "tailed-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl";
const TAILED_MEMBER: &str = "tailed.cpython-314t-x86_64-linux-gnu.so";

/// `(verdict, reason, binder)` of every module in a scan report.
fn decisions(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["modules"].as_array().unwrap().clone())
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (s("verdict"), s("reason"), s("binder"))
        })
        .collect()
}

#[test]
fn a_module_is_fetched_only_as_far_as_its_loadable_segments_go() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tailed.c"), format!("{PRELUDE}{TAILED}")).unwrap();
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "plain.so", "tailed.c"],
    );
    // 8 MiB of records the loader never maps, between the segments and the section headers
    // (where debug sections go).
    std::fs::write(dir.join("pad.bin"), noise(8 << 20, 5)).unwrap();
    let objcopy = Command::new("objcopy")
        .current_dir(dir)
        .args([
            "--add-section",
            ".debug_pad=pad.bin",
            "plain.so",
            TAILED_MEMBER,
        ])
        .output()
        .expect("objcopy (binutils) is needed");
    assert!(objcopy.status.success(), "{objcopy:?}");
    let module = std::fs::read(dir.join(TAILED_MEMBER)).unwrap();
    let wheel = stored_zip(&[
        (TAILED_MEMBER, &module),
        (
            "tailed-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: tailed\nVersion: 1.0\n",
        ),
        (
            "tailed-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp314-cp314t-manylinux_2_17_x86_64\n",
        ),
    ]);
    let size = wheel.len() as u64;
    std::fs::write(dir.join(TAILED_WHEEL), &wheel).unwrap();

    let index = TestIndex::start();
    index.add_project(ProjectSpec::new("tailed").file(FileSpec::new(TAILED_WHEEL, wheel)));
    let url = index.index_url();
    let scan = |args: &[&str]| {
        let mut all = vec![
            "scan",
            "--format",
            "json",
            "--no-store",
            "--platform",
            "linux-x86_64",
        ];
        all.extend_from_slice(args);
        common::gilfree_on_loopback_in(dir, &all).json()
    };
    let remote = scan(&["--index-url", &url, "tailed==1.0"]);
    let local = scan(&[TAILED_WHEEL]);
    // The module file on its own is read whole, section headers and all.
    let whole = scan(&[TAILED_MEMBER]);
    let expected = vec![(
        "gil-not-used".to_string(),
        "slot-value-1".to_string(),
        "cython".to_string(),
    )];
    assert_eq!(decisions(&whole), expected, "{whole}");
    assert_eq!(decisions(&local), expected, "{local}");
    assert_eq!(decisions(&remote), expected, "{remote}");

    let sent: u64 = served(&index, &format!("/files/{TAILED_WHEEL}"), size)
        .iter()
        .map(|(s, e)| e - s)
        .sum();
    assert!(
        sent < 1 << 20,
        "{sent} bytes sent for a module whose loaded part is {} of {} bytes",
        module.len() - (8 << 20),
        module.len()
    );
}
