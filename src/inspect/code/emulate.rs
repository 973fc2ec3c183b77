//! What a short function (an init hook) leaves in a range of static memory when control
//! leaves it, path by path. An architecture turns each instruction into a few [`Step`]s; this
//! module runs them over concrete register and memory values, reading the binary's own data
//! for loads, so a loop that walks a static slot array looking for one id runs as it would.
//! A branch on the result of an imported call forks: each path records the condition it
//! took ("`mpfr_buildopt_tls_p()` != 0"), unless the caller can say what that call returns.
//! Local calls are followed a few levels deep, each on its own small budget; a callee that
//! cannot be followed to its return is skipped (its registers become unknown and the path
//! records it). Anything else the steps cannot follow (a write through an unknown pointer, a
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
    /// `size` bytes at `[base + disp]` now hold something not followed (a read-modify-write
    /// such as `lock add`).
    Forget {
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
    /// Jump to `target` when bit `bit` of `reg` is set (`set`) or clear.
    BranchBit {
        reg: R,
        bit: u8,
        set: bool,
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
    /// Where the stack and allocated blocks are placed: 32-bit code needs them below 4 GiB.
    fn space(&self) -> Space {
        Space::WIDE
    }
    /// Bytes a call pushes as its return address, which the callee's `ret` pops: 0 where the
    /// return address is in a register or the code never reads it (x86-64 is run as if
    /// calls pushed nothing; its arguments are in registers).
    fn return_address_size(&self) -> u8 {
        0
    }
    /// Whether arguments are passed on the stack (`[sp]`, `[sp + 4]`, ... at the call), 4
    /// bytes each, rather than in [`Machine::args`].
    fn stack_args(&self) -> bool {
        false
    }
    /// Whether a call to `import` may leave the stack pointer moved (a Windows API function
    /// called with `stdcall` pops its own arguments).
    fn moves_stack(&self, _import: u32) -> bool {
        false
    }
}

/// Where a run places the stack and the blocks allocations return, far from any image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Space {
    stack: u64,
    heap: u64,
    block: u64,
}

impl Space {
    /// For 64-bit code.
    pub const WIDE: Space = Space {
        stack: 0x7fff_0000_0000,
        heap: 0x7ffe_0000_0000,
        block: 1 << 24,
    };
    /// For 32-bit code: below 4 GiB, above where images are loaded.
    pub const NARROW: Space = Space {
        stack: 0xbf00_0000,
        heap: 0xa000_0000,
        block: 1 << 20,
    };

    fn on_stack(self, a: u64) -> bool {
        (self.stack - (1 << 20)..self.stack + (1 << 20)).contains(&a)
    }

    /// The allocated block `addr` lies in, by number.
    fn block_of(self, addr: u64) -> Option<usize> {
        (self.heap..self.heap + MAX_BLOCKS * self.block)
            .contains(&addr)
            .then(|| ((addr - self.heap) / self.block) as usize)
    }
}

/// A value while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    K(u64),
    /// What the call to an import returned.
    Ret(u32),
    Unk,
}

/// What the caller knows about the imports the code calls.
pub trait Imports {
    /// The constant a call to `import` returns, when known.
    fn returns(&mut self, import: u32) -> Option<u64>;
    /// Whether a call to `import` may write memory its pointer arguments point to.
    fn writes_through_args(&self, import: u32) -> bool;
    /// Whether a call to `import` never returns (it throws, aborts or exits): the path ends
    /// there without going on.
    fn never_returns(&self, import: u32) -> bool;
    /// Whether `import` allocates memory (`Some(zeroed)`): its result is then a fresh block,
    /// zero-filled when `zeroed` (`calloc`), else of unknown content.
    fn allocates(&self, import: u32) -> Option<bool>;
}

/// A condition a path took on the result of an imported call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The import whose result the branch tests, or `None` for a value not followed.
    pub import: Option<u32>,
    /// The branch.
    pub at: u64,
    /// For a call: the path runs when the result is non-zero (else when it is zero). For a
    /// value: the path takes the branch (else falls through).
    pub nonzero: bool,
}

