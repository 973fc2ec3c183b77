//! AArch64 code reading (ELF, Mach-O and PE): stubs, call sites, call arguments and constant
//! stores. Instructions are fixed-width, so a small decoder of the few forms that matter
//! (adrp, add, ldr, str/stp, mov forms, branches) reads windows in either direction.

use std::collections::HashMap;

use super::emulate::{Callee, Cond, Machine, Src, Step};
use super::{ArgValue, Code, FuncRefs, Store, code_at};
use crate::inspect::model::{Binary, Pointer};

/// The instruction forms the readers act on; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insn {
    Adrp {
        rd: u8,
        page: u64,
    },
    Adr {
        rd: u8,
        addr: u64,
    },
    AddImm {
        rd: u8,
        rn: u8,
        imm: u64,
        wide: bool,
    },
    /// `ldr Rt, [Rn, #imm]` (unsigned offset), `size` 4 or 8.
    LdrImm {
        rt: u8,
        rn: u8,
        off: u64,
        size: u8,
    },
    /// `str`/`stur` of one register, `size` 4 or 8 (register 31 is the zero register).
    Str {
        rt: u8,
        rn: u8,
        off: i64,
        size: u8,
    },
    /// `stp` with a signed offset.
    Stp {
        rt: u8,
        rt2: u8,
        rn: u8,
        off: i64,
        size: u8,
    },
    /// `movz`/`movn`: the whole register becomes `value`.
    MovImm {
        rd: u8,
        value: u64,
        wide: bool,
    },
    /// `movk`: 16 bits at `shift` replaced.
    MovK {
        rd: u8,
        imm: u64,
        shift: u32,
    },
    /// `mov Rd, Rm` (orr with the zero register).
    MovReg {
        rd: u8,
        rm: u8,
    },
    Bl {
        target: u64,
    },
    B {
        target: u64,
    },
    /// br/blr/ret and the authenticated forms: control leaves through a register.
    Indirect {
        link: bool,
        rn: u8,
    },
    CondBranch {
        target: u64,
    },
    Other(u32),
}

fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn decode(w: u32, pc: u64) -> Insn {
    let rd = (w & 31) as u8;
    let rn = ((w >> 5) & 31) as u8;
    if w & 0x9f00_0000 == 0x9000_0000 || w & 0x9f00_0000 == 0x1000_0000 {
        let imm = u64::from((w >> 29) & 3) | (u64::from((w >> 5) & 0x7_ffff) << 2);
        let imm = sext(imm, 21);
        return if w & 0x8000_0000 != 0 {
            Insn::Adrp {
                rd,
                page: (pc & !0xfff).wrapping_add_signed(imm << 12),
            }
        } else {
            Insn::Adr {
                rd,
                addr: pc.wrapping_add_signed(imm),
            }
        };
    }
    if w & 0x7f80_0000 == 0x1100_0000 {
        let mut imm = u64::from((w >> 10) & 0xfff);
        if w & (1 << 22) != 0 {
            imm <<= 12;
        }
        return Insn::AddImm {
            rd,
            rn,
            imm,
            wide: w & 0x8000_0000 != 0,
        };
    }
    match w & 0xffc0_0000 {
        0xf940_0000 => {
            return Insn::LdrImm {
                rt: rd,
                rn,
                off: u64::from((w >> 10) & 0xfff) * 8,
                size: 8,
            };
        }
        0xb940_0000 => {
            return Insn::LdrImm {
                rt: rd,
                rn,
                off: u64::from((w >> 10) & 0xfff) * 4,
                size: 4,
            };
        }
        0xf900_0000 => {
            return Insn::Str {
                rt: rd,
                rn,
                off: i64::from((w >> 10) & 0xfff) * 8,
                size: 8,
            };
        }
        0xb900_0000 => {
            return Insn::Str {
                rt: rd,
                rn,
                off: i64::from((w >> 10) & 0xfff) * 4,
                size: 4,
            };
        }
        0xa900_0000 | 0x2900_0000 => {
            let size = if w & 0x8000_0000 != 0 { 8 } else { 4 };
            let off = sext(u64::from((w >> 15) & 0x7f), 7) * size as i64;
            return Insn::Stp {
                rt: rd,
                rt2: ((w >> 10) & 31) as u8,
                rn,
                off,
                size,
            };
        }
        _ => {}
    }
    match w & 0xffe0_0c00 {
        0xf800_0000 => {
            return Insn::Str {
                rt: rd,
                rn,
                off: sext(u64::from((w >> 12) & 0x1ff), 9),
                size: 8,
            };
        }
        0xb800_0000 => {
            return Insn::Str {
                rt: rd,
                rn,
                off: sext(u64::from((w >> 12) & 0x1ff), 9),
                size: 4,
            };
        }
        _ => {}
    }
    let wide = w & 0x8000_0000 != 0;
    let imm16 = u64::from((w >> 5) & 0xffff);
    let shift = ((w >> 21) & 3) * 16;
    match w & 0x7f80_0000 {
        0x5280_0000 => {
            return Insn::MovImm {
                rd,
                value: imm16 << shift,
                wide,
            };
        }
        0x1280_0000 => {
            let v = !(imm16 << shift);
            return Insn::MovImm {
                rd,
                value: if wide { v } else { v & 0xffff_ffff },
                wide,
            };
        }
        0x7280_0000 => {
            return Insn::MovK {
                rd,
                imm: imm16,
                shift,
            };
        }
        _ => {}
    }
    if w & 0x7fe0_ffe0 == 0x2a00_03e0 {
        return Insn::MovReg {
            rd,
            rm: ((w >> 16) & 31) as u8,
        };
    }
    let imm26 = sext(u64::from(w & 0x03ff_ffff), 26) * 4;
    match w & 0xfc00_0000 {
        0x9400_0000 => {
            return Insn::Bl {
                target: pc.wrapping_add_signed(imm26),
            };
        }
        0x1400_0000 => {
            return Insn::B {
                target: pc.wrapping_add_signed(imm26),
            };
        }
        _ => {}
    }
    // br, blr, ret and their pointer-authenticated variants (braa, blraa, retaa, ...).
    if w & 0xfe1f_0000 == 0xd61f_0000 {
        let link = (w >> 21) & 3 == 1;
        return Insn::Indirect { link, rn };
    }
    if w & 0xff00_0010 == 0x5400_0000 || w & 0x7e00_0000 == 0x3400_0000 {
        let imm19 = sext(u64::from((w >> 5) & 0x7_ffff), 19) * 4;
        return Insn::CondBranch {
            target: pc.wrapping_add_signed(imm19),
        };
    }
    if w & 0x7e00_0000 == 0x3600_0000 {
        let imm14 = sext(u64::from((w >> 5) & 0x3fff), 14) * 4;
        return Insn::CondBranch {
            target: pc.wrapping_add_signed(imm14),
        };
    }
    Insn::Other(w)
}

