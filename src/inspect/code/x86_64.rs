//! x86-64 code reading (ELF, Mach-O and PE): stubs, call sites, call arguments and constant
//! stores, by byte-pattern search plus iced-x86 decoding of short windows.

use std::cell::RefCell;
use std::collections::HashMap;

use iced_x86::{
    Code as Op, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory,
    OpAccess, OpKind, Register,
};
use memchr::memchr_iter;

use super::emulate::{Callee, Cond, Machine, Src, Step};
use super::flow::{self, Effect, Flow, Function, Isa};
use super::{ArgValue, Code, FuncRefs, Store, code_at};
use crate::inspect::model::{Binary, Pointer};

const SYSV_ARGS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];
const WIN64_ARGS: [Register; 4] = [Register::RCX, Register::RDX, Register::R8, Register::R9];

fn rel32(bytes: &[u8], at: usize) -> Option<i64> {
    let b = bytes.get(at..at + 4)?;
    Some(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// Every `jmp qword [rip+slot]` whose slot holds an import: the PLT entries, `.plt.sec`
/// entries (after `endbr64` and `bnd`), Mach-O `__stubs` and PE thunks.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    for (start, bytes) in bin.code() {
        for i in memchr_iter(0xff, bytes) {
            if bytes.get(i + 1) != Some(&0x25) {
                continue;
            }
            let Some(disp) = rel32(bytes, i + 2) else {
                continue;
            };
            let ip = start + i as u64;
            let slot = (ip + 6).wrapping_add_signed(disp);
            let Some(Pointer::Import(imp)) = bin.pointers.get(slot) else {
                continue;
            };
            stubs.entry(ip).or_insert(imp);
            let mut head = i;
            if head >= 1 && bytes[head - 1] == 0xf2 {
                head -= 1; // bnd jmp
                stubs.entry(start + head as u64).or_insert(imp);
            }
            if head >= 4 && bytes[head - 4..head] == [0xf3, 0x0f, 0x1e, 0xfa] {
                stubs.entry(start + head as u64 - 4).or_insert(imp); // endbr64
            }
        }
    }
}

fn decoder(bytes: &[u8], ip: u64) -> Decoder<'_> {
    Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE)
}

/// What the first `max` instructions at `func` reference, following straight-line code and
/// stopping at the first return or indirect jump.
pub(super) fn refs(code: &Code, func: u64, max: usize) -> FuncRefs {
    let mut out = FuncRefs::default();
    let Some(bytes) = code_at(code.bin, func) else {
        return out;
    };
    let bytes = &bytes[..bytes.len().min(max * 15)];
    let mut dec = decoder(bytes, func);
    let mut ins = Instruction::default();
    for _ in 0..max {
        if !dec.can_decode() {
            break;
        }
        dec.decode_out(&mut ins);
        if ins.is_invalid() {
            break;
        }
        if ins.is_ip_rel_memory_operand() {
            let target = ins.ip_rel_memory_address();
            if ins.mnemonic() == iced_x86::Mnemonic::Lea {
                out.data.push(target);
            } else if let Some(p) = code.bin.pointers.get(target) {
                match p {
                    Pointer::Addr(a) => out.data.push(a),
                    Pointer::Import(i) => match ins.flow_control() {
                        FlowControl::IndirectCall => out.imports.push(i),
                        FlowControl::IndirectBranch => {
                            out.imports.push(i);
                            out.tail_import = Some(i);
                        }
                        _ => {}
                    },
                }
            }
        }
        if ins.flow_control() == FlowControl::IndirectCall
            && ins.is_ip_rel_memory_operand()
            && matches!(
                code.bin.pointers.get(ins.ip_rel_memory_address()),
                Some(Pointer::Addr(_))
            )
        {
            out.call_sites.push(ins.ip());
        }
        match ins.flow_control() {
            FlowControl::Call | FlowControl::UnconditionalBranch => {
                let t = ins.near_branch_target();
                if ins.flow_control() == FlowControl::Call && code.stub_import(t).is_none() {
                    out.call_sites.push(ins.ip());
                }
                let tail = ins.flow_control() == FlowControl::UnconditionalBranch;
                match code.stub_import(t) {
                    Some(i) => {
                        out.imports.push(i);
                        if tail {
                            out.tail_import = Some(i);
                        }
                    }
                    None => out.local_calls.push(t),
                }
                if tail {
                    break;
                }
            }
            FlowControl::Return | FlowControl::IndirectBranch | FlowControl::Exception => break,
            _ => {}
        }
    }
    out
}

/// Direct calls/jumps to a stub of one of `imports`, and `call/jmp [rip+slot]` through their
/// pointer slots (a stub's own `jmp` inside a PLT or `__stubs` section is not a call site).
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let wanted = |imp: u32| imports.contains(&imp);
    let mut out = Vec::new();
    for (seg, bytes) in bin.code_segments() {
        let start = seg.vaddr;
        let stub_section = seg.name.contains("plt") || seg.name.contains("stub");
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                0xe8 | 0xe9 => {
                    let Some(rel) = rel32(bytes, i + 1) else {
                        continue;
                    };
                    let target = (start + i as u64 + 5).wrapping_add_signed(rel);
                    if let Some(imp) = code.stub_import(target).filter(|&imp| wanted(imp)) {
                        out.push((start + i as u64, imp));
                    }
                }
                0xff if !stub_section => {
                    if !matches!(bytes.get(i + 1), Some(0x15 | 0x25)) {
                        continue;
                    }
                    // A thunk's own `jmp [slot]` (PE thunks sit in `.text`) calls nothing.
                    if bytes[i + 1] == 0x25 && code.stub_import(start + i as u64).is_some() {
                        continue;
                    }
                    let Some(rel) = rel32(bytes, i + 2) else {
                        continue;
                    };
                    let slot = (start + i as u64 + 6).wrapping_add_signed(rel);
                    if let Some(imp) = code.slot_import(slot).filter(|&imp| wanted(imp)) {
                        out.push((start + i as u64, imp));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Decode the instructions that end exactly at `site`, starting as far back as `window`
/// bytes allows (x86 decoding resynchronises within a few instructions).
fn instructions_before(bin: &Binary, site: u64, window: u64, enough: usize) -> Vec<Instruction> {
    decode_before(bin, site, window, enough, 64)
}

/// The instructions of `bytes` (at `ip`) decoded forward, up to the first undecodable one.
pub(super) fn decode_run(bytes: &[u8], ip: u64, bitness: u32) -> Vec<Instruction> {
    let mut dec = Decoder::with_ip(bitness, bytes, ip, DecoderOptions::NONE);
    let mut run = Vec::new();
    let mut ins = Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut ins);
        if ins.is_invalid() {
            break;
        }
        run.push(ins);
    }
    run
}

/// [`instructions_before`] for 64- or 32-bit code: the longest run of instructions that
/// ends exactly at `site`, from the farthest start within `window` bytes that gives it; stops
/// once `enough` instructions are found.
///
/// Each byte offset before the site is decoded once (a run from any start decodes each
/// instruction the same way, as the decoder keeps no state between instructions), and how
/// long the run from it is follows from the run after its instruction: `window` decodes, not
/// one run per start (a `window` of 320 bytes took ~25,000 decodes per call, most of
/// matplotlib's scan).
pub(super) fn decode_before(
    bin: &Binary,
    site: u64,
    window: u64,
    enough: usize,
    bitness: u32,
) -> Vec<Instruction> {
    let window = window.min(site);
    // For `back` bytes before the site: the instruction there and how many instructions the
    // run from there has when it ends exactly at the site.
    let n = usize::try_from(window).unwrap_or(0);
    let mut at: Vec<Option<Instruction>> = vec![None; n + 1];
    let mut count: Vec<Option<usize>> = vec![None; n + 1];
    for back in 1..=n {
        let from = site - back as u64;
        let Some(bytes) = code_at(bin, from) else {
            continue;
        };
        // A run never reads past the site, nor past the end of its own segment.
        let limit = bytes.len().min(back);
        let mut dec = Decoder::with_ip(bitness, &bytes[..limit], from, DecoderOptions::NONE);
        let ins = dec.decode();
        if ins.is_invalid() {
            continue;
        }
        let next = ins.next_ip();
        count[back] = if next == site {
            Some(1)
        } else if next < from + limit as u64 {
            // The rest of the run is the run from `next`, in the same segment.
            count[(site - next) as usize].map(|c| c + 1)
        } else {
            None
        };
        at[back] = Some(ins);
    }
    let mut best: Option<(usize, usize)> = None; // (back, count)
    for back in (1..=n).rev() {
        if let Some(c) = count[back]
            && best.is_none_or(|(_, b)| c > b)
        {
            best = Some((back, c));
        }
        if best.is_some_and(|(_, b)| b >= enough) {
            break;
        }
    }
    let mut run = Vec::new();
    let Some((mut back, len)) = best else {
        return run;
    };
    while let Some(ins) = at[back] {
        run.push(ins);
        if run.len() == len {
            break;
        }
        back = (site - ins.next_ip()) as usize;
    }
    run
}

/// The constant in argument `n` at the call at `site`. When the file describes the function
/// around the call (`.pdata`, `.eh_frame`), it is decoded forward from its start and every
/// path to the call is read; otherwise the code just before the call is decoded backwards
/// and read as straight-line code.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize, windows: bool) -> ArgValue {
    let regs: &[Register] = if windows { &WIN64_ARGS } else { &SYSV_ARGS };
    let Some(&reg) = regs.get(n) else {
        return ArgValue::Unknown(format!("argument {n} is passed on the stack"));
    };
    if let Some(func) = function(code.bin, site) {
        let isa = X64 {
            windows,
            factory: RefCell::new(InstructionInfoFactory::new()),
        };
        return flow::value_before(&isa, &func, site, reg);
    }
    arg_before_call(code, site, reg)
}

