//! Assembles small, valid 64-bit Mach-O bundles for the loader tests, with either classic
//! `LC_DYLD_INFO_ONLY` opcodes or `LC_DYLD_CHAINED_FIXUPS` in a chosen pointer format, and
//! records where the interesting fields are so tests can corrupt them one at a time.
//!
//! The image (addresses = file offsets, base 0):
//!
//! | range | contents |
//! |---|---|
//! | `__TEXT` 0..0x1000 | `__text` 0x800 (`PyInit_synth`), `__cstring` 0x900 (`"synth"`), `__stubs` 0x980 |
//! | `__DATA` 0x1000..0x2000 | `__got` 0x1000, `__data` 0x1040 (a `PyModuleDef` + slots + an import pointer), `__bss` 0x1100 |
//! | `__LINKEDIT` 0x2000.. | fixups, export trie, symbols, indirect table, strings |
//!
//! Pointer sites: 0x1000 → import `PyModuleDef_Init` (flat lookup), 0x1078 (`m_name`) → 0x900,
//! 0x1098 (`m_slots`) → 0x10a0, 0x10c0 → import `PyExc_TypeError` (from libSystem).

use std::collections::HashMap;

pub const TEXT_ADDR: u64 = 0x800;
pub const NAME_ADDR: u64 = 0x900;
pub const STUB_ADDR: u64 = 0x980;
pub const GOT_SITE: u64 = 0x1000;
pub const DEF_ADDR: u64 = 0x1040;
pub const NAME_SITE: u64 = DEF_ADDR + 56;
pub const SLOTS_SITE: u64 = DEF_ADDR + 88;
pub const SLOTS_ADDR: u64 = 0x10a0;
pub const IMPORT_SITE: u64 = 0x10c0;
pub const BSS_ADDR: u64 = 0x1100;
pub const LIBSYSTEM: &str = "/usr/lib/libSystem.B.dylib";

const LINKEDIT: usize = 0x2000;
const CPU_TYPE_ARM64: u32 = 0x0100_000c;
const MH_BUNDLE: u32 = 8;
const MH_TWOLEVEL: u32 = 0x80;

/// Which fixup encoding the image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixups {
    Classic,
    /// `LC_DYLD_CHAINED_FIXUPS` with this `DYLD_CHAINED_PTR_*` format (1, 2, 6, 9 or 12).
    Chained(u16),
}

/// A built image and the file offsets of fields tests corrupt, by name.
pub struct Synth {
    pub bytes: Vec<u8>,
    pub at: HashMap<&'static str, usize>,
}

