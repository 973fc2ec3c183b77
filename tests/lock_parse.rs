//! The input parsers of `gilfree audit` over the fixture files in `tests/fixtures/lock/`:
//! names, versions, markers evaluated for two targets, sources with line numbers, and broken
//! files reported with the file and line.

use std::path::{Path, PathBuf};

use gilfree::lock::{Format, Kind, LockError, Parsed, Requirement, Target, parse_file};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lock")
        .join(rel)
}

fn linux() -> Target {
    Target::new("3.14t", "linux-x86_64").unwrap()
}

fn windows() -> Target {
    Target::new("3.14t", "windows-amd64").unwrap()
}

fn find<'a>(parsed: &'a Parsed, name: &str) -> &'a Requirement {
    parsed
        .requirements
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// The names applying to `target`, sorted and without repeats.
fn names_for(parsed: &Parsed, target: &Target) -> Vec<String> {
    let mut names: Vec<String> = parsed.for_target(target).map(|r| r.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

#[test]
fn requirements_compiled_by_uv() {
    let path = fixture("requirements/requirements.txt");
    let p = parse_file(&path).unwrap();
    assert_eq!(p.format, Format::Requirements);
    assert_eq!(p.requirements.len(), 8);
    let cffi = find(&p, "cffi");
    assert_eq!(cffi.version.as_deref(), Some("2.1.1"));
    assert_eq!(cffi.source.line, 3);
    assert_eq!(cffi.source.file, path);
    assert_eq!(cffi.hashes.len(), 2);
    assert!(cffi.hashes[1].starts_with("sha256:06c72bb7"));
    assert_eq!(find(&p, "uvloop").source.line, 31);

    let on_linux = names_for(&p, &linux());
    let on_windows = names_for(&p, &windows());
    assert!(on_linux.contains(&"uvloop".to_string()));
    assert!(!on_linux.contains(&"colorama".to_string()));
    assert!(on_windows.contains(&"colorama".to_string()));
    assert!(!on_windows.contains(&"uvloop".to_string()));
    // Two numpy pins split by Python version: one applies to 3.14.
    let l = linux();
    let numpys: Vec<_> = p.for_target(&l).filter(|r| r.name == "numpy").collect();
    assert_eq!(numpys.len(), 1);
    assert_eq!(numpys[0].version.as_deref(), Some("2.5.5"));
    let old = Target::new("3.11", "linux-x86_64").unwrap();
    let numpy_old: Vec<_> = p.for_target(&old).filter(|r| r.name == "numpy").collect();
    assert_eq!(numpy_old[0].version.as_deref(), Some("2.4.6"));
}

#[test]
fn requirements_with_includes_options_and_direct_references() {
    let path = fixture("requirements/requirements-dev.in");
    let env = |n: &str| (n == "PRIVATE_INDEX_HOST").then(|| "pkgs.example.com".to_string());
    let p = gilfree::lock::requirements::parse_file_with_env(&path, &env).unwrap();
    assert_eq!(
        p.index_urls,
        ["https://pypi.org/simple", "https://pkgs.example.com/simple"]
    );
    // Eight from the include, six written here.
    assert_eq!(p.requirements.len(), 14);
    assert_eq!(
        file_name(&find(&p, "lxml").source.file),
        "requirements.txt",
        "included requirements keep their own file"
    );
    let constraints: Vec<(&str, Option<&str>, usize)> = p
        .constraints
        .iter()
        .map(|r| (r.name.as_str(), r.version.as_deref(), r.source.line))
        .collect();
    assert_eq!(
        constraints,
        [("urllib3", None, 2), ("setuptools-scm", Some("8.1.0"), 3)]
    );

    let pytest = find(&p, "pytest");
    assert_eq!(pytest.source.line, 10);
    assert_eq!(pytest.extras, ["testing"]);
    assert_eq!(pytest.specifier.as_deref(), Some(">=8"));
    assert!(pytest.applies(&linux()));

    let kinds: Vec<(&str, &Kind, usize)> = p
        .requirements
        .iter()
        .filter(|r| !r.kind.is_auditable())
        .map(|r| (r.name.as_str(), &r.kind, r.source.line))
        .collect();
    assert_eq!(
        kinds,
        [
            ("helper", &Kind::Editable("./tools/helper".into()), 11),
            (
                "example-plugin",
                &Kind::Editable(
                    "git+https://github.com/example/plugin.git@v1.2#egg=example_plugin".into()
                ),
                12
            ),
            (
                "private-lib",
                &Kind::Url(
                    "https://pkgs.example.com/files/private_lib-1.0-py3-none-any.whl".into()
                ),
                13
            ),
            (
                "localpkg",
                &Kind::Path("./vendor/localpkg-0.3.tar.gz".into()),
                14
            ),
        ]
    );
    for (_, kind, _) in &kinds {
        assert!(!kind.is_auditable(), "{kind:?}");
    }

    let pywin32 = find(&p, "pywin32");
    assert_eq!(pywin32.source.line, 15);
    assert_eq!(pywin32.hashes.len(), 1);
    assert!(!pywin32.applies(&linux()));
    assert!(pywin32.applies(&windows()));
}

#[test]
fn requirements_errors_name_file_and_line() {
    let cases: [(&str, &str, usize, &str); 3] = [
        (
            "requirements/requirements-broken.txt",
            "requirements-broken.txt",
            4,
            "pydantic=>2",
        ),
        ("requirements/loop-a.txt", "loop-b.txt", 2, "include loop"),
        (
            "requirements/requirements-missing-include.txt",
            "requirements-missing-include.txt",
            3,
            "does-not-exist.txt",
        ),
    ];
    for (rel, file, line, needle) in cases {
        let err = parse_file(fixture(rel)).unwrap_err();
        assert_eq!(file_name(err.file()), file, "{rel}: {err}");
        assert_eq!(err.line(), Some(line), "{rel}: {err}");
        let text = err.to_string();
        assert!(text.contains(needle), "{rel}: {text}");
        assert!(text.contains(&format!("{file}:{line}")), "{rel}: {text}");
    }
    let err = gilfree::lock::requirements::parse_file_with_env(
        &fixture("requirements/requirements-dev.in"),
        &|_| None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, LockError::MissingVariable { line: 5, name, .. } if name == "PRIVATE_INDEX_HOST"),
        "{err}"
    );
}

#[test]
fn unknown_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("deps.lock");
    std::fs::write(&odd, "just some text\n").unwrap();
    let err = parse_file(&odd).unwrap_err();
    assert!(matches!(err, LockError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("deps.lock"));

    let missing = dir.path().join("requirements.txt");
    let err = parse_file(&missing).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "{err}");
    assert!(err.to_string().contains("requirements.txt"));
}

