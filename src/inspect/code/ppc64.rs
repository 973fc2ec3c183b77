//! 64-bit PowerPC (little-endian, ELFv2) code reading: PLT call stubs, the calls to them and
//! the constant in an argument register (`r3`, `r4`, ...) at such a call.
//!
//! Calls into the PLT go `bl stub` with the TOC restore `ld r2,24(r1)` after. A stub loads
//! the import's PLT slot relative to the TOC pointer (`std r2,24(r1); [addis r11,r2,hi;]
//! ld r12,lo(r2|r11); mtctr r12; bctr`) or, in Power10 code, relative to itself
//! (`pld r12,slot@pcrel; mtctr r12; bctr`). The TOC pointer is read from a function's global
//! entry (`addis r2,r12,hi; addi r2,r2,lo`) or taken as `.got + 0x8000`; a slot is only
//! believed when the pointer map says it holds an import. Instructions are 4 bytes, Power10
//! prefixed ones 8; the argument is read over the function the file describes around the
//! call (its `.eh_frame` entry or symbol), decoded from its start.

use std::collections::HashMap;

use super::flow::{self, Effect, Flow, Function, Isa, Load};
use super::{ArgValue, Code};
use crate::inspect::model::{Binary, Pointer};

fn sext(v: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn op(w: u32) -> u32 {
    w >> 26
}
fn rt(w: u32) -> u8 {
    ((w >> 21) & 31) as u8
}
fn ra(w: u32) -> u8 {
    ((w >> 16) & 31) as u8
}
fn rb(w: u32) -> u8 {
    ((w >> 11) & 31) as u8
}
fn si16(w: u32) -> u64 {
    sext(u64::from(w & 0xffff), 16)
}

const MTCTR_R12: u32 = 0x7d89_03a6;
const BCTR: u32 = 0x4e80_0420;
const BCTRL: u32 = 0x4e80_0421;
const STD_R2_24_R1: u32 = 0xf841_0018;

/// `ld rt, d(ra)`: (rt, ra, d).
fn ld(w: u32) -> Option<(u8, u8, u64)> {
    (op(w) == 58 && w & 3 == 0).then(|| (rt(w), ra(w), sext(u64::from(w & 0xfffc), 16)))
}

/// `addis rt, ra, hi` with `ra` not 0: (rt, ra, hi << 16).
fn addis(w: u32) -> Option<(u8, u8, u64)> {
    (op(w) == 15 && ra(w) != 0).then(|| (rt(w), ra(w), si16(w) << 16))
}

/// A Power10 prefixed `pld rt, d(0),1` (pc-relative): (rt, d).
fn pld_pcrel(prefix: u32, suffix: u32) -> Option<(u8, u64)> {
    let is_8ls = op(prefix) == 1 && (prefix >> 24) & 3 == 0 && (prefix >> 20) & 1 == 1;
    if !is_8ls || op(suffix) != 57 || ra(suffix) != 0 {
        return None;
    }
    let d = (u64::from(prefix & 0x3_ffff) << 16) | u64::from(suffix & 0xffff);
    Some((rt(suffix), sext(d, 34)))
}

/// The TOC pointer: from the global entry of an exported function (`addis r2,r12,hi;
/// addi r2,r2,lo` with r12 = the function's address), else `.got + 0x8000`.
fn toc(bin: &Binary) -> Option<u64> {
    let mut funcs: Vec<u64> = bin.exports.values().copied().collect();
    funcs.sort_unstable();
    for f in funcs.into_iter().take(64) {
        let Some(bytes) = bin.code_from(f) else {
            continue;
        };
        let mut ws = words(bytes);
        let (Some(a), Some(b)) = (ws.next(), ws.next()) else {
            continue;
        };
        if op(a) == 15 && rt(a) == 2 && ra(a) == 12 && op(b) == 14 && rt(b) == 2 && ra(b) == 2 {
            return Some(f.wrapping_add(si16(a) << 16).wrapping_add(si16(b)));
        }
    }
    bin.segments
        .iter()
        .find(|s| s.name == ".got")
        .map(|s| s.vaddr + 0x8000)
}

/// PLT call stubs whose slot holds an import, keyed by their first instruction (and by the
/// slot load after a leading `std r2,24(r1)`, which a caller that saved r2 itself skips).
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    if !bin.little_endian {
        return;
    }
    let toc = toc(bin);
    let import_at = |slot: u64| match bin.pointers.get(slot) {
        Some(Pointer::Import(i)) => Some(i),
        _ => None,
    };
    for (start, bytes) in bin.code() {
        let ws: Vec<u32> = words(bytes).collect();
        for k in 0..ws.len() {
            // The slot load ends at word `j`, followed by `mtctr r12; bctr`.
            let (slot, first, j) = if let Some((12, 2, d)) = ld(ws[k]) {
                (toc.map(|t| t.wrapping_add(d)), k, k)
            } else if let Some((r, 2, hi)) = addis(ws[k])
                && let Some(&next) = ws.get(k + 1)
                && let Some((12, base, lo)) = ld(next)
                && base == r
            {
                (toc.map(|t| t.wrapping_add(hi).wrapping_add(lo)), k, k + 1)
            } else if let Some(&next) = ws.get(k + 1)
                && let Some((12, d)) = pld_pcrel(ws[k], next)
            {
                let pc = start + 4 * k as u64;
                (Some(pc.wrapping_add(d)), k, k + 1)
            } else {
                continue;
            };
            if ws.get(j + 1) != Some(&MTCTR_R12) || ws.get(j + 2) != Some(&BCTR) {
                continue;
            }
            let Some(imp) = slot.and_then(import_at) else {
                continue;
            };
            let at = start + 4 * first as u64;
            stubs.entry(at).or_insert(imp);
            if first > 0 && ws[first - 1] == STD_R2_24_R1 {
                stubs.entry(at - 4).or_insert(imp);
            }
        }
    }
}