/// The function the file describes around `site`, decoded from its start, when the decode
/// lands on `site` with no undecodable bytes before it. Undecodable bytes after the call end
/// the function there (data after the code).
fn function(bin: &Binary, site: u64) -> Option<Function<Instruction>> {
    let (start, end) = bin.function_at(site)?;
    let bytes = code_at(bin, start)?;
    let len = usize::try_from(end - start)
        .ok()
        .filter(|&n| n <= bytes.len() && n <= super::MAX_FUNCTION_BYTES)?;
    let mut dec = decoder(&bytes[..len], start);
    let mut insns = Vec::new();
    let mut ins = Instruction::default();
    let mut end = end;
    while dec.can_decode() {
        dec.decode_out(&mut ins);
        if ins.is_invalid() {
            if ins.ip() <= site {
                return None;
            }
            end = ins.ip();
            break;
        }
        insns.push((ins.ip(), ins));
    }
    let func = Function { start, end, insns };
    func.index(site).map(|_| func)
}

/// x86-64 as [`flow`] sees it.
struct X64 {
    windows: bool,
    factory: RefCell<InstructionInfoFactory>,
}

impl Isa for X64 {
    type Reg = Register;
    type Insn = Instruction;

    fn flow(&self, ins: &Instruction) -> Flow {
        match ins.flow_control() {
            FlowControl::Next | FlowControl::XbeginXabortXend => Flow::Next,
            FlowControl::Call | FlowControl::IndirectCall => Flow::Call,
            FlowControl::UnconditionalBranch => Flow::Jump(ins.near_branch_target()),
            FlowControl::ConditionalBranch => Flow::Branch(ins.near_branch_target()),
            // `jmp [rip+slot]` goes where a fixed pointer says: a tail call, not a switch.
            FlowControl::IndirectBranch if ins.is_ip_rel_memory_operand() => Flow::Stop,
            FlowControl::IndirectBranch => Flow::JumpIndirect,
            FlowControl::Return | FlowControl::Interrupt | FlowControl::Exception => Flow::Stop,
        }
    }

    fn effect(&self, ins: &Instruction, reg: Register) -> Option<Effect<Register>> {
        let writes = self
            .factory
            .borrow_mut()
            .info(ins)
            .used_registers()
            .iter()
            .any(|u| {
                u.register().full_register() == reg
                    && matches!(
                        u.access(),
                        OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite
                    )
            });
        if !writes {
            return None;
        }
        let to_reg = ins.op0_kind() == OpKind::Register;
        let from_reg = ins.op_count() > 1 && ins.op1_kind() == OpKind::Register;
        let same =
            from_reg && ins.op0_register().full_register() == ins.op1_register().full_register();
        Some(match ins.code() {
            Op::Mov_r32_imm32 | Op::Mov_rm32_imm32 if to_reg => {
                Effect::Const(ins.immediate(1) & 0xffff_ffff)
            }
            Op::Mov_r64_imm64 | Op::Mov_rm64_imm32 if to_reg => Effect::Const(ins.immediate(1)),
            Op::Xor_r32_rm32
            | Op::Xor_rm32_r32
            | Op::Xor_r64_rm64
            | Op::Xor_rm64_r64
            | Op::Sub_r32_rm32
            | Op::Sub_rm32_r32
            | Op::Sub_r64_rm64
            | Op::Sub_rm64_r64
                if same =>
            {
                Effect::Const(0)
            }
            Op::Mov_r32_rm32 | Op::Mov_rm32_r32 if to_reg && from_reg => Effect::Derived {
                src: ins.op1_register().full_register(),
                add: 0,
                mask: 0xffff_ffff,
            },
            Op::Mov_r64_rm64 | Op::Mov_rm64_r64 if to_reg && from_reg => Effect::Derived {
                src: ins.op1_register().full_register(),
                add: 0,
                mask: u64::MAX,
            },
            // `lea edx, [rcx+1]`: base plus displacement, no index, not RIP-relative.
            Op::Lea_r32_m | Op::Lea_r64_m
                if !ins.is_ip_rel_memory_operand()
                    && ins.memory_index() == Register::None
                    && ins.memory_base() != Register::None =>
            {
                Effect::Derived {
                    src: ins.memory_base().full_register(),
                    add: ins.memory_displacement64(),
                    mask: if ins.code() == Op::Lea_r32_m {
                        0xffff_ffff
                    } else {
                        u64::MAX
                    },
                }
            }
            _ => Effect::Opaque,
        })
    }

    fn clobbered_by_call(&self, reg: Register) -> bool {
        use Register::*;
        match reg {
            RAX | RCX | RDX | R8 | R9 | R10 | R11 => true,
            RSI | RDI => !self.windows,
            _ => false,
        }
    }
}

/// The RIP-relative address argument `n` holds at the call at `site`, set by the code just
/// before the call.
pub(super) fn addr_arg_at_call(code: &Code, site: u64, n: usize, windows: bool) -> Option<u64> {
    let regs: &[Register] = if windows { &WIN64_ARGS } else { &SYSV_ARGS };
    let ins = last_write(code, site, *regs.get(n)?, true)?;
    (ins.code() == Op::Lea_r64_m && ins.is_ip_rel_memory_operand())
        .then(|| ins.ip_rel_memory_address())
}

