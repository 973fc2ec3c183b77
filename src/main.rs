//! The `gilfree` command: parse arguments, run, map the outcome to an exit code
//! (0 nothing blocks, 1 a module turns the GIL on, 2 usage, input or network error).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use gilfree::cli::{Cli, Command, Format};
use gilfree::inspect::verdict::Verdict;
use gilfree::report;
use gilfree::scan::{self, ScanConfig};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Scan(args) => {
            let cfg = ScanConfig {
                pythons: args.pythons.clone(),
                platforms: args.platforms.clone(),
                jobs: args.jobs,
            };
            let result = scan::scan_paths(&args.targets, &cfg);
            for e in &result.errors {
                eprintln!("error: {e}");
            }
            let out = match args.format {
                Format::Json => report::json(
                    &result,
                    &args
                        .pythons
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>(),
                    &args
                        .platforms
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>(),
                ),
                Format::Text => report::text(&result, cli.verbose),
            };
            if std::io::stdout().write_all(out.as_bytes()).is_err() {
                return ExitCode::from(2);
            }
            let blocked = result
                .wheels
                .iter()
                .flat_map(|w| &w.modules)
                .any(|m| m.verdict == Verdict::GilUsed);
            if !result.errors.is_empty() {
                ExitCode::from(2)
            } else if blocked {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
