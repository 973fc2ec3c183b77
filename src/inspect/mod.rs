//! Inspection of native extension modules: a format-neutral binary model built from ELF, PE
//! or Mach-O, and the slot reader that recovers the `Py_mod_gil` declaration from it.

pub mod binder;
pub mod code;
pub mod elf;
pub mod macho;
pub mod model;
pub mod pe;
pub mod slots;
pub mod verdict;

pub use model::{Arch, Binary, Format, Import, ModelError, Pointer, PointerMap, Segment, Word};
