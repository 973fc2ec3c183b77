//! `gilfree site` on the command line: check the store exists, build, report on stderr, and
//! map the outcome to an exit code (0 built, 2 no store or a failure).

use std::process::ExitCode;

use crate::cli::SiteArgs;
use crate::store::Store;

/// `gilfree site`: the store (which must exist) into a folder of static files.
pub fn run(args: &SiteArgs, quiet: bool) -> ExitCode {
    let path = match &args.db {
        Some(path) => path.clone(),
        None => match Store::default_path() {
            Ok(path) => path,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if !path.exists() {
        eprintln!(
            "error: {}: no such store (run `gilfree crawl` first, or pass --db)",
            path.display()
        );
        return ExitCode::from(2);
    }
    let built = Store::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|store| {
            let options = super::BuildOptions {
                base_url: args.base_url.clone(),
            };
            super::build_with(&store, &args.out, &options).map_err(|e| e.to_string())
        });
    match built {
        Ok(s) => {
            if !quiet {
                eprintln!(
                    "wrote {} pages ({} files, {} bytes) for {} projects into {} in {:.2}s; removed {} files of an earlier build",
                    s.pages,
                    s.files,
                    s.bytes,
                    s.projects,
                    args.out.display(),
                    s.seconds,
                    s.removed
                );
                for (what, page) in [
                    ("largest page", &s.largest_page),
                    ("largest page but projects.html", &s.largest_other_page),
                ] {
                    if let Some((path, bytes)) = page {
                        eprintln!("{what}: {path} ({bytes} bytes)");
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
