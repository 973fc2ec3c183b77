//! Colour for text reports, and where a report goes. Colour is on for a terminal unless
//! `NO_COLOR` is set (<https://no-color.org>) or `TERM=dumb`; `FORCE_COLOR` /
//! `CLICOLOR_FORCE` turn it on anyway; `--color always|never` decides over all of them.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};

use crate::cli::ColorChoice;
use crate::scan::Readiness;

/// Whether to colour, and the styles used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// For a report written to stdout (`to_stdout`) or a file, as `choice` says.
    pub fn new(choice: ColorChoice, to_stdout: bool) -> Paint {
        let env = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => decide_auto(
                to_stdout && std::io::stdout().is_terminal(),
                env("NO_COLOR").is_some(),
                env("FORCE_COLOR").or(env("CLICOLOR_FORCE")).is_some(),
                std::env::var("TERM").is_ok_and(|t| t == "dumb"),
            ),
        };
        Paint { on }
    }

    /// No colour.
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    /// Colour always (for tests of the coloured output).
    pub fn always() -> Paint {
        Paint { on: true }
    }

    fn style(&self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.style(Style::new().bold(), text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.style(Style::new().dimmed(), text)
    }

    pub fn good(&self, text: &str) -> String {
        self.style(
            Style::new().fg_color(Some(AnsiColor::Green.into())).bold(),
            text,
        )
    }

    pub fn bad(&self, text: &str) -> String {
        self.style(
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            text,
        )
    }

    pub fn warn(&self, text: &str) -> String {
        self.style(
            Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
            text,
        )
    }

    /// `text` in the colour of `readiness`.
    pub fn readiness(&self, readiness: Readiness, text: &str) -> String {
        match readiness {
            Readiness::Ready => self.good(text),
            Readiness::Pure => self.dim(text),
            Readiness::GilFallback => self.bad(text),
            Readiness::NoWheel
            | Readiness::PythonExcluded
            | Readiness::SourceOnly
            | Readiness::Unknown => self.warn(text),
        }
    }
}

/// `auto`: a terminal, unless NO_COLOR or TERM=dumb; FORCE_COLOR wins over both.
fn decide_auto(terminal: bool, no_color: bool, force: bool, dumb: bool) -> bool {
    if force {
        return true;
    }
    terminal && !no_color && !dumb
}

/// Writes a report to `file` (replacing it whole: written beside it, then renamed) or to
/// stdout; `Err` is one line.
pub fn write_output(text: &str, file: Option<&Path>) -> Result<(), String> {
    let Some(file) = file else {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .or_else(|e| match e.kind() {
                // A reader that went away (`| head`) is not an error of ours.
                std::io::ErrorKind::BrokenPipe => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| format!("cannot write the report: {e}"));
    };
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let failed = |e: std::io::Error| format!("{}: cannot write the report: {e}", file.display());
    let mut tmp = tempfile_in(&dir, file).map_err(failed)?;
    let written = tmp
        .1
        .write_all(text.as_bytes())
        .and_then(|()| tmp.1.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp.0);
        return Err(failed(e));
    }
    drop(tmp.1);
    std::fs::rename(&tmp.0, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp.0);
        failed(e)
    })
}

/// A new file beside `file`, named after it and the process.
fn tempfile_in(dir: &Path, file: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let path = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let handle = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_terminal_no_color_and_force_color() {
        // (terminal, NO_COLOR, FORCE_COLOR, TERM=dumb) -> colour
        let cases = [
            ((true, false, false, false), true),
            ((false, false, false, false), false),
            ((true, true, false, false), false),
            ((true, false, false, true), false),
            ((false, false, true, false), true),
            ((true, true, true, false), true),
        ];
        for ((terminal, no_color, force, dumb), want) in cases {
            assert_eq!(decide_auto(terminal, no_color, force, dumb), want);
        }
        assert!(Paint::always().bad("x").contains("\u{1b}["));
        assert_eq!(Paint::plain().bad("x"), "x");
        assert!(!Paint::new(ColorChoice::Never, true).on);
        assert!(Paint::new(ColorChoice::Always, false).on);
    }

    #[test]
    fn a_report_file_is_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("report.md");
        std::fs::write(&file, "old and longer").unwrap();
        write_output("new\n", Some(&file)).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new\n");
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let err = write_output("x", Some(&tmp.path().join("missing/dir/r.md"))).unwrap_err();
        assert!(err.contains("cannot write the report"), "{err}");
    }
}