/// Walk back from the call at `site` to the instruction that last set `reg`, over the code
/// decoded backwards from the call (no function start known).
fn arg_before_call(code: &Code, site: u64, reg: Register) -> ArgValue {
    let run = instructions_before(code.bin, site, 64, 12);
    if run.is_empty() {
        return ArgValue::Unknown(format!("no decodable code before the call at {site:#x}"));
    }
    let mut factory = InstructionInfoFactory::new();
    let mut want = reg;
    for ins in run.iter().rev() {
        if matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall | FlowControl::Return
        ) {
            break; // argument registers are clobbered by calls: it was set after this one
        }
        let writes = factory.info(ins).used_registers().iter().any(|u| {
            u.register().full_register() == want
                && matches!(
                    u.access(),
                    OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite
                )
        });
        if !writes {
            continue;
        }
        match ins.code() {
            Op::Mov_r32_imm32 | Op::Mov_r64_imm64 | Op::Mov_rm64_imm32 | Op::Mov_rm32_imm32
                if ins.op0_kind() == OpKind::Register =>
            {
                return ArgValue::Const(ins.immediate(1));
            }
            Op::Xor_r32_rm32 | Op::Xor_rm32_r32 | Op::Xor_r64_rm64 | Op::Xor_rm64_r64
                if ins.op1_kind() == OpKind::Register
                    && ins.op0_register().full_register() == ins.op1_register().full_register() =>
            {
                return ArgValue::Const(0);
            }
            Op::Mov_r32_rm32 | Op::Mov_rm32_r32 | Op::Mov_r64_rm64 | Op::Mov_rm64_r64
                if ins.op1_kind() == OpKind::Register =>
            {
                want = ins.op1_register().full_register(); // a copy: follow the source
            }
            _ => {
                return ArgValue::Unknown(format!(
                    "argument set at run time by `{:?}` at {:#x}",
                    ins.mnemonic(),
                    ins.ip()
                ));
            }
        }
    }
    ArgValue::Unknown(format!(
        "argument not set in the code just before the call at {site:#x}"
    ))
}

/// Constant stores into `[lo, hi)` anywhere in the text: `mov dword/qword [rip+d], imm`, and
/// 16-byte vector stores `movups/movaps [rip+d], xmmN` of a constant loaded just before.
pub(super) fn stores_into(code: &Code, lo: u64, hi: u64) -> Vec<Store> {
    let mut out = Vec::new();
    for (start, bytes) in code.bin.code() {
        for i in 0..bytes.len().saturating_sub(6) {
            let b = bytes[i];
            if b != 0xc7
                && b != 0x89
                && !(b == 0x0f && matches!(bytes[i + 1], 0x11 | 0x29 | 0x7f | 0xd6))
            {
                continue;
            }
            let modrm = if b == 0x0f {
                bytes[i + 2]
            } else {
                bytes[i + 1]
            };
            if modrm & 0xc7 != 0x05 || (b == 0xc7 && modrm != 0x05) {
                continue; // not [rip+disp32]
            }
            // Back up over a REX/operand-size prefix so the decoder sees the whole store.
            for back in [0usize, 1, 2] {
                let Some(at) = i.checked_sub(back) else {
                    continue;
                };
                if let Some(st) = decode_store(code, start + at as u64, &bytes[at..], lo, hi) {
                    out.extend(st);
                    break;
                }
            }
        }
    }
    out
}

fn decode_store(code: &Code, ip: u64, bytes: &[u8], lo: u64, hi: u64) -> Option<Vec<Store>> {
    let mut dec = decoder(&bytes[..bytes.len().min(15)], ip);
    let ins = dec.decode();
    if ins.is_invalid() || !ins.is_ip_rel_memory_operand() || ins.op0_kind() != OpKind::Memory {
        return None;
    }
    let addr = ins.ip_rel_memory_address();
    if addr < lo || addr >= hi {
        return None;
    }
    match ins.code() {
        Op::Mov_rm32_imm32 => Some(vec![Store {
            addr,
            size: 4,
            value: ins.immediate(1),
            at: ip,
        }]),
        Op::Mov_rm64_imm32 => Some(vec![Store {
            addr,
            size: 8,
            value: ins.immediate(1),
            at: ip,
        }]),
        Op::Mov_rm64_r64 | Op::Mov_rm32_r32 => {
            let value = reg_value(code, ip, ins.op1_register().full_register())?;
            let size = if ins.code() == Op::Mov_rm64_r64 { 8 } else { 4 };
            Some(vec![Store {
                addr,
                size,
                value,
                at: ip,
            }])
        }
        Op::Movups_xmmm128_xmm
        | Op::Movaps_xmmm128_xmm
        | Op::Movdqu_xmmm128_xmm
        | Op::Movdqa_xmmm128_xmm
        | Op::VEX_Vmovups_xmmm128_xmm
        | Op::VEX_Vmovdqu_xmmm128_xmm => {
            // Report the parts that are known: a slot id (first 4 bytes) and a value (last 8).
            let (b, known) = xmm_constant(code, ip, ins.op1_register(), 64)?;
            let le = |r: std::ops::Range<usize>| {
                b[r].iter()
                    .rev()
                    .fold(0u64, |v, &x| (v << 8) | u64::from(x))
            };
            let mut out = Vec::new();
            if known & 0x000f == 0x000f {
                out.push(Store {
                    addr,
                    size: 4,
                    value: le(0..4),
                    at: ip,
                });
            }
            if known & 0xff00 == 0xff00 {
                out.push(Store {
                    addr: addr + 8,
                    size: 8,
                    value: le(8..16),
                    at: ip,
                });
            }
            Some(out)
        }
        _ => None,
    }
}

/// 16 bytes and which of them are known (bit i set: byte i known).
type Bytes16 = ([u8; 16], u16);

/// The 16 bytes an xmm register holds at `site`, as far as the code just before shows: loaded
/// from a RIP-relative constant, zeroed, or loaded from a stack slot that constant stores
/// filled (MSVC builds slot entries on the stack and copies them with `movups`).
/// The bytes vector register `reg` holds at `site` (64- or 32-bit code), as far as the code
/// before it shows: loaded from constant data, zeroed, or loaded from stack slots that
/// constants were stored into. The mask says which bytes are known.
pub(super) fn xmm_constant(code: &Code, site: u64, reg: Register, bits: u32) -> Option<Bytes16> {
    let run = decode_before(code.bin, site, 320, 96, bits);
    for (i, ins) in run.iter().enumerate().rev() {
        if ins.op0_kind() != OpKind::Register || ins.op0_register() != reg {
            continue;
        }
        if matches!(ins.code(), Op::Pxor_xmm_xmmm128 | Op::Xorps_xmm_xmmm128)
            && ins.op1_kind() == OpKind::Register
            && ins.op1_register() == reg
        {
            return Some(([0; 16], 0xffff));
        }
        // `movq xmm, m64` loads 8 bytes and zeroes the rest.
        let half = ins.code() == Op::Movq_xmm_xmmm64;
        let absolute = bits == 32
            && ins.op1_kind() == OpKind::Memory
            && ins.memory_base() == Register::None
            && ins.memory_index() == Register::None;
        let (mut out, mut known) = if ins.is_ip_rel_memory_operand() || absolute {
            let addr = if absolute {
                u64::from(ins.memory_displacement32())
            } else {
                ins.ip_rel_memory_address()
            };
            let b = code.bin.bytes(addr, if half { 8 } else { 16 })?;
            let mut out = [0u8; 16];
            out[..b.len()].copy_from_slice(&b);
            (out, 0xffff)
        } else if ins.op1_kind() == OpKind::Memory
            && matches!(
                ins.memory_base(),
                Register::RSP | Register::RBP | Register::ESP | Register::EBP
            )
            && ins.memory_index() == Register::None
        {
            let disp = ins.memory_displacement64() as i64;
            stack_bytes(&run[..i], ins.memory_base(), disp)
        } else {
            return None;
        };
        if half {
            out[8..].fill(0);
            known |= 0xff00;
        }
        return Some((out, known));
    }
    None
}

