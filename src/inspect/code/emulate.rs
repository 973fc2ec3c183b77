//! What a short function (an init hook) leaves in a range of static memory when control
//! leaves it, path by path. An architecture turns each instruction into a few [`Step`]s; this
//! module runs them over concrete register and memory values, reading the binary's own data
//! for loads, so a loop that walks a static slot array looking for one id runs as it would.
//! A branch on the result of an imported call forks: each path records the condition it
//! took ("`mpfr_buildopt_tls_p()` != 0"), unless the caller can say what that call returns.
//! Anything the steps cannot follow (a write through an unknown pointer, a local call, a
//! jump through a register, the budget) marks the path opaque, with the reason.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use super::Store;
use crate::inspect::model::Binary;

/// An operand: a register or an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Src<R> {
    Reg(R),
    Imm(u64),
}

/// A branch condition over the flags of the last comparison `a - b` (or `a & b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cond {
    Eq,
    Ne,
    /// Unsigned `a < b`, `a >= b`, `a > b`, `a <= b`.
    Below,
    AboveEq,
    Above,
    BelowEq,
    /// Signed.
    Less,
    GreaterEq,
    Greater,
    LessEq,
}

/// Where a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Callee {
    Import(u32),
    Local(u64),
    Unknown,
}

/// One effect of an instruction, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step<R> {
    /// `dst = (src + add) & mask`: moves, `lea`, `adrp`/`add`, immediate adds.
    Set {
        dst: R,
        src: Src<R>,
        add: u64,
        mask: u64,
    },
    /// `dst = size bytes at [base + disp]`, zero-extended.
    Load {
        dst: R,
        base: Src<R>,
        disp: i64,
        size: u8,
    },
    /// `size` bytes at `[base + disp] = src`.
    Store {
        src: Src<R>,
        base: Src<R>,
        disp: i64,
        size: u8,
    },
    /// Flags from `a - b` (`and`: from `a & b`), on `size` bytes.
    Compare {
        a: Src<R>,
        b: Src<R>,
        and: bool,
        size: u8,
    },
    /// Jump to `target` when the flags satisfy `cond`.
    Branch {
        cond: Cond,
        target: u64,
    },
    /// Jump to `target` when `reg` (its low `size` bytes) is zero (`zero`) or not.
    BranchZero {
        reg: R,
        size: u8,
        zero: bool,
        target: u64,
    },
    Jump(u64),
    /// A call that returns here; caller-saved registers are unknown after it.
    Call(Callee),
    /// Leaves the function: a return, or a tail call to `Callee`.
    Leave(Option<Callee>),
    /// The register now holds something not followed.
    Clobber(R),
    /// The flags now hold something not followed.
    ClobberFlags,
    /// The instruction does something not followed (the text says what).
    Opaque(&'static str),
}

/// One instruction set as the emulator sees it.
pub(super) trait Machine {
    type R: Copy + Eq + Hash + std::fmt::Debug + 'static;
    /// The steps of the instruction at `pc` and the address of the next one.
    fn steps(&self, pc: u64) -> Option<(Vec<Step<Self::R>>, u64)>;
    /// The stack pointer, the return-value register and the argument registers.
    fn sp(&self) -> Self::R;
    fn ret(&self) -> Self::R;
    fn args(&self) -> &'static [Self::R];
    fn clobbered_by_call(&self, reg: Self::R) -> bool;
}

/// A value while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    K(u64),
    /// What the call to an import returned.
    Ret(u32),
    Unk,
}

/// A condition a path took on the result of an imported call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub import: u32,
    /// The path runs when the result is non-zero (else when it is zero).
    pub nonzero: bool,
}

/// How one path left the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEnd {
    pub taken: Vec<Taken>,
    /// Constant stores into the watched range, in program order.
    pub stores: Vec<Store>,
    /// Why the path could not be followed to its end, if it could not.
    pub opaque: Option<String>,
    /// The constant in the return register when the path returns (not for a tail call).
    pub returns: Option<u64>,
}

/// Instructions all paths together may run.
const BUDGET: usize = 4096;
/// Most paths one run explores.
const MAX_PATHS: usize = 32;
/// Where the stack pointer starts: far from any image.
const STACK: u64 = 0x7fff_0000_0000;

#[derive(Clone)]
struct State<R> {
    pc: u64,
    regs: HashMap<R, V>,
    mem: BTreeMap<u64, (u8, V)>,
    flags: Option<(V, V, bool, u8)>,
    taken: Vec<Taken>,
    stores: Vec<Store>,
}

