//! What a register holds just before a call, read back over every path through the function
//! that can reach the call, for any instruction set. An architecture supplies the function's
//! instructions (decoded forward from a start the file describes, so boundaries are certain)
//! and, per instruction, how control leaves it and what it leaves in a register. The answer
//! is a constant only when every path that reaches the call sets the register to that same
//! constant; a path that starts at the function's entry, passes a call that may change the
//! register, or sets it any other way makes it unknown.
//!
//! Jumps through a register (switch tables, most often) can land on any instruction, so a
//! function that has one is not read at all.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

use super::ArgValue;

/// How control leaves an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Calls and, once the callee returns, falls through; registers the callee may change
    /// are unknown after it.
    Call,
    /// Jumps to a known address and does not fall through.
    Jump(u64),
    /// Jumps through a register or memory: the target is not known.
    JumpIndirect,
    /// Jumps to a known address or falls through.
    Branch(u64),
    /// Leaves the function (return, trap, tail call through a pointer slot).
    Stop,
}

/// What an instruction leaves in a register it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect<R> {
    Const(u64),
    /// `(src + add) & mask`, with `src` read before the instruction: copies, `lea`, `addi`.
    Derived {
        src: R,
        add: u64,
        mask: u64,
    },
    /// Anything else (a load, arithmetic, a partial write).
    Opaque,
}

/// One instruction set's view of its decoded instructions.
pub(super) trait Isa {
    type Reg: Copy + Eq + Hash + Debug;
    type Insn;
    fn flow(&self, insn: &Self::Insn) -> Flow;
    /// What `insn` leaves in `reg`, or `None` when it does not write `reg`.
    fn effect(&self, insn: &Self::Insn, reg: Self::Reg) -> Option<Effect<Self::Reg>>;
    /// Whether a called function may change `reg` (the ABI's caller-saved registers).
    fn clobbered_by_call(&self, reg: Self::Reg) -> bool;
    /// The pointer-sized load `insn` makes, if it is one ([`leaf_refs`] reads it; the walk
    /// back of [`value_before`] takes a load's effect as opaque).
    fn load(&self, _insn: &Self::Insn) -> Option<Load<Self::Reg>> {
        None
    }
}

/// `dst = the pointer-sized word at [base + disp]` (`base: None`: at the address `disp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Load<R> {
    pub dst: R,
    pub base: Option<R>,
    pub disp: u64,
}

/// What the straight-line code from a function's start computes and loads, up to its first
/// return, jump or `max` instructions: every address in the image a register is set to
/// (constants and pc-relative arithmetic) and every pointer it loads from a relocated word
/// (a GOT or TOC entry, a field of a static struct). The shape of a `PyModExport_*` hook,
/// which returns a pointer to a static slot array, and of init hooks that pass a def's
/// address. Candidates only: the slot reader validates each. `seeds` are registers known
/// at entry (the ppc64 ELFv2 global entry point's `r12`), `regs` the register count.
pub(super) fn leaf_refs<I: Isa<Reg = u8>>(
    isa: &I,
    bin: &crate::inspect::model::Binary,
    insns: &[(u64, I::Insn)],
    seeds: &[(u8, u64)],
    regs: u8,
) -> Vec<u64> {
    use crate::inspect::model::{Pointer, Word};
    let mut known: HashMap<u8, u64> = seeds.iter().copied().collect();
    let mut out = Vec::new();
    for (_, insn) in insns {
        if let Some(l) = isa.load(insn) {
            let addr = match l.base {
                None => Some(l.disp),
                Some(b) => known.get(&b).map(|v| v.wrapping_add(l.disp)),
            };
            match addr.and_then(|a| bin.word_at(a)) {
                Some(Word::Pointer(Pointer::Addr(a))) => {
                    out.push(a);
                    known.insert(l.dst, a);
                }
                Some(Word::Int(v)) => {
                    known.insert(l.dst, v);
                }
                _ => {
                    known.remove(&l.dst);
                }
            }
        } else {
            let mut set = Vec::new();
            for r in 0..regs {
                match isa.effect(insn, r) {
                    None => {}
                    Some(Effect::Const(k)) => set.push((r, Some(k))),
                    Some(Effect::Derived { src, add, mask }) => {
                        set.push((r, known.get(&src).map(|v| v.wrapping_add(add) & mask)));
                    }
                    Some(Effect::Opaque) => set.push((r, None)),
                }
            }
            for (r, v) in set {
                match v {
                    Some(v) => {
                        if bin.segment(v).is_some() {
                            out.push(v);
                        }
                        known.insert(r, v);
                    }
                    None => {
                        known.remove(&r);
                    }
                }
            }
        }
        match isa.flow(insn) {
            Flow::Next | Flow::Branch(_) => {}
            Flow::Call => known.retain(|&r, _| !isa.clobbered_by_call(r)),
            Flow::Jump(_) | Flow::JumpIndirect | Flow::Stop => break,
        }
    }
    out.dedup();
    out
}

