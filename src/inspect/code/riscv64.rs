//! RISC-V (RV64GC) code reading: PLT stubs, the calls to them and the constant in an
//! argument register (`a0`, `a1`, ...) at such a call.
//!
//! Calls into the PLT are `jal ra,stub` (or `auipc ra,hi; jalr ra,lo(ra)` when the stub is
//! far; `jal zero`/`c.j` as tail calls); a stub is `auipc t3,hi; ld t3,lo(t3); jalr t1,t3`.
//! Code built with `-fno-plt` calls through the GOT slot: `auipc x,hi; ld y,lo(x);
//! jalr ra,y`. With the compressed extension instructions are 2 or 4 bytes, so boundaries
//! are only certain when decoding forward from a known start: arguments are read over the
//! function the file describes around the call (or, without one, over the executable section
//! decoded from its start), and call sites that are not instruction boundaries there are
//! dropped.

use std::collections::HashMap;

use super::flow::{self, Effect, Flow, Function, Isa, Load};
use super::{ArgValue, Code};
use crate::inspect::model::{Binary, Pointer};

fn sext(v: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64
}

fn rd(w: u32) -> u8 {
    ((w >> 7) & 31) as u8
}
fn rs1(w: u32) -> u8 {
    ((w >> 15) & 31) as u8
}
fn rs2(w: u32) -> u8 {
    ((w >> 20) & 31) as u8
}
fn imm_i(w: u32) -> u64 {
    sext(u64::from(w >> 20), 12)
}
fn imm_u(w: u32) -> u64 {
    sext(u64::from(w & 0xffff_f000), 32)
}
fn imm_j(w: u32) -> u64 {
    let v = ((w >> 31) & 1) << 20
        | ((w >> 21) & 0x3ff) << 1
        | ((w >> 20) & 1) << 11
        | ((w >> 12) & 0xff) << 12;
    sext(u64::from(v), 21)
}
fn imm_b(w: u32) -> u64 {
    let v = ((w >> 31) & 1) << 12
        | ((w >> 25) & 0x3f) << 5
        | ((w >> 8) & 0xf) << 1
        | ((w >> 7) & 1) << 11;
    sext(u64::from(v), 13)
}
fn cj_imm(h: u32) -> u64 {
    let v = ((h >> 12) & 1) << 11
        | ((h >> 11) & 1) << 4
        | ((h >> 9) & 3) << 8
        | ((h >> 8) & 1) << 10
        | ((h >> 7) & 1) << 6
        | ((h >> 6) & 1) << 7
        | ((h >> 3) & 7) << 1
        | ((h >> 2) & 1) << 5;
    sext(u64::from(v), 12)
}
fn cb_imm(h: u32) -> u64 {
    let v = ((h >> 12) & 1) << 8
        | ((h >> 10) & 3) << 3
        | ((h >> 5) & 3) << 6
        | ((h >> 3) & 3) << 1
        | ((h >> 2) & 1) << 5;
    sext(u64::from(v), 9)
}
/// The 6-bit immediate of `c.li` / `c.addi`.
fn c_imm6(h: u32) -> u64 {
    sext(u64::from(((h >> 12) & 1) << 5 | ((h >> 2) & 31)), 6)
}

fn is_auipc(w: u32) -> bool {
    w & 0x7f == 0x17
}
/// `ld rd, imm(rs1)` (32-bit form).
fn is_ld(w: u32) -> bool {
    w & 0x707f == 0x3003
}
fn is_jalr(w: u32) -> bool {
    w & 0x707f == 0x67
}

/// The instruction (raw bits, length) at byte `i`, when the bytes hold a whole one.
fn at(bytes: &[u8], i: usize) -> Option<(u32, usize)> {
    let lo = u32::from(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
    if lo & 3 != 3 {
        return Some((lo, 2));
    }
    if lo & 0x1c == 0x1c {
        return None; // 48-bit and longer encodings: not RV64GC
    }
    let hi = u32::from(u16::from_le_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
    Some((lo | hi << 16, 4))
}

/// `auipc x,hi; ld y,lo(x); jalr t1|zero,y` whose slot holds an import.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    for (start, bytes) in bin.code() {
        for i in (0..bytes.len().saturating_sub(11)).step_by(2) {
            let word = |k: usize| {
                u32::from_le_bytes([
                    bytes[i + k],
                    bytes[i + k + 1],
                    bytes[i + k + 2],
                    bytes[i + k + 3],
                ])
            };
            let (a, l, j) = (word(0), word(4), word(8));
            if !is_auipc(a) || !is_ld(l) || rs1(l) != rd(a) || !is_jalr(j) || rs1(j) != rd(l) {
                continue;
            }
            if imm_i(j) != 0 || !matches!(rd(j), 0 | 6) {
                continue;
            }
            let pc = start + i as u64;
            let slot = pc.wrapping_add(imm_u(a)).wrapping_add(imm_i(l));
            if let Some(Pointer::Import(imp)) = bin.pointers.get(slot) {
                stubs.entry(pc).or_insert(imp);
            }
        }
    }
}

