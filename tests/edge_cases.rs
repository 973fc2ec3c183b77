//! Edge cases of the slot reader on modules gcc builds during the test: no slot, slot 0,
//! slot 1, single-phase with and without `PyUnstable_Module_SetGIL`, a value computed at run
//! time, a pybind11-style SetGIL call behind a flag, a slot array filled by code, a static
//! slot the init hook rewrites (gmpy2), a def a one-time initialiser fills (pybind11 3 on
//! macOS), PyO3 0.26's closure flag, DT_RELR
//! relocations and stripped files. The sources
//! declare the free-threaded `PyModuleDef` layout themselves, so no Python headers are needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use gilfree::inspect::verdict::{Reason, Verdict};
use gilfree::inspect::{ModuleRequest, NoLibraries, inspect_module};

const PRELUDE: &str = r#"
#include <stdint.h>
#include <stdlib.h>
typedef struct { int slot; void *value; } Slot;
typedef struct {
    uintptr_t ob_tid; uint16_t ob_flags; uint8_t ob_mutex; uint8_t ob_gc_bits;
    uint32_t ob_ref_local; intptr_t ob_ref_shared; void *ob_type;
    void *m_init; intptr_t m_index; void *m_copy;
    const char *m_name; const char *m_doc; intptr_t m_size; void *m_methods;
    Slot *m_slots; void *m_traverse; void *m_clear; void *m_free;
} Def;
#define DEF(slots) { 0, 4, 0, 0, 0xFFFFFFFFu, 0, 0, 0, 0, 0, "edge", 0, 0, 0, slots, 0, 0, 0 }
#define EXPORT __attribute__((visibility("default")))
extern void *PyModuleDef_Init(Def *);
extern void *PyModule_Create2(Def *, int);
extern int PyUnstable_Module_SetGIL(void *, void *);
static int exec_mod(void *m) { (void)m; return 0; }
"#;

fn multi_phase(gil_slot: &str) -> String {
    format!(
        "{PRELUDE}
static Slot slots[] = {{ {{2, (void *)exec_mod}}, {gil_slot} {{0, 0}} }};
static Def def = DEF(slots);
EXPORT void *PyInit_edge(void) {{ return PyModuleDef_Init(&def); }}"
    )
}

fn single_phase(call: &str) -> String {
    format!(
        "{PRELUDE}
static Def def = DEF(0);
EXPORT void *PyInit_edge(void) {{
    void *m = PyModule_Create2(&def, 1013);
    if (!m) return 0;
    {call}
    return m;
}}"
    )
}

/// pybind11 2.x shape: the module is created in a helper that is not inlined and calls
/// SetGIL(m, 1) only when its flag argument says so.
fn flag_guarded(flag: &str) -> String {
    format!(
        "{PRELUDE}
__attribute__((used)) static const char marker[] = \"__pybind11_internals_v5_gcc\";
static Def def = DEF(0);
__attribute__((noinline)) void *create(Def *d, int gil_not_used) {{
    void *m = PyModule_Create2(d, 1013);
    if (!m) return 0;
    if (gil_not_used) PyUnstable_Module_SetGIL(m, (void *)1);
    return m;
}}
EXPORT void *PyInit_edge(void) {{ return create(&def, {flag}); }}"
    )
}

