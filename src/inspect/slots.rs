//! The slot reader: from a module's init hook to its `Py_mod_gil` declaration, through every
//! tier of detection.md §4 — static `m_slots`, 3.15 `PyModExport_*` slot arrays, single-phase
//! `PyUnstable_Module_SetGIL` call sites, slot arrays built by code at run time, and hooks
//! that delegate to another library.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use memchr::memmem;

use super::code::{ArgValue, Code, Imports, Store};
use super::library::Library;
use super::model::{Arch, Binary, Pointer, Word};
use super::verdict::{Binder, Reason, Verdict};

/// Slot ids (3.13/3.14 numbering, then the 3.15 renumbering).
const MOD_GIL: u32 = 4;
const MOD_GIL_315: u32 = 87;
const SLOT_SUBSLOTS: u32 = 92;
const MOD_SLOTS: u32 = 94;
const MOD_NAME: u32 = 100;
const MAX_SLOTS: u64 = 64;
/// Entries read in all, over a slot array and the arrays nested in it.
const MAX_WALKED: u64 = 1024;
/// Most call sites of one import whose arguments are read back from the code. Modules call
/// `PyModuleDef_Init` and `PyUnstable_Module_SetGIL` once or twice; reading a site decodes up
/// to a few hundred instructions, so a text made of nothing but calls would take minutes.
const MAX_CALL_SITES: usize = 64;

/// What to look for in one file.
#[derive(Debug, Clone)]
pub struct Request<'r> {
    /// Dotted module name (`lxml.etree`).
    pub module: &'r str,
    /// `PyInit_<name>` (or `PyInitU_<punycode>`).
    pub init_hook: &'r str,
    /// `PyModExport_<name>` (or `PyModExportU_<punycode>`).
    pub export_hook: &'r str,
    /// The target reads `PyModExport_*` first (3.15+).
    pub py315: bool,
    /// The generator that built the module (some generate code that needs a closer look).
    pub binder: Binder,
}

/// What the slot reader concluded for one module, before binder and fix are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub reason: Reason,
    pub evidence: String,
    /// The module is created single-phase (the fix differs).
    pub single_phase: bool,
}

impl Finding {
    fn new(verdict: Verdict, reason: Reason, evidence: impl Into<String>) -> Self {
        Finding {
            verdict,
            reason,
            evidence: evidence.into(),
            single_phase: false,
        }
    }
    fn single_phase(mut self) -> Self {
        self.single_phase = true;
        self
    }
}

/// Finds, for a symbol the hook hands off to, the wheel library that exports it, parsed
/// (implementations keep it for the next module that hands off to it: see
/// [`super::library::LibrarySet`]).
pub trait Libraries {
    fn exporting(&self, symbol: &str, needed: &[String]) -> Option<Arc<Library>>;
}

/// No other libraries (a lone `.so` on disk).
pub struct NoLibraries;

impl Libraries for NoLibraries {
    fn exporting(&self, _: &str, _: &[String]) -> Option<Arc<Library>> {
        None
    }
}

/// Field offsets of `PyModuleDef` for one object-header layout (detection.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    free_threaded: bool,
    m_name: u64,
    m_slots: u64,
}

const FT64: Layout = Layout {
    free_threaded: true,
    m_name: 56,
    m_slots: 88,
};
const GIL64: Layout = Layout {
    free_threaded: false,
    m_name: 40,
    m_slots: 72,
};
const FT32: Layout = Layout {
    free_threaded: true,
    m_name: 32,
    m_slots: 48,
};
const GIL32: Layout = Layout {
    free_threaded: false,
    m_name: 20,
    m_slots: 36,
};

fn layouts(bin: &Binary) -> [Layout; 2] {
    if bin.pointer_size == 8 {
        [FT64, GIL64]
    } else {
        [FT32, GIL32]
    }
}

/// A located `PyModuleDef`.
#[derive(Debug, Clone)]
struct Def {
    addr: u64,
    layout: Layout,
    name: String,
}

/// Decide one module.
pub fn read(bin: &Binary, req: &Request, libs: &dyn Libraries) -> Finding {
    let code = Code::new(bin);
    if req.py315
        && let Some(&hook) = bin.exports.get(req.export_hook)
    {
        return read_export(bin, &code, req, hook);
    }
    let Some(&hook) = bin.exports.get(req.init_hook) else {
        return Finding::new(
            Verdict::Unknown,
            Reason::NoInitHook,
            format!(
                "exports no {}: not importable as {}",
                req.init_hook, req.module
            ),
        );
    };
    read_init(bin, &code, req, hook, libs, 0)
}

fn read_init(
    bin: &Binary,
    code: &Code,
    req: &Request,
    hook: u64,
    libs: &dyn Libraries,
    depth: u8,
) -> Finding {
    if let Some(def) = find_def(bin, code, req, hook) {
        if !def.layout.free_threaded {
            return Finding::new(
                Verdict::Incompatible,
                Reason::WrongAbi,
                format!(
                    "PyModuleDef `{}` at {} has the GIL-build object header: built against non-free-threaded headers",
                    def.name,
                    loc(bin, def.addr)
                ),
            );
        }
        return read_def(bin, code, &def, req, hook, libs);
    }
    if let Some(f) = heap_def(bin, code) {
        return f;
    }
    if let Some(f) = delegation(bin, code, req, hook, libs, depth) {
        return f;
    }
    if bin.imports_name("PyModule_Create2") && !bin.imports_name("PyModuleDef_Init") {
        return single_phase(bin, code, req.binder, "PyModuleDef not located", None);
    }
    if let Some(f) = emulated_init(bin, code, req, hook, libs) {
        return f;
    }
    if !code.supported() {
        return Finding::new(
            Verdict::Unknown,
            Reason::UnsupportedArch,
            format!(
                "no PyModuleDef found by data scan; {} code is not decoded",
                bin.arch.name()
            ),
        );
    }
    Finding::new(
        Verdict::Unknown,
        Reason::DefNotFound,
        format!(
            "{} at {:#x} leads to no PyModuleDef this reader recognises",
            req.init_hook, hook
        ),
    )
}

/// A human location: section name and offset.
fn loc(bin: &Binary, addr: u64) -> String {
    match bin.segment(addr) {
        Some(s) => format!("{}+{:#x}", s.name, addr - s.vaddr),
        None => format!("{addr:#x}"),
    }
}

/// The def the hook's code links to, else one found by scanning pointers to the module name.
fn find_def(bin: &Binary, code: &Code, req: &Request, hook: u64) -> Option<Def> {
    let refs = code.refs(hook);
    let mut linked: Vec<u64> = refs.data.clone();
    // One level into local callees: some generators pass the def to a helper first.
    for &callee in refs.local_calls.iter().take(4) {
        linked.extend(code.refs(callee).data);
    }
    // A def named for the module wins; then one found by its name in the data; then any
    // the code links to (data that merely parses as a def must not decide alone).
    let short = req.module.rsplit('.').next().unwrap_or(req.module);
    let linked: Vec<Def> = linked
        .iter()
        .filter_map(|&addr| def_at(bin, addr, None))
        .collect();
    if let Some(def) = linked
        .iter()
        .find(|d| d.name == req.module || d.name == short)
    {
        return Some(def.clone());
    }
    scan_for_def(bin, req.module).or_else(|| linked.into_iter().next())
}

