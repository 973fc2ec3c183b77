//! 32-bit ARM code reading (ELF armhf, both instruction sets: ARM and Thumb-2): PLT stubs,
//! the calls to them, the constant in an argument register (`r0`-`r3`) at such a call, and
//! what a hook's first instructions compute and load.
//!
//! A PLT entry is `add ip, pc, #hi; add ip, ip, #mid; ldr pc, [ip, #lo]!` (ARM code), with a
//! `bx pc` Thumb prefix before it when Thumb code calls it with `bl`. Calls are `bl` in ARM
//! code and `bl`/`blx` in Thumb code. Which instruction set a function is in comes from its
//! symbol (bit 0 of a Thumb function's address is set); arguments are read over the function
//! the file describes around the call, decoded from its start, and a call site that is not
//! an instruction boundary there is dropped. PIC code computes addresses from literal pools
//! (`ldr r0, [pc, #n]; add r0, pc, r0`), which the readers follow.
//!
//! Every instruction is classified by the registers it may write. An instruction whose
//! effect on a register is not read exactly, or that runs under a condition (ARM condition
//! codes, Thumb IT blocks), leaves that register unknown; an encoding not classified here
//! may write any register.

use std::collections::HashMap;

use super::flow::{self, Effect, Flow, Function, Isa, Load};
use super::{ArgValue, Code, FuncRefs};
use crate::inspect::model::{Binary, Pointer, Word};

const PC: u8 = 15;
const LR: u8 = 14;
const SP: u8 = 13;
const M32: u64 = 0xffff_ffff;
/// Every register, for an instruction that may write any of them.
const ALL: u16 = 0xffff;

fn sext(v: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    ((((v << shift) as i64) >> shift) as u64) & M32
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 2)?;
    Some(u32::from(u16::from_le_bytes([b[0], b[1]])))
}

/// An ARM modified immediate: 8 bits rotated right by twice the top 4 bits.
fn arm_imm(imm12: u32) -> u64 {
    u64::from((imm12 & 0xff).rotate_right((imm12 >> 8) * 2))
}

/// A Thumb-2 modified immediate (`i:imm3:imm8`).
fn thumb_imm(imm12: u32) -> u64 {
    let b = imm12 & 0xff;
    let v = if imm12 >> 10 == 0 {
        match (imm12 >> 8) & 3 {
            0 => b,
            1 => b << 16 | b,
            2 => b << 24 | b << 8,
            _ => b * 0x0101_0101,
        }
    } else {
        (0x80 | (imm12 & 0x7f)).rotate_right(imm12 >> 7)
    };
    u64::from(v)
}