/// Whether an instruction not decoded above may write general register `r`.
fn may_write(w: u32, r: u8) -> bool {
    let op0 = (w >> 25) & 0xf;
    let rd = (w & 31) as u8;
    match op0 {
        0b1000 | 0b1001 => rd == r, // data processing, immediate
        0b0101 | 0b1101 => rd == r, // data processing, register
        0b0100 | 0b0110 | 0b1100 | 0b1110 => {
            // loads and stores: a load writes Rt (and Rt2 for pairs); SIMD loads write V regs
            let simd = w & (1 << 26) != 0;
            let load = w & (1 << 22) != 0;
            let pair = (w >> 27) & 7 == 0b101;
            !simd && load && (rd == r || (pair && ((w >> 10) & 31) as u8 == r))
        }
        _ => false,
    }
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn word_at(bin: &Binary, addr: u64) -> Option<u32> {
    let b = code_at(bin, addr)?;
    words(b.get(..4)?).next()
}

/// `adrp xN, page; ldr xT, [xN, #off]; (add ...;) br xT` whose slot holds an import: ELF PLT
/// entries, Mach-O `__stubs`, PE thunks. A `bti c` just before belongs to the stub.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    for (start, bytes) in bin.code() {
        let ws: Vec<u32> = words(bytes).collect();
        for k in 0..ws.len().saturating_sub(2) {
            let pc = start + 4 * k as u64;
            let Insn::Adrp { rd, page } = decode(ws[k], pc) else {
                continue;
            };
            let Insn::LdrImm {
                rt,
                rn,
                off,
                size: 8,
            } = decode(ws[k + 1], pc + 4)
            else {
                continue;
            };
            if rn != rd {
                continue;
            }
            let Some(Pointer::Import(imp)) = bin.pointers.get(page.wrapping_add(off)) else {
                continue;
            };
            let branches = ws[k + 2..ws.len().min(k + 4)]
                .iter()
                .any(|&w| matches!(decode(w, 0), Insn::Indirect { link: false, rn } if rn == rt));
            if !branches {
                continue;
            }
            stubs.entry(pc).or_insert(imp);
            if k > 0 && ws[k - 1] & 0xffff_ff3f == 0xd503_241f {
                stubs.entry(pc - 4).or_insert(imp); // bti
            }
        }
    }
}

/// What the first `max` instructions at `func` reference.
pub(super) fn refs(code: &Code, func: u64, max: usize) -> FuncRefs {
    let mut out = FuncRefs::default();
    let Some(bytes) = code_at(code.bin, func) else {
        return out;
    };
    let mut pages: [Option<u64>; 32] = [None; 32];
    for (k, w) in words(bytes).take(max).enumerate() {
        let pc = func + 4 * k as u64;
        match decode(w, pc) {
            Insn::Adrp { rd, page } => pages[rd as usize] = Some(page),
            Insn::Adr { rd, addr } => {
                out.data.push(addr);
                pages[rd as usize] = None;
            }
            Insn::AddImm {
                rd,
                rn,
                imm,
                wide: true,
            } => {
                if let Some(p) = pages[rn as usize] {
                    out.data.push(p.wrapping_add(imm));
                }
                pages[rd as usize] = None;
            }
            Insn::LdrImm {
                rt,
                rn,
                off,
                size: 8,
            } => {
                if let Some(p) = pages[rn as usize] {
                    match code.bin.pointers.get(p.wrapping_add(off)) {
                        Some(Pointer::Addr(a)) => out.data.push(a),
                        Some(Pointer::Import(i)) => out.imports.push(i),
                        None => {}
                    }
                }
                pages[rt as usize] = None;
            }
            Insn::Bl { target } => match code.stub_import(target) {
                Some(i) => out.imports.push(i),
                None => {
                    out.local_calls.push(target);
                    out.call_sites.push(pc);
                }
            },
            Insn::B { target } => {
                match code.stub_import(target) {
                    Some(i) => {
                        out.imports.push(i);
                        out.tail_import = Some(i);
                    }
                    None => out.local_calls.push(target),
                }
                break;
            }
            Insn::Indirect { link: false, .. } => break,
            _ => {}
        }
    }
    out
}

/// `bl`/`b` to a stub of one of `imports`.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for (start, bytes) in code.bin.code() {
        let ws: Vec<u32> = words(bytes).collect();
        for (k, &w) in ws.iter().enumerate() {
            let pc = start + 4 * k as u64;
            if let Insn::Indirect { rn, link: true } = decode(w, pc) {
                // `adrp xN, page; ldr xT, [xN, #off]; blr xT` straight through the pointer
                // slot (PE on arm64 calls the IAT this way).
                if let Some(imp) =
                    slot_call(code, &ws, start, k, rn).filter(|i| imports.contains(i))
                {
                    out.push((pc, imp));
                }
                continue;
            }
            if w & 0x7c00_0000 != 0x1400_0000 {
                continue; // neither b nor bl
            }
            let (Insn::Bl { target } | Insn::B { target }) = decode(w, pc) else {
                continue;
            };
            if let Some(imp) = code.stub_import(target).filter(|i| imports.contains(i)) {
                out.push((pc, imp));
            }
        }
    }
    out
}

