//! `gilfree audit` as a command: the inputs (given, or found in the current folder), the
//! settings (`[tool.gilfree]`, the environment, the command line), the indexes, the audit,
//! the report (stdout or `-o FILE`) and the exit code — 0 nothing fails, 1 a dependency
//! fails (`--fail-on`), 2 an input, the settings or the index could not be read. After a
//! fatal error nothing goes to stdout: the one line on stderr says what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::config::{self, CommandLine, Settings, dedup};
use super::indexes::WithExtras;
use super::{AuditOptions, AuditReport, audit_with, discover};
use crate::cli::{AuditArgs, AuditFormat};
use crate::index::DEFAULT_INDEX_URL;
use crate::lock::{Format, Parsed};
use crate::report::{self, AuditContext, Paint};
use crate::scan::session;
use crate::wheel::Platform;

/// Runs `gilfree audit`.
pub fn run(args: &AuditArgs, verbose: bool, quiet: bool) -> ExitCode {
    match run_inner(args, verbose, quiet) {
        Ok(code) => code,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &AuditArgs, verbose: bool, quiet: bool) -> Result<ExitCode, Vec<String>> {
    let one = |e: String| vec![e];
    let cwd = std::env::current_dir().map_err(|e| one(format!("the current folder: {e}")))?;
    let files: Vec<PathBuf> = if args.files.is_empty() {
        let found = discover::find(&cwd).ok_or_else(|| {
            one(format!(
                "no dependency file in {}: give one (looked for {})",
                cwd.display(),
                discover::ORDER.join(", ")
            ))
        })?;
        let shown = found.strip_prefix(&cwd).unwrap_or(&found).to_path_buf();
        if !quiet {
            eprintln!("Auditing {} (found in the current folder)", shown.display());
        }
        vec![shown]
    } else {
        args.files.clone()
    };

    let settings = settings(args, &files, &cwd).map_err(|e| one(e.to_string()))?;

    let mut inputs: Vec<Parsed> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for file in &files {
        match crate::lock::parse_file(file) {
            Ok(parsed)
                if parsed.requirements.is_empty() && parsed.format != Format::Environment =>
            {
                errors.push(format!("{}: lists no dependencies", file.display()))
            }
            Ok(parsed) => inputs.push(parsed),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let cfg = session::scan_config(&settings.pythons, &settings.platforms, &args.index, quiet);
    let options = AuditOptions {
        follow_deps: args.deps,
        fail_on: settings.fail_on.clone(),
        ignore: settings
            .ignore
            .iter()
            .map(|i| (i.name.clone(), i.reason.clone()))
            .collect(),
    };
    let (main_url, extra_urls) = indexes(args, &inputs);
    let mut index_args = args.index.clone();
    index_args.index_url = main_url;
    let extras: Vec<crate::index::IndexClient> = extra_urls
        .iter()
        .map(|url| session::client(&index_args, url))
        .collect::<Result<_, _>>()
        .map_err(one)?;

    let mut warnings = Vec::new();
    let (mut result, down) = session::with_index(&index_args, &mut warnings, |index, store| {
        let index = WithExtras::new(index, extras);
        let mut r = audit_with(&inputs, &cfg, &index, store, options.clone());
        r.warnings.extend(index.take_warnings());
        (r, crate::scan::Index::down(&index))
    })
    .map_err(one)?;
    if let Some(down) = down {
        return Err(one(down));
    }
    warnings.append(&mut result.warnings);
    if !quiet {
        for w in dedup(warnings) {
            eprintln!("warning: {w}");
        }
    }
    if !result.errors.is_empty() {
        // Unreadable inputs named by the scan (a damaged local wheel): the report stands,
        // the exit code says an input could not be read.
        for e in dedup(std::mem::take(&mut result.errors)) {
            eprintln!("error: {e}");
            errors.push(e);
        }
    }

    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let paint = Paint::new(args.output.color, args.output.file.is_none());
    let context = AuditContext {
        inputs: &shown,
        settings: &settings,
        verbose,
        paint,
    };
    let out = render(args.format, &result, &context);
    report::write_output(&out, args.output.file.as_deref()).map_err(one)?;
    Ok(if !errors.is_empty() {
        ExitCode::from(2)
    } else if result.fails() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(format: AuditFormat, result: &AuditReport, context: &AuditContext<'_>) -> String {
    match format {
        AuditFormat::Text => report::audit_text(result, context),
        AuditFormat::Json => report::audit_json(result, context),
        AuditFormat::Markdown => report::audit_markdown(result, context),
        AuditFormat::Github => report::audit_github(result, context),
        AuditFormat::Sarif => report::audit_sarif(result, context.settings),
    }
}

/// The settings: `[tool.gilfree]` of the nearest pyproject.toml above the first input (or
/// the current folder), the environment, the command line.
fn settings(
    args: &AuditArgs,
    files: &[PathBuf],
    cwd: &Path,
) -> Result<Settings, config::ConfigError> {
    let start = files
        .first()
        .map(|f| cwd.join(f))
        .and_then(|f| {
            if f.is_dir() {
                Some(f)
            } else {
                f.parent().map(Path::to_path_buf)
            }
        })
        .unwrap_or_else(|| cwd.to_path_buf());
    let found = config::find_config(&start)?;
    let cli = CommandLine {
        pythons: args.pythons.clone(),
        platforms: args.platforms.clone(),
        fail_on: args.fail_on.clone(),
        ignore: args.ignore.clone(),
    };
    let env = |var: &str| std::env::var(var).ok();
    config::resolve(
        &cli,
        &env,
        found.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
        Platform::host(),
    )
}

/// The main index and the extra ones: `--index-url` (or a requirements file's own `-i` when
/// the command line keeps the default), then the files' `--extra-index-url` and the
/// command line's, without repeats.
fn indexes(args: &AuditArgs, inputs: &[Parsed]) -> (String, Vec<String>) {
    let given = args.index.index_url.trim_end_matches('/');
    let default = DEFAULT_INDEX_URL.trim_end_matches('/');
    let from_file = inputs.iter().find_map(|p| p.primary_index.clone());
    let main = match from_file {
        Some(url) if given == default => url,
        _ => args.index.index_url.clone(),
    };
    let mut extras: Vec<String> = Vec::new();
    let candidates = inputs
        .iter()
        .flat_map(|p| p.extra_index_urls.iter().cloned())
        .chain(args.extra_index_urls.iter().cloned());
    for url in candidates {
        let same = |u: &str| u.trim_end_matches('/') == url.trim_end_matches('/');
        if !same(&main) && !extras.iter().any(|e| same(e)) {
            extras.push(url);
        }
    }
    (main, extras)
}
