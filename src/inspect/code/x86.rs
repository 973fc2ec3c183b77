//! 32-bit x86 code reading (ELF i686 and PE win32): import stubs, call sites and the
//! constant pushed as a call argument (cdecl passes arguments on the stack).

use std::collections::HashMap;

use iced_x86::{Code as Op, Decoder, DecoderOptions, FlowControl, Instruction, OpKind, Register};

use super::{ArgValue, Code, code_at};
use crate::inspect::model::{Binary, Pointer};

fn u32_le(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at + 4)?;
    Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// The base register `ebx` holds in PIC code: the start of `.got.plt` (or `.got`).
fn got_base(bin: &Binary) -> Option<u64> {
    let find = |n: &str| bin.segments.iter().find(|s| s.name == n).map(|s| s.vaddr);
    find(".got.plt").or_else(|| find(".got"))
}

/// `jmp [abs32]` (non-PIC PLT, PE thunks) and `jmp [ebx+disp32]` (PIC PLT) through an import
/// slot.
pub(super) fn find_stubs(bin: &Binary, stubs: &mut HashMap<u64, u32>) {
    let got = got_base(bin);
    for (start, bytes) in bin.code() {
        for i in memchr::memchr_iter(0xff, bytes) {
            let slot = match bytes.get(i + 1) {
                Some(0x25) => u32_le(bytes, i + 2),
                Some(0xa3) => {
                    got.and_then(|g| u32_le(bytes, i + 2).map(|d| g.wrapping_add(d) & 0xffff_ffff))
                }
                _ => None,
            };
            let Some(slot) = slot else { continue };
            if let Some(Pointer::Import(imp)) = bin.pointers.get(slot) {
                stubs.entry(start + i as u64).or_insert(imp);
                if i >= 4 && bytes[i - 4..i] == [0xf3, 0x0f, 0x1e, 0xfb] {
                    stubs.entry(start + i as u64 - 4).or_insert(imp); // endbr32
                }
            }
        }
    }
}

/// `call rel32` to a stub of one of `imports`, and `call [abs32]` through its slot.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let mut out = Vec::new();
    for seg in bin.segments.iter().filter(|s| s.exec) {
        let Some((start, bytes)) = bin.code().find(|&(a, _)| a == seg.vaddr) else {
            continue;
        };
        let stub_section = seg.name.contains("plt") || seg.name.contains("stub");
        for i in 0..bytes.len().saturating_sub(5) {
            let site = start + i as u64;
            let imp = match bytes[i] {
                0xe8 => {
                    let rel = u32_le(bytes, i + 1).map(|r| i64::from(r as u32 as i32));
                    rel.and_then(|r| {
                        code.stub_import((site + 5).wrapping_add_signed(r) & 0xffff_ffff)
                    })
                }
                0xff if !stub_section && bytes[i + 1] == 0x15 => {
                    u32_le(bytes, i + 2).and_then(|s| code.slot_import(s))
                }
                _ => None,
            };
            if let Some(imp) = imp.filter(|i| imports.contains(i)) {
                out.push((site, imp));
            }
        }
    }
    out
}

/// The instructions ending exactly at `site`, decoded from as far back as `window` allows.
fn instructions_before(bin: &Binary, site: u64, window: u64) -> Vec<Instruction> {
    super::x86_64::decode_before(bin, site, window, 16, 32)
}

/// The constant in stack argument `n` at the call at `site`: the n-th `push` before the call
/// (arguments are pushed last to first), or a `mov [esp+4n], ...` into a reserved area.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    let run = instructions_before(code.bin, site, 64);
    if run.is_empty() {
        return ArgValue::Unknown(format!("no decodable code before the call at {site:#x}"));
    }
    let mut pushes = 0usize;
    for (i, ins) in run.iter().enumerate().rev() {
        if matches!(
            ins.flow_control(),
            FlowControl::Call
                | FlowControl::IndirectCall
                | FlowControl::Return
                | FlowControl::UnconditionalBranch
        ) {
            break;
        }
        let value = match ins.code() {
            Op::Pushd_imm8 | Op::Pushd_imm32 => {
                pushes += 1;
                (pushes == n + 1).then(|| Some(ins.immediate(0) & 0xffff_ffff))
            }
            Op::Push_r32 => {
                pushes += 1;
                (pushes == n + 1).then(|| reg_constant(&run[..i], ins.op0_register()))
            }
            Op::Push_rm32 => {
                pushes += 1;
                (pushes == n + 1).then_some(None)
            }
            Op::Mov_rm32_imm32
                if ins.op0_kind() == OpKind::Memory
                    && ins.memory_base() == Register::ESP
                    && ins.memory_index() == Register::None
                    && ins.memory_displacement64() == 4 * n as u64
                    && pushes == 0 =>
            {
                Some(Some(ins.immediate(1)))
            }
            Op::Mov_rm32_r32
                if ins.op0_kind() == OpKind::Memory
                    && ins.memory_base() == Register::ESP
                    && ins.memory_index() == Register::None
                    && ins.memory_displacement64() == 4 * n as u64
                    && pushes == 0 =>
            {
                Some(reg_constant(&run[..i], ins.op1_register()))
            }
            _ => None,
        };
        match value {
            Some(Some(v)) => return ArgValue::Const(v),
            Some(None) => {
                return ArgValue::Unknown(format!(
                    "argument {n} set at run time at {:#x}",
                    ins.ip()
                ));
            }
            None => {}
        }
    }
    ArgValue::Unknown(format!(
        "argument {n} not set in the code just before the call at {site:#x}"
    ))
}