/// Test `addr` as a static `PyModuleDef` (of any layout). `want` restricts the layout.
fn def_at(bin: &Binary, addr: u64, want: Option<Layout>) -> Option<Def> {
    for layout in layouts(bin) {
        if want.is_some_and(|w| w != layout) {
            continue;
        }
        if !header_ok(bin, addr, layout) {
            continue;
        }
        let name_ptr = bin.addr_at(addr + layout.m_name)?;
        let name = bin.c_str(name_ptr)?;
        // A module name: identifier characters and dots, non-ASCII ones as valid UTF-8.
        let valid = std::str::from_utf8(name).is_ok_and(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        });
        if !valid {
            continue;
        }
        return Some(Def {
            addr,
            layout,
            name: String::from_utf8_lossy(name).into_owned(),
        });
    }
    None
}

fn is_null(bin: &Binary, at: u64) -> bool {
    matches!(bin.word_at(at), Some(Word::Int(0)))
}

/// The object header and `PyModuleDef_Base` of a statically allocated def.
fn header_ok(bin: &Binary, addr: u64, layout: Layout) -> bool {
    let p = u64::from(bin.pointer_size);
    if layout.free_threaded {
        // ob_tid 0, ob_ref_local immortal, ob_ref_shared 0, ob_type/m_init/m_index/m_copy 0.
        let (local_off, shared_off) = if p == 8 { (12, 16) } else { (8, 12) };
        is_null(bin, addr)
            && bin.u32_at(addr + local_off) == Some(0xffff_ffff)
            && is_null(bin, addr + shared_off)
            && (shared_off + p..layout.m_name)
                .step_by(p as usize)
                .all(|o| is_null(bin, addr + o))
    } else {
        // ob_refcnt non-zero and not a pointer, then ob_type/m_init/m_index/m_copy 0.
        matches!(bin.word_at(addr), Some(Word::Int(v)) if v != 0)
            && (p..layout.m_name)
                .step_by(p as usize)
                .all(|o| is_null(bin, addr + o))
    }
}