/// Whether the halfword starts a 32-bit Thumb instruction.
fn thumb_wide(hw: u32) -> bool {
    matches!(hw >> 11, 0b11101..=0b11111)
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Insn {
    /// The ARM word, or the Thumb halfwords (first in the high half for a 32-bit one).
    raw: u32,
    len: u8,
    thumb: bool,
    pc: u64,
    /// Inside a Thumb IT block: the instruction runs under a condition.
    in_it: bool,
}

impl Insn {
    /// The value `pc` reads as: 8 ahead in ARM code, 4 in Thumb code.
    fn pc_value(&self) -> u64 {
        self.pc + if self.thumb { 4 } else { 8 }
    }
    /// The word-aligned `pc` that literal loads and `adr` add to.
    fn literal_base(&self) -> u64 {
        self.pc_value() & !3
    }
    /// Whether an ARM instruction runs always (condition AL).
    fn always(&self) -> bool {
        if self.thumb {
            !self.in_it
        } else {
            self.raw >> 28 == 0xe
        }
    }
}

/// What an instruction writes: the registers it may change, and the exact effect on one of
/// them when it is read exactly.
struct Writes {
    regs: u16,
    exact: Option<(u8, Effect<u8>)>,
}

impl Writes {
    fn none() -> Self {
        Writes {
            regs: 0,
            exact: None,
        }
    }
    fn regs(regs: u16) -> Self {
        Writes { regs, exact: None }
    }
    fn reg(r: u32) -> Self {
        Writes::regs(1 << (r & 15))
    }
    fn exact(r: u32, e: Effect<u8>) -> Self {
        Writes {
            regs: 1 << (r & 15),
            exact: Some(((r & 15) as u8, e)),
        }
    }
}

fn derived(src: u32, add: u64) -> Effect<u8> {
    Effect::Derived {
        src: (src & 15) as u8,
        add: add & M32,
        mask: M32,
    }
}

/// A constant loaded from a literal pool or other read-only word: its relocated value, the
/// integer the file holds, or nothing for a word bound to an import.
fn literal(bin: &Binary, addr: u64) -> Effect<u8> {
    match bin.word_at(addr) {
        Some(Word::Pointer(Pointer::Addr(a))) => Effect::Const(a),
        Some(Word::Int(v)) => Effect::Const(v & M32),
        _ => Effect::Opaque,
    }
}

/// ARM (A32) instructions.
fn arm_writes(bin: &Binary, i: &Insn) -> Writes {
    let w = i.raw;
    let rd = (w >> 12) & 15;
    let rn = (w >> 16) & 15;
    let pcv = i.pc_value();
    if w >> 28 == 0xf {
        // The unconditional space: `blx imm` links, preloads and barriers write nothing.
        return match (w >> 25) & 7 {
            0b101 => Writes::reg(u32::from(LR)),
            0b010 | 0b011 if w & 0x0050_f000 == 0x0050_f000 => Writes::none(), // pld, pli
            _ if w & 0xffff_ff00 == 0xf57f_f000 => Writes::none(),             // dmb, dsb, isb
            _ => Writes::regs(ALL),
        };
    }
    match (w >> 25) & 7 {
        0b000 | 0b001 => {
            let imm = w & (1 << 25) != 0;
            // movw / movt
            if w & 0x0ff0_0000 == 0x0300_0000 {
                let v = u64::from((w >> 4) & 0xf000 | w & 0xfff);
                return Writes::exact(rd, Effect::Const(v));
            }
            if w & 0x0ff0_0000 == 0x0340_0000 {
                return Writes::reg(rd);
            }
            // msr (immediate) and the hints (nop, yield, ...).
            if w & 0x0fb0_0000 == 0x0320_0000 {
                return Writes::none();
            }
            if !imm && w & 0x90 == 0x90 {
                // Multiplies, swaps, exclusives and the halfword / doubleword loads and stores.
                if (w >> 5) & 3 == 0 {
                    return Writes::regs(1 << rd | 1 << rn);
                }
                let load = w & (1 << 20) != 0;
                let writeback = w & (1 << 24) == 0 || w & (1 << 21) != 0;
                let mut regs = if writeback { 1 << rn } else { 0 };
                if load {
                    regs |= 1 << rd;
                } else if (w >> 5) & 3 == 0b10 {
                    regs |= 1 << rd | 1 << ((rd + 1) & 15); // ldrd
                }
                return Writes::regs(regs);
            }
            if w & 0x0f90_0000 == 0x0100_0000 {
                // The miscellaneous space: bx, blx, clz, mrs, msr, saturating arithmetic.
                return match w & 0x0fff_fff0 {
                    0x012f_ff10 | 0x012f_ff20 => Writes::none(), // bx, bxj
                    0x012f_ff30 => Writes::reg(u32::from(LR)),   // blx reg
                    _ if w & 0x0fb0_f000 == 0x0120_f000 => Writes::none(), // msr
                    _ => Writes::regs(1 << rd | 1 << rn),
                };
            }
            let op = (w >> 21) & 15;
            if (8..=11).contains(&op) {
                return Writes::none(); // tst, teq, cmp, cmn
            }
            let rm = w & 15;
            let plain_reg = !imm && (w >> 4) & 0xff == 0;
            let value = arm_imm(w & 0xfff);
            let read = |r: u32| (r == u32::from(PC)).then_some(pcv);
            let effect = match (op, imm) {
                (13, true) => Some(Effect::Const(value)),
                (15, true) => Some(Effect::Const(!value & M32)),
                (13, false) if plain_reg => Some(match read(rm) {
                    Some(v) => Effect::Const(v),
                    None => derived(rm, 0),
                }),
                (4, true) => Some(match read(rn) {
                    Some(v) => Effect::Const((v + value) & M32),
                    None => derived(rn, value),
                }),
                (2, true) => Some(match read(rn) {
                    Some(v) => Effect::Const(v.wrapping_sub(value) & M32),
                    None => derived(rn, value.wrapping_neg()),
                }),
                (4, false) if plain_reg => match (read(rn), read(rm)) {
                    (Some(v), None) => Some(derived(rm, v)),
                    (None, Some(v)) => Some(derived(rn, v)),
                    _ => None,
                },
                _ => None,
            };
            match effect {
                Some(e) if i.always() => Writes::exact(rd, e),
                _ => Writes::reg(rd),
            }
        }
        0b010 | 0b011 => {
            if (w >> 25) & 7 == 0b011 && w & 0x10 != 0 {
                // Media instructions write the field at 15:12 or at 19:16.
                return Writes::regs(1 << rd | 1 << rn);
            }
            let load = w & (1 << 20) != 0;
            let writeback = w & (1 << 24) == 0 || w & (1 << 21) != 0;
            let mut regs = if writeback { 1 << rn } else { 0 };
            if !load {
                return Writes::regs(regs);
            }
            regs |= 1 << rd;
            // ldr rd, [pc, #imm]: a literal.
            let word = w & (1 << 22) == 0;
            if rn == u32::from(PC) && word && !writeback && w & (1 << 25) == 0 && i.always() {
                let off = u64::from(w & 0xfff);
                let addr = if w & (1 << 23) != 0 {
                    pcv + off
                } else {
                    pcv.wrapping_sub(off)
                };
                return Writes::exact(rd, literal(bin, addr & M32));
            }
            Writes::regs(regs)
        }
        0b100 => {
            let load = w & (1 << 20) != 0;
            let mut regs = if w & (1 << 21) != 0 { 1 << rn } else { 0 };
            if load {
                regs |= (w & 0xffff) as u16;
            }
            Writes::regs(regs)
        }
        0b101 => {
            if w & (1 << 24) != 0 {
                Writes::reg(u32::from(LR))
            } else {
                Writes::none()
            }
        }
        0b110 => {
            // mrrc / vmov rt, rt2, dm
            if w & 0x0ff0_0000 == 0x0c50_0000 {
                return Writes::regs(1 << rd | 1 << rn);
            }
            // Coprocessor loads and stores write their base register on writeback.
            Writes::regs(if w & (1 << 21) != 0 { 1 << rn } else { 0 })
        }
        _ => {
            if w & (1 << 24) != 0 {
                return Writes::regs(ALL); // svc
            }
            // mrc / vmov rt, sn / vmrs: into a core register.
            if w & 0x0010_0010 == 0x0010_0010 && rd != u32::from(PC) {
                return Writes::reg(rd);
            }
            Writes::none()
        }
    }
}

fn arm_flow(i: &Insn) -> Flow {
    let w = i.raw;
    let always = i.always();
    let branch_to = |t: u64| {
        if always {
            Flow::Jump(t)
        } else {
            Flow::Branch(t)
        }
    };
    // A return when unconditional; a conditional return falls through.
    let ret = if always { Flow::Stop } else { Flow::Next };
    if w >> 28 == 0xf {
        return if (w >> 25) & 7 == 0b101 {
            Flow::Call
        } else {
            Flow::Next
        };
    }
    let rd = (w >> 12) & 15;
    match (w >> 25) & 7 {
        0b101 => {
            let t = (i.pc_value() + sext(u64::from(w & 0xff_ffff) << 2, 26)) & M32;
            if w & (1 << 24) != 0 {
                Flow::Call
            } else {
                branch_to(t)
            }
        }
        0b111 if w & (1 << 24) != 0 => Flow::Call, // svc
        0b100 if w & (1 << 20) != 0 && w & 0x8000 != 0 => {
            // ldm with pc: `pop {..., pc}` returns.
            if (w >> 16) & 15 == u32::from(SP) {
                ret
            } else {
                Flow::JumpIndirect
            }
        }
        0b000 if w & 0x0fff_fff0 == 0x012f_ff10 => {
            if w & 15 == u32::from(LR) {
                ret
            } else {
                Flow::JumpIndirect
            }
        }
        0b000 if w & 0x0fff_fff0 == 0x012f_ff30 => Flow::Call,
        0b000 if w & 0x0fff_fff0 == 0x012f_ff20 => Flow::JumpIndirect,
        0b010 | 0b011 if w & (1 << 20) != 0 && rd == u32::from(PC) => {
            // `ldr pc, [sp], #4` pops the return address.
            if (w >> 16) & 15 == u32::from(SP) && w & (1 << 24) == 0 {
                ret
            } else {
                Flow::JumpIndirect
            }
        }
        0b000 | 0b001 if rd == u32::from(PC) => {
            let op = (w >> 21) & 15;
            if (8..=11).contains(&op) || w & 0x0fb0_0000 == 0x0320_0000 {
                Flow::Next
            } else if op == 13 && w & 0x0200_0ff0 == 0 && w & 15 == u32::from(LR) {
                ret // mov pc, lr
            } else {
                Flow::JumpIndirect
            }
        }
        _ => Flow::Next,
    }
}

/// Thumb instructions, 16- and 32-bit.
fn thumb_writes(bin: &Binary, i: &Insn) -> Writes {
    let exact = |r: u32, e: Effect<u8>| {
        if i.in_it {
            Writes::reg(r)
        } else {
            Writes::exact(r, e)
        }
    };
    if i.len == 2 {
        let h = i.raw;
        let (lo3, r8) = (h & 7, (h >> 8) & 7);
        return match h >> 11 {
            0b00000 if (h >> 6) & 0x1f == 0 => exact(lo3, derived((h >> 3) & 7, 0)), // movs rd, rm
            0b00000..=0b00010 => Writes::reg(lo3),
            0b00011 => {
                let (rn, imm3) = ((h >> 3) & 7, u64::from((h >> 6) & 7));
                match (h >> 9) & 3 {
                    0b10 => exact(lo3, derived(rn, imm3)),
                    0b11 => exact(lo3, derived(rn, imm3.wrapping_neg())),
                    _ => Writes::reg(lo3),
                }
            }
            0b00100 => exact(r8, Effect::Const(u64::from(h & 0xff))),
            0b00101 => Writes::none(),
            0b00110 => exact(r8, derived(r8, u64::from(h & 0xff))),
            0b00111 => exact(r8, derived(r8, u64::from(h & 0xff).wrapping_neg())),
            0b01000 => {
                if h & 0xfc00 == 0x4000 {
                    return match (h >> 6) & 15 {
                        8 | 10 | 11 => Writes::none(), // tst, cmp, cmn
                        _ => Writes::reg(lo3),
                    };
                }
                let rd = ((h >> 4) & 8) | lo3;
                let rm = (h >> 3) & 15;
                match (h >> 8) & 3 {
                    0 if rm == u32::from(PC) => exact(rd, derived(rd, i.pc_value())),
                    0 => Writes::reg(rd),
                    1 => Writes::none(),
                    2 if rm == u32::from(PC) => exact(rd, Effect::Const(i.pc_value())),
                    2 => exact(rd, derived(rm, 0)),
                    _ if h & 0x80 != 0 => Writes::reg(u32::from(LR)), // blx rm
                    _ => Writes::none(),                              // bx rm
                }
            }
            0b01001 => exact(
                r8,
                literal(bin, (i.literal_base() + u64::from(h & 0xff) * 4) & M32),
            ),
            0b01010 | 0b01011 => match (h >> 9) & 7 {
                0..=2 => Writes::none(),
                _ => Writes::reg(lo3),
            },
            0b01100 | 0b01110 | 0b10000 => Writes::none(),
            0b01101 | 0b01111 | 0b10001 => Writes::reg(lo3),
            0b10010 => Writes::none(),
            0b10011 => Writes::reg(r8),
            0b10100 => exact(
                r8,
                Effect::Const((i.literal_base() + u64::from(h & 0xff) * 4) & M32),
            ),
            0b10101 => exact(r8, derived(u32::from(SP), u64::from(h & 0xff) * 4)),
            0b10110 | 0b10111 => match h & 0xff00 {
                0xb000 => {
                    let imm = u64::from(h & 0x7f) * 4;
                    let add = if h & 0x80 != 0 {
                        imm.wrapping_neg()
                    } else {
                        imm
                    };
                    exact(u32::from(SP), derived(u32::from(SP), add))
                }
                0xb100 | 0xb300 | 0xb900 | 0xbb00 => Writes::none(), // cbz, cbnz
                0xb200 | 0xba00 => Writes::reg(lo3),                 // extends, rev
                0xb400 | 0xb500 => Writes::reg(u32::from(SP)),       // push
                0xbc00 | 0xbd00 => Writes::regs((h & 0xff) as u16 | 1 << SP | 1 << PC), // pop
                0xbe00 | 0xbf00 => Writes::none(),                   // bkpt, it, hints
                0xb600 if h & 0xffe0 == 0xb660 || h & 0xfff7 == 0xb650 => Writes::none(),
                _ => Writes::regs(ALL),
            },
            0b11000 => Writes::reg(r8),
            0b11001 => Writes::regs((h & 0xff) as u16 | 1 << r8),
            0b11010 | 0b11011 => {
                if (h >> 8) & 15 == 15 {
                    Writes::regs(ALL) // svc
                } else {
                    Writes::none()
                }
            }
            0b11100 => Writes::none(),
            _ => Writes::regs(ALL),
        };
    }
    let (h1, h2) = (i.raw >> 16, i.raw & 0xffff);
    let rn = h1 & 15;
    let rd = (h2 >> 8) & 15;
    let rt = h2 >> 12;
    match (h1 >> 11) & 3 {
        0b01 => {
            if h1 & 0xfe40 == 0xe800 {
                // Load / store multiple.
                let mut regs = if h1 & 0x20 != 0 { 1 << rn } else { 0 };
                if h1 & 0x10 != 0 {
                    regs |= h2 as u16;
                }
                return Writes::regs(regs);
            }
            if h1 & 0xfe40 == 0xe840 {
                // Dual and exclusive loads and stores, table branches.
                if h1 & 0xfff0 == 0xe8d0 && h2 & 0xffe0 == 0xf000 {
                    return Writes::none();
                }
                return Writes::regs(1 << rn | 1 << rt | 1 << rd | 1 << (h2 & 15));
            }
            if h1 & 0xfe00 == 0xea00 {
                // Data processing, shifted register.
                let op = (h1 >> 5) & 15;
                if rd == u32::from(PC) && matches!(op, 0 | 4 | 8 | 13) {
                    return Writes::none(); // tst, teq, cmn, cmp
                }
                if op == 2 && rn == u32::from(PC) && h2 & 0x70f0 == 0 {
                    return exact(rd, derived(h2 & 15, 0)); // mov.w rd, rm
                }
                return Writes::reg(rd);
            }
            coprocessor(h1, h2)
        }
        0b10 => {
            if h2 & 0x8000 == 0 {
                let imm12 = (h1 & 0x400) << 1 | (h2 >> 4) & 0x700 | h2 & 0xff;
                if h1 & 0x200 == 0 {
                    // Modified immediate.
                    let op = (h1 >> 5) & 15;
                    if rd == u32::from(PC) && matches!(op, 0 | 4 | 8 | 13) {
                        return Writes::none();
                    }
                    let v = thumb_imm(imm12);
                    return match op {
                        2 if rn == u32::from(PC) => exact(rd, Effect::Const(v)),
                        3 if rn == u32::from(PC) => exact(rd, Effect::Const(!v & M32)),
                        8 => exact(rd, derived(rn, v)),
                        13 => exact(rd, derived(rn, v.wrapping_neg())),
                        _ => Writes::reg(rd),
                    };
                }
                let v = u64::from(imm12);
                return match (h1 >> 4) & 0x1f {
                    0 if rn == u32::from(PC) => exact(rd, Effect::Const(i.literal_base() + v)),
                    0 => exact(rd, derived(rn, v)),
                    10 if rn == u32::from(PC) => {
                        exact(rd, Effect::Const(i.literal_base().wrapping_sub(v) & M32))
                    }
                    10 => exact(rd, derived(rn, v.wrapping_neg())),
                    4 => exact(rd, Effect::Const(u64::from(rn << 12 | imm12))), // movw
                    _ => Writes::reg(rd),
                };
            }
            let op = (h2 >> 12) & 7;
            if op & 0b101 == 0b101 || op & 0b101 == 0b100 {
                return Writes::reg(u32::from(LR)); // bl, blx
            }
            if op & 0b101 == 0 && (h1 >> 6) & 15 >= 14 && h1 & 0xffe0 == 0xf3e0 {
                return Writes::reg(rd); // mrs
            }
            Writes::none()
        }
        _ => {
            if h1 & 0xff10 == 0xf900 {
                return Writes::reg(rn); // element and structure loads and stores
            }
            if h1 & 0xfe00 == 0xf800 {
                // Load / store single.
                let load = h1 & 0x10 != 0;
                let writeback = h1 & 0x80 == 0 && h2 & 0x900 == 0x900;
                let mut regs = if writeback && rn != u32::from(PC) {
                    1 << rn
                } else {
                    0
                };
                if !load {
                    return Writes::regs(regs);
                }
                let word = (h1 >> 5) & 3 == 2;
                if rn == u32::from(PC) && word && h1 & 0x100 == 0 {
                    let off = u64::from(h2 & 0xfff);
                    let addr = if h1 & 0x80 != 0 {
                        i.literal_base() + off
                    } else {
                        i.literal_base().wrapping_sub(off)
                    };
                    return exact(rt, literal(bin, addr & M32));
                }
                if rt != u32::from(PC) {
                    regs |= 1 << rt;
                }
                return Writes::regs(regs);
            }
            if h1 & 0xff00 == 0xfa00 || h1 & 0xff00 == 0xfb00 {
                return Writes::regs(1 << rd | 1 << rt);
            }
            if h1 & 0xec00 == 0xec00 {
                return coprocessor(h1, h2);
            }
            Writes::regs(ALL)
        }
    }
}

/// Thumb-2 coprocessor, VFP and NEON instructions: only transfers to core registers and
/// base-register writeback write a core register.
fn coprocessor(h1: u32, h2: u32) -> Writes {
    let (rn, rt) = (h1 & 15, h2 >> 12);
    if h1 & 0xef00 == 0xef00 {
        return Writes::none(); // NEON data processing
    }
    if h1 & 0xeff0 == 0xec50 {
        return Writes::regs(1 << rt | 1 << ((h2 >> 8) & 15)); // mrrc
    }
    if h1 & 0xef10 == 0xee10 && h2 & 0x10 != 0 {
        return if rt == u32::from(PC) {
            Writes::none() // vmrs apsr_nzcv
        } else {
            Writes::reg(rt)
        };
    }
    if h1 & 0xee00 == 0xec00 && h1 & 0x20 != 0 {
        return Writes::reg(rn); // vldm / vstm / ldc / stc with writeback
    }
    Writes::none()
}

/// Where a Thumb `bl`/`blx`/`b.w` (encoding T4) goes.
fn thumb_branch_target(i: &Insn) -> u64 {
    let (h1, h2) = (i.raw >> 16, i.raw & 0xffff);
    let s = (h1 >> 10) & 1;
    let i1 = !((h2 >> 13) & 1 ^ s) & 1;
    let i2 = !((h2 >> 11) & 1 ^ s) & 1;
    let off = s << 24 | i1 << 23 | i2 << 22 | (h1 & 0x3ff) << 12 | (h2 & 0x7ff) << 1;
    let off = sext(u64::from(off), 25);
    // blx switches to ARM code: its target is word-aligned from the aligned pc.
    let base = if h2 & 0x1000 == 0 {
        i.literal_base()
    } else {
        i.pc_value()
    };
    (base + off) & M32
}

fn thumb_flow(i: &Insn) -> Flow {
    let cond = |f: Flow| match (f, i.in_it) {
        (Flow::Jump(t), true) => Flow::Branch(t),
        (Flow::Stop, true) => Flow::Next,
        (f, _) => f,
    };
    if i.len == 2 {
        let h = i.raw;
        return cond(match h >> 11 {
            0b01000 if h & 0xfc00 == 0x4400 => {
                let rd = ((h >> 4) & 8) | (h & 7);
                let rm = (h >> 3) & 15;
                match (h >> 8) & 3 {
                    3 if h & 0x80 != 0 => Flow::Call,
                    3 if rm == u32::from(LR) => Flow::Stop,
                    3 => Flow::JumpIndirect,
                    2 if rd == u32::from(PC) && rm == u32::from(LR) => Flow::Stop,
                    0 | 2 if rd == u32::from(PC) => Flow::JumpIndirect,
                    _ => Flow::Next,
                }
            }
            0b10110 | 0b10111 => match h & 0xff00 {
                0xb100 | 0xb300 | 0xb900 | 0xbb00 => {
                    let off = u64::from((h >> 3) & 0x1f | (h >> 4) & 0x20) << 1;
                    Flow::Branch(i.pc_value() + off)
                }
                0xbd00 => Flow::Stop, // pop {..., pc}
                0xbe00 => Flow::Stop, // bkpt
                _ => Flow::Next,
            },
            0b11010 | 0b11011 => match (h >> 8) & 15 {
                14 => Flow::Stop, // udf
                15 => Flow::Call, // svc
                _ => Flow::Branch((i.pc_value() + sext(u64::from(h & 0xff) << 1, 9)) & M32),
            },
            0b11100 => Flow::Jump((i.pc_value() + sext(u64::from(h & 0x7ff) << 1, 12)) & M32),
            _ => Flow::Next,
        });
    }
    let (h1, h2) = (i.raw >> 16, i.raw & 0xffff);
    let rn = h1 & 15;
    let f = match (h1 >> 11) & 3 {
        0b01 if h1 & 0xfe50 == 0xe810 && h2 & 0x8000 != 0 => {
            // ldm with pc: `pop.w {..., pc}` returns.
            if rn == u32::from(SP) {
                Flow::Stop
            } else {
                Flow::JumpIndirect
            }
        }
        0b01 if h1 & 0xfff0 == 0xe8d0 && h2 & 0xffe0 == 0xf000 => Flow::JumpIndirect, // tbb/tbh
        0b10 if h2 & 0x8000 != 0 => {
            let op = (h2 >> 12) & 7;
            if op & 0b101 == 0b101 || op & 0b101 == 0b100 {
                Flow::Call
            } else if op & 0b101 == 0b001 {
                Flow::Jump(thumb_branch_target(i))
            } else if (h1 >> 6) & 15 < 14 {
                let s = (h1 >> 10) & 1;
                let off = s << 20
                    | ((h2 >> 11) & 1) << 19
                    | ((h2 >> 13) & 1) << 18
                    | (h1 & 0x3f) << 12
                    | (h2 & 0x7ff) << 1;
                Flow::Branch((i.pc_value() + sext(u64::from(off), 21)) & M32)
            } else if h1 == 0xf3de && h2 & 0xff00 == 0x8f00 {
                Flow::Stop // subs pc, lr, #imm
            } else {
                Flow::Next
            }
        }
        0b11 if h1 & 0xfff0 == 0xf7f0 && h2 & 0xf000 == 0xa000 => Flow::Stop, // udf.w
        0b11 if h1 & 0xfe70 == 0xf850 && h2 >> 12 == u32::from(PC) => {
            // ldr.w pc, [sp], #4 pops the return address.
            if rn == u32::from(SP) && h1 & 0x80 == 0 && h2 & 0xf00 == 0xb00 {
                Flow::Stop
            } else {
                Flow::JumpIndirect
            }
        }
        _ => Flow::Next,
    };
    cond(f)
}

struct Arm<'b, 'a> {
    bin: &'b Binary<'a>,
}

impl Isa for Arm<'_, '_> {
    type Reg = u8;
    type Insn = Insn;

    fn flow(&self, i: &Insn) -> Flow {
        if i.thumb { thumb_flow(i) } else { arm_flow(i) }
    }

    fn effect(&self, i: &Insn, r: u8) -> Option<Effect<u8>> {
        let w = if i.thumb {
            thumb_writes(self.bin, i)
        } else {
            arm_writes(self.bin, i)
        };
        if w.regs & (1 << r) == 0 {
            return None;
        }
        match w.exact {
            Some((reg, e)) if reg == r => Some(e),
            _ => Some(Effect::Opaque),
        }
    }

    fn clobbered_by_call(&self, r: u8) -> bool {
        matches!(r, 0..=3 | 12 | 14)
    }

    fn load(&self, i: &Insn) -> Option<Load<u8>> {
        if !i.always() {
            return None;
        }
        let base = |r: u32| (r != u32::from(PC)).then_some(r as u8);
        if !i.thumb {
            let w = i.raw;
            // ldr rt, [rn, #±imm12] without writeback.
            if w & 0x0f70_0000 != 0x0510_0000 || (w >> 12) & 15 == u32::from(PC) {
                return None;
            }
            let rn = (w >> 16) & 15;
            let off = u64::from(w & 0xfff);
            let off = if w & (1 << 23) != 0 {
                off
            } else {
                off.wrapping_neg()
            };
            let from = if rn == u32::from(PC) { i.pc_value() } else { 0 };
            return Some(Load {
                dst: ((w >> 12) & 15) as u8,
                base: base(rn),
                disp: from.wrapping_add(off) & if rn == u32::from(PC) { M32 } else { u64::MAX },
            });
        }
        if i.len == 2 {
            let h = i.raw;
            return match h >> 11 {
                0b01001 => Some(Load {
                    dst: ((h >> 8) & 7) as u8,
                    base: None,
                    disp: (i.literal_base() + u64::from(h & 0xff) * 4) & M32,
                }),
                0b01101 => Some(Load {
                    dst: (h & 7) as u8,
                    base: Some(((h >> 3) & 7) as u8),
                    disp: u64::from((h >> 6) & 0x1f) * 4,
                }),
                _ => None,
            };
        }
        let (h1, h2) = (i.raw >> 16, i.raw & 0xffff);
        let rt = h2 >> 12;
        if rt == u32::from(PC) {
            return None;
        }
        match h1 & 0xfff0 {
            // ldr.w rt, [rn, #imm12]
            0xf8d0 if h1 & 15 != u32::from(PC) => Some(Load {
                dst: rt as u8,
                base: Some((h1 & 15) as u8),
                disp: u64::from(h2 & 0xfff),
            }),
            // ldr.w rt, [pc, #±imm12]
            0xf8d0 | 0xf850 if h1 & 15 == u32::from(PC) => {
                let off = u64::from(h2 & 0xfff);
                let addr = if h1 & 0x80 != 0 {
                    i.literal_base() + off
                } else {
                    i.literal_base().wrapping_sub(off)
                };
                Some(Load {
                    dst: rt as u8,
                    base: None,
                    disp: addr & M32,
                })
            }
            _ => None,
        }
    }
}

/// Decode `len` bytes of code at `start` in one instruction set, tracking IT blocks.
fn decode(bytes: &[u8], start: u64, thumb: bool, max: usize) -> Vec<(u64, Insn)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut it_left = 0u32;
    while out.len() < max {
        let pc = start + at as u64;
        let insn = if thumb {
            let Some(h) = le16(bytes, at) else { break };
            let (raw, len) = if thumb_wide(h) {
                let Some(h2) = le16(bytes, at + 2) else { break };
                (h << 16 | h2, 4)
            } else {
                (h, 2)
            };
            let in_it = it_left > 0;
            it_left = it_left.saturating_sub(1);
            if len == 2 && raw & 0xff00 == 0xbf00 && raw & 15 != 0 {
                // IT: up to four following instructions are conditional.
                it_left = 4 - (raw & 15).trailing_zeros();
            }
            Insn {
                raw,
                len,
                thumb,
                pc,
                in_it,
            }
        } else {
            let Some(w) = le32(bytes, at) else { break };
            Insn {
                raw: w,
                len: 4,
                thumb,
                pc,
                in_it: false,
            }
        };
        at += usize::from(insn.len);
        out.push((pc, insn));
    }
    out
}

