//! Tier 6 end to end: a stub module whose `PyInit_x` only hands off to `Wrapped_PyInit_x`,
//! exported by a library bundled in the same wheel. gcc builds both; the test packs them into
//! a wheel and scans it, with and without the library.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use gilfree::inspect::verdict::{Reason, Verdict};
use gilfree::scan::{ScanConfig, scan_paths};

const IMPL: &str = r#"
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
static int exec_mod(void *m) { (void)m; return 0; }
static Slot slots[] = { {2, (void *)exec_mod}, GIL {0, 0} };
static Def def = { 0, 4, 0, 0, 0xFFFFFFFFu, 0, 0, 0, 0, 0, "edge", 0, 0, 0, slots, 0, 0, 0 };
__attribute__((visibility("default"))) void *Wrapped_PyInit_edge(void) { return PyModuleDef_Init(&def); }
"#;

const STUB: &str = r#"
extern void *Wrapped_PyInit_edge(void);
__attribute__((visibility("default"))) void *PyInit_edge(void) { return Wrapped_PyInit_edge(); }
"#;

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

/// Build the library (with `gil_slot` in its slots) and the stub linked against it.
fn build(dir: &Path, gil_slot: &str) -> (Vec<u8>, Vec<u8>) {
    std::fs::write(dir.join("impl.c"), IMPL.replace("GIL", gil_slot)).unwrap();
    std::fs::write(dir.join("stub.c"), STUB).unwrap();
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "libedgeimpl.so", "impl.c"],
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
            "-ledgeimpl",
        ],
    );
    (
        std::fs::read(dir.join("stub.so")).unwrap(),
        std::fs::read(dir.join("libedgeimpl.so")).unwrap(),
    )
}

fn wheel(dir: &Path, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let path = dir.join("edge-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let meta: [(&str, &[u8]); 2] = [
        ("edge-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: edge\nVersion: 1.0\n"),
        (
            "edge-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp314-cp314t-manylinux_2_17_x86_64\n",
        ),
    ];
    for (name, data) in files.iter().chain(meta.iter()) {
        zip.start_file(*name, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn module_verdict(path: &Path) -> (Verdict, Reason, String) {
    let report = scan_paths(&[path.to_path_buf()], &ScanConfig::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let modules: Vec<_> = report.wheels.iter().flat_map(|w| &w.modules).collect();
    assert_eq!(modules.len(), 1, "only the stub is a module: {modules:?}");
    assert_eq!(modules[0].module, "edge");
    (
        modules[0].verdict,
        modules[0].reason,
        modules[0].evidence.clone(),
    )
}

#[test]
fn a_stub_module_is_decided_by_the_library_it_hands_off_to() {
    for (gil_slot, want) in [
        ("{4, (void *)1},", (Verdict::GilNotUsed, Reason::Delegated)),
        ("{4, (void *)0},", (Verdict::GilUsed, Reason::SlotValue0)),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (stub, lib) = build(tmp.path(), gil_slot);
        let path = wheel(
            tmp.path(),
            &[
                ("edge.cpython-314t-x86_64-linux-gnu.so", &stub),
                ("edge.libs/libedgeimpl.so", &lib),
            ],
        );
        let (verdict, reason, evidence) = module_verdict(&path);
        assert_eq!((verdict, reason), want, "{gil_slot}: {evidence}");
        assert!(evidence.contains("Wrapped_PyInit_edge"), "{evidence}");
        assert!(evidence.contains("edge.libs/libedgeimpl.so"), "{evidence}");
    }
}

#[test]
fn a_stub_whose_library_is_missing_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let (stub, _) = build(tmp.path(), "{4, (void *)1},");
    let path = wheel(
        tmp.path(),
        &[("edge.cpython-314t-x86_64-linux-gnu.so", &stub)],
    );
    let (verdict, reason, evidence) = module_verdict(&path);
    assert_eq!(
        (verdict, reason),
        (Verdict::Unknown, Reason::DelegatedOutside),
        "{evidence}"
    );
}

#[test]
fn an_untagged_lib_so_is_a_module_only_when_it_exports_its_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hooked = IMPL
        .replace("GIL", "{4, (void *)1},")
        .replace("Wrapped_PyInit_edge", "PyInit_libhooked");
    std::fs::write(dir.join("hooked.c"), hooked).unwrap();
    std::fs::write(dir.join("plain.c"), "int helper(void) { return 1; }\n").unwrap();
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "libhooked.so", "hooked.c"],
    );
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "libplain.so", "plain.c"],
    );
    let hooked = std::fs::read(dir.join("libhooked.so")).unwrap();
    let plain = std::fs::read(dir.join("libplain.so")).unwrap();
    let path = wheel(dir, &[("libhooked.so", &hooked), ("libplain.so", &plain)]);
    let report = scan_paths(&[path], &ScanConfig::default());
    let modules: Vec<_> = report.wheels.iter().flat_map(|w| &w.modules).collect();
    assert_eq!(modules.len(), 1, "{modules:?}");
    assert_eq!(modules[0].module, "libhooked");
    assert_eq!(modules[0].verdict, Verdict::GilNotUsed);
}