/// Find defs by their `m_name`: every NUL-terminated occurrence of the module's name (or its
/// dotted full name), every pointer site aimed at it, each tested as `site - m_name`.
fn scan_for_def(bin: &Binary, module: &str) -> Option<Def> {
    let short = module.rsplit('.').next().unwrap_or(module);
    let mut needle = short.as_bytes().to_vec();
    needle.push(0);
    let mut targets: HashSet<u64> = HashSet::new();
    let offsets = bin.offset_index();
    let finder = memmem::Finder::new(&needle);
    let hits = string_ranges(bin)
        .into_iter()
        .flat_map(|(a, b)| finder.find_iter(&bin.data[a..b]).map(move |at| a + at));
    for off in hits {
        let Some(addr) = offsets.addr(off as u64) else {
            continue;
        };
        targets.insert(addr);
        // A dotted name ending here ("pkg.mod"): the linker may share the tail.
        let mut start = off;
        while start > 0
            && matches!(bin.data[start - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.')
        {
            start -= 1;
        }
        if start < off
            && let Some(a) = offsets.addr(start as u64)
        {
            targets.insert(a);
        }
        if targets.len() > 256 {
            break;
        }
    }
    if targets.is_empty() {
        return None;
    }
    let mut found: Vec<Def> = Vec::new();
    for (site, p) in bin.pointers.iter() {
        let Pointer::Addr(t) = p else { continue };
        if !targets.contains(&t) {
            continue;
        }
        for layout in layouts(bin) {
            let Some(addr) = site.checked_sub(layout.m_name) else {
                continue;
            };
            if let Some(def) = def_at(bin, addr, Some(layout)) {
                found.push(def);
            }
        }
    }
    // Prefer a free-threaded def whose name is exactly the module's, then its last part.
    found.sort_by_key(|d| {
        (
            !d.layout.free_threaded,
            d.name != module,
            d.name.rsplit('.').next() != Some(short),
        )
    });
    found.into_iter().next()
}

/// The file ranges a module's name string can be in, in file order: every mapped range but
/// the code sections ([`super::model::Segment::instructions_only`]), which hold no string a def points to and are
/// most of a big library (a 329 MB one that dozens of stub modules hand off to is searched
/// once per stub). A file modelled from its segments alone is searched whole.
fn string_ranges(bin: &Binary) -> Vec<(usize, usize)> {
    let len = bin.data.len();
    let mut ranges: Vec<(usize, usize)> = bin
        .segments
        .iter()
        .filter(|s| !s.instructions_only())
        .filter_map(|s| {
            let start = usize::try_from(s.offset).ok()?.min(len);
            let end = usize::try_from(s.offset.saturating_add(s.filesize))
                .ok()?
                .min(len);
            (start < end).then_some((start, end))
        })
        .collect();
    ranges.sort_unstable();
    // Ranges that touch or overlap are searched as one, so that no match is missed across a
    // boundary or found twice.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// One entry of a slot array as read from the file.
#[derive(Debug, Clone, Copy)]
struct Slot {
    index: usize,
    id: u32,
    value: Word,
}

/// Walk a `PyModuleDef_Slot[]` (`new_style` false) or a 3.15 `PySlot[]` to the terminator,
/// descending into nested arrays. Err when the bytes do not look like a slot array.
fn walk(bin: &Binary, at: u64, new_style: bool, out: &mut Vec<Slot>) -> Result<(), String> {
    let mut budget = MAX_WALKED;
    walk_nested(bin, at, new_style, 0, out, &mut budget)
}

/// One array of [`walk`]; `budget` counts the entries read across all nesting levels, so that
/// arrays whose every entry nests another array cannot fan out to 64^5 entries.
fn walk_nested(
    bin: &Binary,
    at: u64,
    new_style: bool,
    depth: u8,
    out: &mut Vec<Slot>,
    budget: &mut u64,
) -> Result<(), String> {
    if depth > 4 {
        return Err("slot arrays nested too deep".into());
    }
    let p = u64::from(bin.pointer_size);
    let (stride, value_off) = if new_style { (16, 8) } else { (2 * p, p) };
    for i in 0..MAX_SLOTS {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| format!("nested slot arrays hold more than {MAX_WALKED} entries"))?;
        let entry = at + i * stride;
        let id = if new_style {
            u32::from(
                bin.u16_at(entry)
                    .ok_or_else(|| format!("slot {i} at {entry:#x} is not mapped"))?,
            )
        } else {
            bin.u32_at(entry)
                .ok_or_else(|| format!("slot {i} at {entry:#x} is not mapped"))?
        };
        if id == 0 {
            return Ok(());
        }
        let value = if new_style && bin.pointer_size == 4 {
            // PySlot's value union is 8 bytes everywhere; a pointer fills the low half.
            match bin.word_at(entry + value_off) {
                Some(Word::Pointer(ptr)) => Word::Pointer(ptr),
                _ => Word::Int(bin.u64_at(entry + value_off).unwrap_or(0)),
            }
        } else {
            bin.word_at(entry + value_off)
                .ok_or_else(|| format!("slot {i} value at {entry:#x} unreadable"))?
        };
        if !plausible_id(id) {
            return Err(format!(
                "slot {i} at {entry:#x} has id {id}, not a module slot"
            ));
        }
        match (id, value) {
            (SLOT_SUBSLOTS, Word::Pointer(Pointer::Addr(nested))) if new_style => {
                walk_nested(bin, nested, true, depth + 1, out, budget)?;
            }
            (MOD_SLOTS, Word::Pointer(Pointer::Addr(nested))) => {
                walk_nested(bin, nested, false, depth + 1, out, budget)?
            }
            (SLOT_SUBSLOTS, Word::Pointer(Pointer::Addr(nested))) => {
                walk_nested(bin, nested, true, depth + 1, out, budget)?
            }
            _ => out.push(Slot {
                index: i as usize,
                id,
                value,
            }),
        }
    }
    Err(format!("no terminator within {MAX_SLOTS} slots at {at:#x}"))
}

/// The `Py_mod_gil` entries of a walked array, each labelled from `label` with `{}` standing
/// for the entry's index.
fn gil_slots(entries: &[Slot], label: &str) -> Vec<(String, Word)> {
    entries
        .iter()
        .filter(|s| is_gil(s.id))
        .map(|s| (label.replace("{}", &s.index.to_string()), s.value))
        .collect()
}

fn plausible_id(id: u32) -> bool {
    (1..=4).contains(&id) || (84..=130).contains(&id)
}

fn is_gil(id: u32) -> bool {
    id == MOD_GIL || id == MOD_GIL_315
}

fn describe(value: Word) -> String {
    match value {
        Word::Int(v) => v.to_string(),
        Word::Pointer(Pointer::Addr(a)) => format!("&{a:#x}"),
        Word::Pointer(Pointer::Import(_)) => "&<import>".into(),
    }
}

/// Decide from the gil slots of an array (reason triple: value 1, value 0, absent).
fn decide(gil: &[(String, Word)], reasons: [Reason; 3], what: &str) -> Finding {
    match gil {
        [] => Finding::new(
            Verdict::GilUsed,
            reasons[2],
            format!("{what} has no Py_mod_gil slot (default: GIL used)"),
        ),
        [(at, value)] => match value {
            Word::Int(0) => Finding::new(
                Verdict::GilUsed,
                reasons[1],
                format!("{at} = {{Py_mod_gil, 0}} (Py_MOD_GIL_USED)"),
            ),
            v => Finding::new(
                Verdict::GilNotUsed,
                reasons[0],
                format!(
                    "{at} = {{Py_mod_gil, {}}} (Py_MOD_GIL_NOT_USED)",
                    describe(*v)
                ),
            ),
        },
        many => Finding::new(
            Verdict::Incompatible,
            Reason::DuplicateGilSlot,
            format!(
                "{what} has {} Py_mod_gil slots: the import fails with SystemError",
                many.len()
            ),
        ),
    }
}

fn read_def(
    bin: &Binary,
    code: &Code,
    def: &Def,
    req: &Request,
    hook: u64,
    libs: &dyn Libraries,
) -> Finding {
    let binder = req.binder;
    let at = def.addr + def.layout.m_slots;
    let where_def = format!("PyModuleDef `{}` at {}", def.name, loc(bin, def.addr));
    match bin.word_at(at) {
        Some(Word::Pointer(Pointer::Addr(slots))) => {
            let runtime = bin.is_zero_fill(slots)
                || bin.u32_at(slots) == Some(0)
                    && bin.uptr_at(slots + u64::from(bin.pointer_size)) == Some(0);
            if runtime {
                let f = runtime_slots(bin, code, slots, &where_def);
                if f.verdict == Verdict::Unknown
                    && let Some(g) = emulated_init(bin, code, req, hook, libs)
                {
                    return g;
                }
                return f;
            }
            let mut entries = Vec::new();
            if let Err(e) = walk(bin, slots, false, &mut entries) {
                return Finding::new(
                    Verdict::Unknown,
                    Reason::SlotsUnreadable,
                    format!("{where_def}: m_slots at {}: {e}", loc(bin, slots)),
                );
            }
            let gil = gil_slots(&entries, &format!("m_slots[{{}}] at {}", loc(bin, slots)));
            let mut f = decide(
                &gil,
                [Reason::SlotValue1, Reason::SlotValue0, Reason::NoGilSlot],
                &format!("m_slots of {where_def}"),
            );
            f.evidence = format!("{} ({} slots; {where_def})", f.evidence, entries.len());
            rewritten_slots(bin, code, hook, slots, libs, &f).unwrap_or(f)
        }
        Some(Word::Int(0)) | None => {
            if bin.imports_name("PyModule_Create2") {
                return single_phase(
                    bin,
                    code,
                    binder,
                    &format!("{where_def}, m_slots NULL"),
                    Some((hook, def)),
                );
            }
            if let Some(f) = runtime_m_slots(bin, code, def, &where_def) {
                return f;
            }
            if let Some(f) = emulated_init(bin, code, req, hook, libs) {
                return f;
            }
            Finding::new(
                Verdict::Unknown,
                Reason::SlotsUnreadable,
                format!(
                    "{where_def} has m_slots NULL and the module is not created single-phase: slots set at run time"
                ),
            )
        }
        Some(other) => Finding::new(
            Verdict::Unknown,
            Reason::SlotsUnreadable,
            format!("{where_def}: m_slots holds {}", describe(other)),
        ),
    }
}

/// A static slot array its own init hook rewrites before returning the def (gmpy2 sets its
/// `Py_mod_gil` value to `NOT_USED` when the bundled MPFR is built thread-safe). The hook is
/// run path by path (see `code::emulate`); the slot array each path leaves decides. A call
/// the hook branches on is answered, when a library of the wheel exports it as a function
/// that returns a constant; otherwise the verdict is `not-used-if` with the condition and
/// both values. `None` when no path stores into the array: the static declaration stands.
fn rewritten_slots(
    bin: &Binary,
    code: &Code,
    hook: u64,
    slots: u64,
    libs: &dyn Libraries,
    static_finding: &Finding,
) -> Option<Finding> {
    let p = u64::from(bin.pointer_size);
    let stride = 2 * p;
    let count = (0..MAX_SLOTS).find(|&i| {
        bin.u32_at(slots.wrapping_add(i * stride))
            .is_none_or(|id| id == 0)
    })?;
    let end = slots.checked_add((count + 1) * stride)?;
    let mut known = LibraryAnswers::new(bin, libs);
    let paths = code.paths(hook, (slots, end), false, &mut known)?;
    let answered = known.answered;
    if paths.iter().all(|path| path.stores.is_empty()) {
        return None;
    }
    let name = |i: u32| {
        bin.imports
            .get(i as usize)
            .map_or("?", |imp| imp.name.as_str())
    };
    let known: Vec<String> = answered
        .iter()
        .map(|(n, member, v)| format!("{n}() returns {v} in {member}"))
        .collect();
    let mut outcomes: Vec<(Option<Finding>, String)> = Vec::new();
    for path in &paths {
        let conds: Vec<String> = path
            .taken
            .iter()
            .map(|t| match t.import {
                Some(i) => {
                    let op = if t.nonzero { "!=" } else { "==" };
                    format!("{}() {op} 0", name(i))
                }
                None => {
                    let way = if t.nonzero { "taken" } else { "not taken" };
                    format!("the branch at {} is {way}", loc(bin, t.at))
                }
            })
            .collect();
        let when = match (conds.is_empty(), known.is_empty()) {
            (true, true) => "always".to_string(),
            (true, false) => format!("as {}", known.join(" and ")),
            (false, true) => format!("if {}", conds.join(" and ")),
            (false, false) => format!("if {}, as {}", conds.join(" and "), known.join(" and ")),
        };
        if let Some(why) = &path.opaque {
            outcomes.push((None, format!("{when}: not followed ({why})")));
            continue;
        }
        let mut entries = Vec::new();
        for k in 0..count {
            let entry = slots + k * stride;
            let stored = |addr: u64, size: u8| {
                path.stores
                    .iter()
                    .rev()
                    .find(|s| s.addr == addr && s.size == size)
                    .map(|s| s.value)
            };
            let id = stored(entry, 4).map_or(bin.u32_at(entry), |v| Some(v as u32))?;
            let value = stored(entry + p, bin.pointer_size)
                .map(Word::Int)
                .or_else(|| bin.word_at(entry + p))?;
            entries.push(Slot {
                index: k as usize,
                id,
                value,
            });
        }
        let f = decide_runtime(bin, &entries, slots);
        let stores: Vec<String> = path
            .stores
            .iter()
            .map(|s| format!("{} <- {} at {}", loc(bin, s.addr), s.value, loc(bin, s.at)))
            .collect();
        let what = if stores.is_empty() {
            "no store".to_string()
        } else {
            format!("stores {}", stores.join(", "))
        };
        let text = format!("{when}: {what}, so {}", f.evidence);
        outcomes.push((Some(f), text));
    }
    let hook_at = loc(bin, hook);
    let static_part = &static_finding.evidence;
    let decided: Vec<&Finding> = outcomes.iter().filter_map(|(f, _)| f.as_ref()).collect();
    let same = decided.len() == outcomes.len()
        && decided
            .windows(2)
            .all(|w| (w[0].verdict, w[0].reason) == (w[1].verdict, w[1].reason));
    let texts: Vec<&str> = outcomes.iter().map(|(_, t)| t.as_str()).collect();
    if same && let Some(first) = decided.first() {
        return Some(Finding::new(
            first.verdict,
            first.reason,
            format!(
                "static {static_part}, rewritten by the init hook at {hook_at}: {}",
                texts.join("; ")
            ),
        ));
    }
    Some(Finding::new(
        Verdict::Unknown,
        Reason::NotUsedIf,
        format!(
            "static {static_part}; the init hook at {hook_at} rewrites it under a run-time condition: {}",
            texts.join("; ")
        ),
    ))
}

/// A def the init code builds or fills in itself (pybind11 3 on macOS keeps def and slots in
/// function-local statics that one-time initialisers fill; C++ static initialisers): run the
/// hook with its local calls followed, and read the def each path passes to
/// `PyModuleDef_Init`, and the slots it points to, from the memory the path leaves. Every path
/// that creates the module must be followed and agree; a path that returns without creating
/// it (a failed version check) does not count. `None` when that cannot be shown.
fn emulated_init(
    bin: &Binary,
    code: &Code,
    req: &Request,
    hook: u64,
    libs: &dyn Libraries,
) -> Option<Finding> {
    let init = bin.import("PyModuleDef_Init")?;
    let mut known = LibraryAnswers::new(bin, libs);
    let paths = code.paths(hook, (0, 0), true, &mut known)?;
    let layout = layouts(bin)[0];
    let p = u64::from(bin.pointer_size);
    let mut found: Vec<(Finding, u64, String)> = Vec::new();
    for path in &paths {
        if path.opaque.is_some() {
            return None;
        }
        let Some(call) = path.calls.iter().rev().find(|c| c.import == init) else {
            continue; // this path fails the import
        };
        let def = call.args[0]?;
        let name_ptr = path.read(bin, def.checked_add(layout.m_name)?, bin.pointer_size)?;
        let name = bin.c_str(name_ptr)?;
        let short = req.module.rsplit('.').next().unwrap_or(req.module);
        if name != req.module.as_bytes() && name != short.as_bytes() {
            return None;
        }
        // A def without slots created multi-phase declares nothing: the GIL is used.
        let slots = path.read(bin, def.checked_add(layout.m_slots)?, bin.pointer_size)?;
        let mut entries = Vec::new();
        for k in (0..MAX_SLOTS).take_while(|_| slots != 0) {
            let entry = slots.checked_add(k * 2 * p)?;
            let id = path.read(bin, entry, 4)? as u32;
            if id == 0 {
                break;
            }
            if !plausible_id(id) || k + 1 == MAX_SLOTS {
                return None;
            }
            let value = match path.read(bin, entry.checked_add(p)?, bin.pointer_size) {
                Some(v) => Word::Int(v),
                None if !is_gil(id) => Word::Int(0),
                None => return None,
            };
            entries.push(Slot {
                index: k as usize,
                id,
                value,
            });
        }
        // What the path skipped must not write the def or its slots in a way it did not.
        if !path.skipped.is_empty() {
            let ranges = [
                (def, def.saturating_add(16 * p)),
                (
                    slots,
                    slots.saturating_add((entries.len() as u64 + 1) * 2 * p),
                ),
            ];
            for (lo, hi) in ranges {
                if code
                    .stores_into(lo, hi)
                    .iter()
                    .any(|s| path.read(bin, s.addr, s.size) != Some(s.value))
                {
                    return None;
                }
            }
        }
        let f = decide_runtime(bin, &entries, slots);
        found.push((f, def, String::from_utf8_lossy(name).into_owned()));
    }
    let (first, def, name) = found.first()?;
    if found
        .iter()
        .any(|(f, _, _)| (f.verdict, f.reason) != (first.verdict, first.reason))
    {
        return None;
    }
    let skipped: usize = paths.iter().map(|p| p.skipped.len()).sum();
    Some(Finding::new(
        first.verdict,
        first.reason,
        format!(
            "{} (PyModuleDef `{}` at {} and its slots are filled by the init code: read by running {} at {} over {} path(s), {} call(s) not followed)",
            first.evidence,
            name,
            loc(bin, *def),
            req.init_hook,
            loc(bin, hook),
            found.len(),
            skipped
        ),
    ))
}

/// Decide a slot array as code left it, at `slots`.
fn decide_runtime(bin: &Binary, entries: &[Slot], slots: u64) -> Finding {
    let gil = gil_slots(entries, &format!("m_slots[{{}}] at {}", loc(bin, slots)));
    decide(
        &gil,
        [
            Reason::RuntimeSlotValue1,
            Reason::RuntimeSlotValue0,
            Reason::RuntimeNoGilSlot,
        ],
        &format!("m_slots at {}", loc(bin, slots)),
    )
}

/// What the emulator is told about imports: a function a library of the wheel exports and
/// that returns a constant on every path (`mpfr_buildopt_tls_p` is `return 1;` in a
/// thread-safe MPFR) returns that constant; C++ one-time initialisation guards are free on
/// first import. Any other import may write through its pointer arguments.
struct LibraryAnswers<'b, 'a, 'l> {
    bin: &'b Binary<'a>,
    libs: &'l dyn Libraries,
    /// (function, library member, value) for every answer given.
    answered: Vec<(String, String, u64)>,
}

impl<'b, 'a, 'l> LibraryAnswers<'b, 'a, 'l> {
    fn new(bin: &'b Binary<'a>, libs: &'l dyn Libraries) -> Self {
        LibraryAnswers {
            bin,
            libs,
            answered: Vec::new(),
        }
    }

    fn name(&self, import: u32) -> &str {
        self.bin
            .imports
            .get(import as usize)
            .map_or("", |i| i.name.as_str())
    }
}

impl Imports for LibraryAnswers<'_, '_, '_> {
    fn returns(&mut self, import: u32) -> Option<u64> {
        let name = self.name(import).to_string();
        if name.trim_start_matches('_') == "cxa_guard_acquire" {
            // The guard of a static local is free the first time the module is imported.
            return Some(1);
        }
        let (member, value) = constant_return(self.bin, self.libs, &name)?;
        self.answered.push((name, member, value));
        Some(value)
    }

    fn writes_through_args(&self, import: u32) -> bool {
        // The C API never writes a module's def or slot array (PyModuleDef_Init and
        // PyModule_Create2 set only the def's object header), nor do the C++ guards.
        let name = self.name(import).trim_start_matches('_');
        !(name.starts_with("Py")
            || matches!(
                name,
                "cxa_guard_acquire" | "cxa_guard_release" | "cxa_guard_abort" | "cxa_atexit"
            ))
    }

    fn never_returns(&self, import: u32) -> bool {
        never_returns(self.name(import))
    }

    fn allocates(&self, import: u32) -> Option<bool> {
        match self.name(import).trim_start_matches('_') {
            "PyMem_Calloc" | "PyMem_RawCalloc" | "PyObject_Calloc" | "calloc" => Some(true),
            "PyMem_Malloc" | "PyMem_RawMalloc" | "PyObject_Malloc" | "malloc" | "Znwm" | "Znam"
            | "??2@YAPEAX_K@Z" | "??_U@YAPEAX_K@Z" => Some(false),
            _ => None,
        }
    }
}

