//! The facts about one Mach-O image that every fixup format needs: its segment load commands
//! in file order (rebase, bind and chained-fixup records name segments by that index), byte
//! order, pointer size and base address, and bounds-checked access to the words they name.

use super::bytes::{malformed, uint_at};
use crate::inspect::model::ModelError;

/// One `LC_SEGMENT` / `LC_SEGMENT_64`, with offsets relative to the (slice) bytes.
#[derive(Debug, Clone)]
pub(super) struct SegmentCommand {
    pub name: String,
    pub vmaddr: u64,
    pub vmsize: u64,
    pub fileoff: u64,
    pub filesize: u64,
    pub initprot: u32,
}

#[derive(Debug)]
pub(super) struct Image<'a> {
    pub data: &'a [u8],
    pub little_endian: bool,
    /// 4 or 8.
    pub pointer_size: u8,
    pub segments: Vec<SegmentCommand>,
    /// Address of the first byte of the file once mapped: the `__TEXT` vmaddr (0 for dylibs
    /// and bundles). Chained `*_OFFSET` targets and export-trie offsets are relative to it.
    pub base: u64,
}

impl<'a> Image<'a> {
    /// The segment with load-command index `index`, for records that name one.
    pub fn segment(&self, index: u64, what: &str) -> Result<&SegmentCommand, ModelError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.segments.get(i))
            .ok_or_else(|| {
                malformed(format!(
                    "{what} names segment {index}, the file has {}",
                    self.segments.len()
                ))
            })
    }

    /// Check that a `size`-byte word at `seg_offset` lies inside `seg` and return its address.
    pub fn site(
        &self,
        seg: &SegmentCommand,
        seg_offset: u64,
        size: u8,
        what: &str,
    ) -> Result<u64, ModelError> {
        let inside = seg_offset
            .checked_add(u64::from(size))
            .is_some_and(|end| end <= seg.vmsize);
        if !inside {
            return Err(malformed(format!(
                "{what} at offset {seg_offset:#x} beyond segment {} (size {:#x})",
                seg.name, seg.vmsize
            )));
        }
        Ok(seg.vmaddr.wrapping_add(seg_offset))
    }

    /// The `size`-byte word the file holds at `seg_offset` of `seg`, `None` when that part of
    /// the segment is not backed by file bytes.
    pub fn word(&self, seg: &SegmentCommand, seg_offset: u64, size: u8) -> Option<u64> {
        let end = seg_offset.checked_add(u64::from(size))?;
        if end > seg.filesize {
            return None;
        }
        let off = usize::try_from(seg.fileoff.checked_add(seg_offset)?).ok()?;
        uint_at(self.data, off, size, self.little_endian)
    }
}