/// Calls and tail calls to a stub of one of `imports` (`jal`, `c.j`, `auipc`+`jalr`) and
/// calls through an import's GOT slot; only at instruction boundaries of the function
/// around them.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let mut out = Vec::new();
    let mut decoded: HashMap<(u64, u64), Function<Insn>> = HashMap::new();
    for (start, bytes) in bin.code() {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(i..i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        for i in (0..bytes.len().saturating_sub(1)).step_by(2) {
            let pc = start + i as u64;
            let Some((w, len)) = at(bytes, i) else {
                continue;
            };
            // The register a `jalr`/`c.jalr`/`c.jr` jumps through, and its offset.
            let through = match len {
                4 if w & 0x7f == 0x6f => {
                    if !matches!(rd(w), 0 | 1 | 5) {
                        continue;
                    }
                    let target = pc.wrapping_add(imm_j(w));
                    if let Some(imp) = code.stub_import(target).filter(|i| imports.contains(i)) {
                        out.push((pc, imp));
                    }
                    continue;
                }
                2 if w & 0xe003 == 0xa001 => {
                    let target = pc.wrapping_add(cj_imm(w));
                    if let Some(imp) = code.stub_import(target).filter(|i| imports.contains(i)) {
                        out.push((pc, imp));
                    }
                    continue;
                }
                4 if is_jalr(w) && matches!(rd(w), 0 | 1 | 5) => (rs1(w), imm_i(w)),
                2 if w & 0xe07f == 0x8002 && (w >> 7) & 31 != 0 => (((w >> 7) & 31) as u8, 0),
                _ => continue,
            };
            let (reg, lo) = through;
            let before = |k: usize| i.checked_sub(k).and_then(word);
            let imp = match (before(4), before(8)) {
                // auipc reg, hi; jalr lo(reg): a far call to a stub.
                (Some(a), _) if is_auipc(a) && rd(a) == reg => {
                    let target = (pc - 4).wrapping_add(imm_u(a)).wrapping_add(lo);
                    code.stub_import(target)
                }
                // auipc x, hi; ld reg, lo2(x); jalr 0(reg): through the GOT.
                (Some(l), Some(a))
                    if is_ld(l) && rd(l) == reg && is_auipc(a) && rd(a) == rs1(l) && lo == 0 =>
                {
                    let slot = (pc - 8).wrapping_add(imm_u(a)).wrapping_add(imm_i(l));
                    code.slot_import(slot)
                }
                _ => None,
            };
            if let Some(imp) = imp.filter(|i| imports.contains(i)) {
                out.push((pc, imp));
            }
        }
    }
    // A pattern inside another instruction is not a call: keep boundaries of the code
    // around each site, decoded from its start.
    out.retain(|&(pc, _)| {
        let Some(range) = region(bin, pc) else {
            return false;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = decoded.entry(range) {
            match function(bin, pc) {
                Ok(f) => {
                    slot.insert(f);
                }
                Err(_) => return true, // left for the argument reader to explain
            }
        }
        decoded[&range].index(pc).is_some()
    });
    out
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Insn {
    raw: u32,
    len: u8,
    pc: u64,
    /// For a jump through a register: where it goes when the instructions just before say
    /// (`auipc` + `jalr`), or that it goes through a fixed pointer slot (a tail call).
    target: Option<u64>,
    through_slot: bool,
}

struct Riscv64;

fn derived(src: u8, add: u64) -> Effect<u8> {
    if src == 0 {
        Effect::Const(add)
    } else {
        Effect::Derived {
            src,
            add,
            mask: u64::MAX,
        }
    }
}

impl Isa for Riscv64 {
    type Reg = u8;
    type Insn = Insn;

    fn flow(&self, i: &Insn) -> Flow {
        let w = i.raw;
        let indirect = |link: bool, base: u8, imm: u64| {
            if link {
                Flow::Call
            } else if let Some(t) = i.target {
                Flow::Jump(t)
            } else if i.through_slot || (base == 1 && imm == 0) {
                Flow::Stop // tail call through a slot, or `ret`
            } else {
                Flow::JumpIndirect
            }
        };
        if i.len == 4 {
            return match w & 0x7f {
                0x6f if rd(w) == 0 => Flow::Jump(i.pc.wrapping_add(imm_j(w))),
                0x6f => Flow::Call,
                0x67 => indirect(rd(w) != 0, rs1(w), imm_i(w)),
                0x63 => Flow::Branch(i.pc.wrapping_add(imm_b(w))),
                0x73 if w == 0x73 => Flow::Call,        // ecall
                0x73 if w == 0x0010_0073 => Flow::Stop, // ebreak
                _ => Flow::Next,
            };
        }
        let (quadrant, funct3) = (w & 3, w >> 13);
        match (quadrant, funct3) {
            (0, 0) if w == 0 => Flow::Stop, // the all-zero halfword is defined illegal
            (1, 5) => Flow::Jump(i.pc.wrapping_add(cj_imm(w))),
            (1, 6 | 7) => Flow::Branch(i.pc.wrapping_add(cb_imm(w))),
            (2, 4) => {
                let (bit12, r1, r2) = ((w >> 12) & 1, ((w >> 7) & 31) as u8, (w >> 2) & 31);
                match (bit12, r1, r2) {
                    (0, r, 0) if r != 0 => indirect(false, r, 0), // c.jr
                    (1, 0, 0) => Flow::Stop,                      // c.ebreak
                    (1, _, 0) => Flow::Call,                      // c.jalr
                    _ => Flow::Next,
                }
            }
            _ => Flow::Next,
        }
    }

    fn effect(&self, i: &Insn, r: u8) -> Option<Effect<u8>> {
        let w = i.raw;
        if r == 0 {
            return None;
        }
        if i.len == 4 {
            if rd(w) != r {
                return None;
            }
            return match w & 0x7f {
                0x13 if (w >> 12) & 7 == 0 => Some(derived(rs1(w), imm_i(w))), // addi, li, mv
                0x1b if (w >> 12) & 7 == 0 && rs1(w) == 0 => Some(Effect::Const(imm_i(w))),
                0x37 => Some(Effect::Const(imm_u(w))), // lui
                0x17 => Some(Effect::Const(i.pc.wrapping_add(imm_u(w)))), // auipc
                0x33 if w >> 25 == 0 && (w >> 12) & 7 == 0 && rs2(w) == 0 => {
                    Some(derived(rs1(w), 0))
                }
                0x33 if w >> 25 == 0 && (w >> 12) & 7 == 0 && rs1(w) == 0 => {
                    Some(derived(rs2(w), 0))
                }
                // Stores, branches, fences and floating-point loads and fused multiply-adds
                // write no integer register.
                0x23 | 0x27 | 0x63 | 0x0f | 0x07 | 0x43 | 0x47 | 0x4b | 0x4f => None,
                _ => Some(Effect::Opaque),
            };
        }
        let (quadrant, funct3) = (w & 3, w >> 13);
        let full = ((w >> 7) & 31) as u8;
        let short = (((w >> 7) & 7) + 8) as u8; // rd' in bits 9:7
        let low = (((w >> 2) & 7) + 8) as u8; // rd' in bits 4:2
        match (quadrant, funct3) {
            (0, 0 | 2 | 3 | 4) if low == r => Some(Effect::Opaque),
            (1, 0) if full == r => Some(derived(r, c_imm6(w))), // c.addi
            (1, 1) if full == r => Some(Effect::Opaque),        // c.addiw
            (1, 2) if full == r => Some(Effect::Const(c_imm6(w))), // c.li
            (1, 3) if full == r && r == 2 => Some(Effect::Opaque), // c.addi16sp
            (1, 3) if full == r => Some(Effect::Const(c_imm6(w) << 12)), // c.lui
            (1, 4) if short == r => Some(Effect::Opaque),
            (2, 0 | 2 | 3) if full == r => Some(Effect::Opaque),
            (2, 4) => {
                let (bit12, r2) = ((w >> 12) & 1, ((w >> 2) & 31) as u8);
                match (bit12, r2) {
                    (0, 0) => None,                                        // c.jr
                    (0, s) if full == r => Some(derived(s, 0)),            // c.mv
                    (1, 0) if full != 0 && r == 1 => Some(Effect::Opaque), // c.jalr links ra
                    (1, s) if s != 0 && full == r => Some(Effect::Opaque), // c.add
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn clobbered_by_call(&self, r: u8) -> bool {
        matches!(r, 1 | 5..=7 | 10..=17 | 28..=31)
    }

    fn load(&self, i: &Insn) -> Option<Load<u8>> {
        let w = i.raw;
        let base = |r: u8| (r != 0).then_some(r);
        if i.len == 4 {
            // ld rd, imm(rs1)
            return (is_ld(w) && rd(w) != 0).then(|| Load {
                dst: rd(w),
                base: base(rs1(w)),
                disp: imm_i(w),
            });
        }
        // c.ld rd', uimm(rs1')
        (w & 3 == 0 && w >> 13 == 3).then(|| Load {
            dst: (((w >> 2) & 7) + 8) as u8,
            base: Some((((w >> 7) & 7) + 8) as u8),
            disp: u64::from(((w >> 10) & 7) << 3 | ((w >> 5) & 3) << 6),
        })
    }
}

/// What the first `max` instructions at `func` compute and load (see [`flow::leaf_refs`]).
pub(super) fn refs(code: &Code, func: u64, max: usize) -> super::FuncRefs {
    let Some(bytes) = code.bin.code_from(func) else {
        return super::FuncRefs::default();
    };
    let mut insns = Vec::new();
    let mut k = 0usize;
    while insns.len() < max {
        let Some((raw, len)) = at(bytes, k) else {
            break;
        };
        let pc = func + k as u64;
        insns.push((
            pc,
            Insn {
                raw,
                len: len as u8,
                pc,
                target: None,
                through_slot: false,
            },
        ));
        k += len;
    }
    super::FuncRefs {
        data: flow::leaf_refs(&Riscv64, code.bin, &insns, &[], 32),
        ..Default::default()
    }
}

/// The range [`function`] decodes for `site`.
fn region(bin: &Binary, site: u64) -> Option<(u64, u64)> {
    bin.function_at(site).or_else(|| {
        let s = bin.segment(site).filter(|s| s.exec)?;
        Some((s.vaddr, s.vaddr + s.filesize.min(s.vsize)))
    })
}

/// The function the file describes around `site` (an `.eh_frame` entry or a function
/// symbol), decoded from its start. Without one, the whole executable section holding
/// `site`: compilers put no data among RISC-V instructions, so decoding from the section's
/// start finds the same boundaries, and a function entry shows as code no jump reaches.
fn function(bin: &Binary, site: u64) -> Result<Function<Insn>, String> {
    let (start, end) =
        region(bin, site).ok_or_else(|| format!("{site:#x} is not in executable code"))?;
    let bytes = bin
        .code_from(start)
        .ok_or_else(|| format!("the function at {start:#x} is not in the file"))?;
    let len = usize::try_from(end - start)
        .ok()
        .filter(|&n| n <= bytes.len() && n <= super::MAX_FUNCTION_BYTES)
        .ok_or_else(|| format!("the function at {start:#x} is too large to read"))?;
    let bytes = &bytes[..len];
    let mut insns: Vec<(u64, Insn)> = Vec::new();
    let mut i = 0usize;
    while i < len {
        let (raw, n) = at(bytes, i).ok_or_else(|| {
            format!(
                "the instruction at {:#x} is not one this reader decodes",
                start + i as u64
            )
        })?;
        let pc = start + i as u64;
        let mut insn = Insn {
            raw,
            len: n as u8,
            pc,
            target: None,
            through_slot: false,
        };
        // A jump through a register set by the straight-line code just before: to
        // `auipc` + offset, or to a pointer loaded from a fixed slot (`auipc`; `ld`): a tail
        // call, not a switch.
        let jump_reg = match n {
            4 if is_jalr(raw) && rd(raw) == 0 => Some((rs1(raw), imm_i(raw))),
            2 if raw & 0xf07f == 0x8002 && (raw >> 7) & 31 != 0 => {
                Some((((raw >> 7) & 31) as u8, 0))
            }
            _ => None,
        };
        if let Some((reg, lo)) = jump_reg {
            let mut k = insns.len();
            for _ in 0..4 {
                let Some(prev) = k.checked_sub(1) else { break };
                k = prev;
                let p = insns[k].1;
                if matches!(
                    Riscv64.flow(&p),
                    Flow::Jump(_) | Flow::JumpIndirect | Flow::Stop
                ) {
                    break;
                }
                if Riscv64.effect(&p, reg).is_none() {
                    continue;
                }
                let before = k.checked_sub(1).map(|j| insns[j].1);
                if p.len == 4 && is_auipc(p.raw) {
                    insn.target = Some(p.pc.wrapping_add(imm_u(p.raw)).wrapping_add(lo));
                } else if p.len == 4
                    && is_ld(p.raw)
                    && let Some(a) = before
                    && a.len == 4
                    && is_auipc(a.raw)
                    && rd(a.raw) == rs1(p.raw)
                {
                    insn.through_slot = true;
                }
                break;
            }
        }
        insns.push((pc, insn));
        i += n;
    }
    Ok(Function { start, end, insns })
}

/// The constant in argument `n` (a0 + n) at the call at `site`.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    flow::register_arg(&Riscv64, function(code.bin, site), site, n, (10, 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Import, PointerMap, Segment};

    /// Text at 0x1000: a PLT stub for the slot at 0x9000 (import 0), then one function
    /// holding `body` (halfwords) and a `jal ra` to the stub.
    fn read(body: &[u16]) -> (Vec<(u64, u32)>, Vec<ArgValue>) {
        let mut text: Vec<u8> = Vec::new();
        let put32 = |t: &mut Vec<u8>, w: u32| t.extend_from_slice(&w.to_le_bytes());
        put32(&mut text, 0x0000_8e17); // auipc t3, 8 (0x9000 - 0x1000)
        put32(&mut text, 0x000e_3e03); // ld t3, 0(t3)
        put32(&mut text, 0x000e_0367); // jalr t1, t3
        put32(&mut text, 0x0000_0013); // nop
        for h in body {
            text.extend_from_slice(&h.to_le_bytes());
        }
        let at = 0x1000 + text.len() as u64;
        let off = 0x1000u64.wrapping_sub(at) as u32;
        let j = (off & 0x10_0000) << 11
            | (off & 0x7fe) << 20
            | (off & 0x800) << 9
            | (off & 0xf_f000)
            | 1 << 7
            | 0x6f;
        put32(&mut text, j);
        text.extend_from_slice(&0x8082u16.to_le_bytes()); // ret
        let len = text.len() as u64;
        let mut pointers = PointerMap::default();
        pointers.insert(0x9000, Pointer::Import(0));
        pointers.finish();
        let bin = Binary {
            pointers,
            imports: vec![Import {
                name: "PyUnstable_Module_SetGIL".into(),
                library: None,
            }],
            functions: vec![(0x1010, 0x1000 + len)],
            ..Binary::bare(
                Arch::Riscv64,
                &text,
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
        };
        let code = Code::new(&bin);
        let sites = code.call_sites(&[0]);
        let args = sites.iter().map(|&(s, _)| code.arg_at_call(s, 1)).collect();
        (sites, args)
    }

    /// `addi rd, rs, imm` as two halfwords.
    fn addi(d: u32, s: u32, imm: i32) -> [u16; 2] {
        let w = ((imm as u32) << 20) | (s << 15) | (d << 7) | 0x13;
        [w as u16, (w >> 16) as u16]
    }

    #[test]
    fn li_a1_before_a_jal_to_a_stub() {
        // c.li a1, 1
        let (sites, args) = read(&[0x4585]);
        assert_eq!(sites, [(0x1012, 0)]);
        assert_eq!(args, [ArgValue::Const(1)]);
        // li a1, 0 (addi a1, zero, 0), then c.mv a0, s3
        let li = addi(11, 0, 0);
        let (_, args) = read(&[li[0], li[1], 0x854e]);
        assert_eq!(args, [ArgValue::Const(0)]);
        // c.li s0, 1; c.mv a1, s0
        let (_, args) = read(&[0x4405, 0x85a2]);
        assert_eq!(args, [ArgValue::Const(1)]);
    }

    #[test]
    fn other_ways_of_setting_a1_are_unknown() {
        // c.ld a1, 8(a0)... as ld a1, 8(a0)
        let w: u32 = (8 << 20) | (10 << 15) | (3 << 12) | (11 << 7) | 0x03;
        let (_, args) = read(&[w as u16, (w >> 16) as u16]);
        assert!(matches!(&args[0], ArgValue::Unknown(why) if why.contains("run time")));
        // c.addi a1, 1 on the incoming a1.
        let (_, args) = read(&[0x0585]);
        assert!(matches!(&args[0], ArgValue::Unknown(why) if why.contains("passed in")));
    }
}