/// Nothing known about any import (a library's own function is read on its own).
struct NoAnswers;

/// Functions that never return: a path that calls one ends there without creating a module
/// (a C++ throw out of an init hook is caught by the generator's wrapper, which returns NULL).
fn never_returns(name: &str) -> bool {
    matches!(
        name.trim_start_matches('_'),
        "cxa_throw"
            | "cxa_rethrow"
            | "cxa_allocate_exception"
            | "Unwind_Resume"
            | "CxxThrowException"
            | "abort"
            | "exit"
            | "stack_chk_fail"
            | "assert_fail"
            | "ZSt9terminatev"
            | "Py_FatalError"
    )
}

impl Imports for NoAnswers {
    fn returns(&mut self, _: u32) -> Option<u64> {
        None
    }
    fn writes_through_args(&self, _: u32) -> bool {
        true
    }
    fn never_returns(&self, _: u32) -> bool {
        false
    }
    fn allocates(&self, _: u32) -> Option<bool> {
        None
    }
}

/// The constant the function `name` returns, when a library of the wheel exports it as a
/// function whose every path returns that constant: the library's member name and the value.
fn constant_return(bin: &Binary, libs: &dyn Libraries, name: &str) -> Option<(String, u64)> {
    if name.starts_with("Py") || name.starts_with("_Py") {
        return None;
    }
    let lib = libs.exporting(name, &bin.needed)?;
    let paths = lib
        .with_code(|other, code| {
            let &addr = other.exports.get(name)?;
            code.paths(addr, (0, 0), false, &mut NoAnswers)
        })
        .ok()??;
    let first = paths.first()?.returns?;
    paths
        .iter()
        .all(|path| path.opaque.is_none() && path.taken.is_empty() && path.returns == Some(first))
        .then(|| (lib.member().to_string(), first))
}