/// (name, version) pairs applying to `target`, sorted.
fn pins_for(parsed: &Parsed, target: &Target) -> Vec<(String, String)> {
    let mut pins: Vec<(String, String)> = parsed
        .for_target(target)
        .map(|r| (r.name.clone(), r.version.clone().unwrap_or_default()))
        .collect();
    pins.sort();
    pins
}

#[test]
fn uv_lock_made_by_uv() {
    let path = fixture("uv/uv.lock");
    let p = parse_file(&path).unwrap();
    assert_eq!(p.format, Format::UvLock);
    assert_eq!(p.index_urls, ["https://pypi.org/simple"]);
    // 17 packages, less the project itself.
    assert_eq!(p.requirements.len(), 16);
    assert!(p.requirements.iter().all(|r| r.name != "demo"));
    let lxml = find(&p, "lxml");
    assert_eq!(
        (lxml.version.as_deref(), lxml.source.line),
        (Some("6.1.3"), 112)
    );
    assert!(lxml.wheel_files().count() >= 2);
    assert!(
        lxml.wheels
            .iter()
            .all(|w| w.sha256.is_some() && w.url.is_some())
    );
    assert_eq!(find(&p, "iniconfig").group.as_deref(), Some("dev"));
    assert_eq!(find(&p, "pyyaml").group.as_deref(), Some("yaml"));

    let on_linux = names_for(&p, &linux());
    let on_windows = names_for(&p, &windows());
    assert!(on_linux.contains(&"uvloop".into()) && !on_linux.contains(&"colorama".into()));
    assert!(on_windows.contains(&"colorama".into()) && !on_windows.contains(&"uvloop".into()));
    // cffi comes only through cryptography, pycparser only through cffi: both apply.
    assert!(on_linux.contains(&"pycparser".into()));
    let pins = pins_for(&p, &linux());
    assert!(pins.contains(&("numpy".into(), "2.5.5".into())));
    assert!(!pins.contains(&("numpy".into(), "2.4.6".into())));
}

