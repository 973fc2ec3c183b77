//! Classic rebase opcodes (`LC_DYLD_INFO(_ONLY)`, `rebase_off`/`rebase_size`): a byte-code
//! program listing every word dyld slides at load time. The file already holds the unslid
//! target in each such word, so a rebase site maps to the value found there.

use super::bytes::{Cursor, malformed};
use super::image::{Image, SegmentCommand};
use crate::inspect::model::ModelError;

const REBASE_TYPE_POINTER: u8 = 1;
const REBASE_TYPE_TEXT_ABSOLUTE32: u8 = 2;

const REBASE_OPCODE_DONE: u8 = 0x00;
const REBASE_OPCODE_SET_TYPE_IMM: u8 = 0x10;
const REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB: u8 = 0x20;
const REBASE_OPCODE_ADD_ADDR_ULEB: u8 = 0x30;
const REBASE_OPCODE_ADD_ADDR_IMM_SCALED: u8 = 0x40;
const REBASE_OPCODE_DO_REBASE_IMM_TIMES: u8 = 0x50;
const REBASE_OPCODE_DO_REBASE_ULEB_TIMES: u8 = 0x60;
const REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB: u8 = 0x70;
const REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB: u8 = 0x80;

/// Run the rebase program and return `(site, target)` pairs in program order.
pub(super) fn rebases(img: &Image<'_>, opcodes: &[u8]) -> Result<Vec<(u64, u64)>, ModelError> {
    let mut m = Machine {
        img,
        seg: None,
        offset: 0,
        kind: REBASE_TYPE_POINTER,
        budget: img.data.len() / usize::from(img.pointer_size.max(1)),
        out: Vec::new(),
    };
    let ptr = u64::from(img.pointer_size);
    let mut c = Cursor::new(opcodes, "rebase opcodes");
    while !c.at_end() {
        let at = c.pos();
        let byte = c.u8()?;
        let imm = byte & 0x0f;
        match byte & 0xf0 {
            REBASE_OPCODE_DONE => break,
            REBASE_OPCODE_SET_TYPE_IMM => m.kind = imm,
            REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB => {
                m.seg = Some(img.segment(u64::from(imm), "rebase opcode")?);
                m.offset = c.uleb()?;
            }
            REBASE_OPCODE_ADD_ADDR_ULEB => m.offset = m.offset.wrapping_add(c.uleb()?),
            REBASE_OPCODE_ADD_ADDR_IMM_SCALED => {
                m.offset = m.offset.wrapping_add(u64::from(imm) * ptr);
            }
            REBASE_OPCODE_DO_REBASE_IMM_TIMES => m.repeat(u64::from(imm), 0)?,
            REBASE_OPCODE_DO_REBASE_ULEB_TIMES => {
                let count = c.uleb()?;
                m.repeat(count, 0)?;
            }
            REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB => {
                let skip = c.uleb()?;
                m.repeat(1, skip)?;
            }
            REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB => {
                let count = c.uleb()?;
                let skip = c.uleb()?;
                m.repeat(count, skip)?;
            }
            _ => {
                return Err(malformed(format!(
                    "unknown rebase opcode {byte:#04x} at offset {at:#x}"
                )));
            }
        }
    }
    Ok(m.out)
}

/// The interpreter's registers.
struct Machine<'i, 'a> {
    img: &'i Image<'a>,
    seg: Option<&'i SegmentCommand>,
    offset: u64,
    kind: u8,
    /// Sites still allowed: a file cannot hold more pointers than it has words.
    budget: usize,
    out: Vec<(u64, u64)>,
}

impl Machine<'_, '_> {
    /// Rebase `count` consecutive words, stepping a pointer plus `skip` bytes after each.
    fn repeat(&mut self, count: u64, skip: u64) -> Result<(), ModelError> {
        let step = u64::from(self.img.pointer_size).wrapping_add(skip);
        for _ in 0..count {
            self.rebase_one()?;
            self.offset = self.offset.wrapping_add(step);
        }
        Ok(())
    }

    fn rebase_one(&mut self) -> Result<(), ModelError> {
        let seg = self
            .seg
            .ok_or_else(|| malformed("rebase opcode before any segment is set"))?;
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            malformed("rebase opcodes mark more sites than the file has pointer-sized words")
        })?;
        let size = match self.kind {
            REBASE_TYPE_POINTER => self.img.pointer_size,
            REBASE_TYPE_TEXT_ABSOLUTE32 => 4,
            // PC-relative text fixups hold no address.
            _ => return Ok(()),
        };
        let site = self.img.site(seg, self.offset, size, "rebase site")?;
        let target = self.img.word(seg, self.offset, size).ok_or_else(|| {
            malformed(format!(
                "rebase site {site:#x} in {} has no bytes in the file",
                seg.name
            ))
        })?;
        self.out.push((site, target));
        Ok(())
    }
}