/// The import whose pointer slot register `rn` was loaded from just before word `k`.
fn slot_call(code: &Code, ws: &[u32], start: u64, k: usize, rn: u8) -> Option<u32> {
    for back in 1..=4usize {
        let j = k.checked_sub(back)?;
        let pc = start + 4 * j as u64;
        let Insn::LdrImm {
            rt,
            rn: base,
            off,
            size: 8,
        } = decode(ws[j], pc)
        else {
            continue;
        };
        if rt != rn {
            continue;
        }
        for back2 in 1..=4usize {
            let i = j.checked_sub(back2)?;
            if let Insn::Adrp { rd, page } = decode(ws[i], start + 4 * i as u64)
                && rd == base
            {
                return code.slot_import(page.wrapping_add(off));
            }
        }
        return None;
    }
    None
}

/// Walk back from the call at `site` to the instruction that set `x<n>`.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    let mut want = n as u8;
    for k in 1..=32u64 {
        let Some(pc) = site.checked_sub(4 * k) else {
            break;
        };
        let Some(w) = word_at(code.bin, pc) else {
            break;
        };
        let insn = decode(w, pc);
        match insn {
            Insn::Bl { .. } | Insn::Indirect { .. } | Insn::B { .. } => break,
            Insn::MovImm { rd, value, .. } if rd == want => return ArgValue::Const(value),
            Insn::MovReg { rd, rm } if rd == want => {
                if rm == 31 {
                    return ArgValue::Const(0);
                }
                want = rm;
            }
            Insn::MovK { rd, .. } if rd == want => {
                return ArgValue::Unknown(format!("argument built piecewise at {pc:#x}"));
            }
            Insn::Adrp { rd, .. } | Insn::Adr { rd, .. } | Insn::AddImm { rd, .. }
                if rd == want =>
            {
                return ArgValue::Unknown(format!("argument is an address computed at {pc:#x}"));
            }
            Insn::LdrImm { rt, .. } if rt == want => {
                return ArgValue::Unknown(format!("argument loaded from memory at {pc:#x}"));
            }
            Insn::Other(w) if may_write(w, want) => {
                return ArgValue::Unknown(format!(
                    "argument set at run time by instruction {w:#010x} at {pc:#x}"
                ));
            }
            _ => {}
        }
    }
    ArgValue::Unknown(format!(
        "argument not set in the code just before the call at {site:#x}"
    ))
}

/// The address `x<n>` holds at the call at `site`, when the straight-line code just before
/// sets it with `adr`, or `adrp` and `add`.
pub(super) fn addr_arg_at_call(code: &Code, site: u64, n: usize) -> Option<u64> {
    let mut want = u8::try_from(n).ok().filter(|&n| n < 8)?;
    let mut add: Option<u64> = None;
    for k in 1..=32u64 {
        let pc = site.checked_sub(4 * k)?;
        let insn = decode(word_at(code.bin, pc)?, pc);
        match insn {
            Insn::Bl { .. } | Insn::Indirect { .. } | Insn::B { .. } => return None,
            Insn::Adrp { rd, page } if rd == want => return Some(page.wrapping_add(add?)),
            Insn::Adr { rd, addr } if rd == want && add.is_none() => return Some(addr),
            Insn::AddImm {
                rd,
                rn,
                imm,
                wide: true,
            } if rd == want && add.is_none() => {
                add = Some(imm);
                want = rn;
            }
            Insn::MovReg { rd, rm } if rd == want && add.is_none() => want = rm,
            Insn::Other(w) if may_write(w, want) => return None,
            Insn::AddImm { rd, .. }
            | Insn::Adrp { rd, .. }
            | Insn::Adr { rd, .. }
            | Insn::MovImm { rd, .. }
            | Insn::MovK { rd, .. }
            | Insn::MovReg { rd, .. }
                if rd == want =>
            {
                return None;
            }
            Insn::LdrImm { rt, .. } if rt == want => return None,
            _ => {}
        }
    }
    None
}

/// Known register contents while reading forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Addr(u64),
    Const(u64),
}

/// Constant stores into `[lo, hi)`: from every `adrp` of a page the range touches, follow the
/// code forward (both ways at conditional branches, a bounded number of instructions) tracking
/// registers, and record stores whose address lands inside.
///
/// Empty when more than [`MAX_FOLLOWS`] `adrp`s aim at those pages: each one costs a
/// search, and a text made of nothing else would take minutes; no constant stores are
/// then reported, so the slot reader answers "unknown" rather than decide on part of them.
pub(super) fn stores_into(code: &Code, lo: u64, hi: u64) -> Vec<Store> {
    let (first_page, last_page) = (lo & !0xfff, hi.saturating_sub(1) & !0xfff);
    let texts: Vec<(u64, Vec<u32>)> = code
        .bin
        .code()
        .map(|(start, bytes)| (start, words(bytes).collect()))
        .collect();
    let starts = || {
        texts.iter().flat_map(move |(start, ws)| {
            ws.iter().enumerate().filter_map(move |(k, &w)| {
                let pc = start + 4 * k as u64;
                matches!(decode(w, pc), Insn::Adrp { page, .. }
                    if page >= first_page && page <= last_page)
                .then_some((*start, ws.as_slice(), pc))
            })
        })
    };
    if starts().nth(MAX_FOLLOWS).is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (start, ws, pc) in starts() {
        follow_stores(ws, start, pc, lo, hi, &mut out);
    }
    out
}

