//! How Rust values become column values and back: the verdict enums by their serde names
//! (the JSON contract's kebab-case strings), times as Unix seconds, byte counts as integers.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::error::StoreError;
use crate::inspect::verdict::{Binder, Reason, Verdict};
use crate::scan::Readiness;

/// An enum stored as the string serde gives each of its unit variants.
pub(crate) trait Named: Serialize + Copy + Sized + 'static {
    /// Every variant.
    fn all() -> &'static [Self];
    /// Every variant by its serde name, built once.
    fn by_name() -> &'static HashMap<String, Self>;
}

/// The serde name of a unit variant (`Verdict::GilNotUsed` → `gil-not-used`).
pub(crate) fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        // Not a unit variant: keep the JSON text, which `decode` then reports as unknown.
        Ok(other) => other.to_string(),
        Err(e) => e.to_string(),
    }
}

/// The variant whose serde name is `text`, or an error naming the column and the text.
pub(crate) fn decode<T: Named>(column: &'static str, text: &str) -> Result<T, StoreError> {
    T::by_name()
        .get(text)
        .copied()
        .ok_or_else(|| StoreError::UnknownValue {
            column,
            value: text.to_string(),
        })
}

/// Implements [`Named`] for an enum from the list of its variants.
macro_rules! named {
    ($ty:ty, [$($variant:expr),* $(,)?]) => {
        impl Named for $ty {
            fn all() -> &'static [Self] {
                &[$($variant),*]
            }

            fn by_name() -> &'static HashMap<String, Self> {
                static TABLE: OnceLock<HashMap<String, $ty>> = OnceLock::new();
                TABLE.get_or_init(|| Self::all().iter().map(|v| (name_of(v), *v)).collect())
            }
        }
    };
}

// A variant added to one of these enums must be added here too: the exhaustive matches in
// this file's tests stop compiling until it is.
named!(
    Readiness,
    [
        Readiness::GilFallback,
        Readiness::Unknown,
        Readiness::NoWheel,
        Readiness::PythonExcluded,
        Readiness::SourceOnly,
        Readiness::Ready,
        Readiness::Pure,
    ]
);
named!(
    Verdict,
    [
        Verdict::GilUsed,
        Verdict::Unknown,
        Verdict::Incompatible,
        Verdict::GilNotUsed,
    ]
);
named!(
    Binder,
    [
        Binder::Cython,
        Binder::Pyo3,
        Binder::Pybind11,
        Binder::Nanobind,
        Binder::Swig,
        Binder::Mypyc,
        Binder::F2py,
        Binder::Cffi,
        Binder::RustCpython,
        Binder::CApi,
    ]
);
named!(
    Reason,
    [
        Reason::SlotValue1,
        Reason::SlotValue0,
        Reason::NoGilSlot,
        Reason::ExportSlotValue1,
        Reason::ExportSlotValue0,
        Reason::ExportNoGilSlot,
        Reason::RuntimeSlotValue1,
        Reason::RuntimeSlotValue0,
        Reason::RuntimeNoGilSlot,
        Reason::NotUsedIf,
        Reason::SetGil1,
        Reason::SetGil0,
        Reason::SinglePhaseNoSetGil,
        Reason::SetGilRuntimeValue,
        Reason::Delegated,
        Reason::DelegatedOutside,
        Reason::NoInitHook,
        Reason::DefNotFound,
        Reason::SlotsUnreadable,
        Reason::MalformedBinary,
        Reason::UnsupportedArch,
        Reason::WrongAbi,
        Reason::DuplicateGilSlot,
        Reason::UnreadableMember,
    ]
);

