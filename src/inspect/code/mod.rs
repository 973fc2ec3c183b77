//! Just enough code reading for the slot reader: which addresses a function's first
//! instructions point at, where an import is called and with which constant argument, and
//! which constants code stores into a given memory range. No whole-text disassembly: the
//! scanners look for the few encodings that matter and decode only short windows.

mod aarch64;
mod arm;
mod emulate;
mod flow;
mod ppc64;
mod riscv64;
mod s390x;
mod x86;
mod x86_64;

use std::collections::HashMap;
use std::sync::Mutex;

pub use emulate::{Called, Imports, PathEnd, Taken};

use super::model::{Arch, Binary, Format, Pointer};

/// Largest function the argument readers decode whole (a few hundred thousand instructions);
/// a larger one is read the way code without a described function is, or not at all.
const MAX_FUNCTION_BYTES: usize = 4 << 20;

/// A constant that code writes to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Store {
    /// Address written.
    pub addr: u64,
    /// Bytes written (4 or 8; 16-byte vector stores are split into two 8-byte stores).
    pub size: u8,
    pub value: u64,
    /// Address of the storing instruction.
    pub at: u64,
}

/// What a call passes in an argument register, as far as the code before the call shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    Const(u64),
    /// Not a constant at the call site; the text says why ("value computed at run time").
    Unknown(String),
}

/// What a function's first instructions reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuncRefs {
    /// Addresses the code computes or loads (RIP-relative `lea`, `adrp`+`add`, GOT loads
    /// resolved through the pointer map).
    pub data: Vec<u64>,
    /// Imports the function calls or jumps to.
    pub imports: Vec<u32>,
    /// Local functions it calls or tail-jumps to.
    pub local_calls: Vec<u64>,
    /// The import the function ends by jumping to (a tail call), if any.
    pub tail_import: Option<u32>,
    /// Where the function calls local code (directly or through a pointer slot that holds a
    /// local address), in order.
    pub call_sites: Vec<u64>,
}

/// Call sites of imports: (site, import).
type CallSites = Vec<(u64, u32)>;

/// What code reading learns about one binary that does not depend on the question: its import
/// stubs, and the call sites of the imports asked for so far. Built once per binary; a library
/// that several stub modules hand off to keeps one for all of them.
pub struct CodeIndex {
    /// Stub address → import index (loader-provided plus found by pattern).
    stubs: HashMap<u64, u32>,
    /// Imports asked for → their call sites (a walk over the whole text each).
    call_sites: Mutex<HashMap<Vec<u32>, CallSites>>,
}

impl CodeIndex {
    pub fn new(bin: &Binary) -> Self {
        let mut stubs: HashMap<u64, u32> = bin.stubs.iter().copied().collect();
        match bin.arch {
            Arch::X86_64 => x86_64::find_stubs(bin, &mut stubs),
            Arch::Aarch64 => aarch64::find_stubs(bin, &mut stubs),
            Arch::X86 => x86::find_stubs(bin, &mut stubs),
            Arch::Ppc64 => ppc64::find_stubs(bin, &mut stubs),
            Arch::S390x => s390x::find_stubs(bin, &mut stubs),
            Arch::Riscv64 => riscv64::find_stubs(bin, &mut stubs),
            Arch::Arm => arm::find_stubs(bin, &mut stubs),
            Arch::Other => {}
        }
        CodeIndex {
            stubs,
            call_sites: Mutex::new(HashMap::new()),
        }
    }
}

/// A [`CodeIndex`] built for this reader alone, or one kept with its binary.
enum IndexRef<'b> {
    Owned(CodeIndex),
    Shared(&'b CodeIndex),
}

impl std::ops::Deref for IndexRef<'_> {
    type Target = CodeIndex;
    fn deref(&self) -> &CodeIndex {
        match self {
            IndexRef::Owned(i) => i,
            IndexRef::Shared(i) => i,
        }
    }
}

/// Code reader for one binary: knows its import stubs, dispatches on the architecture.
pub struct Code<'b, 'a> {
    bin: &'b Binary<'a>,
    index: IndexRef<'b>,
}