/// The instructions of one function, decoded forward from its start, in address order.
pub(super) struct Function<T> {
    pub start: u64,
    pub end: u64,
    pub insns: Vec<(u64, T)>,
}

impl<T> Function<T> {
    /// Index of the instruction at `ip`.
    pub fn index(&self, ip: u64) -> Option<usize> {
        self.insns.binary_search_by_key(&ip, |&(a, _)| a).ok()
    }
}

/// Most (point, register) pairs one question visits.
const BUDGET: usize = 4096;

/// Where the walk back stands: just before or just after an instruction, looking for what
/// `reg` holds there; the value at the call is `ops` applied to it in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Item<R> {
    after: bool,
    idx: usize,
    reg: R,
    ops: Vec<(u64, u64)>,
}

/// The constant in argument `n` at the call at `site`, for an ABI that passes its first
/// `count` arguments in the registers numbered from `first` (`func`: the decoded function
/// holding the call, or why it could not be had).
pub(super) fn register_arg<I: Isa<Reg = u8>>(
    isa: &I,
    func: Result<Function<I::Insn>, String>,
    site: u64,
    n: usize,
    (first, count): (u8, usize),
) -> ArgValue {
    if n >= count {
        return ArgValue::Unknown(format!("argument {n} is passed on the stack"));
    }
    match func {
        Ok(func) => value_before(isa, &func, site, first + n as u8),
        Err(why) => ArgValue::Unknown(why),
    }
}

