//! Bounds-checked reading of the encodings Mach-O linkedit data uses: fixed-width integers in
//! the image's byte order, ULEB128/SLEB128 and NUL-terminated strings. Every read either
//! succeeds inside the slice or reports what was cut short; nothing here can panic.

use crate::inspect::model::ModelError;

pub(super) fn malformed(msg: impl Into<String>) -> ModelError {
    ModelError::Malformed(msg.into())
}

/// `N` bytes at `off`, if they are all inside `data`.
fn array<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    data.get(off..end)?.try_into().ok()
}

pub(super) fn u16_at(data: &[u8], off: usize, le: bool) -> Option<u16> {
    let a = array::<2>(data, off)?;
    Some(if le {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    })
}

pub(super) fn u32_at(data: &[u8], off: usize, le: bool) -> Option<u32> {
    let a = array::<4>(data, off)?;
    Some(if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    })
}

pub(super) fn u64_at(data: &[u8], off: usize, le: bool) -> Option<u64> {
    let a = array::<8>(data, off)?;
    Some(if le {
        u64::from_le_bytes(a)
    } else {
        u64::from_be_bytes(a)
    })
}

/// A 4- or 8-byte unsigned integer at `off`.
pub(super) fn uint_at(data: &[u8], off: usize, size: u8, le: bool) -> Option<u64> {
    match size {
        4 => u32_at(data, off, le).map(u64::from),
        8 => u64_at(data, off, le),
        _ => None,
    }
}

/// `data[start..start + len]` with 64-bit operands, for ranges read from the file.
pub(super) fn range(data: &[u8], start: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(start).ok()?;
    let len = usize::try_from(len).ok()?;
    data.get(start..start.checked_add(len)?)
}

/// The bytes before the first NUL at `off` (the whole rest of `data` must hold a NUL).
pub(super) fn c_str_at(data: &[u8], off: usize) -> Option<&[u8]> {
    let rest = data.get(off..)?;
    let n = memchr::memchr(0, rest)?;
    Some(&rest[..n])
}

/// A forward reader over an opcode or trie stream. `what` names the stream in errors.
pub(super) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(data: &'a [u8], what: &'static str) -> Self {
        Cursor { data, pos: 0, what }
    }

    pub(super) fn at(data: &'a [u8], pos: usize, what: &'static str) -> Self {
        Cursor { data, pos, what }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn cut_short(&self, item: &str) -> ModelError {
        malformed(format!(
            "{} cut short reading {item} at offset {:#x}",
            self.what, self.pos
        ))
    }

    pub(super) fn u8(&mut self) -> Result<u8, ModelError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.cut_short("a byte"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn uleb(&mut self) -> Result<u64, ModelError> {
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| self.cut_short("a ULEB128"))?;
            self.pos += 1;
            let bits = u64::from(b & 0x7f);
            if shift >= 64 || (shift > 0 && bits >> (64 - shift) != 0) {
                if bits != 0 {
                    return Err(malformed(format!(
                        "{}: ULEB128 at offset {start:#x} overflows 64 bits",
                        self.what
                    )));
                }
            } else {
                value |= bits << shift;
            }
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift = shift.saturating_add(7);
        }
    }

    pub(super) fn sleb(&mut self) -> Result<i64, ModelError> {
        let mut value: i64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| self.cut_short("an SLEB128"))?;
            self.pos += 1;
            if shift < 64 {
                value |= i64::from(b & 0x7f) << shift;
            }
            shift = shift.saturating_add(7);
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    /// A NUL-terminated string; the cursor moves past the NUL.
    pub(super) fn c_str(&mut self) -> Result<&'a [u8], ModelError> {
        let s = c_str_at(self.data, self.pos).ok_or_else(|| self.cut_short("a string"))?;
        self.pos += s.len() + 1;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_values() {
        let mut c = Cursor::new(&[0xe5, 0x8e, 0x26, 0x7f, 0x80, 0x7f, 0x00], "t");
        assert_eq!(c.uleb().unwrap(), 624_485);
        assert_eq!(c.sleb().unwrap(), -1);
        assert_eq!(c.sleb().unwrap(), -128);
        assert_eq!(c.uleb().unwrap(), 0);
        assert!(c.at_end());
    }

    #[test]
    fn leb128_long_and_cut() {
        // Padding bytes past 64 bits are tolerated when they carry no bits.
        let mut long = vec![0x80u8; 12];
        long.push(0x00);
        assert_eq!(Cursor::new(&long, "t").uleb().unwrap(), 0);
        let mut over = vec![0xffu8; 10];
        over.push(0x01);
        assert!(Cursor::new(&over, "t").uleb().is_err());
        assert!(Cursor::new(&[0x80, 0x80], "t").uleb().is_err());
        assert!(Cursor::new(&[0x80], "t").sleb().is_err());
        assert!(Cursor::new(b"ab", "t").c_str().is_err());
    }

    #[test]
    fn fixed_width() {
        let d = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(u16_at(&d, 0, true), Some(0x0201));
        assert_eq!(u32_at(&d, 4, false), Some(0x05060708));
        assert_eq!(u64_at(&d, 1, true), None);
        assert_eq!(uint_at(&d, 0, 8, true), Some(0x0807060504030201));
        assert_eq!(range(&d, 6, 3), None);
        assert_eq!(range(&d, u64::MAX, 1), None);
    }
}
