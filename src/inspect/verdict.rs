//! The vocabulary of a module's verdict: what the interpreter will do, why, who generated the
//! module and how to fix it. Strings here are the JSON contract of the design (schema 1).

use serde::Serialize;

/// What importing the module does to the GIL on the target interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Importing it turns the GIL on for the whole process.
    GilUsed,
    /// Could not be decided from the file; the reason says why.
    Unknown,
    /// The target interpreter would not load this file at all.
    Incompatible,
    /// Importing it keeps the GIL off.
    GilNotUsed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::GilNotUsed => "gil-not-used",
            Verdict::GilUsed => "gil-used",
            Verdict::Unknown => "unknown",
            Verdict::Incompatible => "incompatible",
        }
    }
}

/// Why a verdict was reached: one stable token per detection path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Static `m_slots` holds `{Py_mod_gil, Py_MOD_GIL_NOT_USED}`.
    #[serde(rename = "slot-value-1")]
    SlotValue1,
    /// Static `m_slots` holds `{Py_mod_gil, Py_MOD_GIL_USED}`.
    #[serde(rename = "slot-value-0")]
    SlotValue0,
    /// `m_slots` has no `Py_mod_gil` entry: the default is USED.
    NoGilSlot,
    /// 3.15 `PyModExport_*` slot array declares NOT_USED.
    #[serde(rename = "export-slot-value-1")]
    ExportSlotValue1,
    #[serde(rename = "export-slot-value-0")]
    ExportSlotValue0,
    ExportNoGilSlot,
    /// Slot array written by code at run time (pybind11 3, nanobind 3).
    #[serde(rename = "runtime-slot-value-1")]
    RuntimeSlotValue1,
    #[serde(rename = "runtime-slot-value-0")]
    RuntimeSlotValue0,
    RuntimeNoGilSlot,
    /// The init hook rewrites its static slot array before returning the def, and which
    /// value the `Py_mod_gil` slot ends up with depends on a run-time condition.
    #[serde(rename = "not-used-if")]
    NotUsedIf,
    /// Single-phase module, `PyUnstable_Module_SetGIL(m, 1)`.
    #[serde(rename = "set-gil-1")]
    SetGil1,
    #[serde(rename = "set-gil-0")]
    SetGil0,
    /// Single-phase module that never calls `PyUnstable_Module_SetGIL`.
    SinglePhaseNoSetGil,
    /// `PyUnstable_Module_SetGIL` called with a value computed at run time.
    SetGilRuntimeValue,
    /// The module object is created by another library (CFFI's `_cffi_backend`, a bundled
    /// library): the verdict is that library's.
    Delegated,
    /// The hook hands off to something outside the wheel.
    DelegatedOutside,
    /// The file exports no init hook for this module name.
    NoInitHook,
    /// No module definition could be located.
    DefNotFound,
    /// The slot array could not be read or holds unexpected ids.
    SlotsUnreadable,
    /// The file could not be parsed.
    MalformedBinary,
    /// Code of this architecture is not decoded.
    UnsupportedArch,
    /// Built for another interpreter ABI (GIL build, abi3 on 3.13t/3.14t, other version).
    WrongAbi,
    /// Two `Py_mod_gil` slots: the import fails with SystemError.
    DuplicateGilSlot,
    /// The member could not be read out of the wheel.
    UnreadableMember,
}

