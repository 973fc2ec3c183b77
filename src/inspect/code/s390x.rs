//! s390x (z/Architecture) code reading: PLT stubs, the calls to them and the constant in an
//! argument register (`%r2`, `%r3`, ...) at such a call.
//!
//! Calls into the PLT are `brasl %r14,stub` (or `jg stub` as a tail call); a stub is
//! `larl %r1,slot; lg %r1,0(%r1); br %r1`. Code built with `-fno-plt` calls
//! `basr %r14,%r1` after `lgrl %r1,slot`. Instructions are 2, 4 or 6 bytes long, the length
//! given by the first byte, so boundaries are only certain when decoding forward from a
//! known start: arguments are read over the function the file describes around the call (its
//! `.eh_frame` entry or symbol), and call sites that are not instruction boundaries there are
//! dropped.

use std::collections::HashMap;

use super::flow::{self, Effect, Flow, Function, Isa, Load};
use super::{ArgValue, Code};
use crate::inspect::model::{Binary, Pointer};

fn sext(v: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64
}

/// Length of the instruction whose first byte is `op`.
fn length(op: u8) -> usize {
    match op >> 6 {
        0 => 2,
        1 | 2 => 4,
        _ => 6,
    }
}

fn be16(b: &[u8]) -> u64 {
    u64::from(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(b: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// `larl %r1,slot; lg %r1,0(%r1); br %r1` whose slot holds an import.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    const TAIL: [u8; 8] = [0xe3, 0x10, 0x10, 0x00, 0x00, 0x04, 0x07, 0xf1];
    for (start, bytes) in bin.code() {
        for i in (0..bytes.len().saturating_sub(13)).step_by(2) {
            if bytes[i] != 0xc0 || bytes[i + 1] != 0x10 || bytes[i + 6..i + 14] != TAIL {
                continue;
            }
            let pc = start + i as u64;
            let slot = pc.wrapping_add(sext(be32(&bytes[i + 2..]), 32) << 1);
            if let Some(Pointer::Import(imp)) = bin.pointers.get(slot) {
                stubs.entry(pc).or_insert(imp);
            }
        }
    }
}

/// `brasl %r14`/`jg` to a stub of one of `imports`, and `basr %r14,%rN` after
/// `lgrl %rN,slot`; only at instruction boundaries of the function around them.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let mut out = Vec::new();
    let mut decoded: HashMap<(u64, u64), Function<Insn>> = HashMap::new();
    for (start, bytes) in bin.code() {
        for i in (0..bytes.len().saturating_sub(1)).step_by(2) {
            let pc = start + i as u64;
            let imp = match (bytes[i], bytes[i + 1]) {
                (0xc0, 0xe5 | 0xf4) if i + 6 <= bytes.len() => {
                    let target = pc.wrapping_add(sext(be32(&bytes[i + 2..]), 32) << 1);
                    code.stub_import(target)
                }
                (0x0d, b) if b >> 4 == 14 && b & 15 != 0 => {
                    // The instruction before, in the decoded function, loads the slot.
                    let Some(f) = decoded_at(&mut decoded, bin, pc) else {
                        continue;
                    };
                    let Some(k) = f.index(pc).filter(|&k| k > 0) else {
                        continue;
                    };
                    let prev = &f.insns[k - 1].1;
                    if prev.b[0] == 0xc4 && prev.b[1] == ((b & 15) << 4 | 8) {
                        let slot = prev.pc.wrapping_add(sext(be32(&prev.b[2..]), 32) << 1);
                        code.slot_import(slot)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let Some(imp) = imp.filter(|i| imports.contains(i)) else {
                continue;
            };
            // A pattern inside a longer instruction is not a call.
            if let Some(f) = decoded_at(&mut decoded, bin, pc)
                && f.index(pc).is_none()
            {
                continue;
            }
            out.push((pc, imp));
        }
    }
    out
}

/// The decoded function around `site`, decoded once per function.
fn decoded_at<'m>(
    cache: &'m mut HashMap<(u64, u64), Function<Insn>>,
    bin: &Binary,
    site: u64,
) -> Option<&'m Function<Insn>> {
    let range = bin.function_at(site)?;
    if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(range) {
        slot.insert(function(bin, site).ok()?);
    }
    cache.get(&range)
}

/// One decoded instruction: its bytes (the first `len` of six) and address.
#[derive(Debug, Clone, Copy)]
pub(super) struct Insn {
    b: [u8; 6],
    len: u8,
    pc: u64,
}

impl Insn {
    fn r1(&self) -> u8 {
        self.b[1] >> 4
    }
    fn r2(&self) -> u8 {
        self.b[1] & 15
    }
    /// Relative target of RI (`brc`) and RIE (`cij`) forms: 16-bit halfwords at byte 2.
    fn rel16(&self) -> u64 {
        self.pc.wrapping_add(sext(be16(&self.b[2..]), 16) << 1)
    }
    /// Relative target of RIL forms (`brcl`, `brasl`, `larl`): 32-bit halfwords at byte 2.
    fn rel32(&self) -> u64 {
        self.pc.wrapping_add(sext(be32(&self.b[2..]), 32) << 1)
    }
    /// Index, base and 12-bit displacement of an RX operand.
    fn rx(&self) -> (u8, u8, u64) {
        (
            self.b[1] & 15,
            self.b[2] >> 4,
            (u64::from(self.b[2] & 15) << 8) | u64::from(self.b[3]),
        )
    }
}

struct S390x;

/// `lgr`-style copies and `la`-style address arithmetic: `base + disp` (index 0).
fn address(x: u8, b: u8, d: u64) -> Effect<u8> {
    match (x, b) {
        (0, 0) => Effect::Const(d),
        (0, r) | (r, 0) => Effect::Derived {
            src: r,
            add: d,
            mask: u64::MAX,
        },
        _ => Effect::Opaque,
    }
}

impl Isa for S390x {
    type Reg = u8;
    type Insn = Insn;

    fn flow(&self, i: &Insn) -> Flow {
        let b = &i.b;
        let (m, r2) = (i.r1(), i.r2());
        match (b[0], i.len) {
            (0x07, _) => match (m, r2) {
                (0, _) | (_, 0) => Flow::Next, // nop, serialization
                (15, 14) => Flow::Stop,        // br %r14
                (_, 14) => Flow::Next,         // conditional return
                _ => Flow::JumpIndirect,
            },
            (0x05 | 0x0d, _) if r2 != 0 => Flow::Call,
            (0x0a, _) => Flow::Call, // svc
            (0x06, _) if r2 != 0 => Flow::JumpIndirect,
            (0xa7, _) => match b[1] & 15 {
                4 => {
                    let t = i.rel16();
                    match m {
                        0 => Flow::Next,
                        // `j .+2` lands on the illegal halfword inside itself: gcc's trap.
                        15 if t == i.pc + 2 => Flow::Stop,
                        _ if t == i.pc + 2 => Flow::Next,
                        15 => Flow::Jump(t),
                        _ => Flow::Branch(t),
                    }
                }
                5 => Flow::Call,
                6 | 7 => Flow::Branch(i.rel16()),
                _ => Flow::Next,
            },
            (0x84 | 0x85, _) => Flow::Branch(i.rel16()),
            (0x47, _) => {
                let (x, base, d) = i.rx();
                match m {
                    0 => Flow::Next,
                    15 if (x, base, d) == (0, 14, 0) => Flow::Stop,
                    _ if (x, base, d) == (0, 14, 0) => Flow::Next,
                    _ => Flow::JumpIndirect,
                }
            }
            (0x45 | 0x4d, _) => Flow::Call,
            (0x46 | 0x86 | 0x87, _) => Flow::JumpIndirect,
            (0xc0, _) => match b[1] & 15 {
                4 => {
                    let t = i.rel32();
                    match m {
                        0 => Flow::Next,
                        15 => Flow::Jump(t),
                        _ => Flow::Branch(t),
                    }
                }
                5 => Flow::Call,
                _ => Flow::Next,
            },
            (0xec, _) => match b[5] {
                0x7c..=0x7f | 0x64 | 0x65 | 0x76 | 0x77 | 0x44 | 0x45 => Flow::Branch(i.rel16()),
                0xe4 | 0xe5 | 0xf6 | 0xf7 | 0xfc..=0xff => {
                    // Compare and branch to base + displacement: a conditional return when
                    // the target is 0(%r14), else a jump this reader cannot follow.
                    if b[2] >> 4 == 14 && b[2] & 15 == 0 && b[3] == 0 {
                        Flow::Next
                    } else {
                        Flow::JumpIndirect
                    }
                }
                _ => Flow::Next,
            },
            (0xe3, _) if b[5] == 0x46 => Flow::JumpIndirect, // bctg
            (0xeb, _) if b[5] == 0x44 || b[5] == 0x45 => Flow::JumpIndirect,
            _ => Flow::Next,
        }
    }

    fn effect(&self, i: &Insn, r: u8) -> Option<Effect<u8>> {
        let b = &i.b;
        let (r1, r2) = (i.r1(), i.r2());
        let opaque = Some(Effect::Opaque);
        let writes = |hit: bool| hit.then_some(Effect::Opaque);
        let pair = |x: u8| r == x || r == (x + 1) & 15;
        let range = |lo: u8, hi: u8| {
            if lo <= hi {
                (lo..=hi).contains(&r)
            } else {
                r >= lo || r <= hi
            }
        };
        match b[0] {
            // --- 2 bytes ---
            0x07 | 0x04 | 0x0a | 0x0b => None,
            0x0e | 0x0f => writes(pair(r1) || pair(r2)),
            0x1c | 0x1d => writes(pair(r1)),
            0x15 | 0x19 => None, // clr, cr
            0x20..=0x3f => None, // floating point
            0x00..=0x3f => writes(r1 == r),
            // --- 4 bytes ---
            0xa7 => match b[1] & 15 {
                0..=4 | 0xe | 0xf => None,
                _ if r1 != r => None,
                // lhi sets the low half only: a non-zero value is non-NULL whatever the
                // high half holds, zero is not a NULL pointer unless the high half is 0.
                0x8 => match sext(be16(&b[2..]), 16) & 0xffff_ffff {
                    0 => opaque,
                    v => Some(Effect::Const(v)),
                },
                0x9 => Some(Effect::Const(sext(be16(&b[2..]), 16))),
                0xb => Some(Effect::Derived {
                    src: r1,
                    add: sext(be16(&b[2..]), 16),
                    mask: u64::MAX,
                }),
                _ => opaque,
            },
            0xa5 if r1 == r => {
                let imm = be16(&b[2..]);
                Some(match b[1] & 15 {
                    0xc => Effect::Const(imm << 48),
                    0xd => Effect::Const(imm << 32),
                    0xe => Effect::Const(imm << 16),
                    0xf => Effect::Const(imm),
                    _ => Effect::Opaque,
                })
            }
            0xa5 => None,
            0xb2 | 0xb3 | 0xb9 => {
                let (d, s) = (b[3] >> 4, b[3] & 15);
                match (b[0], b[1]) {
                    (0xb9, 0x04 | 0x02) if d == r => Some(Effect::Derived {
                        src: s,
                        add: 0,
                        mask: u64::MAX,
                    }),
                    (0xb9, 0x82) if d == r && d == s => Some(Effect::Const(0)),
                    (0xb9, 0x86 | 0x87 | 0x0d | 0x1d | 0x96 | 0x97) => writes(pair(d)),
                    (0xb9, 0x20 | 0x21 | 0x30 | 0x31) => None, // cgr, clgr, cgfr, clgfr
                    _ => writes(d == r),
                }
            }
            0x40 | 0x42 | 0x50 | 0x60 | 0x70 | 0x4e => None, // stores
            0x49 | 0x55 | 0x59 | 0x69 | 0x79 | 0x47 | 0x68 | 0x78 => None,
            0x44 => opaque, // ex: runs another instruction
            0x41 if r1 == r => {
                let (x, base, d) = i.rx();
                Some(address(x, base, d))
            }
            0x5c | 0x5d => writes(pair(r1)),
            0x40..=0x7f => writes(r1 == r),
            0x90 | 0x91..=0x97 | 0xbd | 0xbe | 0x9a | 0x9b => None,
            0x98 => writes(range(r1, r2)),
            0x8c..=0x8f => writes(pair(r1)),
            0xa8 | 0xa9 => writes(pair(r1) || pair(r2)),
            0x80..=0xbf => writes(r1 == r),
            // --- 6 bytes ---
            0xc0 => match b[1] & 15 {
                4 => None,
                _ if r1 != r => None,
                0x1 => Some(Effect::Const(sext(be32(&b[2..]), 32))),
                0xe => Some(Effect::Const(be32(&b[2..]) << 32)),
                0xf => Some(Effect::Const(be32(&b[2..]))),
                0x0 => Some(Effect::Const(i.rel32())), // larl
                _ => opaque,                           // brasl (the return address), inserts
            },
            0xc4 => match b[1] & 15 {
                0x7 | 0xb | 0xf => None,
                _ => writes(r1 == r),
            },
            0xc6 => (b[1] & 15 == 0).then_some(Effect::Opaque), // exrl
            0xc8 => writes(r1 == r || r2 == r || r <= 1),
            0xd0 | 0xdd | 0xdf => writes(r == 1 || r == 2),
            0xd1..=0xdc | 0xde | 0xe8..=0xea | 0xe5 | 0xed => None,
            0xee | 0xef => opaque,
            0xe3 => match b[5] {
                0x24 | 0x50 | 0x72 | 0x70 | 0x3e | 0x2f | 0x3f | 0x8e | 0x36 | 0xc3 | 0xc7
                | 0xcb | 0x20 | 0x21 | 0x30 | 0x31 | 0x34 | 0x59 | 0x55 | 0x79 | 0x25 => None,
                0x71 if r1 == r => {
                    let (x, base, _) = i.rx();
                    let d = sext(
                        (u64::from(b[4]) << 12) | (u64::from(b[2] & 15) << 8) | u64::from(b[3]),
                        20,
                    );
                    Some(address(x, base, d))
                }
                0x8f => writes(pair(r1)),
                _ => writes(r1 == r),
            },
            0xe7 => writes(b[5] == 0x21 && r1 == r), // vlgv is the one writing a GPR
            0xeb => match b[5] {
                0x51 | 0x52 | 0x54..=0x57 | 0x6a | 0x6e | 0x7a | 0x7e => None, // SIY forms
                0x24 | 0x90 | 0x26 | 0x2c | 0x2d | 0x20 | 0x21 | 0x23 | 0x2b => None,
                0x04 | 0x98 | 0x96 => writes(range(r1, r2)),
                0x3e | 0x31 => writes(pair(r1)),
                _ => writes(r1 == r),
            },
            0xec => match b[5] {
                0x7c..=0x7f
                | 0x64
                | 0x65
                | 0x76
                | 0x77
                | 0xe4
                | 0xe5
                | 0xf6
                | 0xf7
                | 0xfc..=0xff
                | 0x70..=0x73
                | 0x60..=0x63 => None,
                0xd9 if r1 == r => Some(Effect::Derived {
                    src: r2,
                    add: sext(be16(&b[2..]), 16),
                    mask: u64::MAX,
                }),
                _ => writes(r1 == r),
            },
            _ => writes(r1 == r),
        }
    }

    fn clobbered_by_call(&self, r: u8) -> bool {
        r <= 5 || r == 14
    }

    fn load(&self, i: &Insn) -> Option<Load<u8>> {
        let b = &i.b;
        match (b[0], i.len) {
            // lg r1, d20(x2, b2) without an index.
            (0xe3, 6) if b[5] == 0x04 && b[1] & 15 == 0 => {
                let base = b[2] >> 4;
                let d = sext(
                    (u64::from(b[4]) << 12) | (u64::from(b[2] & 15) << 8) | u64::from(b[3]),
                    20,
                );
                Some(Load {
                    dst: i.r1(),
                    base: (base != 0).then_some(base),
                    disp: d,
                })
            }
            // lgrl r1, pc-relative
            (0xc4, 6) if b[1] & 15 == 0x8 => Some(Load {
                dst: i.r1(),
                base: None,
                disp: i.rel32(),
            }),
            _ => None,
        }
    }
}

/// What the first `max` instructions at `func` compute and load (see [`flow::leaf_refs`]).
pub(super) fn refs(code: &Code, func: u64, max: usize) -> super::FuncRefs {
    let Some(bytes) = code.bin.code_from(func) else {
        return super::FuncRefs::default();
    };
    let mut insns = Vec::new();
    let mut at = 0usize;
    while insns.len() < max {
        let Some(raw) = bytes.get(at..at + length(bytes.get(at).copied().unwrap_or(0))) else {
            break;
        };
        let mut b = [0u8; 6];
        b[..raw.len()].copy_from_slice(raw);
        let pc = func + at as u64;
        insns.push((
            pc,
            Insn {
                b,
                len: raw.len() as u8,
                pc,
            },
        ));
        at += raw.len();
    }
    super::FuncRefs {
        data: flow::leaf_refs(&S390x, code.bin, &insns, &[], 16),
        ..Default::default()
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
    let mut insns = Vec::new();
    let mut at = 0usize;
    while at < len {
        let n = length(bytes[at]);
        let Some(raw) = bytes[..len].get(at..at + n) else {
            break;
        };
        let mut b = [0u8; 6];
        b[..n].copy_from_slice(raw);
        let pc = start + at as u64;
        insns.push((
            pc,
            Insn {
                b,
                len: n as u8,
                pc,
            },
        ));
        at += n;
    }
    Ok(Function { start, end, insns })
}

/// The constant in argument `n` (%r2 + n) at the call at `site`.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    flow::register_arg(&S390x, function(code.bin, site), site, n, (2, 5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Import, PointerMap, Segment};

    /// A big-endian model: text at 0x1000 (a PLT stub for the slot at 0x9000, then one
    /// function holding `body` and a `brasl` to the stub), the slot holding import 0.
    fn read(body: &[&[u8]]) -> (Vec<(u64, u32)>, Vec<ArgValue>) {
        let mut text: Vec<u8> = Vec::new();
        text.extend_from_slice(&[0xc0, 0x10]);
        text.extend_from_slice(&((0x9000u32 - 0x1000) / 2).to_be_bytes());
        text.extend_from_slice(&[0xe3, 0x10, 0x10, 0x00, 0x00, 0x04, 0x07, 0xf1]);
        text.extend_from_slice(&[0x07, 0x07]); // padding to 16
        for b in body {
            text.extend_from_slice(b);
        }
        let at = 0x1000 + text.len() as u32;
        text.extend_from_slice(&[0xc0, 0xe5]);
        text.extend_from_slice(&((0x1000u32.wrapping_sub(at) as i32 / 2) as u32).to_be_bytes());
        text.extend_from_slice(&[0x07, 0xfe]); // br %r14
        let len = text.len() as u64;
        let mut pointers = PointerMap::default();
        pointers.insert(0x9000, Pointer::Import(0));
        pointers.finish();
        let bin = Binary {
            little_endian: false,
            pointers,
            imports: vec![Import {
                name: "PyUnstable_Module_SetGIL".into(),
                library: None,
            }],
            functions: vec![(0x1010, 0x1000 + len)],
            ..Binary::bare(
                Arch::S390x,
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

    const LGHI_R3_1: &[u8] = &[0xa7, 0x39, 0x00, 0x01];
    const LGR_R2_R9: &[u8] = &[0xb9, 0x04, 0x00, 0x29];

    #[test]
    fn lghi_r3_before_brasl_to_a_stub() {
        let (sites, args) = read(&[LGR_R2_R9, LGHI_R3_1]);
        assert_eq!(sites, [(0x1018, 0)]);
        assert_eq!(args, [ArgValue::Const(1)]);
        let (_, args) = read(&[&[0xa7, 0x39, 0x00, 0x00], LGR_R2_R9]);
        assert_eq!(args, [ArgValue::Const(0)]);
        // lgr %r3,%r11 after lghi %r11,1 and a call that keeps %r11.
        let (_, args) = read(&[
            &[0xa7, 0xb9, 0x00, 0x01],
            &[0x0d, 0xe1],
            &[0xb9, 0x04, 0x00, 0x3b],
        ]);
        assert_eq!(args, [ArgValue::Const(1)]);
    }

    #[test]
    fn other_ways_of_setting_r3_are_unknown() {
        // lg %r3,8(%r9)
        let (_, args) = read(&[&[0xe3, 0x30, 0x90, 0x08, 0x00, 0x04]]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("run time")));
        // lhi %r3,0 leaves the high half as it was.
        let (_, args) = read(&[&[0xa7, 0x38, 0x00, 0x00]]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("run time")));
        // lghi %r3,1 before a call that may change %r3.
        let (_, args) = read(&[LGHI_R3_1, &[0x0d, 0xe1]]);
        assert!(matches!(&args[0], ArgValue::Unknown(w) if w.contains("call at")));
    }

    /// A `brasl` pattern inside another instruction's immediate is not a call site.
    #[test]
    fn patterns_inside_instructions_are_not_calls() {
        // iilf %r0,0x0000c0e5, then an (unknown) 6-byte instruction starting ff ff ff f6:
        // `c0 e5 ff ff ff f6` at 0x1014 would be a brasl to the stub.
        let (sites, _) = read(&[
            &[0xc0, 0x09, 0x00, 0x00, 0xc0, 0xe5],
            &[0xff, 0xff, 0xff, 0xf6, 0x00, 0x00],
        ]);
        assert_eq!(sites, [(0x101c, 0)]);
    }
}