type Regs = [Option<Val>; 32];

/// Instructions one search may read, over all paths.
const FOLLOW_BUDGET: usize = 320;

/// Most searches one [`stores_into`] starts (one per `adrp` of a page of the range). The
/// arm64 modules here need at most 2,843.
const MAX_FOLLOWS: usize = 16_384;

fn follow_stores(ws: &[u32], base: u64, from: u64, lo: u64, hi: u64, out: &mut Vec<Store>) {
    let mut seen = std::collections::HashSet::new();
    let mut work: Vec<(u64, Regs)> = vec![(from, [None; 32])];
    let mut budget = FOLLOW_BUDGET;
    while let Some((mut pc, mut regs)) = work.pop() {
        loop {
            if budget == 0 || !seen.insert(pc) {
                break;
            }
            budget -= 1;
            let Some(&w) = pc.checked_sub(base).and_then(|o| ws.get((o / 4) as usize)) else {
                break;
            };
            match step(&mut regs, decode(w, pc), pc, lo, hi, out) {
                Flow::Next => pc += 4,
                Flow::Fork(target) => {
                    work.push((target, regs));
                    pc += 4;
                }
                Flow::Jump(target) => pc = target,
                Flow::Stop => break,
            }
        }
    }
}

enum Flow {
    Next,
    Fork(u64),
    Jump(u64),
    Stop,
}

/// Apply one instruction to the tracked registers; record constant stores into `[lo, hi)`.
fn step(regs: &mut Regs, insn: Insn, pc: u64, lo: u64, hi: u64, out: &mut Vec<Store>) -> Flow {
    let constant = |regs: &Regs, r: u8| -> Option<u64> {
        if r == 31 {
            return Some(0); // the zero register, in a store's data position
        }
        match regs[r as usize] {
            Some(Val::Const(c) | Val::Addr(c)) => Some(c),
            None => None,
        }
    };
    let mut store = |regs: &Regs, rt: u8, rn: u8, off: i64, size: u8| {
        if rn == 31 {
            return; // sp-relative
        }
        let (Some(Val::Addr(base)), Some(value)) = (regs[rn as usize], constant(regs, rt)) else {
            return;
        };
        let addr = base.wrapping_add_signed(off);
        if addr >= lo && addr < hi {
            let value = if size == 4 {
                value & 0xffff_ffff
            } else {
                value
            };
            out.push(Store {
                addr,
                size,
                value,
                at: pc,
            });
        }
    };
    match insn {
        Insn::Adrp { rd, page } => regs[rd as usize] = Some(Val::Addr(page)),
        Insn::Adr { rd, addr } => regs[rd as usize] = Some(Val::Addr(addr)),
        Insn::AddImm { rd, rn, imm, .. } => {
            let v = match regs[rn as usize] {
                Some(Val::Addr(a)) if rn != 31 => Some(Val::Addr(a.wrapping_add(imm))),
                _ => None,
            };
            if rd != 31 {
                regs[rd as usize] = v;
            }
        }
        Insn::MovImm { rd, value, .. } if rd != 31 => regs[rd as usize] = Some(Val::Const(value)),
        Insn::MovK { rd, imm, shift } if rd != 31 => {
            regs[rd as usize] = match regs[rd as usize] {
                Some(Val::Const(c)) => Some(Val::Const((c & !(0xffff << shift)) | (imm << shift))),
                _ => None,
            }
        }
        Insn::MovReg { rd, rm } if rd != 31 => {
            regs[rd as usize] = if rm == 31 {
                Some(Val::Const(0))
            } else {
                regs[rm as usize]
            }
        }
        Insn::Str { rt, rn, off, size } => store(regs, rt, rn, off, size),
        Insn::Stp {
            rt,
            rt2,
            rn,
            off,
            size,
        } => {
            store(regs, rt, rn, off, size);
            store(regs, rt2, rn, off + i64::from(size), size);
        }
        Insn::LdrImm { rt, .. } if rt != 31 => regs[rt as usize] = None,
        Insn::Bl { .. } | Insn::Indirect { link: true, .. } => {
            for r in regs.iter_mut().take(19) {
                *r = None; // caller-saved registers
            }
        }
        Insn::B { target } => return Flow::Jump(target),
        Insn::Indirect { link: false, .. } => return Flow::Stop,
        Insn::CondBranch { target } => return Flow::Fork(target),
        Insn::Other(w) => {
            for r in 0..31u8 {
                if may_write(w, r) {
                    regs[r as usize] = None;
                }
            }
        }
        _ => {}
    }
    Flow::Next
}

/// AArch64 as [`emulate`] sees it. Register 31 is the stack pointer as a base or in
/// `add`/`sub` immediates, the zero register elsewhere.
pub(super) struct A64Machine<'c, 'b, 'a> {
    pub code: &'c Code<'b, 'a>,
}

const A64_ARGS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