/// The function range around `site`. A Thumb function's range starts at its symbol's odd
/// address, one past its first instruction: looking up `site | 1` finds it from there too.
fn range_at(bin: &Binary, site: u64) -> Option<(u64, u64)> {
    bin.function_at(site | 1)
}

/// Whether the call at `site` is a Thumb one (`bl`/`blx`/`b.w`) rather than an ARM `bl`/`b`;
/// `None` when it is neither.
fn call_is_thumb(bin: &Binary, site: u64) -> Option<bool> {
    let bytes = bin.code_from(site)?;
    if site.is_multiple_of(4)
        && let Some(w) = le32(bytes, 0)
        && w >> 28 != 0xf
        && (w >> 25) & 7 == 0b101
    {
        return Some(false);
    }
    let (h1, h2) = (le16(bytes, 0)?, le16(bytes, 2)?);
    (h1 & 0xf800 == 0xf000 && h2 & 0x8000 != 0 && h2 & 0x5000 != 0).then_some(true)
}

/// The function the file describes around `site`, decoded from its start in the
/// instruction set its symbol says.
fn function(bin: &Binary, site: u64) -> Result<Function<Insn>, String> {
    let (start, end) = range_at(bin, site)
        .ok_or_else(|| format!("no symbol describes the function around the call at {site:#x}"))?;
    // A Thumb symbol says so; an even start is an ARM symbol or an unwind-table entry,
    // which does not say: take the instruction set the call at `site` is encoded in.
    let thumb = start & 1 == 1
        || call_is_thumb(bin, site).ok_or_else(|| {
            format!("the instruction set of the function around the call at {site:#x} is not known")
        })?;
    let (start, end) = (start & !1, end & !1);
    let bytes = bin
        .code_from(start)
        .ok_or_else(|| format!("the function at {start:#x} is not in the file"))?;
    let len = usize::try_from(end - start)
        .ok()
        .filter(|&n| n <= bytes.len() && n <= super::MAX_FUNCTION_BYTES)
        .ok_or_else(|| format!("the function at {start:#x} is too large to read"))?;
    let insns = decode(&bytes[..len], start, thumb, usize::MAX);
    Ok(Function { start, end, insns })
}