/// `bl`/`b` to a stub of one of `imports`, and `bctrl` after `mtctr r12` and a TOC-relative
/// load of an import's slot into r12 (code built with `-fno-plt`).
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    if !bin.little_endian {
        return Vec::new();
    }
    let toc = toc(bin);
    let mut out = Vec::new();
    for (start, bytes) in bin.code() {
        let ws: Vec<u32> = words(bytes).collect();
        for (k, &w) in ws.iter().enumerate() {
            let pc = start + 4 * k as u64;
            if op(w) == 18 && w & 2 == 0 {
                let target = pc.wrapping_add(sext(u64::from(w & 0x03ff_fffc), 26));
                if let Some(imp) = code.stub_import(target).filter(|i| imports.contains(i)) {
                    out.push((pc, imp));
                }
            } else if w == BCTRL
                && k >= 2
                && ws[k - 1] == MTCTR_R12
                && let Some(t) = toc
            {
                let slot = match ld(ws[k - 2]) {
                    Some((12, 2, d)) => Some(t.wrapping_add(d)),
                    Some((12, base, lo)) if k >= 3 => match addis(ws[k - 3]) {
                        Some((r, 2, hi)) if r == base => Some(t.wrapping_add(hi).wrapping_add(lo)),
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(imp) = slot
                    .and_then(|s| code.slot_import(s))
                    .filter(|i| imports.contains(i))
                {
                    out.push((pc, imp));
                }
            }
        }
    }
    out
}

/// One decoded instruction: its word, and the suffix word of a Power10 prefixed one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Insn {
    w: u32,
    suffix: Option<u32>,
    pc: u64,
}

struct Ppc64;

impl Isa for Ppc64 {
    type Reg = u8;
    type Insn = Insn;