impl A64Machine<'_, '_, '_> {
    fn translate(&self, w: u32, pc: u64) -> Vec<Step<u8>> {
        use Step::*;
        let rd = (w & 31) as u8;
        let rn = ((w >> 5) & 31) as u8;
        let rt2 = ((w >> 10) & 31) as u8;
        let sf = w & 0x8000_0000 != 0;
        let mask = if sf { u64::MAX } else { 0xffff_ffff };
        // A data register: 31 reads as zero.
        let data = |r: u8| if r == 31 { Src::Imm(0) } else { Src::Reg(r) };
        let set = |dst: u8, src: Src<u8>, add: u64, mask: u64| -> Vec<Step<u8>> {
            if dst == 31 {
                vec![]
            } else {
                vec![Set {
                    dst,
                    src,
                    add,
                    mask,
                }]
            }
        };
        // Hints: nop, bti, pac*/aut* on x30 with sp (the return address is not followed).
        if w & 0xffff_f01f == 0xd503_201f {
            return vec![];
        }
        // add/sub (immediate), with or without flags.
        if (w >> 23) & 0x3f == 0b10_0010 {
            let mut imm = u64::from((w >> 10) & 0xfff);
            if w & (1 << 22) != 0 {
                imm <<= 12;
            }
            let sub = w & (1 << 30) != 0;
            let flags = w & (1 << 29) != 0;
            let add = if sub { imm.wrapping_neg() } else { imm };
            let mut steps = Vec::new();
            if flags {
                if !sub {
                    return vec![Clobber(rd), ClobberFlags];
                }
                steps.push(Compare {
                    a: data(rn),
                    b: Src::Imm(imm),
                    and: false,
                    size: if sf { 8 } else { 4 },
                });
                steps.extend(set(rd, data(rn), add, mask));
            } else {
                // Without flags, 31 is the stack pointer on both sides.
                steps.push(Set {
                    dst: rd,
                    src: Src::Reg(rn),
                    add,
                    mask,
                });
            }
            return steps;
        }
        // subs/ands (shifted register, no shift): cmp and tst of two registers.
        if w & 0x7f20_fc00 == 0x6b00_0000 || w & 0x7f20_fc00 == 0x6a00_0000 {
            let rm = ((w >> 16) & 31) as u8;
            let and = w & 0x7f20_0000 == 0x6a00_0000;
            let mut steps = vec![Compare {
                a: data(rn),
                b: data(rm),
                and,
                size: if sf { 8 } else { 4 },
            }];
            if rd != 31 {
                steps.push(Clobber(rd));
            }
            return steps;
        }
        // cbz/cbnz
        if (w >> 25) & 0x3f == 0b01_1010 {
            let target = pc.wrapping_add_signed(sext(u64::from((w >> 5) & 0x7_ffff), 19) << 2);
            return vec![BranchZero {
                reg: rd,
                size: if sf { 8 } else { 4 },
                zero: w & (1 << 24) == 0,
                target,
            }];
        }
        // tbz/tbnz
        if (w >> 25) & 0x3f == 0b01_1011 {
            let bit = (((w >> 31) & 1) << 5 | (w >> 19) & 31) as u8;
            let target = pc.wrapping_add_signed(sext(u64::from((w >> 5) & 0x3fff), 14) << 2);
            return vec![BranchBit {
                reg: rd,
                bit,
                set: w & (1 << 24) != 0,
                target,
            }];
        }
        // ldarb/ldarh/ldar, ldaprb/ldapr: acquire loads, as plain loads (one thread runs the hook).
        if w & 0x3fff_fc00 == 0x08df_fc00 || w & 0x3fff_fc00 == 0x38bf_c000 {
            let size = 1u8 << (w >> 30);
            return if rd == 31 {
                vec![]
            } else {
                vec![Load {
                    dst: rd,
                    base: Src::Reg(rn),
                    disp: 0,
                    size,
                }]
            };
        }
        // stlrb/stlrh/stlr: release stores, as plain stores.
        if w & 0x3fff_fc00 == 0x089f_fc00 {
            let size = 1u8 << (w >> 30);
            return vec![Store {
                src: data(rd),
                base: Src::Reg(rn),
                disp: 0,
                size,
            }];
        }
        // b.cond
        if w & 0xff00_0010 == 0x5400_0000 {
            let target = pc.wrapping_add_signed(sext(u64::from((w >> 5) & 0x7_ffff), 19) << 2);
            let cond = match w & 0xf {
                0x0 => Cond::Eq,
                0x1 => Cond::Ne,
                0x2 => Cond::AboveEq,
                0x3 => Cond::Below,
                0x8 => Cond::Above,
                0x9 => Cond::BelowEq,
                0xa => Cond::GreaterEq,
                0xb => Cond::Less,
                0xc => Cond::Greater,
                0xd => Cond::LessEq,
                0xe => return vec![Jump(target)],
                _ => return vec![Opaque("branches on flags not followed")],
            };
            return vec![Branch { cond, target }];
        }
        // movi vD.2d, #0 / movi dD, #0: a vector register known to be zero (register 32 + n).
        if w & 0xbfff_ffe0 == 0x2f00_e400 {
            return vec![Set {
                dst: 32 + rd,
                src: Src::Imm(0),
                add: 0,
                mask: u64::MAX,
            }];
        }
        // ldr/str (immediate) of a vector register.
        if (w & 0x3b00_0000 == 0x3900_0000 || w & 0x3b20_0000 == 0x3800_0000) && w & (1 << 26) != 0
        {
            let opc = (w >> 22) & 3;
            let size_log = if opc & 2 != 0 && w >> 30 == 0 {
                4
            } else {
                (w >> 30) as u8
            };
            let bytes = 1u64 << size_log;
            let (disp, writeback, post) = match ldst_offset(w, size_log) {
                Ok(o) => o,
                Err(what) => return vec![Opaque(what)],
            };
            let at = if post { 0 } else { disp };
            let mut steps = if opc & 1 == 1 {
                vec![Clobber(32 + rd)]
            } else {
                vector_store(32 + rd, rn, at, bytes)
            };
            if writeback {
                steps.push(base_update(rn, disp));
            }
            return steps;
        }
        // stp/ldp of vector registers.
        if w & 0x3a00_0000 == 0x2800_0000 && w & 0x0400_0000 != 0 {
            let bytes: u64 = match w >> 30 {
                0 => 4,
                1 => 8,
                2 => 16,
                _ => return vec![Opaque("a reserved pair form")],
            };
            let disp = sext(u64::from((w >> 15) & 0x7f), 7) * bytes as i64;
            let load = w & (1 << 22) != 0;
            let (writeback, post) = match (w >> 23) & 3 {
                0b01 => (true, true),
                0b11 => (true, false),
                _ => (false, false),
            };
            let at = if post { 0 } else { disp };
            let mut steps = Vec::new();
            for (k, r) in [rd, rt2].into_iter().enumerate() {
                if load {
                    steps.push(Clobber(32 + r));
                } else {
                    steps.extend(vector_store(
                        32 + r,
                        rn,
                        at + k as i64 * bytes as i64,
                        bytes,
                    ));
                }
            }
            if writeback {
                steps.push(base_update(rn, disp));
            }
            return steps;
        }
        // ldr/str (immediate) of a general register: unsigned offset, unscaled, pre/post index.
        if w & 0x3b00_0000 == 0x3900_0000 || w & 0x3b20_0000 == 0x3800_0000 {
            let size_log = (w >> 30) as u8;
            let size = 1u8 << size_log;
            let opc = (w >> 22) & 3;
            let (disp, writeback, post) = match ldst_offset(w, size_log) {
                Ok(o) => o,
                Err(what) => return vec![Opaque(what)],
            };
            let base = Src::Reg(rn);
            let mut steps = Vec::new();
            let at = if post { 0 } else { disp };
            match opc {
                0 => steps.push(Store {
                    src: data(rd),
                    base,
                    disp: at,
                    size,
                }),
                1 if rd != 31 => steps.push(Load {
                    dst: rd,
                    base,
                    disp: at,
                    size,
                }),
                _ => steps.push(Clobber(rd)),
            }
            if writeback {
                steps.push(base_update(rn, disp));
            }
            return steps;
        }
        // stp/ldp of general registers: signed offset, pre/post index.
        if w & 0x3a00_0000 == 0x2800_0000 && w & 0x0400_0000 == 0 {
            let size: u8 = if w & 0x8000_0000 != 0 { 8 } else { 4 };
            if w & 0x4000_0000 != 0 {
                return vec![Opaque("a signed pair load")];
            }
            let disp = sext(u64::from((w >> 15) & 0x7f), 7) * i64::from(size);
            let mode = (w >> 23) & 3;
            let load = w & (1 << 22) != 0;
            let (writeback, post) = match mode {
                0b01 => (true, true),
                0b11 => (true, false),
                _ => (false, false),
            };
            let at = if post { 0 } else { disp };
            let base = Src::Reg(rn);
            let mut steps = Vec::new();
            for (k, r) in [rd, rt2].into_iter().enumerate() {
                let disp = at + k as i64 * i64::from(size);
                if load {
                    if r != 31 {
                        steps.push(Load {
                            dst: r,
                            base,
                            disp,
                            size,
                        });
                    }
                } else {
                    steps.push(Store {
                        src: data(r),
                        base,
                        disp,
                        size,
                    });
                }
            }
            if writeback {
                steps.push(base_update(rn, disp));
            }
            return steps;
        }
        match decode(w, pc) {
            Insn::Adrp { rd, page } => set(rd, Src::Imm(page), 0, u64::MAX),
            Insn::Adr { rd, addr } => set(rd, Src::Imm(addr), 0, u64::MAX),
            Insn::MovImm { rd, value, wide } => set(
                rd,
                Src::Imm(value),
                0,
                if wide { u64::MAX } else { 0xffff_ffff },
            ),
            Insn::MovReg { rd, rm } => set(rd, data(rm), 0, mask),
            Insn::MovK { rd, .. } => vec![Clobber(rd)],
            Insn::Bl { target } => vec![Call(
                self.code
                    .stub_import(target)
                    .map_or(Callee::Local(target), Callee::Import),
            )],
            Insn::B { target } => match self.code.stub_import(target) {
                Some(i) => vec![Leave(Some(Callee::Import(i)))],
                None => vec![Jump(target)],
            },
            Insn::Indirect { link: true, .. } => vec![Call(Callee::Unknown)],
            // `ret` (x30) or the authenticated forms; any other `br` is a jump not followed.
            Insn::Indirect {
                link: false,
                rn: 30,
            } => vec![Leave(None)],
            Insn::Indirect { .. } => vec![Opaque("jumps through a register")],
            _ => {
                let op0 = (w >> 25) & 0xf;
                if op0 & 0b0101 == 0b0100 {
                    // Another load or store: a store (bit 22 clear in most forms) that is not
                    // to the stack is not followed; a load writes registers not followed.
                    if w & (1 << 22) == 0 && w & (1 << 26) == 0 && rn != 31 {
                        return vec![Opaque("writes memory in a way not followed")];
                    }
                    let mut steps = vec![Clobber(rd), Clobber(rt2)];
                    if rn != 31 {
                        steps.push(Clobber(rn));
                    }
                    steps
                } else if op0 & 0b1110 == 0b1010 {
                    // Branches, exceptions, system instructions not modelled above.
                    vec![Opaque("an instruction not followed")]
                } else if op0 & 0b0111 == 0b0111 {
                    // Vector and floating point: Vd (or a general Rd) and the flags change.
                    vec![Clobber(32 + rd), Clobber(rd), ClobberFlags]
                } else {
                    // Data processing: Rd changes, and the flags may.
                    vec![Clobber(rd), ClobberFlags]
                }
            }
        }
    }
}