/// Tier 5: the slot array lives in zero-filled memory and code fills it.
fn runtime_slots(bin: &Binary, code: &Code, slots: u64, where_def: &str) -> Finding {
    if !code.supported() {
        return Finding::new(
            Verdict::Unknown,
            Reason::UnsupportedArch,
            format!(
                "{where_def}: m_slots at {} is filled at run time; {} code is not decoded",
                loc(bin, slots),
                bin.arch.name()
            ),
        );
    }
    let stride = 2 * u64::from(bin.pointer_size);
    let stores = code.stores_into(slots, slots + MAX_SLOTS * stride);
    let what = format!("the run-time slot array at {}", loc(bin, slots));
    let mut f = decide_stores(bin, &stores, slots, &what);
    f.evidence = format!("{} ({where_def})", f.evidence);
    f
}

/// Rebuild a slot array from the constants code stores into it (`base` is its start; for a
/// heap array the stores' addresses are offsets and `base` is 0) and decide.
fn decide_stores(bin: &Binary, stores: &[Store], base: u64, what: &str) -> Finding {
    let p = u64::from(bin.pointer_size);
    // Every value stored at each address (several code paths may write the same place).
    let mut at: BTreeMap<u64, Vec<&Store>> = BTreeMap::new();
    for s in stores {
        at.entry(s.addr).or_default().push(s);
    }
    let value = |addr: u64| -> Result<Option<(u64, u64)>, String> {
        let Some(list) = at.get(&addr) else {
            return Ok(None);
        };
        // Sorted, so the evidence reads the same on every run.
        let vals: BTreeSet<u64> = list.iter().map(|s| s.value).collect();
        if vals.len() > 1 {
            return Err(format!(
                "{addr:#x} is written with different values {vals:?}"
            ));
        }
        Ok(Some((list[0].value, list[0].at)))
    };
    let unreadable = |why: String| {
        Finding::new(
            Verdict::Unknown,
            Reason::SlotsUnreadable,
            format!("{what}: {why}"),
        )
    };
    let mut ids = Vec::new();
    let mut gil = Vec::new();
    for i in 0..MAX_SLOTS {
        let entry = base + i * 2 * p;
        let id = match value(entry) {
            Ok(Some((id, _))) => id as u32,
            Ok(None) => break,
            Err(e) => return unreadable(e),
        };
        if id == 0 {
            break;
        }
        ids.push(id);
        if is_gil(id) {
            match value(entry + p) {
                Ok(Some((v, ip))) => {
                    gil.push((format!("slot {i} stored by code at {ip:#x}"), Word::Int(v)))
                }
                Ok(None) => return unreadable("the Py_mod_gil value is not a constant".into()),
                Err(e) => return unreadable(e),
            }
        }
    }
    if ids.is_empty() {
        return unreadable("filled by code this reader did not find".into());
    }
    let has_create_or_exec = ids.iter().any(|&i| matches!(i, 1 | 2 | 84 | 85));
    if !ids.iter().all(|&id| plausible_id(id)) || !has_create_or_exec && gil.is_empty() {
        return unreadable(format!("stores give ids {ids:?}, not a module slot array"));
    }
    decide(
        &gil,
        [
            Reason::RuntimeSlotValue1,
            Reason::RuntimeSlotValue0,
            Reason::RuntimeNoGilSlot,
        ],
        &format!("{what} (ids {ids:?})"),
    )
}