/// Rebuild `[base+disp, base+disp+16)` from the latest stores in `run` (walking back).
fn stack_bytes(run: &[Instruction], base: Register, disp: i64) -> Bytes16 {
    let mut bytes = [0u8; 16];
    let mut seen: u16 = 0; // bytes already decided (known or clobbered)
    let mut known: u16 = 0;
    for (i, ins) in run.iter().enumerate().rev() {
        if seen == 0xffff {
            break;
        }
        if ins.op0_kind() != OpKind::Memory
            || ins.memory_base() != base
            || ins.memory_index() != Register::None
        {
            continue;
        }
        let at = ins.memory_displacement64() as i64;
        let (size, value): (i64, Option<u64>) = match ins.code() {
            Op::Mov_rm32_imm32 => (4, Some(ins.immediate(1))),
            Op::Mov_rm64_imm32 => (8, Some(ins.immediate(1))),
            Op::Mov_rm16_imm16 => (2, Some(ins.immediate(1))),
            Op::Mov_rm8_imm8 => (1, Some(ins.immediate(1))),
            Op::Mov_rm64_r64 => (8, reg_in_run(&run[..i], ins.op1_register().full_register())),
            Op::Mov_rm32_r32 => (4, reg_in_run(&run[..i], ins.op1_register().full_register())),
            _ => (ins.memory_size().size() as i64, None),
        };
        for k in 0..size {
            let pos = at + k - disp;
            if !(0..16).contains(&pos) || seen & (1 << pos) != 0 {
                continue;
            }
            seen |= 1 << pos;
            if let Some(v) = value {
                bytes[pos as usize] = (v >> (8 * k)) as u8;
                known |= 1 << pos;
            }
        }
    }
    (bytes, known)
}

/// The constant a general register holds at the end of `run`, when the last write to it
/// there sets a fixed value.
fn reg_in_run(run: &[Instruction], reg: Register) -> Option<u64> {
    let mut factory = InstructionInfoFactory::new();
    for ins in run.iter().rev() {
        let writes = factory.info(ins).used_registers().iter().any(|u| {
            u.register().full_register() == reg
                && !matches!(u.access(), OpAccess::Read | OpAccess::CondRead)
        });
        if writes {
            return constant_set_by(ins);
        }
    }
    None
}

/// The constant or RIP-relative address a general register holds at `site`, when the code
/// just before sets it that way.
fn reg_value(code: &Code, site: u64, reg: Register) -> Option<u64> {
    constant_set_by(&last_write(code, site, reg, false)?)
}

/// The instruction that last writes `reg` in the straight-line code just before `site`;
/// with `stop_at_calls`, none when a call or return comes first (a call may change it).
fn last_write(code: &Code, site: u64, reg: Register, stop_at_calls: bool) -> Option<Instruction> {
    let run = instructions_before(code.bin, site, 64, 16);
    let mut factory = InstructionInfoFactory::new();
    for ins in run.iter().rev() {
        if stop_at_calls
            && matches!(
                ins.flow_control(),
                FlowControl::Call | FlowControl::IndirectCall | FlowControl::Return
            )
        {
            return None;
        }
        let writes = factory.info(ins).used_registers().iter().any(|u| {
            u.register().full_register() == reg
                && u.access() != OpAccess::Read
                && u.access() != OpAccess::CondRead
        });
        if writes {
            return Some(*ins);
        }
    }
    None
}

/// The value an instruction that writes its first operand register leaves there, if fixed.
fn constant_set_by(ins: &Instruction) -> Option<u64> {
    match ins.code() {
        Op::Lea_r64_m | Op::Lea_r32_m if ins.is_ip_rel_memory_operand() => {
            Some(ins.ip_rel_memory_address())
        }
        Op::Mov_r32_imm32 | Op::Mov_r64_imm64 | Op::Mov_rm64_imm32 | Op::Mov_rm32_imm32
            if ins.op0_kind() == OpKind::Register =>
        {
            Some(ins.immediate(1))
        }
        Op::Xor_r32_rm32 | Op::Xor_rm32_r32 | Op::Xor_r64_rm64 | Op::Xor_rm64_r64
            if ins.op1_kind() == OpKind::Register
                && ins.op0_register().full_register() == ins.op1_register().full_register() =>
        {
            Some(0)
        }
        _ => None,
    }
}

/// A module def built on the heap (nanobind 3): walk back from a `PyModuleDef_Init(def)` call
/// in the same straight-line code, find `def->m_slots = S` and the constant stores `S[k]`.
/// Returns the stores relative to S (`addr` is the offset), or None when the code does not
/// have that shape.
pub(super) fn heap_slot_stores(code: &Code, site: u64, m_slots: u64) -> Option<Vec<Store>> {
    let run = instructions_before(code.bin, site, 768, 200);
    let mut factory = InstructionInfoFactory::new();
    let writes = |f: &mut InstructionInfoFactory, ins: &Instruction, reg: Register| {
        f.info(ins).used_registers().iter().any(|u| {
            u.register().full_register() == reg
                && matches!(
                    u.access(),
                    OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite
                )
        })
    };
    // The registers holding the def: rdi at the call, and what it was copied from, back to
    // the allocation (the call that returned it).
    let mut def = vec![Register::RDI];
    let mut k = run.len();
    while k > 0 {
        k -= 1;
        let ins = &run[k];
        if matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall | FlowControl::Return
        ) {
            break;
        }
        let current = *def.last()?;
        if writes(&mut factory, ins, current) {
            match ins.code() {
                Op::Mov_r64_rm64 | Op::Mov_rm64_r64 if ins.op1_kind() == OpKind::Register => {
                    def.push(ins.op1_register().full_register());
                }
                _ => break,
            }
        }
    }
    // `mov [def + m_slots], S`, then constant stores through S.
    let mut slots_reg = None;
    let mut stores = Vec::new();
    for ins in &run {
        if ins.code() == Op::Mov_rm64_r64
            && ins.op0_kind() == OpKind::Memory
            && def.contains(&ins.memory_base())
            && ins.memory_index() == Register::None
            && ins.memory_displacement64() == m_slots
        {
            slots_reg = Some(ins.op1_register().full_register());
        }
    }
    let slots_reg = slots_reg?;
    for ins in &run {
        if ins.op0_kind() != OpKind::Memory
            || ins.memory_base() != slots_reg
            || ins.memory_index() != Register::None
        {
            continue;
        }
        let off = ins.memory_displacement64();
        match ins.code() {
            Op::Mov_rm32_imm32 => stores.push(Store {
                addr: off,
                size: 4,
                value: ins.immediate(1),
                at: ins.ip(),
            }),
            Op::Mov_rm64_imm32 => stores.push(Store {
                addr: off,
                size: 8,
                value: ins.immediate(1),
                at: ins.ip(),
            }),
            Op::Mov_rm64_r64 | Op::Mov_rm32_r32 => {
                // A pointer (exec function) or a register constant: record what is knowable.
                let v = reg_value(code, ins.ip(), ins.op1_register().full_register())
                    .unwrap_or(u64::MAX);
                stores.push(Store {
                    addr: off,
                    size: 8,
                    value: v,
                    at: ins.ip(),
                });
            }
            _ => {}
        }
    }
    Some(stores)
}