/// The base register update of a pre- or post-indexed access.
fn base_update(rn: u8, disp: i64) -> Step<u8> {
    Step::Set {
        dst: rn,
        src: Src::Reg(rn),
        add: disp as u64,
        mask: u64::MAX,
    }
}

/// The offset of a single-register load or store (immediate forms) of `1 << size_log` bytes,
/// and whether it writes the base back, after (`post`) or before the access.
fn ldst_offset(w: u32, size_log: u8) -> Result<(i64, bool, bool), &'static str> {
    if w & 0x0100_0000 != 0 {
        return Ok((i64::from((w >> 10) & 0xfff) << size_log, false, false));
    }
    let imm9 = sext(u64::from((w >> 12) & 0x1ff), 9);
    match (w >> 10) & 3 {
        0b00 => Ok((imm9, false, false)),
        0b01 => Ok((imm9, true, true)),
        0b11 => Ok((imm9, true, false)),
        _ => Err("unprivileged load or store"),
    }
}

/// The stores of `bytes` bytes of vector register `v` at `[rn + disp]`, 8 bytes at a time:
/// zero when the register is known to be zero, else unknown.
fn vector_store(v: u8, rn: u8, disp: i64, bytes: u64) -> Vec<Step<u8>> {
    (0..bytes.div_ceil(8))
        .map(|k| Step::Store {
            src: Src::Reg(v),
            base: Src::Reg(rn),
            disp: disp + 8 * k as i64,
            size: bytes.min(8) as u8,
        })
        .collect()
}