/// Unix seconds of a time (times before 1970 count as 1970).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The time `secs` Unix seconds stand for (negative values count as 1970).
pub(crate) fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A byte count or counter as a SQLite integer (saturating; no file is 8 EiB).
pub(crate) fn to_sql_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored byte count or counter back as `u64`, refusing negative values.
pub(crate) fn from_sql_count(column: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::UnknownValue {
        column,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Breaks the build when `Readiness` gains a variant that `named!` above lacks.
    fn readiness_listed(r: Readiness) -> bool {
        match r {
            Readiness::GilFallback
            | Readiness::Unknown
            | Readiness::NoWheel
            | Readiness::PythonExcluded
            | Readiness::SourceOnly
            | Readiness::Ready
            | Readiness::Pure => Readiness::all().contains(&r),
        }
    }

    /// Breaks the build when `Verdict` gains a variant that `named!` above lacks.
    fn verdict_listed(v: Verdict) -> bool {
        match v {
            Verdict::GilUsed | Verdict::Unknown | Verdict::Incompatible | Verdict::GilNotUsed => {
                Verdict::all().contains(&v)
            }
        }
    }

    /// Breaks the build when `Binder` gains a variant that `named!` above lacks.
    fn binder_listed(b: Binder) -> bool {
        match b {
            Binder::Cython
            | Binder::Pyo3
            | Binder::Pybind11
            | Binder::Nanobind
            | Binder::Swig
            | Binder::Mypyc
            | Binder::F2py
            | Binder::Cffi
            | Binder::RustCpython
            | Binder::CApi => Binder::all().contains(&b),
        }
    }

    /// Breaks the build when `Reason` gains a variant that `named!` above lacks.
    fn reason_listed(r: Reason) -> bool {
        use Reason::*;
        match r {
            SlotValue1 | SlotValue0 | NoGilSlot | ExportSlotValue1 | ExportSlotValue0
            | ExportNoGilSlot | RuntimeSlotValue1 | RuntimeSlotValue0 | RuntimeNoGilSlot
            | NotUsedIf | SetGil1 | SetGil0 | SinglePhaseNoSetGil | SetGilRuntimeValue
            | Delegated | DelegatedOutside | NoInitHook | DefNotFound | SlotsUnreadable
            | MalformedBinary | UnsupportedArch | WrongAbi | DuplicateGilSlot
            | UnreadableMember => Reason::all().contains(&r),
        }
    }

    /// Every variant decodes from its own name, and names are distinct.
    fn round_trips<T: Named + PartialEq + std::fmt::Debug>(column: &'static str) {
        for v in T::all() {
            assert_eq!(decode::<T>(column, &name_of(v)).unwrap(), *v);
        }
        assert_eq!(
            T::by_name().len(),
            T::all().len(),
            "{column}: duplicate names"
        );
    }

    #[test]
    fn every_enum_value_round_trips_through_its_serde_name() {
        round_trips::<Readiness>("readiness");
        round_trips::<Verdict>("verdict");
        round_trips::<Binder>("binder");
        round_trips::<Reason>("reason");
        assert!(Readiness::all().iter().all(|r| readiness_listed(*r)));
        assert!(Verdict::all().iter().all(|v| verdict_listed(*v)));
        assert!(Binder::all().iter().all(|b| binder_listed(*b)));
        assert!(Reason::all().iter().all(|r| reason_listed(*r)));
    }

    #[test]
    fn names_are_the_json_contract_strings() {
        for r in Readiness::all() {
            assert_eq!(name_of(r), r.as_str());
        }
        for v in Verdict::all() {
            assert_eq!(name_of(v), v.as_str());
        }
        for b in Binder::all() {
            assert_eq!(name_of(b), b.as_str());
        }
        assert_eq!(name_of(&Reason::SlotValue0), "slot-value-0");
        assert_eq!(
            name_of(&Reason::SinglePhaseNoSetGil),
            "single-phase-no-set-gil"
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_column_and_value() {
        let err = decode::<Verdict>("modules.verdict", "gil-maybe").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("modules.verdict") && text.contains("gil-maybe"),
            "{text}"
        );
    }

    #[test]
    fn times_and_counts_convert_both_ways() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(from_unix_seconds(unix_seconds(t)), t);
        assert_eq!(from_unix_seconds(-5), UNIX_EPOCH);
        assert_eq!(to_sql_count(u64::MAX), i64::MAX);
        assert_eq!(from_sql_count("files.size", 42).unwrap(), 42);
        assert!(from_sql_count("files.size", -1).is_err());
    }
}