/// Tier 7: a static def whose `m_slots` pointer is itself written by code at run time.
fn runtime_m_slots(bin: &Binary, code: &Code, def: &Def, where_def: &str) -> Option<Finding> {
    let at = def.addr + def.layout.m_slots;
    let targets: HashSet<u64> = code
        .stores_into(at, at + u64::from(bin.pointer_size))
        .iter()
        .map(|s| s.value)
        .filter(|&v| v != 0 && bin.segment(v).is_some())
        .collect();
    match targets.len() {
        1 => Some(runtime_slots(
            bin,
            code,
            targets.into_iter().next()?,
            where_def,
        )),
        _ => None,
    }
}

/// Defs allocated on the heap (nanobind 3): no static def exists; the code that calls
/// `PyModuleDef_Init` fills def and slots.
fn heap_def(bin: &Binary, code: &Code) -> Option<Finding> {
    let init = bin.import("PyModuleDef_Init")?;
    let layout = layouts(bin)[0];
    let mut findings: Vec<Finding> = Vec::new();
    let sites = code.call_sites(&[init]);
    if sites.len() > MAX_CALL_SITES {
        return Some(Finding::new(
            Verdict::Unknown,
            Reason::SlotsUnreadable,
            format!(
                "PyModuleDef_Init is called from {} places; more than {MAX_CALL_SITES} are not read",
                sites.len()
            ),
        ));
    }
    for (site, _) in sites {
        let Some(stores) = code.heap_slot_stores(site, layout.m_slots) else {
            continue;
        };
        let what = format!(
            "the slot array built on the heap before PyModuleDef_Init at {}",
            loc(bin, site)
        );
        findings.push(decide_stores(bin, &stores, 0, &what));
    }
    let verdicts: HashSet<Verdict> = findings.iter().map(|f| f.verdict).collect();
    match verdicts.len() {
        0 => None,
        1 => findings.into_iter().next(),
        _ => Some(Finding::new(
            Verdict::Unknown,
            Reason::SlotsUnreadable,
            format!("{} heap-built module defs disagree", findings.len()),
        )),
    }
}

/// Tier 4: a single-phase module decides by the constant passed to `PyUnstable_Module_SetGIL`.
/// `init` is the init hook and the def it creates the module from, when located.
fn single_phase(
    bin: &Binary,
    code: &Code,
    binder: Binder,
    context: &str,
    init: Option<(u64, &Def)>,
) -> Finding {
    let Some(set_gil) = bin.import("PyUnstable_Module_SetGIL") else {
        return Finding::new(
            Verdict::GilUsed,
            Reason::SinglePhaseNoSetGil,
            format!("single-phase module (PyModule_Create2; {context}) never calls PyUnstable_Module_SetGIL"),
        )
        .single_phase();
    };
    if !code.reads_calls() {
        return Finding::new(
            Verdict::Unknown,
            Reason::UnsupportedArch,
            format!(
                "single-phase module calls PyUnstable_Module_SetGIL; {} code is not decoded",
                bin.arch.name()
            ),
        )
        .single_phase();
    }
    let sites = code.call_sites(&[set_gil]);
    if sites.len() > MAX_CALL_SITES {
        return Finding::new(
            Verdict::Unknown,
            Reason::SetGilRuntimeValue,
            format!(
                "PyUnstable_Module_SetGIL is called from {} places; more than {MAX_CALL_SITES} are not read",
                sites.len()
            ),
        )
        .single_phase();
    }
    if sites.is_empty() {
        return Finding::new(
            Verdict::Unknown,
            Reason::SetGilRuntimeValue,
            "PyUnstable_Module_SetGIL is imported but no call site was found",
        )
        .single_phase();
    }
    let mut consts = Vec::new();
    for &(site, _) in &sites {
        match code.arg_at_call(site, 1) {
            ArgValue::Const(v) if v != 0 => {
                // pybind11 2.x calls SetGIL(m, 1) in `create_extension_module` behind the
                // module's `mod_gil_not_used` flag; when that helper is not inlined, the
                // constant at the call says nothing about this module.
                let guard = if binder == Binder::Pybind11 {
                    code.flag_guard(site)
                } else {
                    None
                };
                if let Some(guard) = guard {
                    return Finding::new(
                        Verdict::Unknown,
                        Reason::SetGilRuntimeValue,
                        format!("PyUnstable_Module_SetGIL(m, {v}) at {} runs only when a run-time flag is set ({guard})", loc(bin, site)),
                    )
                    .single_phase();
                }
                consts.push((site, v));
            }
            ArgValue::Const(v) => consts.push((site, v)),
            ArgValue::Unknown(why) => {
                if binder == Binder::Pyo3
                    && sites.len() == 1
                    && let Some((hook, def)) = init
                    && let Some(f) = pyo3_make_module(bin, code, hook, def, site)
                {
                    return f.single_phase();
                }
                return Finding::new(
                    Verdict::Unknown,
                    Reason::SetGilRuntimeValue,
                    format!(
                        "PyUnstable_Module_SetGIL(m, ?) at {}: {why}",
                        loc(bin, site)
                    ),
                )
                .single_phase();
            }
        }
    }
    let values: HashSet<bool> = consts.iter().map(|&(_, v)| v != 0).collect();
    let (site, v) = consts[0];
    let f = if values.len() > 1 {
        Finding::new(
            Verdict::Unknown,
            Reason::SetGilRuntimeValue,
            format!(
                "PyUnstable_Module_SetGIL is called with both 0 and 1 ({} call sites)",
                consts.len()
            ),
        )
    } else if v != 0 {
        Finding::new(
            Verdict::GilNotUsed,
            Reason::SetGil1,
            format!(
                "PyUnstable_Module_SetGIL(m, {v}) at {} (Py_MOD_GIL_NOT_USED)",
                loc(bin, site)
            ),
        )
    } else {
        Finding::new(
            Verdict::GilUsed,
            Reason::SetGil0,
            format!(
                "PyUnstable_Module_SetGIL(m, 0) at {} (Py_MOD_GIL_USED)",
                loc(bin, site)
            ),
        )
    };
    f.single_phase()
}