impl Machine for A64Machine<'_, '_, '_> {
    type R = u8;

    fn steps(&self, pc: u64) -> Option<(Vec<Step<u8>>, u64)> {
        let w = word_at(self.code.bin, pc)?;
        Some((self.translate(w, pc), pc.wrapping_add(4)))
    }

    fn sp(&self) -> u8 {
        31
    }

    fn ret(&self) -> u8 {
        0
    }

    fn args(&self) -> &'static [u8] {
        &A64_ARGS
    }

    fn clobbered_by_call(&self, reg: u8) -> bool {
        reg <= 18 || reg == 30 || reg >= 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text of `pairs` times `adrp x0, <own page>; str wzr, [x0]` at 0x10_0000.
    fn adrp_store_pairs(pairs: usize) -> Vec<u8> {
        [0x9000_0000u32, 0xb900_001f]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>()
            .repeat(pairs)
    }

    fn text(data: &[u8]) -> Binary<'_> {
        use crate::inspect::model::{Arch, Segment};

        Binary::bare(
            Arch::Aarch64,
            data,
            vec![Segment {
                name: ".text".into(),
                vaddr: 0x10_0000,
                vsize: data.len() as u64,
                offset: 0,
                filesize: data.len() as u64,
                exec: true,
                write: false,
            }],
        )
    }

    /// Resource check regression: a 4 MB text made only of `adrp x0, <the slot page>`
    /// started a 320-instruction search from each of its million instructions: 37 s in a
    /// release build. Past `MAX_FOLLOWS` candidate `adrp`s no search is started and no
    /// store reported; below it the stores are found as before.
    #[test]
    fn a_text_of_adrps_is_not_followed_from_each() {
        let data = adrp_store_pairs(4);
        let bin = text(&data);
        let stores = Code::new(&bin).stores_into(0x10_0000, 0x10_1000);
        assert_eq!(stores.len(), 4);
        assert!(stores.iter().all(|s| s.addr == 0x10_0000 && s.value == 0));

        let data = adrp_store_pairs(MAX_FOLLOWS + 1);
        let bin = text(&data);
        let end = 0x10_0000 + data.len() as u64;
        assert!(Code::new(&bin).stores_into(0x10_0000, end).is_empty());
    }

    #[test]
    fn decodes_the_forms_the_readers_use() {
        // adrp x0 with immhi = 8, immlo = 0: +0x20000 from the page of pc 0x4123
        assert_eq!(
            decode(0x9000_0000 | 8 << 5, 0x4123),
            Insn::Adrp {
                rd: 0,
                page: 0x24000
            }
        );
        assert_eq!(
            decode(0x5280_0021, 0),
            Insn::MovImm {
                rd: 1,
                value: 1,
                wide: false
            }
        ); // mov w1, #1
        assert_eq!(decode(0x2a1f_03e1, 0), Insn::MovReg { rd: 1, rm: 31 }); // mov w1, wzr
        assert_eq!(decode(0x9400_0010, 0x100), Insn::Bl { target: 0x140 });
        assert_eq!(
            decode(0xd61f_0220, 0),
            Insn::Indirect {
                link: false,
                rn: 17
            }
        ); // br x17
        assert_eq!(
            decode(0xd63f_0200, 0),
            Insn::Indirect { link: true, rn: 16 }
        ); // blr x16
        assert_eq!(
            decode(0xf940_0a11, 0),
            Insn::LdrImm {
                rt: 17,
                rn: 16,
                off: 16,
                size: 8
            }
        );
        assert_eq!(
            decode(0xb900_3001, 0),
            Insn::Str {
                rt: 1,
                rn: 0,
                off: 48,
                size: 4
            }
        );
        assert_eq!(
            decode(0x9100_4000, 0),
            Insn::AddImm {
                rd: 0,
                rn: 0,
                imm: 16,
                wide: true
            }
        );
    }
}

/// Whether the call at `site` only runs when a flag is set: a conditional branch skips it or
/// leads to its block, and what it tests is not the NULL check of a value a call just
/// returned. Returns what guards it.
pub(super) fn flag_guard(code: &Code, site: u64) -> Option<String> {
    let guard = |pc: u64| -> Option<String> {
        let w = word_at(code.bin, pc)?;
        let Insn::CondBranch { .. } = decode(w, pc) else {
            return None;
        };
        let tested = if w & 0x7e00_0000 == 0x3400_0000 {
            Some((w & 31) as u8) // cbz/cbnz
        } else if w & 0xff00_0010 == 0x5400_0000 {
            // b.cond after `cmp Rn, #imm` (subs with the zero register as destination)
            let prev = word_at(code.bin, pc.checked_sub(4)?)?;
            (prev & 0x7f80_001f == 0x7100_001f).then_some(((prev >> 5) & 31) as u8)
        } else {
            None // tbz/tbnz: a bit of a flag
        };
        if tested.is_some_and(|r| holds_call_result(code, pc, r)) {
            return None;
        }
        Some(format!("a conditional branch at {pc:#x}"))
    };
    // Walk back through the call's block.
    let mut pc = site;
    for _ in 0..16 {
        let prev = pc.checked_sub(4)?;
        let w = word_at(code.bin, prev)?;
        match decode(w, prev) {
            Insn::CondBranch { target } if target > site => return guard(prev),
            Insn::CondBranch { .. } => {}
            Insn::Bl { .. } | Insn::Indirect { link: true, .. } => return None,
            Insn::B { .. } | Insn::Indirect { link: false, .. } => {
                // The block starts at `pc` and is entered only by jumps: find them nearby.
                return branches_to(code, pc).into_iter().find_map(guard);
            }
            _ => {}
        }
        pc = prev;
    }
    None
}

