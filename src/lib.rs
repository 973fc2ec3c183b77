//! gilfree: will these Python extension modules keep the GIL off on free-threaded CPython?
//!
//! The library reads wheels and native modules (ELF, PE, Mach-O), recovers each module's
//! `Py_mod_gil` declaration without running it, and reports verdicts. The binary in
//! `src/main.rs` is a thin command line over it.

pub mod audit;
pub mod cli;
pub mod crawl;
pub mod index;
pub mod inspect;
pub mod lock;
pub mod report;
pub mod scan;
pub mod site;
pub mod store;
pub mod wheel;