/// Whether the call at `site` only runs when a flag is set: a conditional jump skips it or
/// leads to its block, and what it tests is not the NULL check of a value a call just
/// returned. Returns what guards it.
pub(super) fn flag_guard(code: &Code, site: u64) -> Option<String> {
    let run = instructions_before(code.bin, site, 64, 16);
    let guard = |jcc: &Instruction| -> Option<String> {
        let before = instructions_before(code.bin, jcc.ip(), 96, 16);
        let null_check = before.last().is_some_and(|t| {
            let tests_self = t.mnemonic() == iced_x86::Mnemonic::Test
                && t.op_count() == 2
                && t.op0_kind() == OpKind::Register
                && t.op1_kind() == OpKind::Register
                && t.op0_register() == t.op1_register();
            let cmp_zero = t.mnemonic() == iced_x86::Mnemonic::Cmp
                && t.op0_kind() == OpKind::Register
                && t.op1_kind() != OpKind::Register
                && t.immediate(1) == 0;
            (tests_self || cmp_zero)
                && holds_call_result(
                    &before[..before.len() - 1],
                    t.op0_register().full_register(),
                )
        });
        (!null_check).then(|| format!("a conditional jump at {:#x}", jcc.ip()))
    };
    for (i, ins) in run.iter().enumerate().rev() {
        match ins.flow_control() {
            FlowControl::ConditionalBranch if ins.near_branch_target() > site => return guard(ins),
            FlowControl::Call | FlowControl::IndirectCall => return None,
            FlowControl::UnconditionalBranch
            | FlowControl::Return
            | FlowControl::IndirectBranch => {
                // The block starts after any alignment padding.
                let start = run[i + 1..]
                    .iter()
                    .find(|n| {
                        !matches!(
                            n.mnemonic(),
                            iced_x86::Mnemonic::Nop | iced_x86::Mnemonic::Int3
                        )
                    })
                    .map_or(site, |n| n.ip());
                return jumps_to(code.bin, start).iter().find_map(guard);
            }
            _ => {}
        }
    }
    None
}

/// Whether `reg` after `run` holds (a copy of) what the last call in `run` returned.
fn holds_call_result(run: &[Instruction], reg: Register) -> bool {
    let mut regs = vec![reg];
    let mut factory = InstructionInfoFactory::new();
    for ins in run.iter().rev().take(12) {
        if matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall
        ) {
            return regs.contains(&Register::RAX);
        }
        let writes: Vec<Register> = factory
            .info(ins)
            .used_registers()
            .iter()
            .filter(|u| {
                matches!(
                    u.access(),
                    OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite
                )
            })
            .map(|u| u.register().full_register())
            .collect();
        if !writes.iter().any(|w| regs.contains(w)) {
            continue;
        }
        match ins.code() {
            Op::Mov_r64_rm64 | Op::Mov_rm64_r64 if ins.op1_kind() == OpKind::Register => {
                regs.push(ins.op1_register().full_register());
            }
            _ => return false,
        }
    }
    false
}

/// Conditional jumps within 4 KiB that target `addr`.
fn jumps_to(bin: &Binary, addr: u64) -> Vec<Instruction> {
    let mut out = Vec::new();
    let Some(seg_start) = bin
        .code()
        .find(|&(a, b)| addr >= a && addr - a < b.len() as u64)
        .map(|(a, _)| a)
    else {
        return out;
    };
    let from = addr.saturating_sub(4096).max(seg_start);
    let Some(bytes) = code_at(bin, from) else {
        return out;
    };
    let bytes = &bytes[..bytes.len().min(8192)];
    for i in 0..bytes.len().saturating_sub(2) {
        let (len, rel) = match bytes[i] {
            0x70..=0x7f => (2usize, i64::from(bytes[i + 1] as i8)),
            0x0f if (0x80..=0x8f).contains(&bytes[i + 1]) => match rel32(bytes, i + 2) {
                Some(r) => (6, r),
                None => continue,
            },
            _ => continue,
        };
        let ip = from + i as u64;
        if (ip + len as u64).wrapping_add_signed(rel) != addr {
            continue;
        }
        let jcc = decoder(&bytes[i..], ip).decode();
        if jcc.flow_control() != FlowControl::ConditionalBranch {
            continue;
        }
        out.push(jcc);
    }
    out
}

/// x86-64 (and 32-bit x86) as [`emulate`] sees it. `Register::None` serves as the scratch
/// register that holds a memory operand a comparison reads. 32-bit code is run with the
/// same full registers (`eax` is `rax` with 32-bit arithmetic), arguments on the stack and
/// return addresses pushed, since PIC code reads its own address off the stack.
pub(super) struct X64Machine<'c, 'b, 'a> {
    pub code: &'c Code<'b, 'a>,
    pub windows: bool,
    /// 64, or 32 for 32-bit x86.
    bits: u32,
    factory: RefCell<InstructionInfoFactory>,
}

impl<'c, 'b, 'a> X64Machine<'c, 'b, 'a> {
    pub fn new(code: &'c Code<'b, 'a>, windows: bool) -> Self {
        X64Machine {
            code,
            windows,
            bits: 64,
            factory: RefCell::new(InstructionInfoFactory::new()),
        }
    }

    /// A machine for 32-bit x86 code (ELF i686 or PE win32).
    pub fn new32(code: &'c Code<'b, 'a>, windows: bool) -> Self {
        X64Machine {
            bits: 32,
            ..X64Machine::new(code, windows)
        }
    }

    fn narrow(&self) -> bool {
        self.bits == 32
    }

    /// The bytes of a stack slot and the mask of an address.
    fn word(&self) -> (u8, u64) {
        if self.narrow() {
            (4, 0xffff_ffff)
        } else {
            (8, u64::MAX)
        }
    }

    /// The address a memory operand names, when it has no index register.
    fn mem(&self, ins: &Instruction) -> Option<(Src<Register>, i64)> {
        if ins.is_ip_rel_memory_operand() {
            return Some((Src::Imm(ins.ip_rel_memory_address()), 0));
        }
        if ins.memory_index() != Register::None || ins.segment_prefix() != Register::None {
            return None;
        }
        if self.narrow() {
            let disp = ins.memory_displacement32();
            return Some(match ins.memory_base() {
                Register::None => (Src::Imm(u64::from(disp)), 0),
                base => (Src::Reg(base.full_register()), i64::from(disp as i32)),
            });
        }
        let base = ins.memory_base().full_register();
        Some((Src::Reg(base), ins.memory_displacement64() as i64))
    }

    /// The pointer slot a call or jump through memory reads: RIP-relative, or in 32-bit code
    /// an absolute address (PE's import address table) or an offset from the GOT base that
    /// PIC code keeps in a register.
    fn slot(&self, ins: &Instruction) -> Option<u64> {
        if ins.is_ip_rel_memory_operand() {
            return Some(ins.ip_rel_memory_address());
        }
        if !self.narrow() || ins.memory_index() != Register::None {
            return None;
        }
        let disp = u64::from(ins.memory_displacement32());
        match ins.memory_base() {
            Register::None => Some(disp),
            _ => Some(super::x86::got_base(self.code.bin)?.wrapping_add(disp) & 0xffff_ffff),
        }
    }

    /// Where a call or jump goes: a stub or slot of an import, or local code (directly, or
    /// through a slot the loader fills with a local address, as a PLT entry for one of the
    /// file's own global functions).
    fn callee(&self, ins: &Instruction) -> Callee {
        match ins.op0_kind() {
            OpKind::NearBranch64 | OpKind::NearBranch32 => {
                let t = ins.near_branch_target();
                self.code
                    .stub_import(t)
                    .map_or(Callee::Local(t), Callee::Import)
            }
            OpKind::Memory => match self.slot(ins).and_then(|s| self.code.bin.pointers.get(s)) {
                Some(Pointer::Import(i)) => Callee::Import(i),
                Some(Pointer::Addr(a)) if self.code.bin.code_from(a).is_some() => Callee::Local(a),
                _ => Callee::Unknown,
            },
            _ => Callee::Unknown,
        }
    }

    /// The register a 32-bit PIC thunk (`mov reg, [esp]; ret`) at `target` loads the
    /// return address into, when it is one.
    fn pc_thunk(&self, target: u64) -> Option<Register> {
        let b = self.code.bin.bytes(target, 4)?;
        if b[0] != 0x8b || b[2] != 0x24 || b[3] != 0xc3 || b[1] & 0xc7 != 0x04 {
            return None;
        }
        const REGS: [Register; 8] = [
            Register::RAX,
            Register::RCX,
            Register::RDX,
            Register::RBX,
            Register::RSP,
            Register::RBP,
            Register::RSI,
            Register::RDI,
        ];
        Some(REGS[usize::from((b[1] >> 3) & 7)]).filter(|&r| r != Register::RSP)
    }