/// `add ip, pc, #hi; [add ip, ip, #n;]* ldr pc, [ip, #lo]!` whose slot holds an import,
/// and the `bx pc` Thumb prefix before one.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    for (start, bytes) in bin.code() {
        let mut i = 0usize;
        while i + 12 <= bytes.len() {
            let Some(w0) = le32(bytes, i) else { break };
            if w0 & 0xffff_f000 != 0xe28f_c000 {
                i += 4;
                continue;
            }
            let pc = start + i as u64;
            let mut ip = (pc + 8 + arm_imm(w0 & 0xfff)) & M32;
            let mut k = i + 4;
            let mut slot = None;
            while let Some(w) = le32(bytes, k) {
                if w & 0xffff_f000 == 0xe28c_c000 && k - i <= 8 {
                    ip = (ip + arm_imm(w & 0xfff)) & M32;
                    k += 4;
                    continue;
                }
                if w & 0xffff_f000 == 0xe5bc_f000 {
                    slot = Some((ip + u64::from(w & 0xfff)) & M32);
                }
                break;
            }
            if let Some(Pointer::Import(imp)) = slot.and_then(|s| bin.pointers.get(s)) {
                stubs.entry(pc).or_insert(imp);
                if i >= 4 && le16(bytes, i - 4) == Some(0x4778) {
                    stubs.entry(pc - 4).or_insert(imp);
                }
            }
            i += 4;
        }
    }
}