impl Synth {
    pub fn put_u16(&mut self, field: &str, v: u16) {
        let at = self.at[field];
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    pub fn put_u32(&mut self, field: &str, v: u32) {
        let at = self.at[field];
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn put_u64(&mut self, field: &str, v: u64) {
        let at = self.at[field];
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    pub fn get_u64(&self, field: &str) -> u64 {
        let at = self.at[field];
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    /// Overwrite bytes starting at a recorded field.
    pub fn put_bytes(&mut self, field: &str, v: &[u8]) {
        let at = self.at[field];
        self.bytes[at..at + v.len()].copy_from_slice(v);
    }
}

/// Little-endian byte writer that remembers named offsets.
#[derive(Default)]
struct W {
    b: Vec<u8>,
    at: HashMap<&'static str, usize>,
}

impl W {
    fn mark(&mut self, name: &'static str) {
        self.at.insert(name, self.b.len());
    }
    fn u8(&mut self, v: u8) {
        self.b.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.b.extend_from_slice(v);
    }
    fn name16(&mut self, s: &str) {
        let mut f = [0u8; 16];
        f[..s.len()].copy_from_slice(s.as_bytes());
        self.bytes(&f);
    }
    fn pad_to(&mut self, len: usize) {
        assert!(
            self.b.len() <= len,
            "layout overflow at {:#x}",
            self.b.len()
        );
        self.b.resize(len, 0);
    }
    fn align(&mut self, n: usize) {
        let len = self.b.len().next_multiple_of(n);
        self.b.resize(len, 0);
    }
    fn put_u64_at(&mut self, at: usize, v: u64) {
        self.b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn put_u32_at(&mut self, at: usize, v: u32) {
        self.b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

struct Sect {
    name: &'static str,
    seg: &'static str,
    addr: u64,
    size: u64,
    flags: u32,
    reserved1: u32,
    reserved2: u32,
    mark: Option<&'static str>,
}

fn sect(name: &'static str, seg: &'static str, addr: u64, size: u64, flags: u32) -> Sect {
    Sect {
        name,
        seg,
        addr,
        size,
        flags,
        reserved1: 0,
        reserved2: 0,
        mark: None,
    }
}

/// Build the image described in the module docs.
pub fn build(fixups: Fixups) -> Synth {
    let le = linkedit(fixups);
    let mut w = W::default();
    // mach_header_64
    w.u32(0xfeed_facf);
    w.u32(CPU_TYPE_ARM64);
    w.u32(0);
    w.u32(MH_BUNDLE);
    w.mark("ncmds");
    w.u32(0);
    w.u32(0); // sizeofcmds, patched below
    w.u32(MH_TWOLEVEL);
    w.u32(0);
    let cmds_start = w.b.len();
    let mut ncmds = 0;

    let text = [
        sect("__text", "__TEXT", TEXT_ADDR, 8, 0x8000_0400),
        sect("__cstring", "__TEXT", NAME_ADDR, 0x10, 0x2),
        Sect {
            reserved1: 0,
            reserved2: 12,
            mark: Some("stubs_reserved1"),
            ..sect("__stubs", "__TEXT", STUB_ADDR, 12, 0x8000_0408)
        },
    ];
    segment(
        &mut w,
        "__TEXT",
        0,
        0x1000,
        0,
        0x1000,
        5,
        &text,
        "text_nsects",
    );
    let data = [
        Sect {
            reserved1: 1,
            ..sect("__got", "__DATA", GOT_SITE, 8, 0x6)
        },
        sect("__data", "__DATA", DEF_ADDR, 0x88, 0),
        sect("__bss", "__DATA", BSS_ADDR, 0x100, 0x1),
    ];
    segment(
        &mut w,
        "__DATA",
        0x1000,
        0x1000,
        0x1000,
        0x1000,
        3,
        &data,
        "data_nsects",
    );
    let le_len = le.w.b.len() as u64;
    segment(
        &mut w,
        "__LINKEDIT",
        0x2000,
        0x1000,
        0x2000,
        le_len,
        1,
        &[],
        "linkedit_nsects",
    );
    ncmds += 3;

    let off = |name: &str| (LINKEDIT + le.w.at[name]) as u32;
    let size = |name: &str| le.sizes[name];
    match fixups {
        Fixups::Classic => {
            w.mark("dyld_info");
            w.u32(0x8000_0022);
            w.u32(48);
            for part in ["rebase", "bind", "weak", "lazy", "trie"] {
                w.u32(off(part));
                w.u32(size(part));
            }
            ncmds += 1;
        }
        Fixups::Chained(_) => {
            w.u32(0x8000_0034);
            w.u32(16);
            w.mark("chained_dataoff");
            w.u32(off("chained"));
            w.u32(size("chained"));
            w.u32(0x8000_0033);
            w.u32(16);
            w.u32(off("trie"));
            w.u32(size("trie"));
            ncmds += 2;
        }
    }
    // LC_SYMTAB
    w.u32(0x2);
    w.u32(24);
    w.u32(off("symbols"));
    w.u32(3);
    w.u32(off("strings"));
    w.u32(size("strings"));
    // LC_DYSYMTAB
    w.u32(0xb);
    w.u32(80);
    for v in [0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 0] {
        w.u32(v);
    }
    w.mark("indirectsymoff");
    w.u32(off("indirect"));
    w.u32(2);
    for _ in 0..4 {
        w.u32(0);
    }
    // LC_LOAD_DYLIB
    w.u32(0xc);
    w.u32(56);
    w.mark("dylib_name_offset");
    w.u32(24);
    w.u32(2);
    w.u32(0x0001_0000);
    w.u32(0x0001_0000);
    w.bytes(LIBSYSTEM.as_bytes());
    w.pad_to(w.b.len() + 32 - LIBSYSTEM.len());
    ncmds += 3;

    let sizeofcmds = (w.b.len() - cmds_start) as u32;
    w.put_u32_at(16, ncmds);
    w.put_u32_at(20, sizeofcmds);

    w.pad_to(TEXT_ADDR as usize);
    w.bytes(&[0x1f, 0x20, 0x03, 0xd5, 0xc0, 0x03, 0x5f, 0xd6]); // nop; ret
    w.pad_to(NAME_ADDR as usize);
    w.bytes(b"synth\0");
    w.pad_to(0x1000);
    data_segment(&mut w, fixups);
    w.pad_to(LINKEDIT);
    for (name, at) in le.w.at {
        w.at.insert(name, LINKEDIT + at);
    }
    w.bytes(&le.w.b);
    Synth {
        bytes: w.b,
        at: w.at,
    }
}

#[allow(clippy::too_many_arguments)]
fn segment(
    w: &mut W,
    name: &str,
    vmaddr: u64,
    vmsize: u64,
    fileoff: u64,
    filesize: u64,
    prot: u32,
    sects: &[Sect],
    nsects_mark: &'static str,
) {
    w.u32(0x19);
    w.u32(72 + 80 * sects.len() as u32);
    w.name16(name);
    w.u64(vmaddr);
    w.u64(vmsize);
    w.u64(fileoff);
    w.u64(filesize);
    w.u32(prot);
    w.u32(prot);
    w.mark(nsects_mark);
    w.u32(sects.len() as u32);
    w.u32(0);
    for s in sects {
        w.name16(s.name);
        w.name16(s.seg);
        w.u64(s.addr);
        w.u64(s.size);
        let zerofill = s.flags & 0xff == 0x1;
        w.u32(if zerofill { 0 } else { s.addr as u32 });
        w.u32(3);
        w.u32(0);
        w.u32(0);
        w.u32(s.flags);
        if let Some(m) = s.mark {
            w.mark(m);
        }
        w.u32(s.reserved1);
        w.u32(s.reserved2);
        w.u32(0);
    }
}

/// `__DATA` contents: the def, its slots, and the fixup words.
fn data_segment(w: &mut W, fixups: Fixups) {
    let base = w.b.len();
    w.pad_to(base + 0x1000);
    let at = |addr: u64| base + (addr - 0x1000) as usize;
    // ob_flags 4 and ob_ref_local 0xffffffff, as a static free-threaded def has.
    w.put_u64_at(at(DEF_ADDR + 8), 0xffff_ffff_0000_0004);
    w.put_u32_at(at(SLOTS_ADDR), 4);
    w.put_u64_at(at(SLOTS_ADDR + 8), 1);
    let words: [(u64, u64); 4] = match fixups {
        Fixups::Classic => [
            (GOT_SITE, 0),
            (NAME_SITE, NAME_ADDR),
            (SLOTS_SITE, SLOTS_ADDR),
            (IMPORT_SITE, 0),
        ],
        Fixups::Chained(format) => chain_words(format),
    };
    for (i, (addr, v)) in words.into_iter().enumerate() {
        w.put_u64_at(at(addr), v);
        w.at.insert(
            ["link_got", "link_name", "link_slots", "link_import"][i],
            at(addr),
        );
    }
}

/// The four chain links, encoded per `<mach-o/fixup-chains.h>`.
fn chain_words(format: u16) -> [(u64, u64); 4] {
    let arm64e = matches!(format, 1 | 9 | 12);
    let stride = if arm64e { 8 } else { 4 };
    let next = |from: u64, to: u64| ((to - from) / stride) << 51;
    let bind = |ordinal: u64| {
        if arm64e {
            (1 << 62) | ordinal
        } else {
            (1 << 63) | ordinal
        }
    };
    // arm64e: make m_slots an authenticated rebase (key DA, diversity 0x1234).
    let slots = if arm64e {
        (1 << 63) | (2 << 49) | (0x1234 << 32) | SLOTS_ADDR
    } else {
        SLOTS_ADDR
    };
    [
        (GOT_SITE, bind(0) | next(GOT_SITE, NAME_SITE)),
        (NAME_SITE, NAME_ADDR | next(NAME_SITE, SLOTS_SITE)),
        (SLOTS_SITE, slots | next(SLOTS_SITE, IMPORT_SITE)),
        (IMPORT_SITE, bind(1)),
    ]
}

/// The `__LINKEDIT` contents and the size of each part.
struct Linkedit {
    w: W,
    sizes: HashMap<&'static str, u32>,
}

fn linkedit(fixups: Fixups) -> Linkedit {
    let mut le = Linkedit {
        w: W::default(),
        sizes: HashMap::new(),
    };
    match fixups {
        Fixups::Classic => classic_opcodes(&mut le),
        Fixups::Chained(format) => chained_blob(&mut le, format),
    }
    part(&mut le, "trie", |w| {
        // root: one edge "_PyInit_synth" to the node at 17; that node: address 0x800.
        w.bytes(&[0x00, 0x01]);
        w.bytes(b"_PyInit_synth\0");
        w.mark("trie_child");
        w.u8(17);
        w.bytes(&[0x03, 0x00, 0x80, 0x10, 0x00]);
    });
    part(&mut le, "symbols", |w| {
        let nlist = |w: &mut W, strx: u32, ty: u8, sect: u8, desc: u16, value: u64| {
            w.u32(strx);
            w.u8(ty);
            w.u8(sect);
            w.u16(desc);
            w.u64(value);
        };
        nlist(w, 1, 0x0f, 1, 0, TEXT_ADDR); // _PyInit_synth, N_SECT | N_EXT
        nlist(w, 15, 0x01, 0, 0xfe00, 0); // _PyModuleDef_Init, flat lookup
        nlist(w, 33, 0x01, 0, 0x0100, 0); // _PyExc_TypeError, from libSystem
    });
    part(&mut le, "indirect", |w| {
        w.u32(1); // __stubs[0]
        w.u32(1); // __got[0]
    });
    part(&mut le, "strings", |w| {
        w.bytes(b"\0_PyInit_synth\0_PyModuleDef_Init\0_PyExc_TypeError\0");
    });
    le
}

/// Append an 8-aligned part named `name`, recording its offset and size.
fn part(le: &mut Linkedit, name: &'static str, fill: impl FnOnce(&mut W)) {
    le.w.align(8);
    le.w.mark(name);
    let start = le.w.b.len();
    fill(&mut le.w);
    le.sizes.insert(name, (le.w.b.len() - start) as u32);
}

fn classic_opcodes(le: &mut Linkedit) {
    part(le, "rebase", |w| {
        // type pointer; __DATA + 0x78; rebase 1; skip 0x18; rebase 1; done
        w.bytes(&[0x11, 0x21, 0x78, 0x51, 0x30, 0x18, 0x51, 0x00]);
        w.bytes(&[0; 24]); // room for tests to write longer programs
    });
    part(le, "bind", |w| {
        // flat lookup; symbol; type pointer; __DATA + 0; bind; done
        w.bytes(&[0x3e, 0x40]);
        w.bytes(b"_PyModuleDef_Init\0");
        w.bytes(&[0x51, 0x71, 0x00, 0x90, 0x00]);
        w.bytes(&[0; 16]);
    });
    part(le, "weak", |_| {});
    part(le, "lazy", |w| {
        // __DATA + 0xc0; library 1; symbol; bind; done
        w.bytes(&[0x71, 0xc0, 0x01, 0x11, 0x40]);
        w.bytes(b"_PyExc_TypeError\0");
        w.bytes(&[0x90, 0x00]);
    });
}

fn chained_blob(le: &mut Linkedit, format: u16) {
    part(le, "chained", |w| {
        let start = w.b.len();
        // dyld_chained_fixups_header
        w.u32(0);
        w.u32(32); // starts_offset
        w.u32(72); // imports_offset
        w.u32(80); // symbols_offset
        w.mark("imports_count");
        w.u32(2);
        w.u32(1); // DYLD_CHAINED_IMPORT
        w.u32(0);
        w.pad_to(start + 32);
        // dyld_chained_starts_in_image: __DATA (segment 1) only
        w.mark("seg_count");
        w.u32(3);
        w.u32(0);
        w.mark("seg_info_data");
        w.u32(16);
        w.u32(0);
        // dyld_chained_starts_in_segment
        w.u32(24);
        w.mark("page_size");
        w.u16(0x1000);
        w.mark("pointer_format");
        w.u16(format);
        w.u64(0x1000);
        w.u32(0);
        w.mark("page_count");
        w.u16(1);
        w.mark("page_start");
        w.u16(0);
        // imports: PyModuleDef_Init by flat lookup, PyExc_TypeError from library 1
        w.u32(0xfe | (1 << 9));
        w.u32(0x01 | (19 << 9));
        w.bytes(b"\0_PyModuleDef_Init\0_PyExc_TypeError\0");
    });
}