/// Whether register `r` at `pc` holds (a copy of) what the last call before it returned.
fn holds_call_result(code: &Code, pc: u64, r: u8) -> bool {
    let mut regs = vec![r];
    let mut at = pc;
    for _ in 0..12 {
        let Some(prev) = at.checked_sub(4) else {
            return false;
        };
        let Some(w) = word_at(code.bin, prev) else {
            return false;
        };
        match decode(w, prev) {
            Insn::Bl { .. } | Insn::Indirect { link: true, .. } => return regs.contains(&0),
            Insn::MovReg { rd, rm } if regs.contains(&rd) => regs.push(rm),
            Insn::Other(w) if regs.iter().any(|&x| may_write(w, x)) => return false,
            Insn::MovImm { rd, .. } | Insn::LdrImm { rt: rd, .. } if regs.contains(&rd) => {
                return false;
            }
            _ => {}
        }
        at = prev;
    }
    false
}

/// Conditional branches within 8 KiB that target `addr`.
fn branches_to(code: &Code, addr: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let from = addr.saturating_sub(8192) & !3;
    for k in 0..4096u64 {
        let pc = from + 4 * k;
        let Some(w) = word_at(code.bin, pc) else {
            continue;
        };
        if let Insn::CondBranch { target } = decode(w, pc)
            && target == addr
        {
            out.push(pc);
        }
    }
    out
}

/// What a register holds while simulating the code before a `PyModuleDef_Init` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Const(u64),
    /// The pointer the n-th call in the window returned (a heap allocation).
    Heap(u32),
}

/// A module def built on the heap (nanobind 3): simulate the straight-line code before the
/// `PyModuleDef_Init(def)` call at `site`, find `def->m_slots = S` and the constant stores
/// into S. Returns them with offsets from S as addresses.
pub(super) fn heap_slot_stores(code: &Code, site: u64, m_slots: u64) -> Option<Vec<Store>> {
    const WINDOW: u64 = 96;
    let (seg_start, _) = code
        .bin
        .code()
        .find(|&(a, b)| site >= a && site - a < b.len() as u64)?;
    let from = site.saturating_sub(4 * WINDOW).max(seg_start);
    let mut regs: [Option<Sym>; 32] = [None; 32];
    let mut calls = 0u32;
    // (object, offset, size, value, at)
    let mut stores: Vec<(u32, i64, u8, Sym, u64)> = Vec::new();
    let mut pc = from;
    while pc < site {
        let w = word_at(code.bin, pc)?;
        let mut store = |regs: &[Option<Sym>; 32], rt: u8, rn: u8, off: i64, size: u8| {
            let value = if rt == 31 {
                Some(Sym::Const(0))
            } else {
                regs[rt as usize]
            };
            if let (Some(Sym::Heap(obj)), Some(value)) =
                (regs.get(rn as usize).copied().flatten(), value)
                && rn != 31
            {
                stores.push((obj, off, size, value, pc));
            }
        };
        match decode(w, pc) {
            Insn::MovImm { rd, value, .. } if rd != 31 => {
                regs[rd as usize] = Some(Sym::Const(value))
            }
            Insn::MovReg { rd, rm } if rd != 31 => {
                regs[rd as usize] = if rm == 31 {
                    Some(Sym::Const(0))
                } else {
                    regs[rm as usize]
                }
            }
            Insn::Str { rt, rn, off, size } => store(&regs, rt, rn, off, size),
            Insn::Stp {
                rt,
                rt2,
                rn,
                off,
                size,
            } => {
                store(&regs, rt, rn, off, size);
                store(&regs, rt2, rn, off + i64::from(size), size);
            }
            Insn::Bl { .. } | Insn::Indirect { link: true, .. } => {
                for r in regs.iter_mut().take(19) {
                    *r = None;
                }
                regs[0] = Some(Sym::Heap(calls));
                calls += 1;
            }
            Insn::B { .. } | Insn::Indirect { link: false, .. } => {
                // Another function ended here: start over.
                regs = [None; 32];
                stores.clear();
            }
            Insn::Adrp { rd, .. }
            | Insn::Adr { rd, .. }
            | Insn::AddImm { rd, .. }
            | Insn::LdrImm { rt: rd, .. }
                if rd != 31 =>
            {
                regs[rd as usize] = None
            }
            Insn::MovK { rd, .. } if rd != 31 => regs[rd as usize] = None,
            Insn::Other(w) => {
                for r in 0..31u8 {
                    if may_write(w, r) {
                        regs[r as usize] = None;
                    }
                }
            }
            _ => {}
        }
        pc += 4;
    }
    let Some(Sym::Heap(def)) = regs[0] else {
        return None;
    };
    let slots = stores
        .iter()
        .rev()
        .find_map(|&(obj, off, size, value, _)| match value {
            Sym::Heap(s) if obj == def && off == m_slots as i64 && size == 8 => Some(s),
            _ => None,
        })?;
    Some(
        stores
            .iter()
            .filter_map(|&(obj, off, size, value, at)| match value {
                Sym::Const(v) if obj == slots && off >= 0 => Some(Store {
                    addr: off as u64,
                    size,
                    value: v,
                    at,
                }),
                _ => None,
            })
            .collect(),
    )
}