/// A call to an import on a path, with its first arguments where they are constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called {
    pub import: u32,
    pub args: [Option<u64>; 4],
    pub at: u64,
}

/// How one path left the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEnd {
    pub taken: Vec<Taken>,
    /// Constant stores into the watched range, in program order.
    pub stores: Vec<Store>,
    /// Everything the path wrote outside the stack, by address: (size, value if constant).
    pub memory: BTreeMap<u64, (u8, Option<u64>)>,
    /// The imports it called, in order (a final tail call included).
    pub calls: Vec<Called>,
    /// Local functions it called but could not follow to their return (skipped).
    pub skipped: Vec<u64>,
    /// Why the path could not be followed to its end, if it could not.
    pub opaque: Option<String>,
    /// The constant in the return register when the path returns (not for a tail call).
    pub returns: Option<u64>,
    /// Whether each block the path allocated is zero-filled.
    blocks: Vec<bool>,
    space: Space,
}

impl PathEnd {
    /// `size` bytes at `addr` as the path left them: what it stored there, else the file's
    /// (relocated words included). `None` when not known.
    pub fn read(&self, bin: &Binary, addr: u64, size: u8) -> Option<u64> {
        read_through(bin, &self.memory, &self.blocks, self.space, addr, size)
    }
}

/// Instructions all paths together may run.
const BUDGET: usize = 16_384;
/// Instructions one followed call may run before it is skipped instead.
const CALL_BUDGET: usize = 2048;
/// How deep local calls are followed.
const MAX_DEPTH: usize = 3;
/// Most paths one run explores.
const MAX_PATHS: usize = 64;
/// What `Run::call` answers for a call that never returns; the path ends there, followed.
const NEVER_RETURNS: &str = "never returns";
/// What marks a path dropped because a sibling continues in its place.
const DUPLICATE: &str = "duplicate";
/// How many blocks allocations return on one path, one [`Space`] block apart.
const MAX_BLOCKS: u64 = 64;

/// A followed call: where it returns to, and the caller's state to go back to when the
/// callee cannot be followed.
#[derive(Clone)]
struct Frame<R> {
    /// Paths forked inside the callee share the frame: one that is skipped is skipped once.
    id: u64,
    ret_pc: u64,
    callee: u64,
    budget: usize,
    snapshot: Box<State<R>>,
}

#[derive(Clone)]
struct State<R> {
    pc: u64,
    regs: HashMap<R, V>,
    mem: BTreeMap<u64, (u8, V)>,
    flags: Option<(V, V, bool, u8)>,
    taken: Vec<Taken>,
    stores: Vec<Store>,
    calls: Vec<Called>,
    skipped: Vec<u64>,
    frames: Vec<Frame<R>>,
    returns: Option<u64>,
    /// Whether each allocated block is zero-filled, by block number.
    blocks: Vec<bool>,
}

/// What to watch and whether to follow local calls.
pub(super) struct Watch {
    pub lo: u64,
    pub hi: u64,
    /// Follow local calls (else a local call makes the path opaque).
    pub follow: bool,
}