/// Run the function at `start`, watching stores into `[lo, hi)`. `answer` says what a call to
/// an import returns when that is known. Every path is returned, opaque ones included.
pub(super) fn run<M: Machine>(
    m: &M,
    bin: &Binary,
    start: u64,
    lo: u64,
    hi: u64,
    answer: &mut dyn FnMut(u32) -> Option<u64>,
) -> Vec<PathEnd> {
    let mut regs = HashMap::new();
    regs.insert(m.sp(), V::K(STACK));
    let mut work = vec![State {
        pc: start,
        regs,
        mem: BTreeMap::new(),
        flags: None,
        taken: Vec::new(),
        stores: Vec::new(),
    }];
    let mut out = Vec::new();
    let mut budget = BUDGET;
    let mut answers: HashMap<u32, Option<u64>> = HashMap::new();
    while let Some(mut st) = work.pop() {
        let mut returns = None;
        let end = 'path: loop {
            if budget == 0 {
                break 'path Some("the instruction budget ran out".to_string());
            }
            budget -= 1;
            let Some((steps, next)) = m.steps(st.pc) else {
                break 'path Some(format!("no instruction at {:#x}", st.pc));
            };
            let mut pc = next;
            for step in steps {
                match step {
                    Step::Set {
                        dst,
                        src,
                        add,
                        mask,
                    } => {
                        let v = match get(&st, src) {
                            V::K(k) => V::K(k.wrapping_add(add) & mask),
                            V::Ret(i) if add == 0 => V::Ret(i),
                            _ => V::Unk,
                        };
                        st.regs.insert(dst, v);
                    }
                    Step::Load {
                        dst,
                        base,
                        disp,
                        size,
                    } => {
                        let v = match get(&st, base) {
                            V::K(a) => load(bin, &st, a.wrapping_add_signed(disp), size),
                            _ => V::Unk,
                        };
                        st.regs.insert(dst, v);
                    }
                    Step::Store {
                        src,
                        base,
                        disp,
                        size,
                    } => {
                        let V::K(a) = get(&st, base) else {
                            break 'path Some(format!(
                                "stores through a pointer not followed at {:#x}",
                                st.pc
                            ));
                        };
                        let a = a.wrapping_add_signed(disp);
                        let v = get(&st, src);
                        if a < hi && a.saturating_add(u64::from(size)) > lo {
                            let V::K(value) = v else {
                                break 'path Some(format!(
                                    "stores a value computed at run time at {:#x}",
                                    st.pc
                                ));
                            };
                            st.stores.push(Store {
                                addr: a,
                                size,
                                value: mask(value, size),
                                at: st.pc,
                            });
                        }
                        st.mem.insert(a, (size, v));
                    }
                    Step::Compare { a, b, and, size } => {
                        st.flags = Some((get(&st, a), get(&st, b), and, size));
                    }
                    Step::Branch { cond, target } => {
                        let Some((a, b, and, size)) = st.flags else {
                            break 'path Some(format!("branches on unset flags at {:#x}", st.pc));
                        };
                        let (a, b) = (
                            resolve(a, answer, &mut answers),
                            resolve(b, answer, &mut answers),
                        );
                        match decide(cond, a, b, and, size) {
                            Some(true) => pc = target,
                            Some(false) => {}
                            None => {
                                // Only `f() == 0` / `f() != 0` forks; anything else is opaque.
                                let import = match (a, b, and) {
                                    (V::Ret(i), V::K(0), false) => i,
                                    (V::Ret(i), V::Ret(j), true) if i == j => i,
                                    _ => {
                                        break 'path Some(format!(
                                            "branches on a value computed at run time at {:#x}",
                                            st.pc
                                        ));
                                    }
                                };
                                let nonzero_jumps = match cond {
                                    Cond::Ne => true,
                                    Cond::Eq => false,
                                    _ => {
                                        break 'path Some(format!(
                                            "branches on the sign of a call's result at {:#x}",
                                            st.pc
                                        ));
                                    }
                                };
                                if work.len() + out.len() >= MAX_PATHS {
                                    break 'path Some("too many paths".to_string());
                                }
                                let mut other = st.clone();
                                other.pc = target;
                                other.taken.push(Taken {
                                    import,
                                    nonzero: nonzero_jumps,
                                });
                                st.taken.push(Taken {
                                    import,
                                    nonzero: !nonzero_jumps,
                                });
                                st.pc = pc;
                                work.push(st.clone());
                                st = other;
                                pc = st.pc;
                                // The rest of this instruction's steps (none after a branch).
                            }
                        }
                    }
                    Step::BranchZero {
                        reg,
                        size,
                        zero,
                        target,
                    } => {
                        let v = resolve(get(&st, Src::Reg(reg)), answer, &mut answers);
                        match v {
                            V::K(k) => {
                                if (mask(k, size) == 0) == zero {
                                    pc = target;
                                }
                            }
                            V::Ret(import) => {
                                if work.len() + out.len() >= MAX_PATHS {
                                    break 'path Some("too many paths".to_string());
                                }
                                let mut other = st.clone();
                                other.pc = target;
                                other.taken.push(Taken {
                                    import,
                                    nonzero: !zero,
                                });
                                st.taken.push(Taken {
                                    import,
                                    nonzero: zero,
                                });
                                st.pc = pc;
                                work.push(st.clone());
                                st = other;
                                pc = st.pc;
                            }
                            V::Unk => {
                                break 'path Some(format!(
                                    "branches on a value computed at run time at {:#x}",
                                    st.pc
                                ));
                            }
                        }
                    }
                    Step::Jump(target) => pc = target,
                    Step::Call(callee) => {
                        let args = m.args();
                        let passes_range = args.iter().any(
                            |&r| matches!(st.regs.get(&r), Some(V::K(a)) if *a >= lo && *a < hi),
                        );
                        if passes_range {
                            break 'path Some(format!(
                                "passes the watched memory to a call at {:#x}",
                                st.pc
                            ));
                        }
                        match callee {
                            Callee::Import(i) => {
                                st.regs.retain(|&r, _| !m.clobbered_by_call(r));
                                st.regs.insert(m.ret(), V::Ret(i));
                            }
                            Callee::Local(_) | Callee::Unknown => {
                                break 'path Some(format!(
                                    "calls code that is not followed at {:#x}",
                                    st.pc
                                ));
                            }
                        }
                    }
                    Step::Leave(callee) => {
                        if callee.is_none()
                            && let Some(V::K(k)) = st.regs.get(&m.ret())
                        {
                            returns = Some(*k);
                        }
                        break 'path None;
                    }
                    Step::Clobber(r) => {
                        st.regs.insert(r, V::Unk);
                    }
                    Step::ClobberFlags => st.flags = None,
                    Step::Opaque(what) => {
                        break 'path Some(format!("{what} at {:#x}", st.pc));
                    }
                }
            }
            st.pc = pc;
        };
        out.push(PathEnd {
            taken: st.taken,
            stores: st.stores,
            opaque: end,
            returns,
        });
    }
    out
}

