//! pip requirements and constraints files (`requirements*.txt`, `constraints*.txt`, `*.in`).
//!
//! Handles the pip syntax: `-r`/`--requirement` and `-c`/`--constraint` includes relative
//! to the including file (with loop detection), `--hash` (also on continuation lines),
//! environment markers, extras, `\` continuations, comments, `${VAR}` expansion,
//! `-i`/`--index-url`/`--extra-index-url` (recorded), the other global options (tolerated),
//! and URL, path, editable (`-e`) and VCS requirements, which are classified by [`Kind`].

use std::path::{Path, PathBuf};

use pep508_rs::{VerbatimUrl, VersionOrUrl};

use super::{
    Kind, LockError, Parsed, Requirement, Source, check_marker, normalize_name, pin_or_specifier,
};

/// Global options pip accepts that say nothing about which packages are wanted.
const TOLERATED_WITH_VALUE: &[&str] = &[
    "-f",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--trusted-host",
    "--use-feature",
    "--progress-bar",
    "--config-settings",
    "-C",
    "--global-option",
];
const TOLERATED_FLAGS: &[&str] = &["--pre", "--prefer-binary", "--require-hashes", "--no-index"];

/// Reads a requirements file and the files it includes, expanding `${VAR}` from the process
/// environment.
pub fn parse_file(path: &Path) -> Result<Parsed, LockError> {
    parse_file_with_env(path, &|name| std::env::var(name).ok())
}

/// Like [`parse_file`], with `${VAR}` looked up through `env`.
pub fn parse_file_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, LockError> {
    let mut parsed = Parsed::new(super::Format::Requirements);
    let mut stack = Vec::new();
    read_into(path, None, env, false, &mut stack, &mut parsed)?;
    Ok(parsed)
}

/// Parses requirements text as if read from `path`; includes are read relative to it.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let mut parsed = Parsed::new(super::Format::Requirements);
    let mut stack = vec![canonical(path)];
    let env = |name: &str| std::env::var(name).ok();
    parse_text(path, text, &env, false, &mut stack, &mut parsed)?;
    Ok(parsed)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn read_into(
    path: &Path,
    included_at: Option<(&Path, usize)>,
    env: &dyn Fn(&str) -> Option<String>,
    constraint: bool,
    stack: &mut Vec<PathBuf>,
    parsed: &mut Parsed,
) -> Result<(), LockError> {
    let key = canonical(path);
    if stack.contains(&key) {
        let (file, line) = included_at.unwrap_or((path, 1));
        return Err(LockError::IncludeLoop {
            file: file.to_path_buf(),
            line,
            target: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| match included_at {
        Some((file, line)) => LockError::syntax(
            file,
            line,
            format!("cannot read included file {}: {source}", path.display()),
        ),
        None => LockError::Io {
            file: path.to_path_buf(),
            source,
        },
    })?;
    stack.push(key);
    let result = parse_text(path, &text, env, constraint, stack, parsed);
    stack.pop();
    result
}

/// Joins `\` continuations and drops comments: the logical lines, each with the number of
/// its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let is_comment = raw.trim_start().starts_with('#');
        let (start, mut acc) = match current.take() {
            Some(c) => c,
            None => (line_no, String::new()),
        };
        if is_comment && !acc.is_empty() {
            // A comment inside a continuation is skipped; the continuation goes on.
            current = Some((start, acc));
            continue;
        }
        let stripped = strip_comment(raw);
        if let Some(body) = stripped.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            current = Some((start, acc));
        } else {
            acc.push_str(stripped);
            out.push((start, acc));
        }
    }
    if let Some(c) = current {
        out.push(c);
    }
    out
}

/// Removes a comment: `#` at the start of the line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].trim_end();
        }
    }
    line.trim_end()
}

/// Expands `${NAME}` (upper-case letters, digits, `_`) through `env`.
fn expand_vars(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
    file: &Path,
    line_no: usize,
) -> Result<String, LockError> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}');
        let name = end.map(|e| &after[..e]);
        match name {
            Some(n)
                if !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                let value = env(n).ok_or_else(|| LockError::MissingVariable {
                    file: file.to_path_buf(),
                    line: line_no,
                    name: n.to_string(),
                })?;
                out.push_str(&value);
                rest = &after[n.len() + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits a logical line into whitespace-separated words, keeping quoted text together.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Takes the value of an option written `--opt=value`, `--opt value`, `-ovalue` or `-o value`.
fn option_value<'a>(
    word: &'a str,
    names: &[&str],
    rest: &mut std::slice::Iter<'_, &'a str>,
) -> Option<Option<&'a str>> {
    for name in names {
        if word == *name {
            return Some(rest.next().copied());
        }
        if let Some(v) = word.strip_prefix(name) {
            if name.starts_with("--") {
                if let Some(v) = v.strip_prefix('=') {
                    return Some(Some(v));
                }
            } else if !v.is_empty() {
                return Some(Some(v.strip_prefix('=').unwrap_or(v)));
            }
        }
    }
    None
}

