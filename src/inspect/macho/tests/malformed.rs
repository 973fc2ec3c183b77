//! Hostile variants of valid images. Targeted corruptions must come back as an error that
//! names the problem; truncations and blind byte mutations must never panic or hang.

use super::synth::{self, Fixups, Synth};
use super::{CHAINED_X86_64, TORNADO_ARM64, TORNADO_X86_64, fat};
use crate::inspect::macho::load;
use crate::inspect::model::ModelError;

type Corrupt = fn(&mut Synth);

/// Build the image, apply each corruption, and check the error mentions `needle`.
fn expect_errors(fixups: Fixups, cases: &[(&str, Corrupt, &str)]) {
    for (name, corrupt, needle) in cases {
        let mut s = synth::build(fixups);
        corrupt(&mut s);
        match load(&s.bytes, None) {
            Err(ModelError::Malformed(m) | ModelError::Unsupported(m)) => {
                assert!(m.contains(needle), "{name}: message {m:?} lacks {needle:?}");
            }
            other => panic!("{name}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn chained_fixups_corruptions() {
    expect_errors(
        Fixups::Chained(2),
        &[
            (
                "huge ncmds",
                |s| s.put_u32("ncmds", u32::MAX),
                "load commands",
            ),
            (
                "page start past the segment",
                |s| {
                    s.put_u16("page_size", 0x4000);
                    s.put_u16("page_start", 0x2000);
                },
                "chained fixups page start 0x2000 beyond segment __DATA (size 0x1000)",
            ),
            (
                "second page past the segment",
                |s| s.put_u16("page_count", 2),
                "beyond segment __DATA",
            ),
            (
                "chain strides out of its page",
                |s| s.put_u64("link_import", s.get_u64("link_import") | (0xfff << 51)),
                "strides out of its page",
            ),
            (
                "bind past the imports",
                |s| s.put_u32("imports_count", 1),
                "uses import 1, the table has 1",
            ),
            (
                "absurd imports count",
                |s| s.put_u32("imports_count", 0x7fff_ffff),
                "runs past the fixups blob",
            ),
            (
                "absurd segment count",
                |s| s.put_u32("seg_count", 0xffff),
                "(65535 segments) runs past the blob",
            ),
            (
                "starts for a missing segment",
                |s| s.put_u32("seg_count", 4),
                "names segment 3, the file has 3",
            ),
            (
                "kernel pointer format",
                |s| s.put_u16("pointer_format", 7),
                "pointer format 7",
            ),
            ("page size 0", |s| s.put_u16("page_size", 0), "page size 0"),
            (
                "blob past the end",
                |s| s.put_u32("chained_dataoff", 0xffff_0000),
                "past the end of the file",
            ),
            (
                "too many sections",
                |s| s.put_u32("data_nsects", 0xffff),
                "claims 65535 sections",
            ),
            (
                "indirect table past the end",
                |s| s.put_u32("indirectsymoff", 0xffff_ff00),
                "indirect symbol table",
            ),
            (
                "stubs past the indirect table",
                |s| s.put_u32("stubs_reserved1", 100),
                "uses indirect symbols 100",
            ),
            (
                "absurd stub section size",
                |s| {
                    // section_64.size is 28 bytes before reserved1
                    let at = s.at["stubs_reserved1"] - 28;
                    s.bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
                },
                "more entries than the file has bytes",
            ),
            (
                "dylib name outside its command",
                |s| s.put_u32("dylib_name_offset", 0x1000),
                "no name inside it",
            ),
            (
                "export trie loop",
                |s| s.put_bytes("trie_child", &[0]),
                "reached twice",
            ),
            (
                "export trie child outside",
                |s| s.put_bytes("trie_child", &[0x7f]),
                "outside the trie",
            ),
        ],
    );
}

#[test]
fn chained_multi_start_list_is_bounded() {
    // A page-start entry that claims several chains reads an overflow list; whatever the
    // bytes there, the walk ends.
    for start in [0x8000, 0x8001, 0x8003, 0xfffe] {
        let mut s = synth::build(Fixups::Chained(2));
        s.put_u16("page_start", start);
        let _ = load(&s.bytes, None);
    }
}

/// Overwrite the opcode stream `part` (which has room for 32 bytes) with `program`.
fn program(s: &mut Synth, part: &str, program: &[u8]) {
    s.put_bytes(part, program);
}

#[test]
fn classic_opcode_corruptions() {
    expect_errors(
        Fixups::Classic,
        &[
            (
                "huge ncmds",
                |s| s.put_u32("ncmds", u32::MAX),
                "load commands",
            ),
            (
                "rebase count runs off the segment",
                |s| {
                    program(
                        s,
                        "rebase",
                        &[0x11, 0x21, 0x00, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f],
                    )
                },
                "beyond segment __DATA",
            ),
            (
                "rebase loop on one word",
                |s| {
                    let mut p = vec![0x11, 0x21, 0x00, 0x80];
                    p.extend([0xff; 9]);
                    p.push(0x01); // count u64::MAX
                    p.push(0xf8);
                    p.extend([0xff; 8]);
                    p.push(0x01); // skip -8: the same word again and again
                    program(s, "rebase", &p);
                },
                "more sites than the file has",
            ),
            (
                "unknown rebase opcode",
                |s| program(s, "rebase", &[0xe0]),
                "unknown rebase opcode 0xe0",
            ),
            (
                "rebase in a missing segment",
                |s| program(s, "rebase", &[0x11, 0x29, 0x00, 0x51]),
                "names segment 9",
            ),
            (
                "rebase before a segment",
                |s| program(s, "rebase", &[0x11, 0x51]),
                "before any segment",
            ),
            (
                "endless ULEB",
                |s| program(s, "rebase", &[0x80; 32]),
                "cut short",
            ),
            (
                "threaded binds",
                |s| program(s, "bind", &[0xd0]),
                "threaded",
            ),
            (
                "bind before a symbol",
                |s| program(s, "bind", &[0x71, 0x00, 0x90]),
                "before any symbol",
            ),
            (
                "bind far past the segment",
                |s| {
                    program(
                        s,
                        "bind",
                        &[0x40, b'_', b'x', 0, 0x71, 0xff, 0xff, 0x03, 0x90],
                    )
                },
                "beyond segment __DATA",
            ),
            (
                "symbol name without NUL",
                |s| {
                    let mut p = vec![0x40];
                    p.extend([b'_'; 23]);
                    program(s, "lazy", &p);
                },
                "cut short",
            ),
            (
                "bind stream past the end",
                |s| {
                    let at = s.at["dyld_info"] + 16;
                    s.bytes[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
                },
                "bind opcodes",
            ),
        ],
    );
}

/// Never panic on any prefix of `bytes`.
fn every_truncation(bytes: &[u8]) {
    for len in 0..bytes.len() {
        let _ = load(&bytes[..len], None);
    }
}

#[test]
fn truncated_synthetic_images() {
    for fixups in [Fixups::Classic, Fixups::Chained(2), Fixups::Chained(12)] {
        every_truncation(&synth::build(fixups).bytes);
    }
}

#[test]
fn truncated_real_modules() {
    every_truncation(TORNADO_X86_64);
    every_truncation(CHAINED_X86_64);
    let universal = fat(&[
        (super::X86_64, TORNADO_X86_64),
        (super::ARM64, TORNADO_ARM64),
    ]);
    for len in (0..universal.len()).step_by(97) {
        let _ = load(&universal[..len], None);
    }
}

/// A small deterministic generator (64-bit LCG) for the mutation test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Never panic when a few bytes of `bytes` are replaced; mutations favour the header and
/// load commands and the linkedit data, where the structure is.
fn mutations(bytes: &[u8], hot: &[std::ops::Range<usize>], rounds: usize, seed: u64) {
    let mut rng = Lcg(seed);
    for _ in 0..rounds {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.below(4) {
            let r = &hot[rng.below(hot.len())];
            let at = r.start + rng.below(r.len());
            b[at] = match rng.below(4) {
                0 => 0xff,
                1 => 0,
                2 => b[at] ^ (1 << rng.below(8)),
                _ => rng.next() as u8,
            };
        }
        let _ = load(&b, None);
    }
}

#[test]
fn mutated_images_never_panic() {
    for (i, fixups) in [Fixups::Classic, Fixups::Chained(2), Fixups::Chained(9)]
        .into_iter()
        .enumerate()
    {
        let s = synth::build(fixups);
        let hot = [0..0x400, 0x1000..0x10d0, 0x2000..s.bytes.len()];
        mutations(&s.bytes, &hot, 3000, i as u64 + 1);
    }
    let linkedit = |b: &[u8]| {
        let t = crate::inspect::Binary::parse(b, None).unwrap();
        t.segments
            .last()
            .map_or(0, |s| (s.offset + s.filesize) as usize)..b.len()
    };
    for (i, real) in [TORNADO_X86_64, CHAINED_X86_64].into_iter().enumerate() {
        let hot = [0..0x400, linkedit(real)];
        mutations(real, &hot, 2000, 100 + i as u64);
    }
}

#[test]
fn fat_header_corruptions() {
    let universal = fat(&[
        (super::X86_64, TORNADO_X86_64),
        (super::ARM64, TORNADO_ARM64),
    ]);
    let with = |at: usize, v: u32| {
        let mut b = universal.clone();
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        load(&b, None).map(|bin| bin.arch)
    };
    let malformed = |r: Result<_, ModelError>, needle: &str| match r {
        Err(ModelError::Malformed(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected malformed ({needle}), got {other:?}"),
    };
    malformed(with(4, 0), "no slices");
    malformed(
        load(&universal[..30], None).map(|bin| bin.arch),
        "cut short",
    );
    // The arm64 slice runs past the end of the file.
    malformed(with(8 + 20 + 12, 0x10_0000), "runs past the end");
    // A slice that is itself fat.
    malformed(with(0x8000, 0xcafe_babe), "itself a fat file");
    // Java class files share the magic; their version word is large.
    assert_eq!(with(4, 52), Err(ModelError::NotABinary));
}
