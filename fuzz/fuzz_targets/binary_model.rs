//! Fuzz target: any bytes as a native module. Builds the binary model and, when that
//! succeeds, runs the whole slot reader — once with fixed hook names and once driven by the
//! first `PyInit_*` the model exports, so that the deep tiers (def search, slot walks, code
//! scans, single-phase call sites) are reached. Must never panic, hang or blow up memory.
#![no_main]

use std::sync::Arc;

use gilfree::inspect::{Binary, Libraries, Library, ModuleRequest, NoLibraries, inspect_module};
use libfuzzer_sys::fuzz_target;

/// Hands the module itself back for every symbol, so the delegation tier (a stub hook that
/// jumps into a bundled library) is exercised, including its recursion bound.
struct SelfLibrary<'d>(&'d [u8]);

impl Libraries for SelfLibrary<'_> {
    fn exporting(&self, _symbol: &str, _needed: &[String]) -> Option<Arc<Library>> {
        Some(Arc::new(Library::parse("self.so".to_string(), self.0.to_vec(), None)))
    }
}

fuzz_target!(|data: &[u8]| {
    // One bit of the input picks the 3.15 (`PyModExport_*`) path.
    let py315 = data.last().is_some_and(|b| b & 1 == 1);
    let fixed = ModuleRequest {
        member: "m.so",
        module: "m",
        init_hook: "PyInit_m",
        export_hook: "PyModExport_m",
        py315,
        arch: None,
    };
    let Ok(bin) = Binary::parse(data, None) else {
        // The verdict path for unreadable files must hold up too.
        let _ = inspect_module(data, &fixed, &NoLibraries);
        return;
    };
    let _ = inspect_module(data, &fixed, &NoLibraries);

    // The smallest exported `PyInit_*` (deterministic, unlike hash-map order).
    let Some(init) = bin
        .exports
        .keys()
        .filter(|k| k.starts_with("PyInit_"))
        .min()
        .cloned()
    else {
        return;
    };
    let name = &init["PyInit_".len()..];
    let export = format!("PyModExport_{name}");
    let member = format!("{name}.so");
    let req = ModuleRequest {
        member: &member,
        module: name,
        init_hook: &init,
        export_hook: &export,
        py315,
        arch: None,
    };
    let _ = inspect_module(data, &req, &NoLibraries);
    let _ = inspect_module(data, &req, &SelfLibrary(data));
});