/// PyO3 0.26 and 0.27 create the module inside a once-cell closure and call
/// `PyUnstable_Module_SetGIL(m, if gil_used { USED } else { NOT_USED })`, reading `gil_used`
/// from the closure's captured environment, so the call site holds no constant. The flag is
/// the one the init hook passes to `ModuleDef::make_module(&DEF, gil_used)`, with `DEF` the
/// PyO3 `ModuleDef` that holds the `PyModuleDef` the module is created from: read it there.
/// `None` unless the hook makes exactly one such call with a constant 0 or 1.
fn pyo3_make_module(bin: &Binary, code: &Code, hook: u64, def: &Def, site: u64) -> Option<Finding> {
    // `ModuleDef` starts at most a few words before the `ffi::PyModuleDef` it holds.
    let holds_def = |a: u64| a <= def.addr && def.addr - a <= 64;
    // The hook calls `make_module` itself, or (PyO3's trampoline) hands a closure that does
    // to the function that catches panics: look in the functions whose start it references.
    let refs = code.refs_within(hook, 128);
    let closures = refs
        .data
        .iter()
        .copied()
        .filter_map(|a| {
            // A Thumb function's address has bit 0 set; its start may or may not (from a
            // symbol, or from the unwind table).
            let thumb = (bin.arch == Arch::Arm).then_some(a & !1);
            [Some(a), thumb]
                .into_iter()
                .flatten()
                .find(|&a| a != hook && bin.function_at(a).is_some_and(|(start, _)| start == a))
        })
        .take(4);
    let mut calls = Vec::new();
    let sites = refs
        .call_sites
        .into_iter()
        .chain(closures.flat_map(|f| code.refs_within(f, 64).call_sites));
    for call in sites {
        for n in 0..3 {
            if code.addr_arg_at_call(call, n).is_some_and(holds_def) {
                calls.push((call, code.arg_at_call(call, n + 1)));
                break;
            }
        }
    }
    let [(call, ArgValue::Const(gil_used @ (0 | 1)))] = calls[..] else {
        return None;
    };
    let by = match bin.function_at(hook) {
        Some((start, end)) if (start..end).contains(&call) => "the init hook",
        _ => "the closure the init hook runs",
    };
    let (verdict, reason, value) = if gil_used == 0 {
        (Verdict::GilNotUsed, Reason::SetGil1, "Py_MOD_GIL_NOT_USED")
    } else {
        (Verdict::GilUsed, Reason::SetGil0, "Py_MOD_GIL_USED")
    };
    Some(Finding::new(
        verdict,
        reason,
        format!(
            "PyUnstable_Module_SetGIL(m, !gil_used) at {} with gil_used = {} passed to ModuleDef::make_module by {by} at {} ({value}; PyO3's module def at {})",
            loc(bin, site),
            gil_used == 1,
            loc(bin, call),
            loc(bin, def.addr)
        ),
    ))
}

/// Tier 6: the hook holds no def but hands off to a function another library exports
/// (a stub module whose `PyInit_x` jumps to `Wrapped_PyInit_x` in a bundled library).
fn delegation(
    bin: &Binary,
    code: &Code,
    req: &Request,
    hook: u64,
    libs: &dyn Libraries,
    depth: u8,
) -> Option<Finding> {
    // A module that creates its own module object does not hand off: don't go looking
    // through (possibly huge) bundled libraries for a libc symbol.
    let creates = [
        "PyModule_Create2",
        "PyModuleDef_Init",
        "PyModule_FromDefAndSpec2",
    ];
    if depth > 2 || creates.iter().any(|n| bin.imports_name(n)) {
        return cffi(bin);
    }
    let refs = code.refs(hook);
    let name = |i: u32| bin.imports.get(i as usize).map(|imp| imp.name.as_str());
    let candidates = refs
        .imports
        .iter()
        .filter_map(|&i| name(i))
        .filter(|n| !n.starts_with("Py") && !n.starts_with("_Py") && !n.starts_with("__"));
    // The library that creates the module object is the one that imports a creating API:
    // a hook often calls several of the wheel's libraries first (klayout's `db::init`).
    // Without one, the first library that exports a callee is followed.
    let mut chosen = None;
    for sym in candidates {
        let Some(lib) = libs.exporting(sym, &bin.needed) else {
            continue;
        };
        let creator = lib
            .binary()
            .is_ok_and(|other| creates.iter().any(|n| other.imports_name(n)));
        if creator {
            chosen = Some((sym, lib));
            break;
        }
        if chosen.is_none() {
            chosen = Some((sym, lib));
        }
    }
    if let Some((sym, lib)) = chosen {
        let member = lib.member();
        let read = lib.with_code(|other, other_code| {
            let &addr = other.exports.get(sym)?;
            Some(read_init(other, other_code, req, addr, libs, depth + 1))
        });
        let mut f = match read {
            Ok(f) => f?,
            Err(e) => {
                return Some(Finding::new(
                    Verdict::Unknown,
                    Reason::MalformedBinary,
                    format!("{member}: {e}"),
                ));
            }
        };
        f.evidence = format!(
            "{} hands off to `{sym}` in {member}: {}",
            req.init_hook, f.evidence
        );
        if f.verdict == Verdict::GilNotUsed {
            f.reason = Reason::Delegated;
        }
        return Some(f);
    }
    if let Some(f) = cffi(bin) {
        return Some(f);
    }
    if let Some(sym) = refs.tail_import.and_then(name)
        && !sym.starts_with("Py")
        && !sym.starts_with("_Py")
    {
        return Some(Finding::new(
            Verdict::Unknown,
            Reason::DelegatedOutside,
            format!(
                "{} jumps to `{sym}`, which no library in the wheel exports",
                req.init_hook
            ),
        ));
    }
    None
}

/// CFFI out-of-line modules: `PyInit_x` imports `_cffi_backend` and lets it create the module
/// (`_init_cffi_1_0_external_module`), so `_cffi_backend`'s declaration decides.
fn cffi(bin: &Binary) -> Option<Finding> {
    let creates = [
        "PyModuleDef_Init",
        "PyModule_Create2",
        "PyModule_FromDefAndSpec2",
    ];
    if creates.iter().any(|n| bin.imports_name(n)) || !bin.imports_name("PyImport_ImportModule") {
        return None;
    }
    let hit = |s: &[u8]| memmem::find(bin.data, s).is_some();
    if !(hit(b"_cffi_backend\0") && hit(b"_init_cffi_1_0_external_module")) {
        return None;
    }
    Some(Finding::new(
        Verdict::GilNotUsed,
        Reason::Delegated,
        "CFFI out-of-line module: created by `_cffi_backend` (`_init_cffi_1_0_external_module`), which declares Py_MOD_GIL_NOT_USED (cffi >= 2.0)",
    ))
}

