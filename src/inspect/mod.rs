//! Inspection of native extension modules: a format-neutral binary model built from ELF, PE
//! or Mach-O, and the slot reader that recovers the `Py_mod_gil` declaration from it.

pub mod binder;
pub mod code;
mod eh_frame;
pub mod elf;
pub mod elf_head;
pub mod library;
pub mod macho;
pub mod model;
pub mod pe;
pub mod slots;
pub mod verdict;

pub use model::{Arch, Binary, Format, Import, ModelError, Pointer, PointerMap, Segment, Word};

use verdict::{Binder, ModuleVerdict, Reason, Verdict};

/// The revision of the detection rules; bump it whenever a rule changes what a file comes
/// out as, so stored results are redone.
#[macro_export]
macro_rules! analyzer_revision {
    () => {
        "r12"
    };
}

/// Names the detection rules that produced a verdict. Stored analyses are keyed by it.
pub const ANALYZER_VERSION: &str = concat!(
    "gilfree-",
    env!("CARGO_PKG_VERSION"),
    "+",
    analyzer_revision!()
);

/// What `gilfree --version` prints after the name: the version and the analyzer revision.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (analyzer ",
    analyzer_revision!(),
    ")"
);

/// One module to inspect: where it came from and the names the interpreter looks for.
#[derive(Debug, Clone)]
pub struct ModuleRequest<'r> {
    /// Path inside the wheel (or on disk), for the report.
    pub member: &'r str,
    /// Dotted module name.
    pub module: &'r str,
    pub init_hook: &'r str,
    pub export_hook: &'r str,
    /// The target reads `PyModExport_*` (3.15+).
    pub py315: bool,
    /// The architecture to pick from a fat Mach-O file.
    pub arch: Option<Arch>,
}

/// Decide one extension module from its bytes. Never fails: a file that cannot be read is an
/// `unknown` verdict naming the cause.
pub fn inspect_module(
    data: &[u8],
    req: &ModuleRequest,
    libs: &dyn slots::Libraries,
) -> ModuleVerdict {
    let parsed = Binary::parse(data, req.arch);
    let binder = match &parsed {
        Ok(bin) => binder::detect_in(bin),
        Err(_) => binder::detect(data),
    };
    let (verdict, reason, evidence, single_phase) = match parsed {
        Err(e) => (
            Verdict::Unknown,
            Reason::MalformedBinary,
            e.to_string(),
            false,
        ),
        Ok(bin) => {
            let sreq = slots::Request {
                module: req.module,
                init_hook: req.init_hook,
                export_hook: req.export_hook,
                py315: req.py315,
                binder,
            };
            let f = slots::read(&bin, &sreq, libs);
            (f.verdict, f.reason, f.evidence, f.single_phase)
        }
    };
    let fix = fix_for(verdict, reason, binder, single_phase, data);
    ModuleVerdict {
        member: req.member.to_string(),
        module: req.module.to_string(),
        verdict,
        reason,
        binder,
        evidence,
        fix,
    }
}

/// The change that makes a module keep the GIL off, when the verdict says it does not.
fn fix_for(
    verdict: Verdict,
    reason: Reason,
    binder: Binder,
    single_phase: bool,
    data: &[u8],
) -> Option<String> {
    match (verdict, reason) {
        (Verdict::GilUsed, _) => Some(binder.fix(single_phase).to_string()),
        (Verdict::Unknown, Reason::SetGilRuntimeValue) if binder == Binder::Pyo3 => {
            let v = binder::pyo3_version(data)
                .map(|v| format!(" (built with PyO3 {v})"))
                .unwrap_or_default();
            Some(format!(
                "the GIL flag is computed at run time{v}: make sure the module uses `#[pymodule(gil_used = false)]`, or upgrade to PyO3 >= 0.28, whose declaration can be read from the file"
            ))
        }
        (Verdict::Unknown, Reason::NotUsedIf) => Some(
            "the module declares Py_MOD_GIL_NOT_USED only when a run-time check passes (see the evidence): make the declaration static once the module is thread-safe in every build".to_string(),
        ),
        _ => None,
    }
}

/// The module (or a library a stub module hands off to) read from another member.
pub use library::{Library, LibrarySet};
pub use slots::{Libraries, NoLibraries};