    /// `call`: an import, a followed local call, a PIC thunk or `call $+5` (32-bit code
    /// that reads its own address).
    fn call(&self, ins: &Instruction) -> Vec<Step<Register>> {
        if self.narrow() && ins.op0_kind() == OpKind::NearBranch32 {
            let t = ins.near_branch_target();
            let next = ins.next_ip();
            if let Some(reg) = self.pc_thunk(t) {
                return vec![Step::Set {
                    dst: reg,
                    src: Src::Imm(next),
                    add: 0,
                    mask: 0xffff_ffff,
                }];
            }
            if t == next {
                return self.push(Src::Imm(next));
            }
        }
        vec![Step::Call(self.callee(ins))]
    }

    /// `pop dst`.
    fn pop(&self, dst: Register) -> Vec<Step<Register>> {
        let (size, mask) = self.word();
        vec![
            Step::Load {
                dst,
                base: Src::Reg(Register::RSP),
                disp: 0,
                size,
            },
            Step::Set {
                dst: Register::RSP,
                src: Src::Reg(Register::RSP),
                add: u64::from(size),
                mask,
            },
        ]
    }

    /// `push src`.
    fn push(&self, src: Src<Register>) -> Vec<Step<Register>> {
        let (size, mask) = self.word();
        vec![
            Step::Set {
                dst: Register::RSP,
                src: Src::Reg(Register::RSP),
                add: u64::from(size).wrapping_neg(),
                mask,
            },
            Step::Store {
                src,
                base: Src::Reg(Register::RSP),
                disp: 0,
                size,
            },
        ]
    }

    /// The steps of an instruction not modelled: its register writes become unknown; a
    /// memory write makes the path opaque.
    fn unmodelled(&self, ins: &Instruction) -> Vec<Step<Register>> {
        let mut factory = self.factory.borrow_mut();
        let info = factory.info(ins);
        let writes_memory = info.used_memory().iter().any(|m| {
            !matches!(
                m.access(),
                OpAccess::Read | OpAccess::CondRead | OpAccess::NoMemAccess
            )
        });
        if writes_memory && !thread_local(ins) {
            // A write to one operand whose address is known leaves it unknown; anything else
            // (string instructions, pushes of memory) is not followed.
            let size = ins.memory_size().size() as u8;
            let one = info.used_memory().len() == 1 && (1..=8).contains(&size);
            return match self.mem(ins) {
                Some((base, disp)) if one && ins.op0_kind() == OpKind::Memory => {
                    let mut steps = vec![Step::Forget { base, disp, size }];
                    steps.extend(
                        info.used_registers()
                            .iter()
                            .filter(|u| !matches!(u.access(), OpAccess::Read | OpAccess::CondRead))
                            .map(|u| Step::Clobber(u.register().full_register())),
                    );
                    if ins.rflags_modified() != 0 {
                        steps.push(Step::ClobberFlags);
                    }
                    steps
                }
                _ => vec![Step::Opaque("writes memory in a way not followed")],
            };
        }
        let mut steps: Vec<Step<Register>> = info
            .used_registers()
            .iter()
            .filter(|u| !matches!(u.access(), OpAccess::Read | OpAccess::CondRead))
            .map(|u| Step::Clobber(u.register().full_register()))
            .collect();
        if ins.rflags_modified() != 0 {
            steps.push(Step::ClobberFlags);
        }
        steps
    }