/// Run the function at `start`, path by path. Every path is returned, opaque ones included.
pub(super) fn run<M: Machine>(
    m: &M,
    bin: &Binary,
    start: u64,
    watch: &Watch,
    imports: &mut dyn Imports,
) -> Vec<PathEnd> {
    let mut regs = HashMap::new();
    let space = m.space();
    regs.insert(m.sp(), V::K(space.stack));
    let mut work = vec![State {
        pc: start,
        regs,
        mem: BTreeMap::new(),
        flags: None,
        taken: Vec::new(),
        stores: Vec::new(),
        calls: Vec::new(),
        skipped: Vec::new(),
        frames: Vec::new(),
        returns: None,
        blocks: Vec::new(),
    }];
    let mut out = Vec::new();
    let mut cx = Run {
        budget: BUDGET,
        unwound: std::collections::HashSet::new(),
        frames: 0,
        answers: HashMap::new(),
        paths: 1,
        space,
    };
    while let Some(mut st) = work.pop() {
        let end = loop {
            let end = cx.path(m, bin, &mut st, &mut work, watch, imports);
            match end {
                // A path that throws or aborts ends there, followed to its end.
                Some(why) if why == NEVER_RETURNS => break None,
                // A callee that cannot be followed is skipped: back to the caller as it was
                // at the call, with what the callee may change unknown.
                Some(_) if !st.frames.is_empty() && cx.budget > 0 => {
                    let frame = st.frames.pop().expect("a frame");
                    if !cx.unwound.insert(frame.id) {
                        // A sibling path already went back to the caller from this call.
                        cx.paths -= 1;
                        break Some(DUPLICATE.to_string());
                    }
                    let callee = frame.callee;
                    st = *frame.snapshot;
                    st.regs.retain(|&r, _| !m.clobbered_by_call(r));
                    st.flags = None;
                    st.skipped.push(callee);
                    st.pc = frame.ret_pc;
                }
                end => break end,
            }
        };
        if end.as_deref() == Some(DUPLICATE) {
            continue;
        }
        let memory = st
            .mem
            .iter()
            .filter(|(a, _)| !space.on_stack(**a))
            .map(|(&a, &(s, v))| (a, (s, if let V::K(k) = v { Some(k) } else { None })))
            .collect();
        out.push(PathEnd {
            taken: st.taken,
            stores: st.stores,
            memory,
            calls: st.calls,
            skipped: st.skipped,
            opaque: end,
            returns: st.returns,
            blocks: st.blocks,
            space,
        });
    }
    out
}

struct Run {
    budget: usize,
    /// Frames whose callee was skipped.
    unwound: std::collections::HashSet<u64>,
    /// Frames made so far, for their ids.
    frames: u64,
    answers: HashMap<u32, Option<u64>>,
    paths: usize,
    space: Space,
}

impl Run {
    /// A call result whose value the caller knows becomes that constant.
    fn resolve(&mut self, v: V, imports: &mut dyn Imports) -> V {
        match v {
            V::Ret(i) => match *self.answers.entry(i).or_insert_with(|| imports.returns(i)) {
                Some(k) => V::K(k),
                None => v,
            },
            v => v,
        }
    }

    /// A conditional branch at `at` to `target`: taken or not when `taken` says, else a fork.
    /// `on` is what the branch tests — the result of an import, or (`None`) a value not
    /// followed — and when it jumps: for a call, when the result is non-zero (`true`) or
    /// zero; for a value, always `true` (the two paths are "taken" and "not taken"). `st`
    /// goes on at `target`, the other path falls through.
    fn branch<R: Copy + Eq + Hash>(
        &mut self,
        st: &mut State<R>,
        work: &mut Vec<State<R>>,
        taken: Option<bool>,
        (import, jumps_when): (Option<u32>, bool),
        at: u64,
        target: u64,
    ) -> Result<(), String> {
        match taken {
            Some(true) => {
                st.pc = target;
                return Ok(());
            }
            Some(false) => return Ok(()),
            None => {}
        }
        if self.paths >= MAX_PATHS {
            return Err("too many paths".to_string());
        }
        self.paths += 1;
        let mut other = st.clone();
        other.taken.push(Taken {
            import,
            at,
            nonzero: !jumps_when,
        });
        work.push(other);
        st.taken.push(Taken {
            import,
            at,
            nonzero: jumps_when,
        });
        st.pc = target;
        Ok(())
    }