#[test]
fn a_library_loaded_with_ctypes_is_no_module_but_an_empty_export_table_proves_nothing() {
    // pycryptodome ships its C code as `_raw_aes.cpython-314t-...so` files that export plain
    // functions and are opened with ctypes: the import system cannot load them.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("raw.c"),
        "int raw_encrypt(int x) { return x ^ 1; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hidden.c"),
        "__attribute__((visibility(\"hidden\"))) int secret(void) { return 1; }\n",
    )
    .unwrap();
    gcc(dir, &["-shared", "-fPIC", "-O2", "-o", "raw.so", "raw.c"]);
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "hidden.so", "hidden.c"],
    );
    let raw = std::fs::read(dir.join("raw.so")).unwrap();
    let hidden = std::fs::read(dir.join("hidden.so")).unwrap();

    let path = wheel(
        dir,
        &[("edge/_raw_aes.cpython-314t-x86_64-linux-gnu.so", &raw)],
    );
    let report = scan_paths(&[path], &ScanConfig::default());
    let w = &report.wheels[0];
    assert!(w.modules.is_empty(), "{:?}", w.modules);
    assert_eq!(w.readiness, gilfree::scan::Readiness::Ready);
    assert!(
        w.note
            .as_deref()
            .unwrap()
            .contains("loaded with ctypes or cffi"),
        "{:?}",
        w.note
    );

    // pycryptodome's Windows and macOS builds export a stub init that returns NULL.
    std::fs::write(
        dir.join("stub.c"),
        "void *PyInit__raw_des(void) { return 0; }\nint raw_des(int x) { return x; }\n",
    )
    .unwrap();
    gcc(
        dir,
        &["-shared", "-fPIC", "-O2", "-o", "nullinit.so", "stub.c"],
    );
    let stub = std::fs::read(dir.join("nullinit.so")).unwrap();
    let path = wheel(
        dir,
        &[("edge/_raw_des.cpython-314t-x86_64-linux-gnu.so", &stub)],
    );
    let report = scan_paths(&[path], &ScanConfig::default());
    let w = &report.wheels[0];
    assert!(w.modules.is_empty(), "{:?}", w.modules);
    assert_eq!(w.readiness, gilfree::scan::Readiness::Ready);

    // The same stub built for the other architectures gilfree reads (CI installs the cross
    // compilers; armhf builds Thumb code, `-marm` ARM code): the code that decides is short
    // enough to recognise even where the slot reader does not run init code.
    for (cc, flags) in [
        ("i686-linux-gnu-gcc", &[][..]),
        ("arm-linux-gnueabihf-gcc", &[][..]),
        ("arm-linux-gnueabihf-gcc", &["-marm"][..]),
        ("s390x-linux-gnu-gcc", &[][..]),
        ("powerpc64le-linux-gnu-gcc", &[][..]),
        ("riscv64-linux-gnu-gcc", &[][..]),
    ] {
        if Command::new(cc).arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{cc} is missing: .ci/run installs it"
            );
            eprintln!("note: {cc} not installed; its null-init stub is skipped");
            continue;
        }
        let out = Command::new(cc)
            .current_dir(dir)
            .args([
                "-shared",
                "-fPIC",
                "-O2",
                "-o",
                "nullinit-cross.so",
                "stub.c",
            ])
            .args(flags)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cc}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stub = std::fs::read(dir.join("nullinit-cross.so")).unwrap();
        let path = wheel(
            dir,
            &[("edge/_raw_des.cpython-314t-x86_64-linux-gnu.so", &stub)],
        );
        let report = scan_paths(&[path], &ScanConfig::default());
        let w = &report.wheels[0];
        assert!(w.modules.is_empty(), "{cc} {flags:?}: {:?}", w.modules);
        assert_eq!(
            w.readiness,
            gilfree::scan::Readiness::Ready,
            "{cc} {flags:?}"
        );
    }

    // Nothing exported at all: no evidence that it is a library, so it stays unknown.
    let path = wheel(
        dir,
        &[("edge/_odd.cpython-314t-x86_64-linux-gnu.so", &hidden)],
    );
    let report = scan_paths(&[path], &ScanConfig::default());
    let modules: Vec<_> = report.wheels.iter().flat_map(|w| &w.modules).collect();
    assert_eq!(modules.len(), 1, "{modules:?}");
    assert_eq!(
        (modules[0].verdict, modules[0].reason),
        (Verdict::Unknown, Reason::NoInitHook)
    );
}

