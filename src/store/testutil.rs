//! Values the store's tests share: hashes, module verdicts, analysis records.

use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::scan::Readiness;

use super::{AnalysisKey, AnalysisRecord};

/// The analyzer version the tests save under.
pub(crate) const ANALYZER: &str = "0.1.0+test";

/// A distinct, valid sha256 for each `n`.
pub(crate) fn sha(n: u32) -> String {
    format!("{n:064x}")
}

/// A key for `sha` on 3.14t linux-x86_64.
pub(crate) fn key(sha: &str) -> AnalysisKey<'_> {
    AnalysisKey::new(sha, ANALYZER, "3.14t", "linux-x86_64")
}

/// A module verdict with the given vocabulary and made-up text.
pub(crate) fn module(
    name: &str,
    verdict: Verdict,
    reason: Reason,
    binder: Binder,
) -> ModuleVerdict {
    ModuleVerdict {
        member: format!("pkg/{name}.cpython-314t-x86_64-linux-gnu.so"),
        module: format!("pkg.{name}"),
        verdict,
        reason,
        binder,
        evidence: format!("m_slots[1] = {{Py_mod_gil, ?}} in {name} — ünïcode"),
        fix: (verdict == Verdict::GilUsed).then(|| binder.fix(false).to_string()),
    }
}

/// A record of the modules with the readiness they imply.
pub(crate) fn record(modules: &[ModuleVerdict]) -> AnalysisRecord<'_> {
    AnalysisRecord {
        readiness: Readiness::of_modules(modules),
        note: None,
        error: None,
        modules,
    }
}