impl Reason {
    /// The reason in a few plain words, for people (the JSON keeps the token).
    pub fn words(self) -> &'static str {
        match self {
            Reason::SlotValue1 => "its m_slots declare Py_MOD_GIL_NOT_USED",
            Reason::SlotValue0 => "its m_slots declare Py_MOD_GIL_USED",
            Reason::NoGilSlot => "its m_slots have no Py_mod_gil entry (the default is USED)",
            Reason::ExportSlotValue1 => "its PyModExport slots declare Py_MOD_GIL_NOT_USED",
            Reason::ExportSlotValue0 => "its PyModExport slots declare Py_MOD_GIL_USED",
            Reason::ExportNoGilSlot => {
                "its PyModExport slots have no Py_mod_gil entry (the default is USED)"
            }
            Reason::RuntimeSlotValue1 => "the slots its init code builds declare NOT_USED",
            Reason::RuntimeSlotValue0 => "the slots its init code builds declare USED",
            Reason::RuntimeNoGilSlot => "the slots its init code builds have no Py_mod_gil",
            Reason::NotUsedIf => {
                "its init code declares Py_MOD_GIL_NOT_USED only under a run-time condition"
            }
            Reason::SetGil1 => "it calls PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED)",
            Reason::SetGil0 => "it calls PyUnstable_Module_SetGIL(m, Py_MOD_GIL_USED)",
            Reason::SinglePhaseNoSetGil => {
                "single-phase init that never calls PyUnstable_Module_SetGIL"
            }
            Reason::SetGilRuntimeValue => {
                "PyUnstable_Module_SetGIL gets a value computed at run time"
            }
            Reason::Delegated => "another library in the wheel creates the module",
            Reason::DelegatedOutside => "its init hook hands off to a library outside the wheel",
            Reason::NoInitHook => "the file exports no init hook for this module name",
            Reason::DefNotFound => "its module definition could not be located",
            Reason::SlotsUnreadable => "its slot array could not be read",
            Reason::MalformedBinary => "the file could not be parsed",
            Reason::UnsupportedArch => "code of this architecture is not decoded",
            Reason::WrongAbi => "built for another interpreter",
            Reason::DuplicateGilSlot => "two Py_mod_gil slots: the import fails",
            Reason::UnreadableMember => "the file could not be read out of the wheel",
        }
    }
}

/// The tool that generated the module, recognised by fingerprints in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binder {
    Cython,
    Pyo3,
    Pybind11,
    Nanobind,
    Swig,
    Mypyc,
    F2py,
    Cffi,
    RustCpython,
    CApi,
}

impl Binder {
    pub fn as_str(self) -> &'static str {
        match self {
            Binder::Cython => "cython",
            Binder::Pyo3 => "pyo3",
            Binder::Pybind11 => "pybind11",
            Binder::Nanobind => "nanobind",
            Binder::Swig => "swig",
            Binder::Mypyc => "mypyc",
            Binder::F2py => "f2py",
            Binder::Cffi => "cffi",
            Binder::RustCpython => "rust-cpython",
            Binder::CApi => "c-api",
        }
    }

    /// What the module's authors change so that the module keeps the GIL off.
    pub fn fix(self, single_phase: bool) -> &'static str {
        match self {
            Binder::Cython => {
                "add `# cython: freethreading_compatible=True` (Cython >= 3.1) once the module is thread-safe, and rebuild"
            }
            Binder::Pyo3 => {
                "`#[pymodule(gil_used = false)]` (PyO3 >= 0.23); PyO3 >= 0.28 declares it by default"
            }
            Binder::Pybind11 => {
                "`PYBIND11_MODULE(name, m, py::mod_gil_not_used())` (pybind11 >= 2.13)"
            }
            Binder::Nanobind => "`nanobind_add_module(... FREE_THREADED ...)` (nanobind >= 2.2)",
            Binder::Swig => "generate the wrapper with SWIG >= 4.5 and `-nogil`",
            Binder::Mypyc => "rebuild with a mypyc release that targets free-threaded Python",
            Binder::F2py => "build with `f2py --freethreading-compatible` (numpy >= 2.1)",
            Binder::Cffi => {
                "upgrade to cffi >= 2.0, whose `_cffi_backend` declares free-threading support"
            }
            Binder::RustCpython => {
                "rust-cpython cannot declare free-threading support: port the module to PyO3 >= 0.23 with `gil_used = false`"
            }
            Binder::CApi if single_phase => {
                "call `PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED)` right after creating the module"
            }
            Binder::CApi => "add `{Py_mod_gil, Py_MOD_GIL_NOT_USED}` to the module's `m_slots`",
        }
    }
}

/// The full answer for one extension module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleVerdict {
    /// Path of the file inside the wheel (or on disk).
    pub member: String,
    /// Dotted module name.
    pub module: String,
    pub verdict: Verdict,
    pub reason: Reason,
    pub binder: Binder,
    /// What was read, and where ("m_slots[2] = {Py_mod_gil, 0} at .data.rel.ro+0x40").
    pub evidence: String,
    /// The concrete change that makes the module keep the GIL off (absent when it does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}