#[test]
fn pylock_made_by_uv_agrees_with_uv_lock() {
    let p = parse_file(fixture("pylock/pylock.toml")).unwrap();
    assert_eq!(p.format, Format::Pylock);
    assert_eq!(p.requirements.len(), 16);
    let colorama = find(&p, "colorama");
    assert_eq!(colorama.source.line, 27);
    assert_eq!(colorama.marker.as_deref(), Some("sys_platform == 'win32'"));
    assert!(find(&p, "numpy").wheel_files().all(|w| w.sha256.is_some()));

    let uv = parse_file(fixture("uv/uv.lock")).unwrap();
    for target in [
        linux(),
        windows(),
        Target::new("3.11", "macos-arm64").unwrap(),
    ] {
        assert_eq!(pins_for(&p, &target), pins_for(&uv, &target), "{target}");
    }
}

#[test]
fn format_detection_by_content() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, format) in [
        ("uv/uv.lock", Format::UvLock),
        ("pylock/pylock.toml", Format::Pylock),
    ] {
        let renamed = dir.path().join("renamed.lock");
        std::fs::copy(fixture(rel), &renamed).unwrap();
        assert_eq!(parse_file(&renamed).unwrap().format, format, "{rel}");
    }
}

#[test]
fn broken_locks_name_file_and_line() {
    for (rel, line, needle) in [
        ("uv/broken/uv.lock", 11, "missing-package"),
        (
            "pylock/broken/pylock.toml",
            11,
            "invalid environment marker",
        ),
    ] {
        let path = fixture(rel);
        let err = parse_file(&path).unwrap_err();
        assert_eq!(err.file(), path, "{rel}: {err}");
        assert_eq!(err.line(), Some(line), "{rel}: {err}");
        assert!(err.to_string().contains(needle), "{rel}: {err}");
    }
}

#[test]
fn pipfile_lock_made_by_pipenv() {
    let path = fixture("pipfile/Pipfile.lock");
    let p = parse_file(&path).unwrap();
    assert_eq!(p.format, Format::PipfileLock);
    assert_eq!(p.index_urls, ["https://pypi.org/simple"]);
    assert_eq!(p.requirements.len(), 13);
    let lxml = find(&p, "lxml");
    assert_eq!(
        (lxml.version.as_deref(), lxml.source.line),
        (Some("6.1.3"), 48)
    );
    assert_eq!(lxml.hashes.len(), 2);
    let iniconfig = find(&p, "iniconfig");
    assert_eq!(iniconfig.group.as_deref(), Some("develop"));
    assert_eq!(iniconfig.source.line, 117);
    let on_linux = names_for(&p, &linux());
    let on_windows = names_for(&p, &windows());
    assert!(on_linux.contains(&"uvloop".into()) && !on_linux.contains(&"colorama".into()));
    assert!(on_windows.contains(&"colorama".into()) && !on_windows.contains(&"uvloop".into()));
    assert_eq!(on_linux.len(), 12);
    // pipenv resolved on Linux: the Windows-only colorama is in the lock, unpinned.
    let colorama = find(&p, "colorama");
    assert_eq!(
        (colorama.version.as_deref(), colorama.specifier.as_deref()),
        (None, None)
    );
}