impl<'b, 'a> Code<'b, 'a> {
    pub fn new(bin: &'b Binary<'a>) -> Self {
        Code {
            bin,
            index: IndexRef::Owned(CodeIndex::new(bin)),
        }
    }

    /// A reader over `bin` that uses (and adds to) an index built for it earlier.
    pub fn with_index(bin: &'b Binary<'a>, index: &'b CodeIndex) -> Self {
        Code {
            bin,
            index: IndexRef::Shared(index),
        }
    }

    /// True when this architecture's code is read in full: function references and the
    /// stores that build slot arrays at run time.
    pub fn supported(&self) -> bool {
        matches!(self.bin.arch, Arch::X86_64 | Arch::Aarch64 | Arch::X86)
    }

    /// True when call sites and their constant arguments can be read (also 32-bit x86,
    /// little-endian 64-bit PowerPC, s390x and RISC-V).
    pub fn reads_calls(&self) -> bool {
        match self.bin.arch {
            Arch::X86_64 | Arch::Aarch64 | Arch::X86 | Arch::S390x | Arch::Riscv64 => true,
            Arch::Ppc64 => self.bin.little_endian && self.bin.format == Format::Elf,
            Arch::Arm => self.bin.little_endian && self.bin.format == Format::Elf,
            Arch::Other => false,
        }
    }

    /// The import a call to `addr` reaches, when `addr` is a stub.
    pub fn stub_import(&self, addr: u64) -> Option<u32> {
        self.index.stubs.get(&addr).copied()
    }

    /// The import behind a pointer slot (GOT, IAT, lazy pointer).
    fn slot_import(&self, slot: u64) -> Option<u32> {
        match self.bin.pointers.get(slot) {
            Some(Pointer::Import(i)) => Some(i),
            _ => None,
        }
    }

    /// What the first instructions of the function at `func` reference.
    pub fn refs(&self, func: u64) -> FuncRefs {
        self.refs_within(func, 48)
    }

    /// What the first `max` instructions of the function at `func` reference.
    pub fn refs_within(&self, func: u64, max: usize) -> FuncRefs {
        match self.bin.arch {
            Arch::X86_64 => x86_64::refs(self, func, max),
            Arch::Aarch64 => aarch64::refs(self, func, max),
            Arch::X86 => x86::refs(self, func, max),
            Arch::S390x => s390x::refs(self, func, max),
            Arch::Riscv64 => riscv64::refs(self, func, max),
            Arch::Ppc64 if self.bin.little_endian => ppc64::refs(self, func, max),
            Arch::Arm if self.reads_calls() => arm::refs(self, func, max),
            _ => FuncRefs::default(),
        }
    }

    /// The address argument `n` (0-based) holds at the call at `site`, when the code just
    /// before the call computes it from the instruction pointer (`lea reg, [rip+d]`,
    /// `adrp`+`add`).
    pub fn addr_arg_at_call(&self, site: u64, n: usize) -> Option<u64> {
        match self.bin.arch {
            Arch::X86_64 => x86_64::addr_arg_at_call(self, site, n, self.bin.format == Format::Pe),
            Arch::Aarch64 => aarch64::addr_arg_at_call(self, site, n),
            Arch::Arm if self.reads_calls() => arm::addr_arg_at_call(self, site, n),
            Arch::X86 => x86::addr_arg_at_call(self, site, n),
            _ => None,
        }
    }