fn parse_text(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    constraint: bool,
    stack: &mut Vec<PathBuf>,
    parsed: &mut Parsed,
) -> Result<(), LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    for (line_no, raw) in logical_lines(text) {
        let line = expand_vars(raw.trim(), env, path, line_no)?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: String| LockError::syntax(path, line_no, m);
        if line.starts_with('-') && !line.starts_with("-e") && !line.starts_with("--editable") {
            let ws = words(line);
            let mut it = ws.iter();
            while let Some(word) = it.next() {
                let need = |v: Option<&str>, opt: &str| {
                    v.map(str::to_string)
                        .ok_or_else(|| err(format!("option {opt} needs a value")))
                };
                if let Some(v) = option_value(word, &["--requirement", "-r"], &mut it) {
                    let target = need(v, word)?;
                    include(path, line_no, dir, &target, env, constraint, stack, parsed)?;
                } else if let Some(v) = option_value(word, &["--constraint", "-c"], &mut it) {
                    let target = need(v, word)?;
                    include(path, line_no, dir, &target, env, true, stack, parsed)?;
                } else if let Some(v) = option_value(word, &["--index-url", "-i"], &mut it) {
                    let url = need(v, word)?;
                    parsed.add_index(url.trim_end_matches('/'));
                    parsed.primary_index = Some(url.trim_end_matches('/').to_string());
                } else if let Some(v) = option_value(word, &["--extra-index-url"], &mut it) {
                    let url = need(v, word)?;
                    parsed.add_index(url.trim_end_matches('/'));
                    let url = url.trim_end_matches('/').to_string();
                    if !parsed.extra_index_urls.contains(&url) {
                        parsed.extra_index_urls.push(url);
                    }
                } else if TOLERATED_FLAGS.contains(word) {
                } else if let Some(v) = option_value(word, TOLERATED_WITH_VALUE, &mut it) {
                    need(v, word)?;
                } else {
                    return Err(err(format!("unknown option {word}")));
                }
            }
            continue;
        }
        let mut req =
            parse_requirement_line(line, dir).map_err(|m| LockError::syntax(path, line_no, m))?;
        req.source = Source::new(path, line_no);
        if constraint {
            parsed.constraints.push(req);
        } else {
            parsed.requirements.push(req);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn include(
    path: &Path,
    line_no: usize,
    dir: &Path,
    target: &str,
    env: &dyn Fn(&str) -> Option<String>,
    constraint: bool,
    stack: &mut Vec<PathBuf>,
    parsed: &mut Parsed,
) -> Result<(), LockError> {
    if target.contains("://") {
        return Err(LockError::syntax(
            path,
            line_no,
            format!("remote include {target} is not supported; download it first"),
        ));
    }
    let target_path = dir.join(target);
    read_into(
        &target_path,
        Some((path, line_no)),
        env,
        constraint,
        stack,
        parsed,
    )
}

/// Splits per-requirement options (`--hash`, `--config-settings`, ...) off a requirement line.
fn split_options(line: &str) -> Result<(&str, Vec<String>), String> {
    let mut cut = line.len();
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'-' && bytes[i - 1].is_ascii_whitespace() {
            cut = i;
            break;
        }
    }
    let (req, opts) = line.split_at(cut);
    let mut hashes = Vec::new();
    let ws = words(opts);
    let mut it = ws.iter();
    while let Some(word) = it.next() {
        if let Some(v) = option_value(word, &["--hash"], &mut it) {
            let v = v.ok_or("option --hash needs a value")?;
            if !v.contains(':') {
                return Err(format!("hash {v:?} is not <algorithm>:<digest>"));
            }
            hashes.push(v.to_string());
        } else if let Some(v) = option_value(
            word,
            &[
                "--config-settings",
                "-C",
                "--global-option",
                "--install-option",
            ],
            &mut it,
        ) {
            v.ok_or_else(|| format!("option {word} needs a value"))?;
        } else {
            return Err(format!("unknown option {word} after a requirement"));
        }
    }
    Ok((req.trim(), hashes))
}

/// Splits a marker written after a URL or path (`url ; marker`).
fn split_url_marker(s: &str) -> Result<(&str, Option<String>), String> {
    match s.find("; ").or_else(|| s.find(" ;")) {
        Some(at) => Ok((s[..at].trim(), check_marker(s[at + 1..].trim())?)),
        None => Ok((s.trim(), None)),
    }
}

fn is_vcs(s: &str) -> bool {
    ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .any(|p| s.starts_with(p))
}

fn is_url(s: &str) -> bool {
    s.contains("://") || s.starts_with("file:")
}

const ARCHIVES: &[&str] = &[".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"];

fn looks_like_path(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.starts_with('~')
        || s.contains('\\')
        || (s.contains('/') && !s.contains('@'))
        || ARCHIVES.iter().any(|a| s.ends_with(a))
}

/// The `#egg=name` of a URL, when there is one.
fn egg_name(url: &str) -> Option<String> {
    let frag = url.split_once('#')?.1;
    frag.split('&')
        .find_map(|kv| kv.strip_prefix("egg="))
        .map(|n| n.split('[').next().unwrap_or(n).to_string())
}

/// The project name a wheel or sdist file name, or a directory, stands for.
fn name_from_location(loc: &str) -> Option<String> {
    let clean = loc.split(['#', '?']).next().unwrap_or(loc);
    let last = clean
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()?;
    let last = last.split('@').next().unwrap_or(last);
    if let Some(stem) = last.strip_suffix(".whl") {
        return stem.split('-').next().map(str::to_string);
    }
    for a in ARCHIVES {
        if let Some(stem) = last.strip_suffix(a) {
            // name-version: the version starts at the last '-' followed by a digit.
            let cut = stem
                .char_indices()
                .filter(|&(i, c)| {
                    c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                })
                .map(|(i, _)| i)
                .next_back()
                .unwrap_or(stem.len());
            return Some(stem[..cut].to_string());
        }
    }
    let last = last.strip_suffix(".git").unwrap_or(last);
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

/// The name of a local project directory: `[project] name` from its `pyproject.toml`, else
/// the directory's own name (so `-e .` is named after the folder it points to).
fn local_project_name(loc: &str, dir: &Path) -> Option<String> {
    let loc = loc
        .strip_prefix("file://")
        .or_else(|| loc.strip_prefix("file:"))
        .unwrap_or(loc);
    if is_url(loc) || is_vcs(loc) {
        return None;
    }
    let project = dir.join(loc);
    if !project.is_dir() {
        return None;
    }
    let from_pyproject = std::fs::read_to_string(project.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("project")?.get("name")?.as_str().map(str::to_string));
    from_pyproject.or_else(|| {
        std::fs::canonicalize(&project)
            .ok()?
            .file_name()?
            .to_str()
            .map(str::to_string)
    })
}

/// Splits a trailing `[extra,...]` off a path.
fn split_extras(s: &str) -> (&str, Vec<String>) {
    if let Some(open) = s.rfind('[')
        && s.ends_with(']')
    {
        let extras = s[open + 1..s.len() - 1]
            .split(',')
            .map(normalize_name)
            .filter(|e| !e.is_empty())
            .collect();
        return (&s[..open], extras);
    }
    (s, Vec::new())
}

/// Parses one requirement line (after includes and options are handled). The source is
/// filled in by the caller.
pub(crate) fn parse_requirement_line(line: &str, dir: &Path) -> Result<Requirement, String> {
    let (body, hashes) = split_options(line)?;
    let placeholder = Source::new("", 0);

    let editable = body
        .strip_prefix("--editable")
        .or_else(|| body.strip_prefix("-e"))
        .map(|rest| rest.trim_start_matches('=').trim());
    if let Some(target) = editable {
        if target.is_empty() {
            return Err("-e needs a path or URL".into());
        }
        let (loc, marker) = split_url_marker(target)?;
        let (loc, extras) = split_extras(loc);
        let name = egg_name(loc)
            .or_else(|| local_project_name(loc, dir))
            .or_else(|| name_from_location(loc))
            .ok_or_else(|| format!("cannot tell the project name of editable {loc}"))?;
        let mut req = Requirement::new(&name, placeholder);
        req.kind = Kind::Editable(loc.to_string());
        req.extras = extras;
        req.marker = marker;
        req.hashes = hashes;
        return Ok(req);
    }

    // `name @ url` and plain PEP 508 go through pep508_rs; bare URLs and paths do not.
    let first = body.split([';', ' ']).next().unwrap_or(body);
    let bare = match body.split_once('@') {
        Some((before, _)) => before.contains(['/', ':', '\\']),
        None => true,
    };
    if bare && (is_url(first) || is_vcs(first) || looks_like_path(first)) {
        let (loc, marker) = split_url_marker(body)?;
        let (loc, extras) = if is_url(loc) || is_vcs(loc) {
            (loc, Vec::new())
        } else {
            split_extras(loc)
        };
        let name = egg_name(loc)
            .or_else(|| local_project_name(loc, dir))
            .or_else(|| name_from_location(loc))
            .ok_or_else(|| format!("cannot tell the project name of {loc}"))?;
        let mut req = Requirement::new(&name, placeholder);
        req.kind = classify(loc);
        req.extras = extras;
        req.marker = marker;
        req.hashes = hashes;
        return Ok(req);
    }

    let mut req = from_pep508(body, dir)?;
    req.hashes = hashes;
    Ok(req)
}

/// Parses a PEP 508 requirement (`name[extras] spec ; marker` or `name @ url ; marker`); the
/// source is filled in by the caller. `dir` resolves relative file URLs.
pub(crate) fn from_pep508(body: &str, dir: &Path) -> Result<Requirement, String> {
    let parsed = pep508_rs::Requirement::<VerbatimUrl>::parse(body, dir)
        .map_err(|e| format!("invalid requirement {body:?}: {}", e.message))?;
    let mut req = Requirement::new(parsed.name.as_ref(), Source::new("", 0));
    req.extras = parsed.extras.iter().map(|e| e.to_string()).collect();
    req.marker = parsed.marker.try_to_string();
    match &parsed.version_or_url {
        None => {}
        Some(VersionOrUrl::VersionSpecifier(specs)) => {
            (req.version, req.specifier) = pin_or_specifier(specs);
        }
        Some(VersionOrUrl::Url(url)) => {
            let given = url.given().map(str::to_string).unwrap_or(url.to_string());
            req.kind = classify(&given);
        }
    }
    Ok(req)
}

/// The kind of a URL or path requirement.
pub(crate) fn classify(loc: &str) -> Kind {
    if is_vcs(loc) {
        Kind::Vcs(loc.to_string())
    } else if loc.starts_with("file:") || !is_url(loc) {
        Kind::Path(loc.to_string())
    } else {
        Kind::Url(loc.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Requirement {
        parse_requirement_line(line, Path::new("/tmp")).unwrap()
    }

    #[test]
    fn requirement_lines() {
        // (line, name, version, specifier, extras, marker, kind)
        type Row<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a [&'a str],
            Option<&'a str>,
            Kind,
        );
        let table: Vec<Row> = vec![
            (
                "numpy==2.1.0",
                "numpy",
                Some("2.1.0"),
                None,
                &[],
                None,
                Kind::Index,
            ),
            (
                "Pillow>=10,<12",
                "pillow",
                None,
                Some(">=10, <12"),
                &[],
                None,
                Kind::Index,
            ),
            (
                "zope.interface",
                "zope-interface",
                None,
                None,
                &[],
                None,
                Kind::Index,
            ),
            (
                "requests[socks,Security] ~= 2.31 ; python_version < '3.13'",
                "requests",
                None,
                Some("~=2.31"),
                &["socks", "security"],
                Some("python_full_version < '3.13'"),
                Kind::Index,
            ),
            (
                "cffi==2.1.1 ; platform_python_implementation != 'PyPy' --hash=sha256:aa",
                "cffi",
                Some("2.1.1"),
                None,
                &[],
                Some("platform_python_implementation != 'PyPy'"),
                Kind::Index,
            ),
            (
                "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
                "pkg",
                None,
                None,
                &[],
                None,
                Kind::Url("https://example.com/pkg-1.0-py3-none-any.whl".into()),
            ),
            (
                "pkg @ git+https://github.com/o/pkg@v1",
                "pkg",
                None,
                None,
                &[],
                None,
                Kind::Vcs("git+https://github.com/o/pkg@v1".into()),
            ),
            (
                "git+https://github.com/o/tool.git@main#egg=Tool_X",
                "tool-x",
                None,
                None,
                &[],
                None,
                Kind::Vcs("git+https://github.com/o/tool.git@main#egg=Tool_X".into()),
            ),
            (
                "https://example.com/dl/lib_y-2.0.tar.gz ; sys_platform == 'linux'",
                "lib-y",
                None,
                None,
                &[],
                Some("sys_platform == 'linux'"),
                Kind::Url("https://example.com/dl/lib_y-2.0.tar.gz".into()),
            ),
            (
                "./vendor/mylib[fast]",
                "mylib",
                None,
                None,
                &["fast"],
                None,
                Kind::Path("./vendor/mylib".into()),
            ),
            (
                "wheels/abc-1.0-cp314-cp314t-linux_x86_64.whl",
                "abc",
                None,
                None,
                &[],
                None,
                Kind::Path("wheels/abc-1.0-cp314-cp314t-linux_x86_64.whl".into()),
            ),
            (
                "-e ./src/app",
                "app",
                None,
                None,
                &[],
                None,
                Kind::Editable("./src/app".into()),
            ),
            (
                "--editable=git+https://h/x.git#egg=xlib",
                "xlib",
                None,
                None,
                &[],
                None,
                Kind::Editable("git+https://h/x.git#egg=xlib".into()),
            ),
        ];
        for (line, name, version, spec, extras, marker, kind) in table {
            let r = one(line);
            assert_eq!(r.name, name, "{line}");
            assert_eq!(r.version.as_deref(), version, "{line}");
            assert_eq!(r.specifier.as_deref(), spec, "{line}");
            assert_eq!(r.extras, extras, "{line}");
            assert_eq!(r.marker.as_deref(), marker, "{line}");
            assert_eq!(r.kind, kind, "{line}");
        }
    }

    #[test]
    fn bad_requirement_lines() {
        for line in [
            "numpy===",
            "numpy==2 ; python_version >>> '3'",
            "numpy==2 --bogus",
            "numpy==2 --hash=abc",
            "-e",
            "foo bar",
        ] {
            assert!(
                parse_requirement_line(line, Path::new("/tmp")).is_err(),
                "{line} should fail"
            );
        }
    }

    #[test]
    fn joins_continuations_and_strips_comments() {
        let text = "# header\nnumpy==2 \\\n    --hash=sha256:aa \\\n    # via x\n    --hash=sha256:bb\nlxml # trailing\nurl#frag\n";
        let lines = logical_lines(text);
        let got: Vec<(usize, &str)> = lines
            .iter()
            .map(|(n, l)| (*n, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        assert_eq!(got[0].0, 2);
        assert!(got[0].1.contains("--hash=sha256:aa") && got[0].1.contains("--hash=sha256:bb"));
        assert_eq!(got[1], (6, "lxml"));
        assert_eq!(got[2], (7, "url#frag"));
    }

    #[test]
    fn expands_variables() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        let f = Path::new("r.txt");
        for (input, want) in [
            (
                "x @ https://u:${TOKEN}@h/x.whl",
                Some("x @ https://u:s3cret@h/x.whl"),
            ),
            ("$HOME and ${lower}", Some("$HOME and ${lower}")),
            ("${MISSING}", None),
        ] {
            let got = expand_vars(input, &env, f, 3);
            match want {
                Some(w) => assert_eq!(got.unwrap(), w),
                None => assert!(matches!(
                    got,
                    Err(LockError::MissingVariable { line: 3, ref name, .. }) if name == "MISSING"
                )),
            }
        }
    }

    #[test]
    fn options_are_recorded_or_tolerated() {
        let text = "-i https://mirror.example/simple/\n--extra-index-url=https://extra.example/simple\n--pre\n--no-binary :all:\n-f ./wheels\nnumpy==2\n";
        let p = parse_str(Path::new("/nonexistent/requirements.txt"), text).unwrap();
        assert_eq!(
            p.primary_index.as_deref(),
            Some("https://mirror.example/simple")
        );
        assert_eq!(p.extra_index_urls, ["https://extra.example/simple"]);
        assert_eq!(
            p.index_urls,
            [
                "https://mirror.example/simple",
                "https://extra.example/simple"
            ]
        );
        assert_eq!(p.requirements.len(), 1);
        assert_eq!(p.requirements[0].source.line, 6);
        let err = parse_str(Path::new("r.txt"), "numpy\n--frobnicate\n").unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().contains("--frobnicate"), "{err}");
    }

    #[test]
    fn local_directories_are_named_from_their_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("src-tree");
        std::fs::create_dir(&named).unwrap();
        std::fs::write(
            named.join("pyproject.toml"),
            "[project]\nname = \"Real_Name\"\n",
        )
        .unwrap();
        let bare = dir.path().join("plain-dir");
        std::fs::create_dir(&bare).unwrap();
        for (line, name) in [
            ("-e ./src-tree", "real-name"),
            ("./src-tree", "real-name"),
            ("-e ./plain-dir", "plain-dir"),
        ] {
            let r = parse_requirement_line(line, dir.path()).unwrap();
            assert_eq!(r.name, name, "{line}");
        }
        let r = parse_requirement_line("-e .", &named).unwrap();
        assert_eq!(
            (r.name.as_str(), &r.kind),
            ("real-name", &Kind::Editable(".".into()))
        );
    }
}