    fn translate(&self, ins: &Instruction) -> Vec<Step<Register>> {
        use Step::*;
        let reg = |i: u32| ins.op_register(i).full_register();
        let width = |i: u32| ins.op_register(i).size() as u8;
        let to_reg = ins.op0_kind() == OpKind::Register;
        let wide = |i: u32| if width(i) == 8 { u64::MAX } else { 0xffff_ffff };
        // A register operand of 4 or 8 bytes, or an immediate.
        let src = |i: u32| -> Option<Src<Register>> {
            match ins.op_kind(i) {
                OpKind::Register if matches!(width(i), 4 | 8) => Some(Src::Reg(reg(i))),
                OpKind::Immediate8
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32
                | OpKind::Immediate32to64
                | OpKind::Immediate64 => Some(Src::Imm(ins.immediate(i))),
                _ => None,
            }
        };
        match ins.mnemonic() {
            iced_x86::Mnemonic::Nop | iced_x86::Mnemonic::Endbr64 | iced_x86::Mnemonic::Endbr32 => {
                vec![]
            }
            iced_x86::Mnemonic::Mov if to_reg && matches!(width(0), 4 | 8) => {
                if ins.op1_kind() == OpKind::Memory {
                    match self.mem(ins) {
                        Some((base, disp)) => vec![Load {
                            dst: reg(0),
                            base,
                            disp,
                            size: width(0),
                        }],
                        None => vec![Clobber(reg(0))],
                    }
                } else if let Some(s) = src(1) {
                    vec![Set {
                        dst: reg(0),
                        src: s,
                        add: 0,
                        mask: wide(0),
                    }]
                } else {
                    vec![Clobber(reg(0))]
                }
            }
            iced_x86::Mnemonic::Movzx if to_reg && ins.op1_kind() == OpKind::Memory => {
                let size = ins.memory_size().size() as u8;
                match self.mem(ins) {
                    Some((base, disp)) if matches!(size, 1 | 2) => vec![Load {
                        dst: reg(0),
                        base,
                        disp,
                        size,
                    }],
                    _ => vec![Clobber(reg(0))],
                }
            }
            // A write to thread-local memory (`fs:`/`gs:`: the TLS block, win32's exception
            // handler chain) touches nothing the slot reader reads; a later load from
            // there is unknown.
            iced_x86::Mnemonic::Mov if ins.op0_kind() == OpKind::Memory && thread_local(ins) => {
                vec![]
            }
            iced_x86::Mnemonic::Mov if ins.op0_kind() == OpKind::Memory => {
                let size = ins.memory_size().size() as u8;
                // A byte or word register source is the low part of the full register.
                let src1 = match ins.op1_kind() {
                    OpKind::Register => Some(Src::Reg(reg(1))),
                    _ => src(1),
                };
                match (self.mem(ins), src1) {
                    (Some((base, disp)), Some(s)) if matches!(size, 1 | 2 | 4 | 8) => vec![Store {
                        src: s,
                        base,
                        disp,
                        size,
                    }],
                    _ => vec![Opaque("writes memory in a way not followed")],
                }
            }
            iced_x86::Mnemonic::Lea if matches!(width(0), 4 | 8) => match self.mem(ins) {
                Some((base, disp)) => vec![Set {
                    dst: reg(0),
                    src: base,
                    add: disp as u64,
                    mask: wide(0),
                }],
                None => vec![Clobber(reg(0))],
            },
            iced_x86::Mnemonic::Xor | iced_x86::Mnemonic::Sub
                if to_reg && ins.op1_kind() == OpKind::Register && reg(0) == reg(1) =>
            {
                vec![
                    Set {
                        dst: reg(0),
                        src: Src::Imm(0),
                        add: 0,
                        mask: u64::MAX,
                    },
                    Compare {
                        a: Src::Imm(0),
                        b: Src::Imm(0),
                        and: false,
                        size: 8,
                    },
                ]
            }
            m @ (iced_x86::Mnemonic::Add | iced_x86::Mnemonic::Sub)
                if to_reg && matches!(width(0), 4 | 8) =>
            {
                match src(1) {
                    Some(Src::Imm(k)) => {
                        let set = Set {
                            dst: reg(0),
                            src: Src::Reg(reg(0)),
                            add: if m == iced_x86::Mnemonic::Add {
                                k
                            } else {
                                k.wrapping_neg()
                            },
                            mask: wide(0),
                        };
                        if m == iced_x86::Mnemonic::Sub {
                            // `sub` sets the flags `cmp` would.
                            vec![
                                Compare {
                                    a: Src::Reg(reg(0)),
                                    b: Src::Imm(k),
                                    and: false,
                                    size: width(0),
                                },
                                set,
                            ]
                        } else {
                            vec![set, ClobberFlags]
                        }
                    }
                    _ => vec![Clobber(reg(0)), ClobberFlags],
                }
            }
            m @ (iced_x86::Mnemonic::Cmp | iced_x86::Mnemonic::Test) => {
                let and = m == iced_x86::Mnemonic::Test;
                let scratch = Register::None;
                // Any register but the high-byte ones (`ah`) compares on its low `size` bytes.
                let operand = |i: u32| match ins.op_kind(i) {
                    OpKind::Register
                        if !matches!(
                            ins.op_register(i),
                            Register::AH | Register::BH | Register::CH | Register::DH
                        ) =>
                    {
                        Some(Src::Reg(reg(i)))
                    }
                    _ => src(i),
                };
                let mut steps = Vec::new();
                // A memory operand (first or second) is read into the scratch register.
                let mut from_memory = |size: u8| match self.mem(ins) {
                    Some((base, disp)) if matches!(size, 1 | 2 | 4 | 8) => {
                        steps.push(Load {
                            dst: scratch,
                            base,
                            disp,
                            size,
                        });
                        Some(Src::Reg(scratch))
                    }
                    _ => None,
                };
                let (a, size) = if ins.op0_kind() == OpKind::Memory {
                    let size = ins.memory_size().size() as u8;
                    (from_memory(size), size)
                } else {
                    (operand(0), width(0))
                };
                let b = if ins.op1_kind() == OpKind::Memory {
                    from_memory(size)
                } else {
                    operand(1)
                };
                match (a, b) {
                    (Some(a), Some(b)) => {
                        steps.push(Compare { a, b, and, size });
                        steps
                    }
                    _ => vec![Opaque("compares operands not followed")],
                }
            }
            iced_x86::Mnemonic::Push => match src(0) {
                Some(s) if ins.op0_kind() == OpKind::Register => self.push(s),
                // 32-bit code pushes constant arguments.
                Some(s) if self.narrow() => self.push(s),
                None if self.narrow() && ins.op0_kind() == OpKind::Memory => match self.mem(ins) {
                    Some((base, disp)) if ins.memory_size().size() == 4 => {
                        let mut steps = vec![Load {
                            dst: Register::None,
                            base,
                            disp,
                            size: 4,
                        }];
                        steps.extend(self.push(Src::Reg(Register::None)));
                        steps
                    }
                    _ => vec![Opaque("pushes an operand not followed")],
                },
                _ => vec![Opaque("pushes an operand not followed")],
            },
            iced_x86::Mnemonic::Pop if to_reg => self.pop(reg(0)),
            // `leave`: `mov rsp, rbp; pop rbp`.
            iced_x86::Mnemonic::Leave => {
                let mut steps = vec![Set {
                    dst: Register::RSP,
                    src: Src::Reg(Register::RBP),
                    add: 0,
                    mask: self.word().1,
                }];
                steps.extend(self.pop(Register::RBP));
                steps
            }
            // `and reg, imm`: a mask (stack alignment, flag bits).
            iced_x86::Mnemonic::And
                if to_reg && matches!(width(0), 4 | 8) && matches!(src(1), Some(Src::Imm(_))) =>
            {
                let Some(Src::Imm(k)) = src(1) else {
                    unreachable!("matched above")
                };
                vec![
                    Set {
                        dst: reg(0),
                        src: Src::Reg(reg(0)),
                        add: 0,
                        mask: k & wide(0),
                    },
                    Compare {
                        a: Src::Reg(reg(0)),
                        b: Src::Imm(u64::MAX),
                        and: true,
                        size: width(0),
                    },
                ]
            }
            _ => match ins.flow_control() {
                FlowControl::Next => self.unmodelled(ins),
                FlowControl::Call | FlowControl::IndirectCall => self.call(ins),
                FlowControl::UnconditionalBranch => {
                    let t = ins.near_branch_target();
                    match self.code.stub_import(t) {
                        Some(i) => vec![Leave(Some(Callee::Import(i)))],
                        None => vec![Jump(t)],
                    }
                }
                // A thunk or tail call through a pointer slot.
                FlowControl::IndirectBranch if ins.op0_kind() == OpKind::Memory => {
                    match self.callee(ins) {
                        Callee::Local(a) => vec![Jump(a)],
                        Callee::Unknown if !ins.is_ip_rel_memory_operand() => {
                            vec![Opaque("leaves through a path not followed")]
                        }
                        c => vec![Leave(Some(c))],
                    }
                }
                FlowControl::ConditionalBranch => {
                    use iced_x86::ConditionCode as C;
                    let cond = match ins.condition_code() {
                        C::e => Cond::Eq,
                        C::ne => Cond::Ne,
                        C::b => Cond::Below,
                        C::ae => Cond::AboveEq,
                        C::a => Cond::Above,
                        C::be => Cond::BelowEq,
                        C::l => Cond::Less,
                        C::ge => Cond::GreaterEq,
                        C::g => Cond::Greater,
                        C::le => Cond::LessEq,
                        _ => return vec![Opaque("branches on flags not followed")],
                    };
                    vec![Branch {
                        cond,
                        target: ins.near_branch_target(),
                    }]
                }
                // `ret imm16` also pops the arguments.
                FlowControl::Return if ins.op_count() == 1 => vec![
                    Set {
                        dst: Register::RSP,
                        src: Src::Reg(Register::RSP),
                        add: u64::from(ins.immediate16()),
                        mask: self.word().1,
                    },
                    Leave(None),
                ],
                FlowControl::Return => vec![Leave(None)],
                _ => vec![Opaque("leaves through a path not followed")],
            },
        }
    }
}

/// Whether an instruction's memory operand is addressed through `fs` or `gs`.
fn thread_local(ins: &Instruction) -> bool {
    matches!(ins.segment_prefix(), Register::FS | Register::GS)
}