    /// Every place the code calls (or tail-jumps to) one of `imports`: (site, import).
    /// Remembered per set of imports: each answer is a walk over the whole text.
    pub fn call_sites(&self, imports: &[u32]) -> Vec<(u64, u32)> {
        let key = imports.to_vec();
        if let Some(known) = self
            .index
            .call_sites
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return known;
        }
        let sites = match self.bin.arch {
            Arch::X86_64 => x86_64::call_sites(self, imports),
            Arch::Aarch64 => aarch64::call_sites(self, imports),
            Arch::X86 => x86::call_sites(self, imports),
            Arch::Ppc64 => ppc64::call_sites(self, imports),
            Arch::S390x => s390x::call_sites(self, imports),
            Arch::Riscv64 => riscv64::call_sites(self, imports),
            Arch::Arm if self.reads_calls() => arm::call_sites(self, imports),
            _ => Vec::new(),
        };
        if let Ok(mut m) = self.index.call_sites.lock() {
            m.insert(key, sites.clone());
        }
        sites
    }

    /// The constant in argument `n` (0-based) at the call at `site`.
    pub fn arg_at_call(&self, site: u64, n: usize) -> ArgValue {
        match self.bin.arch {
            Arch::X86_64 => {
                let windows = self.bin.format == Format::Pe;
                x86_64::arg_at_call(self, site, n, windows)
            }
            Arch::Aarch64 => aarch64::arg_at_call(self, site, n),
            Arch::X86 => x86::arg_at_call(self, site, n),
            Arch::Ppc64 => ppc64::arg_at_call(self, site, n),
            Arch::S390x => s390x::arg_at_call(self, site, n),
            Arch::Riscv64 => riscv64::arg_at_call(self, site, n),
            Arch::Arm if self.reads_calls() => arm::arg_at_call(self, site, n),
            a => ArgValue::Unknown(format!("call arguments are not decoded on {}", a.name())),
        }
    }

    /// What makes the call at `site` conditional on a run-time flag (a NULL check of a result
    /// just returned does not count), if anything.
    pub fn flag_guard(&self, site: u64) -> Option<String> {
        match self.bin.arch {
            Arch::X86_64 => x86_64::flag_guard(self, site),
            Arch::Aarch64 => aarch64::flag_guard(self, site),
            // Control flow is not read here: assume the worst rather than prove nothing.
            a => Some(format!("branches are not read on {}", a.name())),
        }
    }

    /// For a `PyModuleDef_Init(def)` call at `site` where `def` lives on the heap: the constant
    /// stores into the slot array `def->m_slots` points to, as offsets from its start.
    pub fn heap_slot_stores(&self, site: u64, m_slots: u64) -> Option<Vec<Store>> {
        match self.bin.arch {
            Arch::X86_64 => x86_64::heap_slot_stores(self, site, m_slots),
            Arch::Aarch64 => aarch64::heap_slot_stores(self, site, m_slots),
            _ => None,
        }
    }

    /// Run the function at `func` path by path (x86-64, 32-bit x86 and AArch64): the constants each path
    /// stores into `[lo, hi)` (and everything else it writes), the calls it makes and
    /// branches on, and what it returns. With `follow`, local calls are followed too.
    /// `None` on other architectures.
    pub fn paths(
        &self,
        func: u64,
        (lo, hi): (u64, u64),
        follow: bool,
        imports: &mut dyn Imports,
    ) -> Option<Vec<PathEnd>> {
        let watch = emulate::Watch { lo, hi, follow };
        match self.bin.arch {
            Arch::X86_64 => {
                let m = x86_64::X64Machine::new(self, self.bin.format == Format::Pe);
                Some(emulate::run(&m, self.bin, func, &watch, imports))
            }
            Arch::Aarch64 => {
                let m = aarch64::A64Machine { code: self };
                Some(emulate::run(&m, self.bin, func, &watch, imports))
            }
            Arch::X86 => {
                let m = x86_64::X64Machine::new32(self, self.bin.format == Format::Pe);
                Some(emulate::run(&m, self.bin, func, &watch, imports))
            }
            _ => None,
        }
    }

    /// Constants the code stores into `[lo, hi)`, wherever in the text they are.
    pub fn stores_into(&self, lo: u64, hi: u64) -> Vec<Store> {
        let mut out = match self.bin.arch {
            Arch::X86_64 => x86_64::stores_into(self, lo, hi),
            Arch::Aarch64 => aarch64::stores_into(self, lo, hi),
            Arch::X86 => x86::stores_into(self, lo, hi),
            _ => Vec::new(),
        };
        out.sort_by_key(|s| (s.at, s.addr));
        out.dedup();
        out
    }
}

/// Where the executable bytes of `addr` start, and the bytes from there to the end of the
/// executable range holding it.
fn code_at<'a>(bin: &Binary<'a>, addr: u64) -> Option<&'a [u8]> {
    bin.code_from(addr)
}