#[test]
fn poetry_lock_both_formats() {
    let v2 = parse_file(fixture("poetry/v2/poetry.lock")).unwrap();
    let v1 = parse_file(fixture("poetry/v1/poetry.lock")).unwrap();
    assert_eq!(
        (v1.format, v2.format),
        (Format::PoetryLock, Format::PoetryLock)
    );

    let pins = |p: &Parsed, t: &Target| -> Vec<String> {
        p.for_target(t)
            .map(|r| format!("{}=={}", r.name, r.version.as_deref().unwrap_or("?")))
            .collect()
    };
    assert_eq!(
        pins(&v2, &linux()),
        [
            "lxml==5.3.0",
            "numpy==2.1.3",
            "pytest==8.3.3",
            "uvloop==0.21.0",
            "vendored==0.3.0"
        ]
    );
    assert_eq!(
        pins(&v2, &windows()),
        [
            "colorama==0.4.6",
            "lxml==5.3.0",
            "numpy==2.1.3",
            "pytest==8.3.3",
            "vendored==0.3.0"
        ]
    );
    let numpy = find(&v2, "numpy");
    assert_eq!(numpy.source.line, 34);
    assert_eq!(numpy.wheel_files().count(), 2);
    assert_eq!(find(&v2, "pytest").group.as_deref(), Some("dev"));
    assert_eq!(
        find(&v2, "vendored").kind,
        Kind::Editable("libs/vendored".into())
    );

    // Lock format 1.1: files from [metadata.files], no package markers.
    assert_eq!(v1.requirements.len(), 5);
    let numpy = find(&v1, "numpy");
    assert_eq!(
        (numpy.version.as_deref(), numpy.source.line),
        (Some("1.24.2"), 24)
    );
    assert_eq!(numpy.wheels.len(), 3);
    assert!(
        numpy.wheels[0]
            .sha256
            .as_deref()
            .unwrap()
            .starts_with("8969bfd2")
    );
    assert_eq!(find(&v1, "colorama").group.as_deref(), Some("dev"));
    // No package markers before 2.1: computed from the pyproject.toml beside the lock.
    assert_eq!(
        pins(&v1, &linux()),
        [
            "lxml==4.9.2",
            "numpy==1.24.2",
            "pytest==7.2.1",
            "tool==0.5.0"
        ]
    );
    assert_eq!(
        pins(&v1, &windows()),
        [
            "colorama==0.4.6",
            "numpy==1.24.2",
            "pytest==7.2.1",
            "tool==0.5.0"
        ]
    );
    assert_eq!(
        find(&v1, "tool").kind,
        Kind::Vcs(
            "git+https://github.com/example/tool.git@4f2a9c1d3b5e7f9a1c3e5b7d9f1a3c5e7b9d1f3a"
                .into()
        )
    );
}

#[test]
fn pdm_lock() {
    let p = parse_file(fixture("pdm/pdm.lock")).unwrap();
    assert_eq!(p.format, Format::PdmLock);
    assert_eq!(p.requirements.len(), 6);
    let numpy = find(&p, "numpy");
    assert_eq!(
        (numpy.version.as_deref(), numpy.source.line),
        (Some("2.1.3"), 49)
    );
    assert_eq!(numpy.wheel_files().count(), 2);
    assert_eq!(find(&p, "pytest").group.as_deref(), Some("dev"));
    assert_eq!(find(&p, "colorama").group, None);
    assert_eq!(
        names_for(&p, &linux()),
        ["iniconfig", "lxml", "numpy", "pytest", "uvloop"]
    );
    assert_eq!(
        names_for(&p, &windows()),
        ["colorama", "iniconfig", "lxml", "numpy", "pytest"]
    );
}