impl Machine for X64Machine<'_, '_, '_> {
    type R = Register;

    fn steps(&self, pc: u64) -> Option<(Vec<Step<Register>>, u64)> {
        let bytes = code_at(self.code.bin, pc)?;
        let mut dec = Decoder::with_ip(
            self.bits,
            &bytes[..bytes.len().min(15)],
            pc,
            DecoderOptions::NONE,
        );
        let ins = dec.decode();
        if ins.is_invalid() {
            return None;
        }
        Some((self.translate(&ins), ins.next_ip()))
    }

    fn sp(&self) -> Register {
        Register::RSP
    }

    fn ret(&self) -> Register {
        Register::RAX
    }

    fn args(&self) -> &'static [Register] {
        if self.narrow() {
            &[]
        } else if self.windows {
            &WIN64_ARGS
        } else {
            &SYSV_ARGS
        }
    }

    fn clobbered_by_call(&self, reg: Register) -> bool {
        use Register::*;
        match reg {
            RAX | RCX | RDX | None => true,
            R8 | R9 | R10 | R11 => !self.narrow(),
            RSI | RDI => !self.windows && !self.narrow(),
            _ => false,
        }
    }

    fn space(&self) -> super::emulate::Space {
        if self.narrow() {
            super::emulate::Space::NARROW
        } else {
            super::emulate::Space::WIDE
        }
    }

    fn return_address_size(&self) -> u8 {
        if self.narrow() { 4 } else { 0 }
    }

    fn stack_args(&self) -> bool {
        self.narrow()
    }

    /// On win32, functions of DLLs other than the C runtime and Python (the Windows API)
    /// are `stdcall` and pop their own arguments.
    fn moves_stack(&self, import: u32) -> bool {
        if !(self.narrow() && self.windows) {
            return false;
        }
        let lib = self
            .code
            .bin
            .imports
            .get(import as usize)
            .and_then(|i| i.library.as_deref())
            .map(str::to_ascii_lowercase);
        !lib.is_some_and(|l| {
            [
                "python",
                "api-ms-win-crt-",
                "ucrtbase",
                "vcruntime",
                "msvcp",
                "msvcr",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{Arch, Format, Segment};

    /// regex 2026.11.19's win_amd64 `PyInit__regex` around its SetGIL call: `mov edx, 1`
    /// is followed by six register saves and `mov rcx, rax`. Decoded backwards from the
    /// call, a start inside `test rax, rax; je` gives a longer run that swallows the `mov`
    /// (`add [rdx+1], bh`), and the longest run wins; decoded from the function's start the
    /// constant is there.
    const PYINIT_TAIL: [&[u8]; 13] = [
        &[0x48, 0x89, 0x44, 0x24, 0x20],       // mov [rsp+20h], rax
        &[0x4c, 0x8b, 0xe8],                   // mov r13, rax
        &[0x48, 0x85, 0xc0],                   // test rax, rax
        &[0x0f, 0x84, 0x00, 0x01, 0x00, 0x00], // je (out)
        &[0x48, 0x89, 0x9c, 0x24, 0x70, 0x01, 0x00, 0x00], // mov [rsp+170h], rbx
        &[0xba, 0x01, 0x00, 0x00, 0x00],       // mov edx, 1
        &[0x48, 0x89, 0xbc, 0x24, 0x80, 0x01, 0x00, 0x00], // mov [rsp+180h], rdi
        &[0x48, 0x8b, 0xc8],                   // mov rcx, rax
        &[0x48, 0x89, 0xac, 0x24, 0x78, 0x01, 0x00, 0x00], // mov [rsp+178h], rbp
        &[0x4c, 0x89, 0xa4, 0x24, 0x50, 0x01, 0x00, 0x00], // mov [rsp+150h], r12
        &[0x4c, 0x89, 0xb4, 0x24, 0x48, 0x01, 0x00, 0x00], // mov [rsp+148h], r14
        &[0x4c, 0x89, 0xbc, 0x24, 0x40, 0x01, 0x00, 0x00], // mov [rsp+140h], r15
        &[0xff, 0x15, 0x00, 0x10, 0x00, 0x00], // call [rip+...]
    ];

    fn pe(data: &[u8], functions: Vec<(u64, u64)>) -> Binary<'_> {
        let len = data.len() as u64;
        Binary {
            format: Format::Pe,
            functions,
            ..Binary::bare(
                Arch::X86_64,
                data,
                vec![Segment {
                    name: ".text".into(),
                    vaddr: 0x1_8000_1000,
                    vsize: len,
                    offset: 0,
                    filesize: len,
                    exec: true,
                    write: false,
                }],
            )
        }
    }

    /// What [`decode_before`] computed before it decoded each offset once: one run per start.
    fn decode_before_per_start(
        bin: &Binary,
        site: u64,
        window: u64,
        enough: usize,
        bitness: u32,
    ) -> Vec<Instruction> {
        let mut best: Vec<Instruction> = Vec::new();
        for back in (1..=window).rev() {
            let Some(from) = site.checked_sub(back) else {
                continue;
            };
            let Some(bytes) = code_at(bin, from) else {
                continue;
            };
            let run = decode_run(&bytes[..(back as usize).min(bytes.len())], from, bitness);
            if run.last().is_some_and(|l| l.next_ip() == site) && run.len() > best.len() {
                best = run;
            }
            if best.len() >= enough {
                break;
            }
        }
        best
    }

    /// Decoding each offset once gives the runs one run per start gave, on code, on noise,
    /// across a segment boundary (a run stops at its segment's end) and near address 0.
    #[test]
    fn runs_before_a_site_match_decoding_from_every_start() {
        let mut data: Vec<u8> = PYINIT_TAIL.concat();
        // Pseudo-random bytes: a fixed linear congruential sequence.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..1500 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            data.push((x >> 16) as u8);
        }
        data.extend(PYINIT_TAIL.concat());
        let len = data.len() as u64;
        let seg = |vaddr, offset, size| Segment {
            name: ".text".into(),
            vaddr,
            vsize: size,
            offset,
            filesize: size,
            exec: true,
            write: false,
        };
        let split = 700;
        let layouts = [
            vec![seg(0x1000, 0, len)],
            // Two code segments next to each other in memory; the first ends inside noise,
            // or right after `test rax, rax`, so that a run reaches its end exactly.
            vec![
                seg(0x1000, 0, split),
                seg(0x1000 + split, split, len - split),
            ],
            vec![seg(0x1000, 0, 11), seg(0x1000 + 11, 11, len - 11)],
            // Code from address 0.
            vec![seg(0, 0, len)],
        ];
        for segments in layouts {
            let base = segments[0].vaddr;
            let bin = Binary::bare(Arch::X86_64, &data, segments);
            for site in (base..base + len).step_by(7) {
                for (window, enough, bits) in [(320, 96, 64), (64, 16, 64), (96, 16, 32)] {
                    assert_eq!(
                        decode_before(&bin, site, window, enough, bits),
                        decode_before_per_start(&bin, site, window, enough, bits),
                        "site {site:#x}, window {window}, {bits}-bit"
                    );
                }
            }
        }
    }

    #[test]
    fn a_constant_before_register_saves_is_read_from_the_function_start() {
        // The function starts with `push rdi; sub rsp, 20h` (and there are 60 bytes of
        // it before the part above, so the backwards window starts inside it).
        let mut data = vec![0x40, 0x57, 0x48, 0x83, 0xec, 0x20];
        data.extend(std::iter::repeat_n(0x90, 54));
        for b in PYINIT_TAIL {
            data.extend_from_slice(b);
        }
        let site = 0x1_8000_1000 + data.len() as u64 - 6;
        data.push(0xc3);
        let end = 0x1_8000_1000 + data.len() as u64;

        let described = pe(&data, vec![(0x1_8000_1000, end)]);
        assert_eq!(
            Code::new(&described).arg_at_call(site, 1),
            ArgValue::Const(1)
        );
        // Without the function's start the backwards decode misses the constant.
        let bare = pe(&data, Vec::new());
        assert!(matches!(
            Code::new(&bare).arg_at_call(site, 1),
            ArgValue::Unknown(_)
        ));
        // `mov rcx, rax` is argument 0 copied from a call result: unknown.
        assert!(matches!(
            Code::new(&described).arg_at_call(site, 0),
            ArgValue::Unknown(_)
        ));
    }

    /// MSVC-style copies: `lea edx, [rbx+1]` after `xor ebx, ebx`, and a value kept in a
    /// callee-saved register across a call.
    #[test]
    fn copies_and_lea_are_followed_to_a_constant() {
        let code: &[&[u8]] = &[
            &[0x31, 0xdb],                         // xor ebx, ebx
            &[0xff, 0x15, 0x00, 0x10, 0x00, 0x00], // call [rip+...] (keeps rbx)
            &[0x8d, 0x53, 0x01],                   // lea edx, [rbx+1]
            &[0x48, 0x8b, 0xc8],                   // mov rcx, rax
            &[0xff, 0x15, 0x00, 0x10, 0x00, 0x00], // call [rip+...]
        ];
        let mut data: Vec<u8> = code.concat();
        let site = 0x1_8000_1000 + data.len() as u64 - 6;
        data.push(0xc3);
        let end = 0x1_8000_1000 + data.len() as u64;
        let bin = pe(&data, vec![(0x1_8000_1000, end)]);
        assert_eq!(Code::new(&bin).arg_at_call(site, 1), ArgValue::Const(1));
        // rdx itself does not survive a call.
        let first_call = 0x1_8000_1002;
        assert!(matches!(
            Code::new(&bin).arg_at_call(first_call, 1),
            ArgValue::Unknown(why) if why.contains("passed in")
        ));
    }
}
