//! 32-bit x86 code reading (ELF i686 and PE win32): import stubs, call sites and the
//! constant pushed as a call argument (cdecl passes arguments on the stack).

use std::collections::HashMap;

use iced_x86::{Code as Op, Decoder, DecoderOptions, FlowControl, Instruction, OpKind, Register};

use super::{ArgValue, Code, Store, code_at};
use crate::inspect::model::{Binary, Pointer};

fn u32_le(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at + 4)?;
    Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// The base register `ebx` holds in PIC code: the start of `.got.plt` (or `.got`).
pub(super) fn got_base(bin: &Binary) -> Option<u64> {
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

/// `call rel32` to a stub of one of `imports`, and `call [abs32]` or `call [reg+disp32]`
/// (GOT-relative) through its slot.
pub(super) fn call_sites(code: &Code, imports: &[u32]) -> Vec<(u64, u32)> {
    let bin = code.bin;
    let got = got_base(bin);
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
                // `call [reg+disp32]` relative to the GOT base (`-fno-plt` PIC code).
                0xff if !stub_section
                    && matches!(bytes[i + 1], 0x90..=0x97)
                    && bytes[i + 1] != 0x94 =>
                {
                    got.and_then(|g| {
                        let slot = g.wrapping_add(u32_le(bytes, i + 2)?) & 0xffff_ffff;
                        code.slot_import(slot)
                    })
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

/// The instructions ending exactly at `site`, at most `window` bytes of them. Decoded
/// forward from the start of the function the file describes around `site` when there is
/// one and `site` is an instruction boundary there; else from as far back as `window`
/// allows (the longest run that ends at `site`, which can start out of step).
fn instructions_before(bin: &Binary, site: u64, window: u64) -> Vec<Instruction> {
    if let Some((start, _)) = bin.function_at(site)
        && let Some(bytes) = code_at(bin, start)
        && let Ok(len) = usize::try_from(site - start)
        && len <= bytes.len()
        && len <= super::MAX_FUNCTION_BYTES
    {
        let run = super::x86_64::decode_run(&bytes[..len], start, 32);
        if run.last().is_some_and(|l| l.next_ip() == site) {
            let from = site.saturating_sub(window);
            return run.into_iter().filter(|i| i.ip() >= from).collect();
        }
    }
    super::x86_64::decode_before(bin, site, window, 16, 32)
}

/// The constant in stack argument `n` at the call at `site`: the n-th `push` before the call
/// (arguments are pushed last to first), or a `mov [esp+4n], ...` into a reserved area.
pub(super) fn arg_at_call(code: &Code, site: u64, n: usize) -> ArgValue {
    arg_value(code, site, n, reg_constant)
}

/// The address stack argument `n` holds at the call at `site`, when the code before the
/// call computes one: an absolute address (PE, non-PIC code) or, in PIC code, an offset from
/// the GOT base the code keeps in a register (`lea eax, [ebx+off]`).
pub(super) fn addr_arg_at_call(code: &Code, site: u64, n: usize) -> Option<u64> {
    let bin = code.bin;
    let got = got_base(bin);
    let v = arg_value(code, site, n, |run, reg| {
        let ins = run
            .iter()
            .rev()
            .find(|i| i.op0_kind() == OpKind::Register && i.op0_register() == reg)?;
        match ins.code() {
            Op::Mov_r32_imm32 | Op::Mov_rm32_imm32 => Some(ins.immediate(1)),
            Op::Lea_r32_m if ins.memory_index() == Register::None => {
                let disp = u64::from(ins.memory_displacement32());
                match ins.memory_base() {
                    Register::None => Some(disp),
                    _ if bin.format == crate::inspect::model::Format::Elf => {
                        got.map(|g| g.wrapping_add(disp) & 0xffff_ffff)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    });
    match v {
        ArgValue::Const(a) if bin.segment(a).is_some() => Some(a),
        _ => None,
    }
}

/// What stack argument `n` holds at the call at `site`, with `reg_value` saying what a
/// register pushed or stored there holds.
fn arg_value(
    code: &Code,
    site: u64,
    n: usize,
    reg_value: impl Fn(&[Instruction], Register) -> Option<u64>,
) -> ArgValue {
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
                (pushes == n + 1).then(|| reg_value(&run[..i], ins.op0_register()))
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
                Some(reg_value(&run[..i], ins.op1_register()))
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
                    None => {
                        out.local_calls.push(t);
                        // Not a PIC thunk call (`call $+5`, `call __x86.get_pc_thunk`).
                        if ins.flow_control() == FlowControl::Call && t != ins.next_ip() {
                            out.call_sites.push(ins.ip());
                        }
                    }
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

/// Constant stores into `[lo, hi)` anywhere in the text: `mov dword [addr], imm32` and `mov
/// dword [addr], reg` after a constant is set in `reg`, with `addr` absolute (PE, non-PIC
/// code) or relative to the GOT base that PIC code keeps in a register.
pub(super) fn stores_into(code: &Code, lo: u64, hi: u64) -> Vec<Store> {
    let bin = code.bin;
    let got = got_base(bin);
    let mut out = Vec::new();
    for (start, bytes) in bin.code() {
        for i in 0..bytes.len().saturating_sub(6) {
            let (op, modrm) = (bytes[i], bytes[i + 1]);
            if op == 0x0f {
                out.extend(vector_store(code, start + i as u64, &bytes[i..], lo, hi));
                continue;
            }
            if op != 0xc7 && op != 0x89 {
                continue;
            }
            let Some(disp) = u32_le(bytes, i + 2) else {
                continue;
            };
            let addr = match modrm & 0xc7 {
                0x05 => disp,
                // [reg + disp32], not [esp + ...] (which needs a SIB byte)
                0x80..=0x87
                    if modrm & 7 != 4 && bin.format == crate::inspect::model::Format::Elf =>
                {
                    match got {
                        Some(g) => g.wrapping_add(disp) & 0xffff_ffff,
                        None => continue,
                    }
                }
                _ => continue,
            };
            if addr < lo || addr >= hi || (op == 0xc7 && modrm & 0x38 != 0) {
                continue;
            }
            let site = start + i as u64;
            let value = if op == 0xc7 {
                u32_le(bytes, i + 6)
            } else {
                let reg = [
                    Register::EAX,
                    Register::ECX,
                    Register::EDX,
                    Register::EBX,
                    Register::ESP,
                    Register::EBP,
                    Register::ESI,
                    Register::EDI,
                ][usize::from((modrm >> 3) & 7)];
                reg_constant(&instructions_before(bin, site, 64), reg)
            };
            if let Some(value) = value {
                out.push(Store {
                    addr,
                    size: 4,
                    value,
                    at: site,
                });
            }
        }
    }
    out
}

/// A vector store to an absolute address (`movups`/`movaps [addr], xmm`, `movq [addr], xmm`,
/// with its prefix before `at`): the 4-byte words of it that are known constants. Slot
/// arrays of 32-bit code are pairs of 4-byte words, so each word stands alone.
fn vector_store(code: &Code, at: u64, bytes: &[u8], lo: u64, hi: u64) -> Vec<Store> {
    let Some(&op) = bytes.get(1) else {
        return Vec::new();
    };
    if !matches!(op, 0x11 | 0x29 | 0x7f | 0xd6) {
        return Vec::new();
    }
    // Back up over the mandatory prefix (66 / f3) so the decoder sees the whole store.
    for back in [0u64, 1] {
        let Some(from) = at.checked_sub(back) else {
            continue;
        };
        let Some(b) = code_at(code.bin, from) else {
            continue;
        };
        let mut dec = Decoder::with_ip(32, &b[..b.len().min(15)], from, DecoderOptions::NONE);
        let ins = dec.decode();
        if ins.is_invalid()
            || ins.op0_kind() != OpKind::Memory
            || ins.op1_kind() != OpKind::Register
            || ins.memory_base() != Register::None
            || ins.memory_index() != Register::None
        {
            continue;
        }
        let len = match ins.code() {
            Op::Movups_xmmm128_xmm
            | Op::Movaps_xmmm128_xmm
            | Op::Movdqu_xmmm128_xmm
            | Op::Movdqa_xmmm128_xmm
            | Op::Movupd_xmmm128_xmm
            | Op::Movapd_xmmm128_xmm => 16,
            Op::Movq_xmmm64_xmm => 8,
            _ => continue,
        };
        let addr = u64::from(ins.memory_displacement32());
        if addr >= hi || addr + len <= lo {
            return Vec::new();
        }
        let Some((b, known)) = super::x86_64::xmm_constant(code, from, ins.op1_register(), 32)
        else {
            return Vec::new();
        };
        return (0..len / 4)
            .filter(|k| (known >> (4 * k)) & 0xf == 0xf)
            .map(|k| {
                let w = &b[4 * k as usize..4 * k as usize + 4];
                Store {
                    addr: addr + 4 * k,
                    size: 4,
                    value: u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
                    at: from,
                }
            })
            .collect();
    }
    Vec::new()
}