    fn flow(&self, i: &Insn) -> Flow {
        let w = i.w;
        if i.suffix.is_some() {
            return Flow::Next;
        }
        match op(w) {
            18 => {
                let li = sext(u64::from(w & 0x03ff_fffc), 26);
                let target = if w & 2 != 0 {
                    li
                } else {
                    i.pc.wrapping_add(li)
                };
                if w & 1 != 0 {
                    Flow::Call
                } else {
                    Flow::Jump(target)
                }
            }
            16 => {
                let bd = sext(u64::from(w & 0xfffc), 16);
                let target = if w & 2 != 0 {
                    bd
                } else {
                    i.pc.wrapping_add(bd)
                };
                let always = rt(w) & 0x14 == 0x14;
                match (w & 1 != 0, always) {
                    (true, _) => Flow::Call,
                    (false, true) => Flow::Jump(target),
                    (false, false) => Flow::Branch(target),
                }
            }
            17 => Flow::Call, // sc: the kernel may change the volatile registers
            19 => {
                let xo = (w >> 1) & 0x3ff;
                let always = rt(w) & 0x14 == 0x14;
                match (xo, w & 1 != 0, always) {
                    (16 | 528 | 560, true, _) => Flow::Call,
                    (16, false, true) => Flow::Stop, // blr
                    (528 | 560, false, _) => Flow::JumpIndirect, // bctr, btar
                    _ => Flow::Next, // conditional returns leave; CR logic falls through
                }
            }
            _ => Flow::Next,
        }
    }

    fn effect(&self, i: &Insn, r: u8) -> Option<Effect<u8>> {
        let w = i.w;
        let opaque = Some(Effect::Opaque);
        if let Some(s) = i.suffix {
            // paddi rt, 0, si34 with R=0 is `pli`; any other prefixed instruction is
            // treated as writing both register fields of its suffix.
            let mls = (w >> 24) & 3 == 2;
            if mls && op(s) == 14 && rt(s) == r && ra(s) == 0 && (w >> 20) & 1 == 0 {
                let v = (u64::from(w & 0x3_ffff) << 16) | u64::from(s & 0xffff);
                return Some(Effect::Const(sext(v, 34)));
            }
            return (rt(s) == r || ra(s) == r).then_some(Effect::Opaque);
        }
        let (t, a) = (rt(w), ra(w));
        match op(w) {
            // addi / addis: `li`, `lis` when ra is 0, else ra + imm.
            14 if t == r => Some(if a == 0 {
                Effect::Const(si16(w))
            } else {
                Effect::Derived {
                    src: a,
                    add: si16(w),
                    mask: u64::MAX,
                }
            }),
            15 if t == r => Some(if a == 0 {
                Effect::Const(si16(w) << 16)
            } else {
                Effect::Derived {
                    src: a,
                    add: si16(w) << 16,
                    mask: u64::MAX,
                }
            }),
            // ori ra, rs, 0 copies rs (`nop` is ori 0,0,0); other D-form logicals write ra.
            24 if a == r && w & 0xffff == 0 => Some(Effect::Derived {
                src: t,
                add: 0,
                mask: u64::MAX,
            }),
            24..=29 | 20 | 21 | 23 | 30 if a == r => opaque,
            // Loads write rt, their update forms also ra; lq writes a pair, lmw rt..r31.
            32 | 34 | 40 | 42 if t == r => opaque,
            33 | 35 | 41 | 43 if t == r || a == r => opaque,
            58 if t == r || (a == r && w & 3 == 1) => opaque,
            56 if r == t || r == t + 1 => opaque,
            46 if r >= t => opaque,
            // Stores and floating-point loads write only ra, in their update forms.
            37 | 39 | 45 | 49 | 51 | 53 | 55 if a == r => opaque,
            62 if a == r && w & 3 == 1 => opaque,
            7 | 8 | 12 | 13 if t == r => opaque,
            31 => x_form(w, r),
            // Vector and other opcodes are assumed to write either register field.
            0 | 1 | 4 | 5 | 6 | 9 | 22 | 57 | 60 | 61 if t == r || a == r => opaque,
            _ => None,
        }
    }