fn mask(v: u64, size: u8) -> u64 {
    if size >= 8 {
        v
    } else {
        v & ((1u64 << (8 * u32::from(size))) - 1)
    }
}

fn get<R: Copy + Eq + Hash>(st: &State<R>, src: Src<R>) -> V {
    match src {
        Src::Imm(k) => V::K(k),
        Src::Reg(r) => st.regs.get(&r).copied().unwrap_or(V::Unk),
    }
}

/// A call result whose value the caller knows becomes that constant.
fn resolve(
    v: V,
    answer: &mut dyn FnMut(u32) -> Option<u64>,
    answers: &mut HashMap<u32, Option<u64>>,
) -> V {
    match v {
        V::Ret(i) => match *answers.entry(i).or_insert_with(|| answer(i)) {
            Some(k) => V::K(k),
            None => v,
        },
        v => v,
    }
}

/// `size` bytes at `addr`: from what this path stored there, else from the file.
fn load<R>(bin: &Binary, st: &State<R>, addr: u64, size: u8) -> V {
    if let Some(&(s, v)) = st.mem.get(&addr) {
        return match v {
            V::K(k) if s >= size => V::K(mask(k, size)),
            _ if s == size => v,
            _ => V::Unk,
        };
    }
    // A store that overlaps the bytes read makes them unknown.
    let overlaps = st
        .mem
        .range(addr.saturating_sub(8)..addr.saturating_add(u64::from(size)))
        .any(|(&a, &(s, _))| a + u64::from(s) > addr);
    if overlaps || (STACK - (1 << 20)..STACK + (1 << 20)).contains(&addr) {
        return V::Unk;
    }
    let value = match size {
        4 => bin.u32_at(addr).map(u64::from),
        8 => bin.uptr_at(addr).filter(|_| bin.pointer_size == 8),
        _ => None,
    };
    // A word the loader relocates is not what the file holds.
    match value {
        Some(k) if bin.pointers.get(addr).is_none() => V::K(k),
        _ => V::Unk,
    }
}

/// Whether `cond` holds for `a - b` (or `a & b`), when both are known.
fn decide(cond: Cond, a: V, b: V, and: bool, size: u8) -> Option<bool> {
    let (V::K(a), V::K(b)) = (a, b) else {
        return None;
    };
    let (a, b) = (mask(a, size), mask(b, size));
    if and {
        let r = a & b;
        return match cond {
            Cond::Eq => Some(r == 0),
            Cond::Ne => Some(r != 0),
            _ => None,
        };
    }
    let bits = 8 * u32::from(size.min(8));
    let signed = |v: u64| ((v << (64 - bits)) as i64) >> (64 - bits);
    Some(match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Below => a < b,
        Cond::AboveEq => a >= b,
        Cond::Above => a > b,
        Cond::BelowEq => a <= b,
        Cond::Less => signed(a) < signed(b),
        Cond::GreaterEq => signed(a) >= signed(b),
        Cond::Greater => signed(a) > signed(b),
        Cond::LessEq => signed(a) <= signed(b),
    })
}