#[test]
fn pyproject_with_extras_and_groups() {
    let p = parse_file(fixture("pyproject/pyproject.toml")).unwrap();
    assert_eq!(p.format, Format::Pyproject);
    let got: Vec<String> = p
        .requirements
        .iter()
        .map(|r| {
            format!(
                "{}:{} {}{} [{}]",
                r.source.line,
                r.name,
                r.specifier.as_deref().unwrap_or(""),
                r.marker
                    .as_deref()
                    .map(|m| format!(" ; {m}"))
                    .unwrap_or_default(),
                r.group.as_deref().unwrap_or("main"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "6:numpy >=2.1 [main]",
            "7:lxml >=5.3 [main]",
            "8:pydantic >=2.9 [main]",
            "9:cryptography >=43 [main]",
            "10:colorama >=0.4 ; sys_platform == 'win32' [main]",
            "11:uvloop >=0.21 ; sys_platform != 'win32' [main]",
            "15:pyyaml >=6 [yaml]",
            "18:iniconfig >=2 [dev]",
            "19:packaging >=24 [dev]",
            "18:iniconfig >=2 [test]",
        ]
    );
    assert_eq!(names_for(&p, &linux()).len(), 8);
    assert!(!names_for(&p, &linux()).contains(&"colorama".into()));
    assert!(names_for(&p, &windows()).contains(&"colorama".into()));
}

#[test]
fn windows_line_endings_and_rye_names() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("requirements-dev.lock");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"Rye.App\"\n",
    )
    .unwrap();
    std::fs::write(
        &lock,
        "# generated by rye\r\nnumpy==2.1.3 \\\r\n    --hash=sha256:aa\r\n-e file:.\r\nlxml==5.3.0 ; sys_platform == 'linux'\r\n",
    )
    .unwrap();
    let p = parse_file(&lock).unwrap();
    let got: Vec<(&str, usize, bool)> = p
        .requirements
        .iter()
        .map(|r| (r.name.as_str(), r.source.line, r.applies(&windows())))
        .collect();
    assert_eq!(got[0], ("numpy", 2, true));
    assert_eq!(got[1], ("rye-app", 4, true));
    assert_eq!(got[2], ("lxml", 5, false));
    assert_eq!(p.requirements[0].hashes, ["sha256:aa"]);
    assert_eq!(p.requirements[1].kind, Kind::Editable("file:.".into()));
}

/// The lockfiles the real tools wrote for four projects (`tests/fixtures/audit/README.md`
/// says which tool and command made each): every file parses, and the tools agree on what
/// gets installed on Linux for 3.14t wherever they resolved alike.
#[test]
fn lockfiles_written_by_the_real_tools_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit");
    // (project, files that must list exactly the same pins, how many)
    let groups: &[(&str, &[&str], usize)] = &[
        (
            "datasci-old",
            &[
                "uv.lock",
                "pylock.toml",
                "poetry/poetry.lock",
                "Pipfile.lock",
                "pdm.lock",
            ],
            18,
        ),
        ("datasci-old", &["requirements.txt"], 18),
        (
            "ml-new",
            &[
                "requirements.txt",
                "uv.lock",
                "pylock.toml",
                "pylock.pip.toml",
                "poetry/poetry.lock",
                "Pipfile.lock",
                "pdm.lock",
            ],
            21,
        ),
        (
            "scraping",
            &[
                "requirements.txt",
                "uv.lock",
                "pylock.toml",
                "poetry/poetry.lock",
                "Pipfile.lock",
                "pdm.lock",
            ],
            21,
        ),
        // pip-compile and pip lock pinned orjson==3.10.7 from requirements.in; uv and pdm
        // resolved the pyproject's range; uv's pylock export and poetry leave the extra out.
        (
            "web-api",
            &["requirements.txt", "pylock.pip.toml", "Pipfile.lock"],
            41,
        ),
        ("web-api", &["uv.lock", "pdm.lock"], 41),
        ("web-api", &["pylock.toml", "poetry/poetry.lock"], 40),
    ];
    for (project, files, count) in groups {
        let mut first: Option<(String, Vec<(String, String)>)> = None;
        for file in *files {
            let path = root.join(project).join(file);
            let parsed = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut pins = pins_for(&parsed, &linux());
            pins.dedup();
            assert_eq!(pins.len(), *count, "{project}/{file}: {pins:?}");
            assert!(
                pins.iter().all(|(_, v)| !v.is_empty()),
                "{project}/{file}: every package is pinned: {pins:?}"
            );
            match &first {
                None => first = Some((file.to_string(), pins)),
                Some((other, want)) => assert_eq!(&pins, want, "{project}: {file} vs {other}"),
            }
        }
    }
    // Spot checks of what the tools chose.
    let old = parse_file(root.join("datasci-old/uv.lock")).unwrap();
    assert!(pins_for(&old, &linux()).contains(&("numpy".into(), "1.26.4".into())));
    let ml = parse_file(root.join("ml-new/Pipfile.lock")).unwrap();
    assert!(!names_for(&ml, &linux()).contains(&"pywin32".to_string()));
    assert!(names_for(&ml, &windows()).contains(&"pywin32".to_string()));
}