    fn clobbered_by_call(&self, r: u8) -> bool {
        r == 0 || (3..=12).contains(&r)
    }

    fn load(&self, i: &Insn) -> Option<Load<u8>> {
        let w = i.w;
        // ld rt, ds(ra) (DS form, not the update form)
        (i.suffix.is_none() && op(w) == 58 && w & 3 == 0 && rt(w) != 0).then(|| Load {
            dst: rt(w),
            base: (ra(w) != 0).then_some(ra(w)),
            disp: sext(u64::from(w & 0xfffc), 16),
        })
    }
}

/// What the first `max` instructions at `func` compute and load (see [`flow::leaf_refs`]).
/// A function entered at its global entry point has its own address in `r12`.
pub(super) fn refs(code: &Code, func: u64, max: usize) -> super::FuncRefs {
    let Some(bytes) = code.bin.code_from(func) else {
        return super::FuncRefs::default();
    };
    let ws: Vec<u32> = words(&bytes[..bytes.len().min(8 * max)]).collect();
    let mut insns = Vec::new();
    let mut k = 0;
    while k < ws.len() && insns.len() < max {
        let pc = func + 4 * k as u64;
        let prefixed = op(ws[k]) == 1 && k + 1 < ws.len();
        insns.push((
            pc,
            Insn {
                w: ws[k],
                suffix: prefixed.then(|| ws[k + 1]),
                pc,
            },
        ));
        k += if prefixed { 2 } else { 1 };
    }
    super::FuncRefs {
        data: flow::leaf_refs(&Ppc64, code.bin, &insns, &[(12, func)], 32),
        ..Default::default()
    }
}

/// Opcode 31 (register-register forms): `or ra,rs,rs` (`mr`) and `xor ra,rs,rs` are read;
/// compares and stores write nothing; anything else may write either register field.
fn x_form(w: u32, r: u8) -> Option<Effect<u8>> {
    let xo = (w >> 1) & 0x3ff;
    let (s, a, b) = (rt(w), ra(w), rb(w));
    match xo {
        444 if a == r && s == b => Some(Effect::Derived {
            src: s,
            add: 0,
            mask: u64::MAX,
        }),
        316 if a == r && s == b => Some(Effect::Const(0)),
        0 | 32 | 144 | 467 => None, // cmp, cmpl, mtcrf, mtspr
        // Stores (integer, byte-reversed, conditional, floating point, vector).
        151 | 215 | 407 | 149 | 662 | 918 | 660 | 150 | 214 | 727 | 663 | 983 | 231 => None,
        // Stores with update write ra.
        183 | 247 | 439 | 181 | 759 | 695 => (a == r).then_some(Effect::Opaque),
        _ => (s == r || a == r).then_some(Effect::Opaque),
    }
}

/// The function the file describes around `site` (an `.eh_frame` entry or a function
/// symbol), decoded from its start.
fn function(bin: &Binary, site: u64) -> Result<Function<Insn>, String> {
    let (start, end) = bin.function_at(site).ok_or_else(|| {
        format!("no unwind entry or symbol describes the function around the call at {site:#x}")
    })?;
    let bytes = bin
        .code_from(start)
        .ok_or_else(|| format!("the function at {start:#x} is not in the file"))?;
    let len = usize::try_from(end - start)
        .ok()
        .filter(|&n| n <= bytes.len() && n <= super::MAX_FUNCTION_BYTES)
        .ok_or_else(|| format!("the function at {start:#x} is too large to read"))?;
    let ws: Vec<u32> = words(&bytes[..len]).collect();
    let mut insns = Vec::with_capacity(ws.len());
    let mut k = 0;
    while k < ws.len() {
        let pc = start + 4 * k as u64;
        let w = ws[k];
        if op(w) == 1 && k + 1 < ws.len() {
            insns.push((
                pc,
                Insn {
                    w,
                    suffix: Some(ws[k + 1]),
                    pc,
                },
            ));
            k += 2;
        } else {
            insns.push((
                pc,
                Insn {
                    w,
                    suffix: None,
                    pc,
                },
            ));
            k += 1;
        }
    }
    Ok(Function { start, end, insns })
}