/// The constant a register holds at the end of `run`, if its last write there sets one.
fn reg_constant(run: &[Instruction], reg: Register) -> Option<u64> {
    for ins in run.iter().rev() {
        if ins.op0_kind() != OpKind::Register || ins.op0_register() != reg {
            continue;
        }
        return match ins.code() {
            Op::Mov_r32_imm32 | Op::Mov_rm32_imm32 => Some(ins.immediate(1)),
            Op::Xor_r32_rm32 | Op::Xor_rm32_r32
                if ins.op1_kind() == OpKind::Register && ins.op1_register() == reg =>
            {
                Some(0)
            }
            _ => None,
        };
    }
    None
}

/// What the first `max` instructions at `func` reference: immediates that are addresses in
/// the module (non-PIC and PE code) and `[reg+disp]` operands taken relative to the GOT base
/// (PIC code keeps it in a register). Candidates only: the slot reader validates each.
pub(super) fn refs(code: &Code, func: u64, max: usize) -> super::FuncRefs {
    let mut out = super::FuncRefs::default();
    let Some(bytes) = code_at(code.bin, func) else {
        return out;
    };
    let got = got_base(code.bin);
    let mut dec = Decoder::with_ip(
        32,
        &bytes[..bytes.len().min(max * 15)],
        func,
        DecoderOptions::NONE,
    );
    let mut ins = Instruction::default();
    for _ in 0..max {
        if !dec.can_decode() {
            break;
        }
        dec.decode_out(&mut ins);
        if ins.is_invalid() {
            break;
        }
        for op in 0..ins.op_count() {
            match ins.op_kind(op) {
                // `add reg, imm` after a get_pc_thunk call adds the GOT offset: not an address.
                OpKind::Immediate32 | OpKind::Immediate8to32
                    if matches!(
                        ins.mnemonic(),
                        iced_x86::Mnemonic::Mov | iced_x86::Mnemonic::Push
                    ) =>
                {
                    let v = ins.immediate(op) & 0xffff_ffff;
                    if code.bin.segment(v).is_some() {
                        out.data.push(v);
                    }
                }
                OpKind::Memory if ins.memory_index() == Register::None => {
                    let disp = ins.memory_displacement64() & 0xffff_ffff;
                    match (ins.memory_base(), got) {
                        (Register::None, _) => {
                            if let Some(Pointer::Addr(a)) = code.bin.pointers.get(disp) {
                                out.data.push(a);
                            }
                        }
                        (_, Some(g)) if ins.mnemonic() == iced_x86::Mnemonic::Lea => {
                            out.data.push(g.wrapping_add(disp) & 0xffff_ffff);
                        }
                        // A load from a GOT entry that holds a local address (`mov eax,
                        // [eax+off]` after the GOT base is computed).
                        (_, Some(g)) if ins.mnemonic() == iced_x86::Mnemonic::Mov => {
                            let slot = g.wrapping_add(disp) & 0xffff_ffff;
                            if let Some(Pointer::Addr(a)) = code.bin.pointers.get(slot) {
                                out.data.push(a);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        match ins.flow_control() {
            FlowControl::Call | FlowControl::UnconditionalBranch => {
                let t = ins.near_branch_target();
                match code.stub_import(t) {
                    Some(i) => out.imports.push(i),
                    None => out.local_calls.push(t),
                }
                if ins.flow_control() == FlowControl::UnconditionalBranch {
                    break;
                }
            }
            FlowControl::Return | FlowControl::IndirectBranch => break,
            _ => {}
        }
    }
    out
}