    /// Run one path until it leaves the function (`None`) or cannot be followed (the reason).
    fn path<M: Machine>(
        &mut self,
        m: &M,
        bin: &Binary,
        st: &mut State<M::R>,
        work: &mut Vec<State<M::R>>,
        watch: &Watch,
        imports: &mut dyn Imports,
    ) -> Option<String> {
        loop {
            if self.budget == 0 {
                return Some("the instruction budget ran out".to_string());
            }
            self.budget -= 1;
            if let Some(frame) = st.frames.last_mut() {
                if frame.budget == 0 {
                    return Some("a callee ran past its budget".to_string());
                }
                frame.budget -= 1;
            }
            let here = st.pc;
            let Some((steps, next)) = m.steps(here) else {
                return Some(format!("no instruction at {here:#x}"));
            };
            st.pc = next;
            for step in steps {
                match step {
                    Step::Set {
                        dst,
                        src,
                        add,
                        mask,
                    } => {
                        let v = match get(st, src) {
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
                        let v = match get(st, base) {
                            V::K(a) => {
                                let a = a.wrapping_add_signed(disp);
                                load(bin, &st.mem, &st.blocks, self.space, a, size)
                            }
                            _ => V::Unk,
                        };
                        st.regs.insert(dst, v);
                    }
                    Step::Store { .. } | Step::Forget { .. } => {
                        let (src, base, disp, size) = match step {
                            Step::Store {
                                src,
                                base,
                                disp,
                                size,
                            } => (Some(src), base, disp, size),
                            Step::Forget { base, disp, size } => (None, base, disp, size),
                            _ => unreachable!("matched above"),
                        };
                        let V::K(a) = get(st, base) else {
                            return Some(format!(
                                "stores through a pointer not followed at {here:#x}"
                            ));
                        };
                        let a = a.wrapping_add_signed(disp);
                        let v = src.map_or(V::Unk, |src| get(st, src));
                        if a < watch.hi && a.saturating_add(u64::from(size)) > watch.lo {
                            let V::K(value) = v else {
                                return Some(format!(
                                    "stores a value computed at run time at {here:#x}"
                                ));
                            };
                            st.stores.push(Store {
                                addr: a,
                                size,
                                value: mask(value, size),
                                at: here,
                            });
                        }
                        // A store over part of an earlier one leaves the bytes unknown.
                        let lo = a.saturating_sub(7);
                        let overlapped: Vec<u64> = st
                            .mem
                            .range(lo..a.saturating_add(u64::from(size)))
                            .filter(|(b, (s, _))| {
                                **b != a && b.saturating_add(u64::from(*s)) > a
                                    || **b == a && *s != size
                            })
                            .map(|(b, _)| *b)
                            .collect();
                        for b in overlapped {
                            st.mem.insert(b, (st.mem[&b].0, V::Unk));
                        }
                        st.mem.insert(a, (size, v));
                    }
                    Step::Compare { a, b, and, size } => {
                        st.flags = Some((get(st, a), get(st, b), and, size));
                    }
                    Step::Branch { cond, target } => {
                        let Some((a, b, and, size)) = st.flags else {
                            return Some(format!("branches on unset flags at {here:#x}"));
                        };
                        let (a, b) = (self.resolve(a, imports), self.resolve(b, imports));
                        // `f() == 0` / `f() != 0` forks on the call; anything else on the
                        // branch itself.
                        let import = match (a, b, and, cond) {
                            (V::Ret(i), V::K(0), false, Cond::Eq | Cond::Ne) => Some(i),
                            (V::Ret(i), V::Ret(j), true, Cond::Eq | Cond::Ne) if i == j => Some(i),
                            _ => None,
                        };
                        let on = (import, import.is_none() || cond == Cond::Ne);
                        let taken = decide(cond, a, b, and, size);
                        if let Err(e) = self.branch(st, work, taken, on, here, target) {
                            return Some(e);
                        }
                    }
                    Step::BranchZero {
                        reg,
                        size,
                        zero,
                        target,
                    } => {
                        let v = self.resolve(get(st, Src::Reg(reg)), imports);
                        let (taken, import) = match v {
                            V::K(k) => (Some((mask(k, size) == 0) == zero), None),
                            V::Ret(i) => (None, Some(i)),
                            V::Unk => (None, None),
                        };
                        let on = (import, import.is_none() || !zero);
                        if let Err(e) = self.branch(st, work, taken, on, here, target) {
                            return Some(e);
                        }
                    }
                    Step::BranchBit {
                        reg,
                        bit,
                        set,
                        target,
                    } => {
                        let taken = match self.resolve(get(st, Src::Reg(reg)), imports) {
                            V::K(k) => Some((k >> bit & 1 == 1) == set),
                            _ => None,
                        };
                        if let Err(e) = self.branch(st, work, taken, (None, true), here, target) {
                            return Some(e);
                        }
                    }
                    Step::Jump(target) => st.pc = target,
                    Step::Call(callee) => {
                        if let Err(e) = self.call(m, bin, st, callee, here, watch, imports) {
                            return Some(e);
                        }
                    }
                    Step::Leave(callee) => {
                        match callee {
                            // A tail call: the callee's effects, then the caller's return.
                            Some(c @ Callee::Import(_)) => {
                                if let Err(e) = self.call(m, bin, st, c, here, watch, imports) {
                                    return Some(e);
                                }
                            }
                            Some(_) => {
                                return Some(format!("tail-calls code not followed at {here:#x}"));
                            }
                            None => {
                                if st.frames.is_empty()
                                    && let Some(V::K(k)) = st.regs.get(&m.ret())
                                {
                                    st.returns = Some(*k);
                                }
                            }
                        }
                        match st.frames.pop() {
                            Some(frame) => {
                                // The callee's `ret` (or the import it tail-called) pops
                                // the return address the call pushed.
                                let ra = u64::from(m.return_address_size());
                                if ra > 0 {
                                    let sp = match get(st, Src::Reg(m.sp())) {
                                        V::K(k) => V::K(k.wrapping_add(ra)),
                                        _ => V::Unk,
                                    };
                                    st.regs.insert(m.sp(), sp);
                                }
                                st.pc = frame.ret_pc;
                            }
                            None => return None,
                        }
                    }
                    Step::Clobber(r) => {
                        st.regs.insert(r, V::Unk);
                    }
                    Step::ClobberFlags => st.flags = None,
                    Step::Opaque(what) => return Some(format!("{what} at {here:#x}")),
                }
            }
        }
    }

    /// A call at `here`: an import's result becomes `Ret`; a local callee is followed.
    #[allow(clippy::too_many_arguments)]
    fn call<M: Machine>(
        &mut self,
        m: &M,
        bin: &Binary,
        st: &mut State<M::R>,
        callee: Callee,
        here: u64,
        watch: &Watch,
        imports: &mut dyn Imports,
    ) -> Result<(), String> {
        // A call through the PLT to a function this file exports itself (a global function
        // of the module, interposable in the ELF sense) runs the module's own code.
        let callee = match callee {
            Callee::Import(i) => bin
                .imports
                .get(i as usize)
                .and_then(|imp| bin.exports.get(&imp.name))
                .filter(|&&a| bin.code_from(a).is_some())
                .map_or(callee, |&a| Callee::Local(a)),
            c => c,
        };
        let args: Vec<V> = if m.stack_args() {
            let sp = get(st, Src::Reg(m.sp()));
            (0..4u64)
                .map(|k| match sp {
                    V::K(a) => load(
                        bin,
                        &st.mem,
                        &st.blocks,
                        self.space,
                        a.wrapping_add(4 * k),
                        4,
                    ),
                    _ => V::Unk,
                })
                .collect()
        } else {
            m.args()
                .iter()
                .map(|r| st.regs.get(r).copied().unwrap_or(V::Unk))
                .collect()
        };
        match callee {
            Callee::Import(i) if imports.never_returns(i) => {
                st.calls.push(Called {
                    import: i,
                    args: [None; 4],
                    at: here,
                });
                Err(NEVER_RETURNS.to_string())
            }
            Callee::Import(i) => {
                let into_memory = args.iter().any(|v| match *v {
                    V::K(a) => {
                        a >= watch.lo && a < watch.hi
                            || watch.follow
                                && (self.space.on_stack(a)
                                    || self.space.block_of(a).is_some()
                                    || bin.segment(a).is_some_and(|s| s.write))
                    }
                    _ => false,
                });
                if into_memory && imports.writes_through_args(i) {
                    return Err(format!(
                        "passes memory it reads to a call that may write it at {here:#x}"
                    ));
                }
                let mut known = [None; 4];
                for (k, v) in args.iter().take(4).enumerate() {
                    if let V::K(a) = v {
                        known[k] = Some(*a);
                    }
                }
                st.calls.push(Called {
                    import: i,
                    args: known,
                    at: here,
                });
                st.regs.retain(|&r, _| !m.clobbered_by_call(r));
                let result = match imports.allocates(i) {
                    Some(zeroed) if (st.blocks.len() as u64) < MAX_BLOCKS => {
                        st.blocks.push(zeroed);
                        V::K(self.space.heap + (st.blocks.len() as u64 - 1) * self.space.block)
                    }
                    _ => V::Ret(i),
                };
                st.regs.insert(m.ret(), result);
                if m.moves_stack(i) {
                    st.regs.insert(m.sp(), V::Unk);
                }
                st.flags = None;
                Ok(())
            }
            Callee::Local(target) if watch.follow && st.frames.len() < MAX_DEPTH => {
                let snapshot = Box::new(st.clone());
                self.frames += 1;
                st.frames.push(Frame {
                    id: self.frames,
                    ret_pc: st.pc,
                    callee: target,
                    budget: CALL_BUDGET,
                    snapshot,
                });
                let ra = m.return_address_size();
                if ra > 0 {
                    // Push the return address, as the callee's code expects.
                    let V::K(sp) = get(st, Src::Reg(m.sp())) else {
                        return Err(format!("calls with the stack pointer unknown at {here:#x}"));
                    };
                    let sp = sp.wrapping_sub(u64::from(ra));
                    st.regs.insert(m.sp(), V::K(sp));
                    st.mem.insert(sp, (ra, V::K(st.pc)));
                }
                st.pc = target;
                Ok(())
            }
            Callee::Local(_) | Callee::Unknown => {
                Err(format!("calls code that is not followed at {here:#x}"))
            }
        }
    }
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

/// `size` bytes at `addr`: from what this path stored there, else from the file.
fn load(
    bin: &Binary,
    mem: &BTreeMap<u64, (u8, V)>,
    blocks: &[bool],
    space: Space,
    addr: u64,
    size: u8,
) -> V {
    if let Some(&(s, v)) = mem.get(&addr) {
        return match v {
            V::K(k) if s >= size => V::K(mask(k, size)),
            _ if s == size => v,
            _ => V::Unk,
        };
    }
    // A store that overlaps the bytes read makes them unknown.
    let overlaps = mem
        .range(addr.saturating_sub(8)..addr.saturating_add(u64::from(size)))
        .any(|(&a, &(s, _))| a.saturating_add(u64::from(s)) > addr);
    if overlaps || space.on_stack(addr) {
        return V::Unk;
    }
    if let Some(b) = space.block_of(addr) {
        return if blocks.get(b).copied().unwrap_or(false) {
            V::K(0)
        } else {
            V::Unk
        };
    }
    file_value(bin, addr, size).map_or(V::Unk, V::K)
}

/// What the file holds at `addr` once loaded: a relocated word is the address it points to;
/// a word bound to an import is not known.
fn file_value(bin: &Binary, addr: u64, size: u8) -> Option<u64> {
    if !bin.little_endian || !matches!(size, 1 | 2 | 4 | 8) {
        return None;
    }
    match bin.pointers.get(addr) {
        Some(crate::inspect::model::Pointer::Addr(t))
            if u32::from(size) == u32::from(bin.pointer_size) =>
        {
            return Some(t);
        }
        Some(_) => return None,
        None => {}
    }
    let b = bin.bytes(addr, usize::from(size))?;
    Some(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

/// `size` bytes at `addr` as `memory` (a path's stores) over the file leaves them.
fn read_through(
    bin: &Binary,
    memory: &BTreeMap<u64, (u8, Option<u64>)>,
    blocks: &[bool],
    space: Space,
    addr: u64,
    size: u8,
) -> Option<u64> {
    if let Some(&(s, v)) = memory.get(&addr) {
        return if s >= size {
            v.map(|k| mask(k, size))
        } else {
            None
        };
    }
    let overlaps = memory
        .range(addr.saturating_sub(8)..addr.saturating_add(u64::from(size)))
        .any(|(&a, &(s, _))| a.saturating_add(u64::from(s)) > addr);
    if overlaps {
        return None;
    }
    if let Some(b) = space.block_of(addr) {
        return blocks.get(b).copied().unwrap_or(false).then_some(0);
    }
    file_value(bin, addr, size)
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
    let bits = 8 * u32::from(size.clamp(1, 8));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Segment};

    /// A machine whose program is a table: the steps at each address, falling through by 4.
    struct Table(HashMap<u64, Vec<Step<u8>>>);

    impl Machine for Table {
        type R = u8;
        fn steps(&self, pc: u64) -> Option<(Vec<Step<u8>>, u64)> {
            self.0.get(&pc).map(|s| (s.clone(), pc + 4))
        }
        fn sp(&self) -> u8 {
            31
        }
        fn ret(&self) -> u8 {
            0
        }
        fn args(&self) -> &'static [u8] {
            &[0, 1]
        }
        fn clobbered_by_call(&self, reg: u8) -> bool {
            reg < 8
        }
    }

    /// Import 0 returns what `answer` says; import 1 never returns; import 2 is calloc.
    struct Known(Option<u64>);

    impl Imports for Known {
        fn returns(&mut self, import: u32) -> Option<u64> {
            if import == 0 { self.0 } else { None }
        }
        fn writes_through_args(&self, _: u32) -> bool {
            true
        }
        fn never_returns(&self, import: u32) -> bool {
            import == 1
        }
        fn allocates(&self, import: u32) -> Option<bool> {
            (import == 2).then_some(true)
        }
    }

    const DATA: u64 = 0x1000;

    /// 16 writable bytes at `DATA` holding `{4, 0}` as a slot would.
    fn binary(bytes: &[u8]) -> Binary<'_> {
        let seg = Segment {
            name: ".data".into(),
            vaddr: DATA,
            vsize: bytes.len() as u64,
            offset: 0,
            filesize: bytes.len() as u64,
            exec: false,
            write: true,
        };
        Binary::bare(Arch::Aarch64, bytes, vec![seg])
    }

    fn store(value: u64, at: u64) -> Step<u8> {
        Step::Store {
            src: Src::Imm(value),
            base: Src::Imm(at),
            disp: 0,
            size: 8,
        }
    }

    fn run_table(
        table: Vec<(u64, Vec<Step<u8>>)>,
        answer: Option<u64>,
        follow: bool,
    ) -> Vec<PathEnd> {
        let bytes = [4u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let bin = binary(&bytes);
        let watch = Watch {
            lo: DATA,
            hi: DATA + 16,
            follow,
        };
        run(
            &Table(table.into_iter().collect()),
            &bin,
            0,
            &watch,
            &mut Known(answer),
        )
    }

    /// `if (f()) slot.value = 1; return;`
    fn conditional_store() -> Vec<(u64, Vec<Step<u8>>)> {
        vec![
            (0, vec![Step::Call(Callee::Import(0))]),
            (
                4,
                vec![Step::BranchZero {
                    reg: 0,
                    size: 4,
                    zero: true,
                    target: 12,
                }],
            ),
            (8, vec![store(1, DATA + 8)]),
            (12, vec![Step::Leave(None)]),
        ]
    }

    #[test]
    fn a_branch_on_an_unknown_call_forks_and_each_path_names_its_condition() {
        let paths = run_table(conditional_store(), None, false);
        assert_eq!(paths.len(), 2);
        let stored: Vec<(bool, usize)> = paths
            .iter()
            .map(|p| (p.taken[0].nonzero, p.stores.len()))
            .collect();
        assert!(
            stored.contains(&(true, 1)) && stored.contains(&(false, 0)),
            "{stored:?}"
        );
        assert!(paths.iter().all(|p| p.opaque.is_none()));
    }

    #[test]
    fn a_known_answer_decides_the_branch() {
        for (answer, stores) in [(1, 1), (0, 0)] {
            let paths = run_table(conditional_store(), Some(answer), false);
            assert_eq!(paths.len(), 1);
            assert_eq!(paths[0].stores.len(), stores);
            assert!(paths[0].taken.is_empty());
        }
    }

    #[test]
    fn a_loop_over_static_data_runs_as_it_would() {
        // r1 = DATA; loop: r2 = [r1] (4 bytes); if r2 == 4 store 1 at [r1+8]; else r1 += 16.
        let table = vec![
            (
                0,
                vec![Step::Set {
                    dst: 1,
                    src: Src::Imm(DATA),
                    add: 0,
                    mask: u64::MAX,
                }],
            ),
            (
                4,
                vec![Step::Load {
                    dst: 2,
                    base: Src::Reg(1),
                    disp: 0,
                    size: 4,
                }],
            ),
            (
                8,
                vec![Step::Compare {
                    a: Src::Reg(2),
                    b: Src::Imm(4),
                    and: false,
                    size: 4,
                }],
            ),
            (
                12,
                vec![Step::Branch {
                    cond: Cond::Eq,
                    target: 20,
                }],
            ),
            (
                16,
                vec![
                    Step::Set {
                        dst: 1,
                        src: Src::Reg(1),
                        add: 16,
                        mask: u64::MAX,
                    },
                    Step::Jump(4),
                ],
            ),
            (
                20,
                vec![Step::Store {
                    src: Src::Imm(1),
                    base: Src::Reg(1),
                    disp: 8,
                    size: 8,
                }],
            ),
            (24, vec![Step::Leave(None)]),
        ];
        let paths = run_table(table, None, false);
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].stores[0].addr, DATA + 8);
        assert_eq!(paths[0].stores[0].value, 1);
    }