/// The constant in argument `n` (r3 + n) at the call at `site`.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    flow::register_arg(&Ppc64, function(code.bin, site), site, n, (3, 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Import, PointerMap, Segment};

    /// Text at 0x1000, a slot at 0x9000 holding import 0.
    fn model(data: &[u8]) -> Binary<'_> {
        let mut pointers = PointerMap::default();
        pointers.insert(0x9000, Pointer::Import(0));
        pointers.finish();
        let len = data.len() as u64;
        Binary {
            pointers,
            imports: vec![Import {
                name: "PyUnstable_Module_SetGIL".into(),
                library: None,
            }],
            // The function starts after the stub.
            functions: vec![(0x1010, 0x1000 + len)],
            ..Binary::bare(
                Arch::Ppc64,
                data,
                vec![Segment {
                    name: ".text".into(),
                    vaddr: 0x1000,
                    vsize: len,
                    offset: 0,
                    filesize: len,
                    exec: true,
                    write: false,
                }],
            )
        }
    }

    fn li(r: u32, v: i16) -> u32 {
        0x3800_0000 | (r << 21) | u32::from(v as u16)
    }
    fn bl(from: u64, to: u64) -> u32 {
        0x4800_0001 | ((to.wrapping_sub(from) as u32) & 0x03ff_fffc)
    }
    fn mr(d: u32, s: u32) -> u32 {
        0x7c00_0378 | (s << 21) | (d << 16) | (s << 11)
    }
    const LD_R2_24_R1: u32 = 0xe841_0018;

    /// `pld r12, 0x9000 - pc` stub at 0x1000, then a function calling it.
    fn program(setup: &[u32]) -> Vec<u32> {
        let mut t = vec![
            0x0410_0000,
            0xe580_0000 | (0x9000 - 0x1000),
            MTCTR_R12,
            BCTR,
        ];
        t.extend_from_slice(setup);
        let at = 0x1000 + 4 * t.len() as u64;
        t.push(bl(at, 0x1000));
        t.push(LD_R2_24_R1);
        t.push(0x4e80_0020); // blr
        t
    }

    fn read(setup: &[u32]) -> (Vec<(u64, u32)>, Vec<ArgValue>) {
        let data: Vec<u8> = program(setup)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let bin = model(&data);
        let code = Code::new(&bin);
        let sites = code.call_sites(&[0]);
        let args = sites.iter().map(|&(s, _)| code.arg_at_call(s, 1)).collect();
        (sites, args)
    }

    #[test]
    fn li_r4_before_a_plt_call() {
        let (sites, args) = read(&[mr(31, 3), li(4, 1)]);
        assert_eq!(sites, [(0x1018, 0)]);
        assert_eq!(args, [ArgValue::Const(1)]);
        let (_, args) = read(&[li(4, 0), mr(3, 31)]);
        assert_eq!(args, [ArgValue::Const(0)]);
        // Through a copy from a register a call does not change.
        let (_, args) = read(&[li(30, 1), 0x6000_0000, mr(4, 30)]);
        assert_eq!(args, [ArgValue::Const(1)]);
    }

    #[test]
    fn other_ways_of_setting_r4_are_unknown() {
        // ld r4, 8(r9)
        let (_, args) = read(&[0xe889_0008]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("run time")));
        // Not set in the function: it came in as an argument.
        let (_, args) = read(&[0x6000_0000]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("passed in")));
        // addi r4, r4, 1 on an incoming value.
        let (_, args) = read(&[0x3884_0001]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("passed in")));
    }
}