/// 3.15 `PyModExport_<name>`: the hook returns a `PySlot[]`.
fn read_export(bin: &Binary, code: &Code, req: &Request, hook: u64) -> Finding {
    let refs = code.refs(hook);
    // The array a hook returns names its module (Py_mod_name): prefer a candidate that does,
    // so that stray data that merely parses as slots is never decisive.
    let mut parsed: Vec<(u64, Vec<Slot>)> = Vec::new();
    for &addr in &refs.data {
        let mut entries = Vec::new();
        if walk(bin, addr, true, &mut entries).is_ok() && !entries.is_empty() {
            parsed.push((addr, entries));
        }
    }
    parsed.sort_by_key(|(_, e)| !e.iter().any(|s| s.id == MOD_NAME));
    if let Some((addr, entries)) = parsed.into_iter().next() {
        let named = entries.iter().any(|s| s.id == MOD_NAME);
        if !named && !entries.iter().any(|s| is_gil(s.id)) {
            return Finding::new(
                Verdict::Unknown,
                Reason::SlotsUnreadable,
                format!(
                    "{}: the only slot-like array found at {} names no module and has no Py_mod_gil slot",
                    req.export_hook,
                    loc(bin, addr)
                ),
            );
        }
        let gil = gil_slots(&entries, &format!("PySlot[{{}}] at {}", loc(bin, addr)));
        return decide(
            &gil,
            [
                Reason::ExportSlotValue1,
                Reason::ExportSlotValue0,
                Reason::ExportNoGilSlot,
            ],
            &format!("the PySlot array {} returns", req.export_hook),
        );
    }
    Finding::new(
        Verdict::Unknown,
        if code.supported() {
            Reason::DefNotFound
        } else {
            Reason::UnsupportedArch
        },
        format!(
            "{} exported, but the PySlot array it returns was not located",
            req.export_hook
        ),
    )
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::inspect::model::{Arch, PointerMap, Segment};

    /// An x86-64 model whose text is `calls` times `call <stub of import 0>`, the stub
    /// being a `ret` after them; `imports` are the module's imports.
    fn calls_to_import(data: &mut Vec<u8>, calls: usize) -> u64 {
        let text = 0x10_0000u64;
        let stub = text + 5 * calls as u64;
        for k in 0..calls as u64 {
            let next = text + 5 * (k + 1);
            data.push(0xe8);
            data.extend_from_slice(&((stub as i64 - next as i64) as i32).to_le_bytes());
        }
        data.push(0xc3);
        stub
    }

    fn x86_text<'a>(data: &'a [u8], stub: u64, imports: &[&str]) -> Binary<'a> {
        let text = Segment {
            name: ".text".into(),
            vaddr: 0x10_0000,
            vsize: data.len() as u64,
            offset: 0,
            filesize: data.len() as u64,
            exec: true,
            write: false,
        };
        Binary {
            imports: imports
                .iter()
                .map(|n| crate::inspect::model::Import {
                    name: n.to_string(),
                    library: None,
                })
                .collect(),
            stubs: vec![(stub, 0)],
            ..Binary::bare(Arch::X86_64, data, vec![text])
        }
    }

    /// Resource check regression: a text of 100,000 `call PyModuleDef_Init` read each call
    /// back for a heap-built def, 1.2 ms apiece (2 minutes; a 5 MB text: 20 minutes). More
    /// than `MAX_CALL_SITES` sites now give "unknown" without reading any; a few are read.
    #[test]
    fn many_calls_to_module_def_init_are_not_each_read() {
        let mut data = Vec::new();
        let stub = calls_to_import(&mut data, 100_000);
        let bin = x86_text(&data, stub, &["PyModuleDef_Init"]);
        let code = Code::new(&bin);
        let f = heap_def(&bin, &code).unwrap();
        assert_eq!(f.verdict, Verdict::Unknown);
        assert!(f.evidence.contains("100000 places"), "{}", f.evidence);

        let mut data = Vec::new();
        let stub = calls_to_import(&mut data, 2);
        let bin = x86_text(&data, stub, &["PyModuleDef_Init"]);
        assert!(heap_def(&bin, &Code::new(&bin)).is_none()); // read: no def built there
    }

    /// The same for `PyUnstable_Module_SetGIL`, whose every call's argument was read back.
    #[test]
    fn many_calls_to_set_gil_are_not_each_read() {
        let mut data = Vec::new();
        let stub = calls_to_import(&mut data, 100_000);
        let bin = x86_text(&data, stub, &["PyUnstable_Module_SetGIL"]);
        let code = Code::new(&bin);
        let f = single_phase(&bin, &code, Binder::CApi, "test", None);
        assert_eq!(
            (f.verdict, f.reason),
            (Verdict::Unknown, Reason::SetGilRuntimeValue)
        );
        assert!(f.evidence.contains("100000 places"), "{}", f.evidence);
    }

    /// The def search skips code sections and unmapped bytes, and searches ranges that touch
    /// or overlap as one (a name across two sections is still found, and found once).
    #[test]
    fn name_search_skips_code_sections_only() {
        let data = vec![0u8; 0x1000];
        let seg = |name: &str, offset, filesize, exec| Segment {
            name: name.into(),
            vaddr: 0x10_0000 + offset,
            vsize: filesize,
            offset,
            filesize,
            exec,
            write: false,
        };
        let bin = Binary::bare(
            Arch::X86_64,
            &data,
            vec![
                seg(".rodata", 0x100, 0x100, false),
                seg(".eh_frame", 0x200, 0x80, false), // touches .rodata
                seg(".text", 0x400, 0x400, true),
                seg(".plt", 0x800, 0x40, true), // code too, but small and not skipped
                seg("LOAD@0x900", 0x900, 0x100, true), // a segment: its contents are unknown
                seg("__TEXT,__cstring", 0xa00, 0x100, true),
                seg(".data", 0xb80, 0x80, false),
                seg(".data.overlap", 0xba0, 0x100, false), // overlaps .data
                seg("past the end", 0xf80, 0x200, false),
            ],
        );
        assert_eq!(
            string_ranges(&bin),
            [
                (0x100, 0x280),
                (0x800, 0x840),
                (0x900, 0xb00),
                (0xb80, 0xca0),
                (0xf80, 0x1000)
            ]
        );
    }

    /// Resource check regression: a 4.8 MB ELF with 60,000 executable sections and 200,000
    /// copies of the module name outside them took 21 s, because every copy was mapped to an
    /// address by a scan of all sections. The def search now uses an offset index.
    #[test]
    fn name_search_over_many_sections_is_not_quadratic() {
        let mut data = vec![0x90u8; 16];
        for _ in 0..200_000 {
            data.extend_from_slice(b"m\0");
        }
        let segments = (0..60_000u64)
            .map(|k| Segment {
                name: String::new(),
                vaddr: 0x10_0000 + 16 * k,
                vsize: 16,
                offset: 0,
                filesize: 16,
                exec: true,
                write: false,
            })
            .collect();
        let bin = Binary::bare(Arch::X86_64, &data, segments);
        assert!(scan_for_def(&bin, "m").is_none());
    }

    /// Fuzzing regression (by construction): five old-style slot arrays where each of the
    /// first four holds 63 `Py_mod_slots` entries pointing at the next, and the last 63
    /// plain slots. Depth stayed within the limit of 4, but the walk read 63^4 x 64 entries
    /// and collected 63^5 slots (23 GB). The walk now gives up after `MAX_WALKED` entries.
    #[test]
    fn nested_slot_arrays_cannot_fan_out() {
        const ARRAY: u64 = 64 * 16;
        let mut data = vec![0u8; 5 * ARRAY as usize];
        let mut pointers = PointerMap::default();
        for level in 0..5u64 {
            for i in 0..63u64 {
                let entry = (level * ARRAY + i * 16) as usize;
                let id: u32 = if level < 4 { MOD_SLOTS } else { 1 };
                data[entry..entry + 4].copy_from_slice(&id.to_le_bytes());
                if level < 4 {
                    let site = 0x1000 + level * ARRAY + i * 16 + 8;
                    pointers.insert(site, Pointer::Addr(0x1000 + (level + 1) * ARRAY));
                }
            }
        }
        pointers.finish();
        let len = data.len() as u64;
        let segment = Segment {
            name: ".data".into(),
            vaddr: 0x1000,
            vsize: len,
            offset: 0,
            filesize: len,
            exec: false,
            write: true,
        };
        let bin = Binary {
            pointers,
            ..Binary::bare(Arch::X86_64, &data, vec![segment])
        };
        let mut out = Vec::new();
        let err = walk(&bin, 0x1000, false, &mut out).unwrap_err();
        assert!(err.contains("more than 1024 entries"), "{err}");
        assert!(out.len() <= MAX_WALKED as usize);

        // The last level alone is an ordinary array of 63 slots.
        let mut out = Vec::new();
        walk(&bin, 0x1000 + 4 * ARRAY, false, &mut out).unwrap();
        assert_eq!(out.len(), 63);
    }
}