/// The constant in `reg` when the instruction at `site` (a call) starts, over every path
/// through `func` that reaches it.
pub(super) fn value_before<I: Isa>(
    isa: &I,
    func: &Function<I::Insn>,
    site: u64,
    reg: I::Reg,
) -> ArgValue {
    let unknown = |why: String| ArgValue::Unknown(why);
    let Some(site_idx) = func.index(site) else {
        return unknown(format!("{site:#x} is not an instruction boundary"));
    };
    // Who jumps where inside the function.
    let mut jumps_to: HashMap<u64, Vec<usize>> = HashMap::new();
    for (k, (ip, insn)) in func.insns.iter().enumerate() {
        match isa.flow(insn) {
            Flow::JumpIndirect => {
                return unknown(format!(
                    "the function holding the call jumps through a register at {ip:#x}, so the ways into the code before the call are not known"
                ));
            }
            Flow::Jump(t) | Flow::Branch(t) if t >= func.start && t < func.end => {
                if func.index(t).is_none() {
                    return unknown(format!(
                        "the jump at {ip:#x} lands inside an instruction: the code is not what it was decoded as"
                    ));
                }
                jumps_to.entry(t).or_default().push(k);
            }
            _ => {}
        }
    }
    let mut work = vec![Item {
        after: false,
        idx: site_idx,
        reg,
        ops: Vec::new(),
    }];
    let mut seen: HashSet<Item<I::Reg>> = HashSet::new();
    let mut found: Vec<(u64, u64)> = Vec::new(); // (value, where it was set)
    while let Some(item) = work.pop() {
        if seen.len() >= BUDGET {
            return unknown(format!(
                "too many paths lead to the call at {site:#x} to follow them all"
            ));
        }
        if !seen.insert(item.clone()) {
            continue;
        }
        let (ip, insn) = &func.insns[item.idx];
        if item.after {
            match isa.effect(insn, item.reg) {
                Some(Effect::Const(v)) => {
                    let v = item
                        .ops
                        .iter()
                        .fold(v, |x, &(add, mask)| x.wrapping_add(add) & mask);
                    found.push((v, *ip));
                }
                Some(Effect::Derived { src, add, mask }) => {
                    let mut ops = vec![(add, mask)];
                    ops.extend_from_slice(&item.ops);
                    work.push(Item {
                        after: false,
                        idx: item.idx,
                        reg: src,
                        ops,
                    });
                }
                Some(Effect::Opaque) => {
                    return unknown(format!("argument set at run time at {ip:#x}"));
                }
                None if isa.flow(insn) == Flow::Call && isa.clobbered_by_call(item.reg) => {
                    return unknown(format!("argument comes from the call at {ip:#x}"));
                }
                None => work.push(Item {
                    after: false,
                    ..item
                }),
            }
            continue;
        }
        // Just before instruction `idx`: every way control gets there.
        if item.idx == 0 {
            return unknown(format!(
                "argument is passed in to the function at {:#x}, not set in it",
                func.start
            ));
        }
        let mut preds: Vec<usize> = jumps_to.get(ip).cloned().unwrap_or_default();
        let prev = item.idx - 1;
        if matches!(
            isa.flow(&func.insns[prev].1),
            Flow::Next | Flow::Call | Flow::Branch(_)
        ) {
            preds.push(prev);
        }
        if preds.is_empty() {
            return unknown(format!(
                "the code at {ip:#x} before the call is reached by no jump that was found"
            ));
        }
        for p in preds {
            work.push(Item {
                after: true,
                idx: p,
                reg: item.reg,
                ops: item.ops.clone(),
            });
        }
    }
    match found.as_slice() {
        [] => unknown(format!(
            "argument not set in the code before the call at {site:#x}"
        )),
        [(v, _), rest @ ..] if rest.iter().all(|(w, _)| w == v) => ArgValue::Const(*v),
        [(v, a), rest @ ..] => {
            let (w, b) = rest
                .iter()
                .find(|(w, _)| w != v)
                .copied()
                .unwrap_or((*v, *a));
            unknown(format!(
                "argument differs by path: {v} (set at {a:#x}) or {w} (set at {b:#x})"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy instruction set: register numbers, and instructions that set one register.
    #[derive(Debug, Clone, Copy)]
    enum T {
        Set(u8, u64),
        Copy(u8, u8),
        AddTo(u8, u64),
        Clobber(u8),
        Call,
        Jump(u64),
        Branch(u64),
        Indirect,
        Nop,
        Ret,
    }

    struct Toy;

    impl Isa for Toy {
        type Reg = u8;
        type Insn = T;
        fn flow(&self, i: &T) -> Flow {
            match *i {
                T::Call => Flow::Call,
                T::Jump(t) => Flow::Jump(t),
                T::Branch(t) => Flow::Branch(t),
                T::Indirect => Flow::JumpIndirect,
                T::Ret => Flow::Stop,
                _ => Flow::Next,
            }
        }
        fn effect(&self, i: &T, r: u8) -> Option<Effect<u8>> {
            match *i {
                T::Set(d, v) if d == r => Some(Effect::Const(v)),
                T::Copy(d, s) if d == r => Some(Effect::Derived {
                    src: s,
                    add: 0,
                    mask: u64::MAX,
                }),
                T::AddTo(d, v) if d == r => Some(Effect::Derived {
                    src: d,
                    add: v,
                    mask: 0xffff_ffff,
                }),
                T::Clobber(d) if d == r => Some(Effect::Opaque),
                _ => None,
            }
        }
        fn clobbered_by_call(&self, r: u8) -> bool {
            r < 8
        }
    }

    /// Instructions at 0, 4, 8, ...; the call under test is the last one.
    fn ask(code: &[T], reg: u8) -> ArgValue {
        let insns: Vec<(u64, T)> = code
            .iter()
            .enumerate()
            .map(|(k, &t)| (4 * k as u64, t))
            .collect();
        let site = insns.last().unwrap().0;
        let func = Function {
            start: 0,
            end: site + 4,
            insns,
        };
        value_before(&Toy, &func, site, reg)
    }

    fn is_unknown(v: ArgValue, part: &str) -> bool {
        matches!(v, ArgValue::Unknown(ref why) if why.contains(part))
    }

    #[test]
    fn straight_line_constants_and_copies() {
        assert_eq!(
            ask(&[T::Nop, T::Set(1, 1), T::Nop, T::Call], 1),
            ArgValue::Const(1)
        );
        // A callee-saved register survives a call; a copy of it is followed.
        assert_eq!(
            ask(&[T::Nop, T::Set(9, 1), T::Call, T::Copy(1, 9), T::Call], 1),
            ArgValue::Const(1)
        );
        assert_eq!(
            ask(
                &[
                    T::Nop,
                    T::Set(9, 0xffff_ffff),
                    T::AddTo(9, 2),
                    T::Copy(1, 9),
                    T::Call
                ],
                1
            ),
            ArgValue::Const(1)
        );
    }

    #[test]
    fn what_is_not_a_plain_constant_stays_unknown() {
        assert!(is_unknown(
            ask(&[T::Nop, T::Clobber(1), T::Call], 1),
            "run time at 0x4"
        ));
        assert!(is_unknown(
            ask(&[T::Nop, T::Set(1, 1), T::Call, T::Call], 1),
            "call at 0x8"
        ));
        assert!(is_unknown(ask(&[T::Nop, T::Nop, T::Call], 1), "passed in"));
        assert!(is_unknown(
            ask(&[T::Nop, T::Set(1, 1), T::Indirect, T::Call], 1),
            "jumps through a register"
        ));
    }

    /// Paths that join before the call: the value counts only when every path agrees.
    #[test]
    fn joins_need_every_path() {
        // 0 nop; 4 branch 16; 8 set r1=1; 12 jump 20; 16 set r1=X; 20 call
        let agree = [
            T::Nop,
            T::Branch(16),
            T::Set(1, 1),
            T::Jump(20),
            T::Set(1, 1),
            T::Call,
        ];
        assert_eq!(ask(&agree, 1), ArgValue::Const(1));
        let differ = [
            T::Nop,
            T::Branch(16),
            T::Set(1, 1),
            T::Jump(20),
            T::Set(1, 0),
            T::Call,
        ];
        assert!(is_unknown(ask(&differ, 1), "differs by path"));
        // The value set before a branch that jumps past a second write.
        let skip = [T::Set(1, 1), T::Branch(12), T::Set(1, 0), T::Call];
        assert!(is_unknown(ask(&skip, 1), "differs by path"));
        // A jump from after the call back into the block (a loop) that carries another value.
        let looped = [T::Set(1, 1), T::Nop, T::Call, T::Set(1, 0), T::Jump(4)];
        let insns: Vec<(u64, T)> = looped
            .iter()
            .enumerate()
            .map(|(k, &t)| (4 * k as u64, t))
            .collect();
        let func = Function {
            start: 0,
            end: 20,
            insns,
        };
        assert!(is_unknown(
            value_before(&Toy, &func, 8, 1),
            "differs by path"
        ));
        // A loop that does not touch the register converges.
        let quiet = [T::Nop, T::Set(1, 1), T::Nop, T::Branch(8), T::Call];
        assert_eq!(ask(&quiet, 1), ArgValue::Const(1));
    }

    #[test]
    fn code_after_a_jump_reached_by_nothing_is_unknown() {
        let orphan = [T::Nop, T::Ret, T::Nop, T::Call];
        assert!(is_unknown(ask(&orphan, 1), "reached by no jump"));
    }
}