/// A 3.15 module: `PyModExport_edge` returns a `PySlot[]` (with `extra` entries, possibly a
/// nested array through `Py_slot_subslots`), next to a `PyInit_edge` declaring slot 0.
fn mod_export(extra: &str) -> String {
    format!(
        "{PRELUDE}
typedef struct {{ uint16_t sl_id; uint16_t sl_flags; uint32_t reserved; union {{ void *ptr; uint64_t u64; }} value; }} PySlot;
static PySlot nested[] = {{ {{87, 0, 0, (void *)1}}, {{0, 0, 0, 0}} }};
static PySlot mslots[] = {{ {{100, 0, 0, (void *)\"edge\"}}, {{85, 0, 0, (void *)exec_mod}}, {extra} {{0, 0, 0, 0}} }};
EXPORT PySlot *PyModExport_edge(void) {{ return mslots; }}
static Slot slots[] = {{ {{4, (void *)0}}, {{0, 0}} }};
static Def def = DEF(slots);
EXPORT void *PyInit_edge(void) {{ (void)nested; return PyModuleDef_Init(&def); }}"
    )
}

/// nanobind 3 shape: def and slot array allocated on the heap and filled by code.
fn heap_def(gil: &str) -> String {
    format!(
        "{PRELUDE}
extern void *PyMem_Calloc(unsigned long, unsigned long);
__attribute__((noinline)) void *make(const char *name, void *exec) {{
    Slot *s = PyMem_Calloc(4, sizeof(Slot));
    Def *d = PyMem_Calloc(1, sizeof(Def));
    if (!s || !d) return 0;
    s[0].slot = 2; s[0].value = exec;
    {gil}
    d->ob_flags = 4; d->ob_ref_local = 0xFFFFFFFFu; d->m_name = name; d->m_slots = s;
    return PyModuleDef_Init(d);
}}
EXPORT void *PyInit_edge(void) {{ return make(\"edge\", (void *)exec_mod); }}"
    )
}

/// PyO3 0.26/0.27 shape: the init hook passes a constant `gil_used` flag to
/// `make_module(&MODULE_DEF, gil_used)`, which hands it to a closure through its captured
/// environment; the closure creates the module from the `PyModuleDef` inside `MODULE_DEF`
/// and calls `SetGIL(m, !*gil_used)`, so the call site holds no constant. `noipa` keeps gcc
/// from propagating the flag into the callee (rustc does not either).
fn pyo3_closure(gil_used: &str) -> String {
    format!(
        "{PRELUDE}
__attribute__((used)) static const char marker[] = \"pyo3-0.26.0/src/impl_/pymodule.rs\";
typedef struct {{ void *once; intptr_t interpreter; Def ffi; }} ModuleDef;
static ModuleDef MODULE_DEF = {{ 0, -1, DEF(0) }};
struct Env {{ const int *gil_used; ModuleDef *def; }};
__attribute__((noipa)) static void *closure(struct Env *env) {{
    void *m = PyModule_Create2(&env->def->ffi, 1013);
    if (!m) return 0;
    if (PyUnstable_Module_SetGIL(m, (void *)(intptr_t)!*env->gil_used) < 0) return 0;
    return m;
}}
__attribute__((noipa)) static void *make_module(void **out, ModuleDef *def, int gil_used) {{
    struct Env env = {{ &gil_used, def }};
    *out = closure(&env);
    return *out;
}}
EXPORT void *PyInit_edge(void) {{ void *out; return make_module(&out, &MODULE_DEF, {gil_used}); }}"
    )
}

/// PyO3's trampoline around the same: the init hook hands a closure that calls
/// `make_module(&MODULE_DEF, gil_used)` to the function that catches panics
/// (cryptography 46).
fn pyo3_trampoline(gil_used: &str) -> String {
    let hook = format!(
        "EXPORT void *PyInit_edge(void) {{ void *out; return make_module(&out, &MODULE_DEF, {gil_used}); }}"
    );
    pyo3_closure(gil_used).replace(
        &hook,
        &format!(
            "__attribute__((noipa)) static void *body(void) {{ void *out; return make_module(&out, &MODULE_DEF, {gil_used}); }}
__attribute__((noipa)) static void *trampoline(void *(*f)(void)) {{ return f(); }}
EXPORT void *PyInit_edge(void) {{ return trampoline(body); }}"
        ),
    )
}

/// gmpy2's shape: a static `{Py_mod_gil, 0}` slot that the init hook rewrites to 1 when
/// `cond` holds, by walking the array for the gil slot's id, before returning the def.
fn rewritten(cond: &str) -> String {
    format!(
        "{PRELUDE}
extern int lib_threadsafe(void);
static Slot slots[] = {{ {{2, (void *)exec_mod}}, {{4, (void *)0}}, {{0, 0}} }};
static Def def = DEF(slots);
EXPORT void *PyInit_edge(void) {{
    if ({cond})
        for (Slot *s = slots; s->slot; s++)
            if (s->slot == 4) {{ s->value = (void *)1; break; }}
    return PyModuleDef_Init(&def);
}}"
    )
}

/// pybind11 3 on macOS: the def and its slots are function-local statics that a one-time
/// initialiser (behind a guard, in a function of its own) fills, after a version check.
fn filled_def(gil: &str) -> String {
    format!(
        "{PRELUDE}
extern const char *Py_GetVersion(void);
extern int strncmp(const char *, const char *, unsigned long);
static int guard;
static Slot slots[4];
static Def def;
__attribute__((noinline)) static void fill(void) {{
    slots[0].slot = 2; slots[0].value = (void *)exec_mod;
    slots[1].slot = 4; slots[1].value = (void *){gil};
    def.ob_flags = 4; def.ob_ref_local = 0xFFFFFFFFu;
    def.m_name = \"edge\"; def.m_slots = slots;
}}
EXPORT void *PyInit_edge(void) {{
    if (strncmp(Py_GetVersion(), \"3.14\", 4) != 0) return 0;
    if (!guard) {{ fill(); guard = 1; }}
    return PyModuleDef_Init(&def);
}}"
    )
}

fn runtime_slots(gil: &str) -> String {
    format!(
        "{PRELUDE}
static Slot slots[4];
static Def def = DEF(slots);
EXPORT void *PyInit_edge(void) {{
    slots[0].slot = 2; slots[0].value = (void *)exec_mod;
    {gil}
    return PyModuleDef_Init(&def);
}}"
    )
}

/// The C compilers to build with: the host gcc (x86-64) and, when installed (CI installs
/// them), cross compilers for AArch64 and i686, s390x (big-endian), ppc64le and riscv64
/// (whose calls, constant arguments and leading references are read) and armhf (REL
/// relocations; code not read).
const CROSS: [&str; 6] = [
    "aarch64-linux-gnu-gcc",
    "i686-linux-gnu-gcc",
    "arm-linux-gnueabihf-gcc",
    "s390x-linux-gnu-gcc",
    "powerpc64le-linux-gnu-gcc",
    "riscv64-linux-gnu-gcc",
];

fn compilers() -> Vec<&'static str> {
    let mut out = vec!["gcc"];
    for cross in CROSS {
        let have = Command::new(cross)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if have {
            out.push(cross);
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{cross} is missing: .ci/run installs it"
            );
            eprintln!("note: {cross} not installed; its edge cases are skipped");
        }
    }
    out
}

/// What each architecture's code reader can do: find call sites and their constants, find
/// what a hook references, and find stores that build slot arrays at run time.
fn reads(cc: &str) -> (bool, bool, bool) {
    match cc {
        "gcc" | "aarch64-linux-gnu-gcc" | "i686-linux-gnu-gcc" => (true, true, true),
        "arm-linux-gnueabihf-gcc" => (true, true, false),
        "s390x-linux-gnu-gcc" | "powerpc64le-linux-gnu-gcc" | "riscv64-linux-gnu-gcc" => {
            (true, true, false)
        }
        other => panic!("no expectations for {other}: add it to `reads`"),
    }
}

/// Whether the address arguments of a local call are read (PyO3's `make_module(&DEF, flag)`).
fn reads_address_arguments(cc: &str) -> bool {
    matches!(
        cc,
        "gcc" | "aarch64-linux-gnu-gcc" | "arm-linux-gnueabihf-gcc" | "i686-linux-gnu-gcc"
    )
}

/// The verdict expected for a case on an architecture: where the code that decides is not
/// read, the answer is `unknown`, never a guess. Static slot arrays are read everywhere.
fn expected_on(cc: &str, name: &str, variant: &str, want: (Verdict, Reason)) -> (Verdict, Reason) {
    let (calls, refs, stores) = reads(cc);
    if (name == "sp_set1_helper" || name.starts_with("pyo3_closure_trampoline"))
        && variant == "stripped"
        && cc == "arm-linux-gnueabihf-gcc"
    {
        // C built without unwind tables for ARM and stripped describes no function around
        // the static helper's call, and ARM text mixes code and literal pools: not read.
        return (Verdict::Unknown, Reason::SetGilRuntimeValue);
    }
    let unsupported = (Verdict::Unknown, Reason::UnsupportedArch);
    if (name.starts_with("rt_") || name.starts_with("heap_")) && !stores {
        return unsupported;
    }
    if name.starts_with("py315_export") && !refs {
        return unsupported;
    }
    if (name.starts_with("sp_set") || name == "sp_runtime" || name == "flag_guard") && !calls {
        return unsupported;
    }
    if name.starts_with("two_defs") && !stores {
        // Which def is created is read by running the hook: x86-64 and AArch64 only.
        return (Verdict::Unknown, Reason::SlotsUnreadable);
    }
    if name.starts_with("filled_") && !stores {
        // The hook is run only on x86-64 and AArch64.
        return unsupported;
    }
    if name.starts_with("rewrite_") && !stores {
        // Init code is run only on x86-64 and AArch64: elsewhere the static slot stands.
        return (Verdict::GilUsed, Reason::SlotValue0);
    }
    if name.starts_with("pyo3_closure") && !reads_address_arguments(cc) {
        // The flag is read at the init hook's call, whose address arguments are followed on
        // x86-64, AArch64, 32-bit x86 and 32-bit ARM only; elsewhere the SetGIL argument
        // stays a run-time value.
        return if calls {
            (Verdict::Unknown, Reason::SetGilRuntimeValue)
        } else {
            unsupported
        };
    }
    if name == "flag_guard" && !stores {
        // Calls are read but branches are not: a SetGIL call behind a flag stays unknown.
        return (Verdict::Unknown, Reason::SetGilRuntimeValue);
    }
    want
}

/// A single-phase module whose static helper (not the hook) calls `SetGIL(m, 1)`.
fn set_gil_in_helper() -> String {
    format!(
        "{PRELUDE}
static Def def = DEF(0);
__attribute__((noinline)) static void *make(void) {{
    void *m = PyModule_Create2(&def, 1013);
    if (!m) return 0;
    PyUnstable_Module_SetGIL(m, (void *)1);
    return m;
}}
EXPORT void *PyInit_edge(void) {{ void *m = make(); return m; }}"
    )
}

/// Compile `src` with `cc` into a shared object, with extra flags.
fn build_with(cc: &str, name: &str, src: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gilfree-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&c, src).unwrap();
    let out = Command::new(cc)
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&c)
        .args(flags)
        .output()
        .expect("gcc must be installed to run the edge-case tests");
    assert!(
        out.status.success(),
        "{cc} failed for {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

fn build(name: &str, src: &str, flags: &[&str]) -> PathBuf {
    build_with("gcc", name, src, flags)
}

fn verdict_of(path: &Path, py315: bool) -> (Verdict, Reason, String) {
    let data = std::fs::read(path).unwrap();
    let req = ModuleRequest {
        member: "edge.so",
        module: "edge",
        init_hook: "PyInit_edge",
        export_hook: "PyModExport_edge",
        py315,
        arch: None,
    };
    let v = inspect_module(&data, &req, &NoLibraries);
    (v.verdict, v.reason, v.evidence)
}

#[test]
fn every_tier_on_gcc_built_modules() {
    let cases: Vec<(&str, String, Verdict, Reason)> = vec![
        (
            "slot1",
            multi_phase("{4, (void *)1},"),
            Verdict::GilNotUsed,
            Reason::SlotValue1,
        ),
        (
            "slot0",
            multi_phase("{4, (void *)0},"),
            Verdict::GilUsed,
            Reason::SlotValue0,
        ),
        (
            "noslot",
            multi_phase(""),
            Verdict::GilUsed,
            Reason::NoGilSlot,
        ),
        (
            "two_slots",
            multi_phase("{4, (void *)1}, {4, (void *)1},"),
            Verdict::Incompatible,
            Reason::DuplicateGilSlot,
        ),
        (
            "sp_set1",
            single_phase("PyUnstable_Module_SetGIL(m, (void *)1);"),
            Verdict::GilNotUsed,
            Reason::SetGil1,
        ),
        (
            "sp_set0",
            single_phase("PyUnstable_Module_SetGIL(m, (void *)0);"),
            Verdict::GilUsed,
            Reason::SetGil0,
        ),
        (
            "sp_set1_helper",
            set_gil_in_helper(),
            Verdict::GilNotUsed,
            Reason::SetGil1,
        ),
        (
            "sp_nocall",
            single_phase(""),
            Verdict::GilUsed,
            Reason::SinglePhaseNoSetGil,
        ),
        (
            "sp_runtime",
            single_phase("PyUnstable_Module_SetGIL(m, (void *)(intptr_t)(getenv(\"X\") != 0));"),
            Verdict::Unknown,
            Reason::SetGilRuntimeValue,
        ),
        (
            "rt_slot1",
            runtime_slots("slots[1].slot = 4; slots[1].value = (void *)1;"),
            Verdict::GilNotUsed,
            Reason::RuntimeSlotValue1,
        ),
        (
            "rt_noslot",
            runtime_slots(""),
            Verdict::GilUsed,
            Reason::RuntimeNoGilSlot,
        ),
        (
            "flag_guard",
            flag_guarded("(int)(intptr_t)getenv(\"X\")"),
            Verdict::Unknown,
            Reason::SetGilRuntimeValue,
        ),
        (
            "py315_ids",
            multi_phase("{87, (void *)1},")
                .replace("{2, (void *)exec_mod}", "{85, (void *)exec_mod}"),
            Verdict::GilNotUsed,
            Reason::SlotValue1,
        ),
        (
            "py315_export",
            mod_export("{87, 0, 0, (void *)1},"),
            Verdict::GilNotUsed,
            Reason::ExportSlotValue1,
        ),
        (
            "py315_export_nested",
            mod_export("{92, 0, 0, (void *)nested},"),
            Verdict::GilNotUsed,
            Reason::ExportSlotValue1,
        ),
        (
            "py315_export_nogil",
            mod_export(""),
            Verdict::GilUsed,
            Reason::ExportNoGilSlot,
        ),
        (
            "py315_export_twice",
            mod_export("{87, 0, 0, (void *)1}, {87, 0, 0, (void *)1},"),
            Verdict::Incompatible,
            Reason::DuplicateGilSlot,
        ),
        (
            "heap_slot1",
            heap_def("s[1].slot = 4; s[1].value = (void *)1;"),
            Verdict::GilNotUsed,
            Reason::RuntimeSlotValue1,
        ),
        (
            "heap_noslot",
            heap_def(""),
            Verdict::GilUsed,
            Reason::RuntimeNoGilSlot,
        ),
        (
            "cffi_out_of_line",
            format!(
                "{PRELUDE}
extern void *PyImport_ImportModule(const char *);
extern void *PyObject_GetAttrString(void *, const char *);
EXPORT void *PyInit_edge(void) {{
    void *backend = PyImport_ImportModule(\"_cffi_backend\");
    return backend ? PyObject_GetAttrString(backend, \"_init_cffi_1_0_external_module\") : 0;
}}"
            ),
            Verdict::GilNotUsed,
            Reason::Delegated,
        ),
        (
            "pyo3_closure_not_used",
            pyo3_closure("0"),
            Verdict::GilNotUsed,
            Reason::SetGil1,
        ),
        (
            "pyo3_closure_used",
            pyo3_closure("1"),
            Verdict::GilUsed,
            Reason::SetGil0,
        ),
        (
            "pyo3_closure_trampoline_not_used",
            pyo3_trampoline("0"),
            Verdict::GilNotUsed,
            Reason::SetGil1,
        ),
        (
            "pyo3_closure_trampoline_used",
            pyo3_trampoline("1"),
            Verdict::GilUsed,
            Reason::SetGil0,
        ),
        (
            "rewrite_always",
            rewritten("1"),
            Verdict::GilNotUsed,
            Reason::RuntimeSlotValue1,
        ),
        (
            "rewrite_if",
            rewritten("lib_threadsafe()"),
            Verdict::Unknown,
            Reason::NotUsedIf,
        ),
        (
            "filled_def1",
            filled_def("1"),
            Verdict::GilNotUsed,
            Reason::RuntimeSlotValue1,
        ),
        (
            "filled_def0",
            filled_def("0"),
            Verdict::GilUsed,
            Reason::RuntimeSlotValue0,
        ),
        // apache-sedona's shape: one of two slot-less defs, picked by whether an import works.
        (
            "two_defs_noslots",
            format!(
                "{PRELUDE}
extern void *PyCapsule_Import(const char *, int);
extern void PyErr_Clear(void);
static Def with_capsule = DEF(0);
static Def without = DEF(0);
EXPORT void *PyInit_edge(void) {{
    if (PyCapsule_Import(\"geos.capi\", 0)) return PyModuleDef_Init(&with_capsule);
    PyErr_Clear();
    return PyModuleDef_Init(&without);
}}"
            ),
            Verdict::GilUsed,
            Reason::RuntimeNoGilSlot,
        ),
        // 3.14 ignores PyModExport_*: the PyInit def (slot 0) decides.
        (
            "export_on_314",
            mod_export("{87, 0, 0, (void *)1},"),
            Verdict::GilUsed,
            Reason::SlotValue0,
        ),
    ];
    let variants: [(&str, &[&str]); 3] = [
        ("plain", &[]),
        ("relr", &["-Wl,-z,pack-relative-relocs"]),
        ("stripped", &["-s"]),
    ];
    // One thread per compiler: hundreds of small gcc runs.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = compilers()
            .into_iter()
            .map(|cc| {
                let cases = &cases;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (name, src, want_verdict, want_reason) in cases {
                        for (variant, flags) in variants {
                            let so = build_with(cc, &format!("{name}_{variant}_{cc}"), src, flags);
                            let (verdict, reason, evidence) = verdict_of(&so, name.starts_with("py315"));
                            let (want_verdict, want_reason) = expected_on(cc, name, variant, (*want_verdict, *want_reason));
                            if verdict != want_verdict || reason != want_reason {
                                failures.push(format!(
                                    "{name} ({variant}, {cc}): got {verdict:?}/{reason:?}: {evidence}"
                                ));
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The constant passed to `PyUnstable_Module_SetGIL` is decided, never left unknown, on
/// every architecture whose calls are read, however the module is built: optimised for size
/// or not at all, calling through the GOT instead of the PLT (`-fno-plt`), without unwind
/// tables and stripped (armhf: Thumb code, with the ARM PLT; i686 `-fno-plt`: `call
/// *SetGIL@GOT(%ebx)`).
#[test]
fn set_gil_constants_are_decided_on_every_architecture_whose_calls_are_read() {
    let builds: [(&str, &[&str]); 5] = [
        ("o2", &[]),
        ("os", &["-Os"]),
        ("o0", &["-O0"]),
        ("noplt", &["-fno-plt"]),
        ("bare", &["-fno-asynchronous-unwind-tables", "-s"]),
    ];
    let mut failures = Vec::new();
    for cc in compilers() {
        for (value, want) in [
            ("1", (Verdict::GilNotUsed, Reason::SetGil1)),
            ("0", (Verdict::GilUsed, Reason::SetGil0)),
        ] {
            let src = single_phase(&format!("PyUnstable_Module_SetGIL(m, (void *){value});"));
            for (build, flags) in builds {
                let so = build_with(cc, &format!("const{value}_{build}_{cc}"), &src, flags);
                let (verdict, reason, evidence) = verdict_of(&so, false);
                if (verdict, reason) != want {
                    failures.push(format!(
                        "SetGIL(m, {value}) ({build}, {cc}): got {verdict:?}/{reason:?}: {evidence}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A stripped ARM file still describes its functions when it has unwind tables
/// (`.ARM.exidx`, which Rust always emits and C with `-funwind-tables`): the static helper
/// that calls SetGIL is read, in the instruction set its call is encoded in (gcc for armhf
/// emits Thumb code, `-marm` ARM code).
#[test]
fn stripped_arm_code_is_read_through_its_unwind_table() {
    let cc = "arm-linux-gnueabihf-gcc";
    if !compilers().contains(&cc) {
        return;
    }
    let src = set_gil_in_helper();
    for (mode, flags) in [
        ("thumb", &["-funwind-tables", "-s"][..]),
        ("arm", &["-funwind-tables", "-s", "-marm"][..]),
    ] {
        let so = build_with(cc, &format!("exidx_{mode}"), &src, flags);
        let (verdict, reason, evidence) = verdict_of(&so, false);
        assert_eq!(
            (verdict, reason),
            (Verdict::GilNotUsed, Reason::SetGil1),
            "{mode}: {evidence}"
        );
    }
}

#[test]
fn a_library_without_hook_is_not_a_module() {
    let so = build(
        "nohook",
        &format!("{PRELUDE}\nEXPORT int helper(void) {{ return 1; }}"),
        &[],
    );
    let (verdict, reason, _) = verdict_of(&so, false);
    assert_eq!((verdict, reason), (Verdict::Unknown, Reason::NoInitHook));
}

/// A library of the wheel answers the call the rewrite depends on.
struct OneLibrary(Vec<u8>);

impl gilfree::inspect::Libraries for OneLibrary {
    fn exporting(
        &self,
        symbol: &str,
        needed: &[String],
    ) -> Option<std::sync::Arc<gilfree::inspect::Library>> {
        (symbol == "lib_threadsafe" && needed.iter().any(|n| n == "libts.so")).then(|| {
            std::sync::Arc::new(gilfree::inspect::Library::parse(
                "libts.so".to_string(),
                self.0.clone(),
                None,
            ))
        })
    }
}

/// The condition is a function of a library in the wheel that returns a constant: the
/// verdict follows it (gmpy2's `mpfr_buildopt_tls_p()` is `return 1;` in its MPFR).
#[test]
fn a_rewritten_slot_follows_what_the_library_returns() {
    for cc in ["gcc", "aarch64-linux-gnu-gcc"] {
        if !compilers().contains(&cc) {
            continue;
        }
        for (ret, want) in [
            ("1", (Verdict::GilNotUsed, Reason::RuntimeSlotValue1)),
            ("0", (Verdict::GilUsed, Reason::SlotValue0)),
        ] {
            let lib = build_with(
                cc,
                &format!("libts_{ret}_{cc}"),
                &format!("int lib_threadsafe(void) {{ return {ret}; }}"),
                &["-Wl,-soname,libts.so"],
            );
            let dir = lib.parent().unwrap().to_path_buf();
            let linked = dir.join(format!("libts_{cc}.so"));
            std::fs::copy(&lib, &linked).unwrap();
            let so = build_with(
                cc,
                &format!("rewrite_lib_{ret}_{cc}"),
                &rewritten("lib_threadsafe()"),
                &[&format!("{}", linked.display())],
            );
            let data = std::fs::read(&so).unwrap();
            let req = ModuleRequest {
                member: "edge.so",
                module: "edge",
                init_hook: "PyInit_edge",
                export_hook: "PyModExport_edge",
                py315: false,
                arch: None,
            };
            let v = inspect_module(&data, &req, &OneLibrary(std::fs::read(&lib).unwrap()));
            assert_eq!(
                (v.verdict, v.reason),
                want,
                "{cc}, returns {ret}: {}",
                v.evidence
            );
        }
    }
}

/// The binder is told from names and strings only: a fingerprint inside machine code (here
/// bytes placed in an executable section) or in debug records does not count, one in
/// read-only data or the symbol names does, and a module with a Cython symbol and a pybind11
/// string is still read as pybind11 (priority order holds across the ranges searched).
#[test]
fn the_binder_is_read_from_names_and_strings_not_from_code() {
    use gilfree::inspect::verdict::Binder;
    use gilfree::inspect::{Binary, binder};
    let in_code = build(
        "fp_in_code",
        &format!(
            "{PRELUDE}\n__asm__(\".section .text.fp,\\\"ax\\\",@progbits\\n.ascii \\\"__pyx_pybind11\\\"\\n.previous\");\n\
             __asm__(\".section .debug_fp,\\\"\\\",@progbits\\n.ascii \\\"nanobind\\\"\\n.previous\");\n\
             EXPORT int helper(void) {{ return 1; }}"
        ),
        &[],
    );
    let in_rodata = build(
        "fp_in_rodata",
        &format!(
            "{PRELUDE}\nEXPORT const char *note(void) {{ return \"built with pybind11\"; }}\n\
             EXPORT int __pyx_helper(void) {{ return 2; }}"
        ),
        &[],
    );
    let code = std::fs::read(&in_code).unwrap();
    let bin = Binary::parse(&code, None).unwrap();
    assert_eq!(
        binder::detect(&code),
        Binder::Nanobind,
        "the bytes are there"
    );
    assert_eq!(binder::detect_in(&bin), Binder::CApi);
    let rodata = std::fs::read(&in_rodata).unwrap();
    let bin = Binary::parse(&rodata, None).unwrap();
    assert_eq!(binder::detect_in(&bin), Binder::Pybind11);
    // Without section headers nothing says where code ends: the whole file is searched.
    let mut no_sections = code.clone();
    no_sections[0x28..0x30].fill(0); // e_shoff
    no_sections[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    let bin = Binary::parse(&no_sections, None).expect("program headers are enough");
    assert_eq!(binder::detect_in(&bin), Binder::Nanobind);
}
