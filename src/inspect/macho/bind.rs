//! Classic bind opcodes (`LC_DYLD_INFO(_ONLY)` bind, lazy bind and weak bind streams): the
//! byte-code programs that tell dyld which words receive the address of which imported
//! symbol, from which library ordinal. goblin's interpreter indexes its tables with values
//! from the file, so this one is written to bound every step instead.

use super::bytes::{Cursor, malformed};
use super::image::{Image, SegmentCommand};
use crate::inspect::model::ModelError;

const BIND_TYPE_POINTER: u8 = 1;
const BIND_TYPE_TEXT_ABSOLUTE32: u8 = 2;

const BIND_OPCODE_DONE: u8 = 0x00;
const BIND_OPCODE_SET_DYLIB_ORDINAL_IMM: u8 = 0x10;
const BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB: u8 = 0x20;
const BIND_OPCODE_SET_DYLIB_SPECIAL_IMM: u8 = 0x30;
const BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM: u8 = 0x40;
const BIND_OPCODE_SET_TYPE_IMM: u8 = 0x50;
const BIND_OPCODE_SET_ADDEND_SLEB: u8 = 0x60;
const BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB: u8 = 0x70;
const BIND_OPCODE_ADD_ADDR_ULEB: u8 = 0x80;
const BIND_OPCODE_DO_BIND: u8 = 0x90;
const BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB: u8 = 0xa0;
const BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED: u8 = 0xb0;
const BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB: u8 = 0xc0;
const BIND_OPCODE_THREADED: u8 = 0xd0;

/// Which of the three streams is being run: they differ only in what `DONE` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Bind,
    /// Entries are separated by `DONE`; the stream goes on after it.
    Lazy,
    Weak,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Bind => "bind opcodes",
            Stream::Lazy => "lazy bind opcodes",
            Stream::Weak => "weak bind opcodes",
        }
    }
}

/// One word bound to an imported symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bind<'a> {
    pub site: u64,
    /// Symbol name as in the file (with the leading underscore).
    pub symbol: &'a [u8],
    /// Library ordinal: 1-based index into the dylib load commands, or a special value
    /// (0 self, -1 main executable, -2 flat lookup, -3 weak lookup).
    pub ordinal: i64,
}

/// Run one bind program and return its binds in program order.
pub(super) fn binds<'a>(
    img: &Image<'_>,
    opcodes: &'a [u8],
    stream: Stream,
) -> Result<Vec<Bind<'a>>, ModelError> {
    let mut m = Machine {
        img,
        stream,
        seg: None,
        offset: 0,
        kind: BIND_TYPE_POINTER,
        symbol: None,
        ordinal: 0,
        budget: img.data.len() / usize::from(img.pointer_size.max(1)),
        out: Vec::new(),
    };
    let ptr = u64::from(img.pointer_size);
    let mut c = Cursor::new(opcodes, stream.name());
    while !c.at_end() {
        let at = c.pos();
        let byte = c.u8()?;
        let imm = byte & 0x0f;
        match byte & 0xf0 {
            BIND_OPCODE_DONE if stream == Stream::Lazy => {}
            BIND_OPCODE_DONE => break,
            BIND_OPCODE_SET_DYLIB_ORDINAL_IMM => m.ordinal = i64::from(imm),
            BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB => {
                m.ordinal = i64::try_from(c.uleb()?).unwrap_or(i64::MAX);
            }
            BIND_OPCODE_SET_DYLIB_SPECIAL_IMM => {
                // 0 stays 0; 0xf..0xd sign-extend to -1..-3.
                m.ordinal = if imm == 0 {
                    0
                } else {
                    i64::from((imm | 0xf0) as i8)
                };
            }
            BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM => m.symbol = Some(c.c_str()?),
            BIND_OPCODE_SET_TYPE_IMM => m.kind = imm,
            BIND_OPCODE_SET_ADDEND_SLEB => {
                c.sleb()?;
            }
            BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB => {
                m.seg = Some(img.segment(u64::from(imm), stream.name())?);
                m.offset = c.uleb()?;
            }
            BIND_OPCODE_ADD_ADDR_ULEB => m.offset = m.offset.wrapping_add(c.uleb()?),
            BIND_OPCODE_DO_BIND => m.repeat(1, 0)?,
            BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB => {
                let skip = c.uleb()?;
                m.repeat(1, skip)?;
            }
            BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED => m.repeat(1, u64::from(imm) * ptr)?,
            BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB => {
                let count = c.uleb()?;
                let skip = c.uleb()?;
                m.repeat(count, skip)?;
            }
            BIND_OPCODE_THREADED => {
                return Err(ModelError::Unsupported(
                    "threaded bind opcodes (pre-chained-fixups arm64e) are not supported".into(),
                ));
            }
            _ => {
                return Err(malformed(format!(
                    "unknown opcode {byte:#04x} at offset {at:#x} in {}",
                    stream.name()
                )));
            }
        }
    }
    Ok(m.out)
}

/// The interpreter's registers.
struct Machine<'i, 'a, 'o> {
    img: &'i Image<'a>,
    stream: Stream,
    seg: Option<&'i SegmentCommand>,
    offset: u64,
    kind: u8,
    symbol: Option<&'o [u8]>,
    ordinal: i64,
    /// Binds still allowed: a file cannot hold more pointers than it has words.
    budget: usize,
    out: Vec<Bind<'o>>,
}

impl Machine<'_, '_, '_> {
    /// Bind `count` consecutive words, stepping a pointer plus `skip` bytes after each.
    fn repeat(&mut self, count: u64, skip: u64) -> Result<(), ModelError> {
        let step = u64::from(self.img.pointer_size).wrapping_add(skip);
        for _ in 0..count {
            self.bind_one()?;
            self.offset = self.offset.wrapping_add(step);
        }
        Ok(())
    }

    fn bind_one(&mut self) -> Result<(), ModelError> {
        let what = self.stream.name();
        let seg = self
            .seg
            .ok_or_else(|| malformed(format!("{what}: bind before any segment is set")))?;
        let symbol = self
            .symbol
            .ok_or_else(|| malformed(format!("{what}: bind before any symbol is set")))?;
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            malformed(format!(
                "{what} bind more sites than the file has pointer-sized words"
            ))
        })?;
        let size = match self.kind {
            BIND_TYPE_POINTER => self.img.pointer_size,
            BIND_TYPE_TEXT_ABSOLUTE32 => 4,
            // PC-relative text binds hold a displacement, not an address.
            _ => return Ok(()),
        };
        let site = self.img.site(seg, self.offset, size, what)?;
        self.out.push(Bind {
            site,
            symbol,
            ordinal: self.ordinal,
        });
        Ok(())
    }
}