    #[test]
    fn a_call_that_never_returns_ends_the_path_followed() {
        let table = vec![
            (0, vec![Step::Call(Callee::Import(1))]),
            (4, vec![store(1, DATA + 8)]),
        ];
        let paths = run_table(table, None, false);
        assert_eq!(paths.len(), 1);
        assert!(paths[0].opaque.is_none() && paths[0].stores.is_empty());
    }

    #[test]
    fn a_callee_that_cannot_be_followed_is_skipped_and_said() {
        // The callee at 100 jumps through a register; the caller goes on after the call.
        let table = vec![
            (0, vec![Step::Call(Callee::Local(100))]),
            (4, vec![store(1, DATA + 8), Step::Leave(None)]),
            (100, vec![Step::Opaque("jumps through a register")]),
        ];
        let paths = run_table(table.clone(), None, true);
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].skipped, vec![100]);
        assert_eq!(paths[0].stores.len(), 1);
        // Without following calls, the same call makes the path opaque.
        let paths = run_table(table, None, false);
        assert!(paths[0].opaque.is_some());
    }

    #[test]
    fn allocated_zeroed_memory_reads_as_zero_and_stores_are_kept() {
        let table = vec![
            (0, vec![Step::Call(Callee::Import(2))]),
            (
                4,
                vec![Step::Store {
                    src: Src::Imm(7),
                    base: Src::Reg(0),
                    disp: 8,
                    size: 8,
                }],
            ),
            (8, vec![Step::Leave(None)]),
        ];
        let paths = run_table(table, None, true);
        let bin_bytes = [0u8; 16];
        let bin = binary(&bin_bytes);
        assert_eq!(paths[0].read(&bin, Space::WIDE.heap, 8), Some(0));
        assert_eq!(paths[0].read(&bin, Space::WIDE.heap + 8, 8), Some(7));
        assert_eq!(
            paths[0].read(&bin, Space::WIDE.heap + 4, 8),
            None,
            "overlaps the store"
        );
    }

    #[test]
    fn an_endless_loop_stops_at_the_budget() {
        let table = vec![(0, vec![Step::Jump(0)])];
        let paths = run_table(table, None, true);
        assert_eq!(
            paths[0].opaque.as_deref(),
            Some("the instruction budget ran out")
        );
    }
}