/// `bl`/`b` in ARM code and `bl`/`blx`/`b.w` in Thumb code to a stub of one of `imports`;
/// only at instruction boundaries of the function around them, in its instruction set.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let mut out = Vec::new();
    for (seg, bytes) in bin.code_segments() {
        if seg.name.contains("plt") {
            continue;
        }
        let start = seg.vaddr;
        for i in (0..bytes.len().saturating_sub(3)).step_by(2) {
            let pc = start + i as u64;
            if i % 4 == 0
                && let Some(w) = le32(bytes, i)
                && w >> 28 != 0xf
                && (w >> 25) & 7 == 0b101
            {
                let t = (pc + 8 + sext(u64::from(w & 0xff_ffff) << 2, 26)) & M32;
                if let Some(imp) = code.stub_import(t).filter(|i| imports.contains(i)) {
                    out.push((pc, imp, false));
                }
            }
            let (Some(h1), Some(h2)) = (le16(bytes, i), le16(bytes, i + 2)) else {
                continue;
            };
            if h1 & 0xf800 == 0xf000 && h2 & 0x8000 != 0 && h2 & 0x5000 != 0 {
                let insn = Insn {
                    raw: h1 << 16 | h2,
                    len: 4,
                    thumb: true,
                    pc,
                    in_it: false,
                };
                let t = thumb_branch_target(&insn);
                if let Some(imp) = code.stub_import(t).filter(|i| imports.contains(i)) {
                    out.push((pc, imp, true));
                }
            }
        }
    }
    // Keep the sites that are instructions of the set their function is in.
    let mut decoded: HashMap<(u64, u64), Option<Function<Insn>>> = HashMap::new();
    out.into_iter()
        .filter(|&(pc, _, thumb)| {
            let Some(range) = range_at(bin, pc) else {
                return true; // no function described: the argument reader says why
            };
            if range.0 & 1 == 1 && !thumb {
                return false;
            }
            decoded
                .entry(range)
                .or_insert_with(|| function(bin, pc).ok())
                .as_ref()
                .is_some_and(|f| f.index(pc).is_some())
        })
        .map(|(pc, imp, _)| (pc, imp))
        .collect()
}

