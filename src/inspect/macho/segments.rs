//! Segment load commands (parsed by goblin) and their section headers, read here because
//! goblin's generalized `Section` drops `reserved1`/`reserved2`, which index the indirect
//! symbol table and give the stub size. Turns sections into the model's [`Segment`]s.

use goblin::mach::MachO;
use goblin::mach::constants::{
    S_ATTR_PURE_INSTRUCTIONS, S_ATTR_SOME_INSTRUCTIONS, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL,
    S_ZEROFILL, SECTION_TYPE, VM_PROT_EXECUTE, VM_PROT_WRITE,
};
use goblin::mach::load_command::CommandVariant;

use super::bytes::{malformed, u32_at, u64_at};
use super::image::SegmentCommand;
use crate::inspect::model::{ModelError, Segment};

const SEGMENT_COMMAND_64: usize = 72;
const SEGMENT_COMMAND_32: usize = 56;
const SECTION_64: usize = 80;
const SECTION_32: usize = 68;

/// One section header.
#[derive(Debug, Clone)]
pub(super) struct Section {
    pub segname: String,
    pub sectname: String,
    pub addr: u64,
    pub size: u64,
    pub offset: u32,
    pub flags: u32,
    pub reserved1: u32,
    pub reserved2: u32,
    /// Index of the segment load command holding it.
    pub segment: usize,
}

impl Section {
    pub fn kind(&self) -> u32 {
        self.flags & SECTION_TYPE
    }

    /// `__DATA_CONST,__const`.
    pub fn full_name(&self) -> String {
        format!("{},{}", self.segname, self.sectname)
    }

    fn is_zerofill(&self) -> bool {
        matches!(
            self.kind(),
            S_ZEROFILL | S_GB_ZEROFILL | S_THREAD_LOCAL_ZEROFILL
        )
    }
}

/// Segment load commands in file order and all their sections.
pub(super) fn read(
    macho: &MachO<'_>,
    data: &[u8],
) -> Result<(Vec<SegmentCommand>, Vec<Section>), ModelError> {
    let le = macho.little_endian;
    let mut segments = Vec::new();
    let mut sections = Vec::new();
    for lc in &macho.load_commands {
        let (seg, nsects, cmdsize, is_64) = match &lc.command {
            CommandVariant::Segment64(c) => (
                SegmentCommand {
                    name: fixed_name(&c.segname),
                    vmaddr: c.vmaddr,
                    vmsize: c.vmsize,
                    fileoff: c.fileoff,
                    filesize: c.filesize,
                    initprot: c.initprot,
                },
                c.nsects,
                c.cmdsize,
                true,
            ),
            CommandVariant::Segment32(c) => (
                SegmentCommand {
                    name: fixed_name(&c.segname),
                    vmaddr: c.vmaddr.into(),
                    vmsize: c.vmsize.into(),
                    fileoff: c.fileoff.into(),
                    filesize: c.filesize.into(),
                    initprot: c.initprot,
                },
                c.nsects,
                c.cmdsize,
                false,
            ),
            _ => continue,
        };
        let (head, each) = if is_64 {
            (SEGMENT_COMMAND_64, SECTION_64)
        } else {
            (SEGMENT_COMMAND_32, SECTION_32)
        };
        let room = (cmdsize as usize).saturating_sub(head) / each;
        if nsects as usize > room {
            return Err(malformed(format!(
                "segment {} claims {nsects} sections, its load command holds {room}",
                seg.name
            )));
        }
        for i in 0..nsects as usize {
            let at = lc.offset.saturating_add(head + i * each);
            let s = section(data, at, is_64, le, segments.len()).ok_or_else(|| {
                malformed(format!(
                    "section header {i} of segment {} is cut short",
                    seg.name
                ))
            })?;
            sections.push(s);
        }
        segments.push(seg);
    }
    Ok((segments, sections))
}

/// `struct section` / `struct section_64` at `at`.
fn section(data: &[u8], at: usize, is_64: bool, le: bool, segment: usize) -> Option<Section> {
    let names = data.get(at..at.checked_add(32)?)?;
    let u32_field = |off: usize| u32_at(data, at + off, le);
    let (addr, size, rest) = if is_64 {
        (u64_at(data, at + 32, le)?, u64_at(data, at + 40, le)?, 48)
    } else {
        (u32_field(32)?.into(), u32_field(36)?.into(), 40)
    };
    Some(Section {
        sectname: fixed_name(&names[..16]),
        segname: fixed_name(&names[16..]),
        addr,
        size,
        offset: u32_field(rest)?,
        flags: u32_field(rest + 16)?,
        reserved1: u32_field(rest + 20)?,
        reserved2: u32_field(rest + 24)?,
        segment,
    })
}

/// A 16-byte, NUL-padded name field.
fn fixed_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The model's view of one section: where it is mapped and what the file holds for it.
pub(super) fn model_segment(s: &Section, seg: &SegmentCommand, file_len: usize) -> Segment {
    let filesize = if s.is_zerofill() {
        0
    } else {
        s.size
            .min((file_len as u64).saturating_sub(u64::from(s.offset)))
    };
    let code = s.flags & (S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS) != 0;
    Segment {
        name: s.full_name(),
        vaddr: s.addr,
        vsize: s.size,
        offset: s.offset.into(),
        filesize,
        exec: code || seg.initprot & VM_PROT_EXECUTE != 0,
        write: seg.initprot & VM_PROT_WRITE != 0,
    }
}