/// klayout's shape: the hook first calls a library of the wheel that creates no module
/// (`db::init`), then one that does (`pya::PythonModule`), and that library is named like an
/// extension module itself. The library that imports a module-creating API decides.
#[test]
fn a_hook_that_calls_several_libraries_is_decided_by_the_one_that_creates_the_module() {
    for (set_gil, want) in [
        ("", (Verdict::GilUsed, Reason::SinglePhaseNoSetGil)),
        (
            "PyUnstable_Module_SetGIL(m, (void *)1);",
            (Verdict::GilNotUsed, Reason::Delegated),
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let helper = "lib_helper.cpython-314t-x86_64-linux-gnu.so";
        let creator = "lib_pya.cpython-314t-x86_64-linux-gnu.so";
        std::fs::write(dir.join("helper.c"), "void helper_init(void) {}\n").unwrap();
        let header = &IMPL[..IMPL.find("extern void *PyModuleDef_Init").unwrap()];
        let create = format!(
            "{header}
extern void *PyModule_Create2(Def *, int);
extern int PyUnstable_Module_SetGIL(void *, void *);
static Def def = {{ 0, 4, 0, 0, 0xFFFFFFFFu, 0, 0, 0, 0, 0, \"edge\", 0, 0, 0, 0, 0, 0, 0 }};
__attribute__((visibility(\"default\"))) void *make_module(void) {{
    void *m = PyModule_Create2(&def, 1013);
    if (!m) return 0;
    {set_gil}
    return m;
}}"
        );
        std::fs::write(dir.join("creator.c"), create).unwrap();
        std::fs::write(
            dir.join("stub.c"),
            "extern void helper_init(void);\nextern void *make_module(void);\n\
             __attribute__((visibility(\"default\"))) void *PyInit_edge(void) { helper_init(); return make_module(); }\n",
        )
        .unwrap();
        gcc(dir, &["-shared", "-fPIC", "-O2", "-o", helper, "helper.c"]);
        gcc(
            dir,
            &["-shared", "-fPIC", "-O2", "-o", creator, "creator.c"],
        );
        let (l_helper, l_creator) = (format!("-l:{helper}"), format!("-l:{creator}"));
        gcc(
            dir,
            &[
                "-shared", "-fPIC", "-O2", "-o", "stub.so", "stub.c", "-L.", &l_helper, &l_creator,
            ],
        );
        let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
        let (stub, h, c) = (read("stub.so"), read(helper), read(creator));
        let path = wheel(
            dir,
            &[
                ("edge.cpython-314t-x86_64-linux-gnu.so", &stub),
                (helper, &h),
                (creator, &c),
            ],
        );
        let (verdict, reason, evidence) = module_verdict(&path);
        assert_eq!((verdict, reason), want, "{set_gil}: {evidence}");
        assert!(evidence.contains(creator), "{evidence}");
    }
}

/// pywin32 ships `pywintypes314.dll` and imports it with its own loader
/// (`importlib.machinery.ExtensionFileLoader`): a file not named as an extension module but
/// exporting `PyInit_<name>` is a module, and the wheel is not pure. Vendored libraries
/// (`lib*`, `<pkg>.libs/`) are not read for hooks.
#[test]
fn a_module_loaded_by_the_package_own_loader_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (gil_slot, want) in [
        ("{4, (void *)1},", Verdict::GilNotUsed),
        ("", Verdict::GilUsed),
    ] {
        let src = IMPL
            .replace("GIL", gil_slot)
            .replace("\"edge\"", "\"pywintypes\"")
            .replace("Wrapped_PyInit_edge", "PyInit_pywintypes");
        std::fs::write(dir.join("own.c"), src).unwrap();
        gcc(dir, &["-shared", "-fPIC", "-O2", "-o", "own.so", "own.c"]);
        let own = std::fs::read(dir.join("own.so")).unwrap();
        let path = wheel(
            dir,
            &[
                ("pywin32_system32/pywintypes314.so.1", &own),
                ("edge.libs/vendored-1a2b.so.1", &own),
            ],
        );
        let report = scan_paths(&[path], &ScanConfig::default());
        let w = &report.wheels[0];
        assert_eq!(w.modules.len(), 1, "{:?}", w.modules);
        let m = &w.modules[0];
        assert_eq!(m.module, "pywintypes");
        assert_eq!(m.member, "pywin32_system32/pywintypes314.so.1");
        assert_eq!(m.verdict, want, "{}", m.evidence);
        assert!(m.evidence.contains("own loader"), "{}", m.evidence);
        assert_ne!(w.readiness, gilfree::scan::Readiness::Pure);
    }
}