/// The constant in argument `n` (r0 + n) at the call at `site`.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    let isa = Arm { bin: code.bin };
    flow::register_arg(&isa, function(code.bin, site), site, n, (0, 4))
}

/// The address argument `n` holds at the call at `site`, when it is a constant in the image.
pub(super) fn addr_arg_at_call(code: &Code, site: u64, n: usize) -> Option<u64> {
    match arg_at_call(code, site, n) {
        ArgValue::Const(v) if code.bin.segment(v).is_some() => Some(v),
        _ => None,
    }
}

/// What the first `max` instructions at `func` (bit 0 set: Thumb code) compute, load and
/// call.
pub(super) fn refs(code: &Code, func: u64, max: usize) -> FuncRefs {
    let (thumb, start) = (func & 1 == 1, func & !1);
    let Some(bytes) = code.bin.code_from(start) else {
        return FuncRefs::default();
    };
    let insns = decode(bytes, start, thumb, max);
    let isa = Arm { bin: code.bin };
    let mut out = FuncRefs {
        data: flow::leaf_refs(&isa, code.bin, &insns, &[], 16),
        ..FuncRefs::default()
    };
    for (pc, insn) in &insns {
        let target = match isa.flow(insn) {
            Flow::Call if thumb && insn.len == 4 => Some(thumb_branch_target(insn)),
            Flow::Call if !thumb && (insn.raw >> 25) & 7 == 0b101 && insn.raw >> 28 != 0xf => {
                Some((insn.pc_value() + sext(u64::from(insn.raw & 0xff_ffff) << 2, 26)) & M32)
            }
            Flow::Stop | Flow::JumpIndirect => break,
            _ => None,
        };
        let Some(t) = target else { continue };
        match code.stub_import(t) {
            Some(imp) => out.imports.push(imp),
            None => {
                out.local_calls.push(t);
                out.call_sites.push(*pc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Import, PointerMap, Segment};

    fn arm(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn thumb(halves: &[u16]) -> Vec<u8> {
        halves.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    /// Text at 0x1000 holding `data`, one function over all of it (bit 0: Thumb), a PLT
    /// slot at 0x9000 for import 0 and a stub at 0x1000 when `stub`.
    fn model(data: &[u8], func_thumb: bool) -> Binary<'_> {
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
            functions: vec![(0x1010 | u64::from(func_thumb), 0x1000 + len)],
            pointer_size: 4,
            ..Binary::bare(
                Arch::Arm,
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

    /// A PLT stub at 0x1000 whose slot is 0x9000: `add ip, pc, #0x8000 - ...`.
    fn stub() -> Vec<u32> {
        // ip = 0x1008 + 0x7000 = 0x8008; + 0x0 ; slot = 0x8008 + 0xff8 = 0x9000
        vec![0xe28f_ca07, 0xe28c_c000, 0xe5bc_fff8, 0xe320_f000]
    }

    #[test]
    fn immediates_expand() {
        assert_eq!(arm_imm(0x600), 0); // add ip, pc, #0, 12
        assert_eq!(arm_imm(0xa14), 0x14000);
        assert_eq!(arm_imm(0xa07), 0x7000);
        assert_eq!(thumb_imm(0x001), 1);
        assert_eq!(thumb_imm(0x1ab), 0x00ab_00ab);
        assert_eq!(thumb_imm(0x3ab), 0xabab_abab);
        assert_eq!(thumb_imm(0x47f), 0xff00_0000);
    }

    #[test]
    fn arm_call_with_constant_argument() {
        // stub; at 0x1010: mov r1, #1; mov r0, r4; bl stub; bx lr
        let mut words = stub();
        let bl = 0xeb00_0000 | ((0x1000i64 - (0x1018 + 8)) >> 2) as u32 & 0xff_ffff;
        words.extend([0xe3a0_1001, 0xe1a0_0004, bl, 0xe12f_ff1e]);
        let data = arm(&words);
        let bin = model(&data, false);
        let code = Code::new(&bin);
        assert_eq!(code.stub_import(0x1000), Some(0));
        assert_eq!(code.call_sites(&[0]), vec![(0x1018, 0)]);
        assert_eq!(code.arg_at_call(0x1018, 1), ArgValue::Const(1));
        assert!(matches!(code.arg_at_call(0x1018, 0), ArgValue::Unknown(_)));
    }

    #[test]
    fn a_conditional_move_is_no_constant() {
        let mut words = stub();
        let bl = 0xeb00_0000 | ((0x1000i64 - (0x1018 + 8)) >> 2) as u32 & 0xff_ffff;
        // mov r1, #0; movne r1, #1; bl stub
        words.extend([0xe3a0_1000, 0x13a0_1001, bl, 0xe12f_ff1e]);
        let data = arm(&words);
        let bin = model(&data, false);
        let code = Code::new(&bin);
        assert!(matches!(code.arg_at_call(0x1018, 1), ArgValue::Unknown(_)));
    }

    /// A Thumb `bl` (or `blx`, to ARM code) at `from` to `to`.
    fn thumb_call(from: u64, to: u64, blx: bool) -> [u16; 2] {
        let base = if blx { (from + 4) & !3 } else { from + 4 };
        let off = (to as i64 - base as i64) as u32;
        let s = (off >> 24) & 1;
        let (i1, i2) = ((off >> 23) & 1, (off >> 22) & 1);
        let (j1, j2) = (!(i1 ^ s) & 1, !(i2 ^ s) & 1);
        let h1 = 0xf000 | s << 10 | (off >> 12) & 0x3ff;
        let link = if blx { 0xc000 } else { 0xd000 };
        let h2 = link | j1 << 13 | j2 << 11 | (off >> 1) & 0x7ff;
        [h1 as u16, h2 as u16]
    }

    #[test]
    fn thumb_branch_targets() {
        for (from, to, blx) in [
            (0x1012, 0x1000, true),
            (0x2000, 0x1_0000, false),
            (0x1_0002, 0x1004, false),
        ] {
            let [h1, h2] = thumb_call(from, to, blx);
            let insn = Insn {
                raw: u32::from(h1) << 16 | u32::from(h2),
                len: 4,
                thumb: true,
                pc: from,
                in_it: false,
            };
            assert_eq!(thumb_branch_target(&insn), to, "{from:#x} -> {to:#x}");
        }
    }

    #[test]
    fn thumb_call_through_blx_and_an_it_block() {
        // stub (ARM); Thumb at 0x1010: movs r1, #1; blx stub; bx lr
        let mut data = arm(&stub());
        let [h1, h2] = thumb_call(0x1012, 0x1000, true);
        data.extend(thumb(&[0x2101, h1, h2, 0x4770]));
        let bin = model(&data, true);
        let code = Code::new(&bin);
        assert_eq!(code.call_sites(&[0]), vec![(0x1012, 0)]);
        assert_eq!(code.arg_at_call(0x1012, 1), ArgValue::Const(1));

        // movs r1, #0; it ne; movne r1, #1; blx stub: the IT block makes it unknown.
        let mut data = arm(&stub());
        let [h1, h2] = thumb_call(0x1016, 0x1000, true);
        data.extend(thumb(&[0x2100, 0xbf18, 0x2101, h1, h2, 0x4770]));
        let bin = model(&data, true);
        let code = Code::new(&bin);
        assert_eq!(code.call_sites(&[0]), vec![(0x1016, 0)]);
        assert!(matches!(code.arg_at_call(0x1016, 1), ArgValue::Unknown(_)));
    }

    #[test]
    fn a_pic_literal_load_is_an_address() {
        // At 0x1010: ldr r1, [pc, #4]; add r1, pc, r1; bl stub; bx lr; .word 0x100
        let mut words = stub();
        let bl = 0xeb00_0000 | ((0x1000i64 - (0x1018 + 8)) >> 2) as u32 & 0xff_ffff;
        words.extend([0xe59f_1008, 0xe08f_1001, bl, 0xe12f_ff1e, 0x100]);
        let data = arm(&words);
        let bin = model(&data, false);
        let code = Code::new(&bin);
        // r1 = 0x100 + (0x1014 + 8) = 0x111c
        assert_eq!(code.arg_at_call(0x1018, 1), ArgValue::Const(0x111c));
        assert_eq!(addr_arg_at_call(&code, 0x1018, 1), None); // not in the image
    }
}
