//! The summary a crawl prints at the end: what this invocation did (and what a resumed run
//! had done before), what it cost on the network, the run's readiness counts per
//! interpreter and platform, and the projects that failed — as text for people or JSON
//! (`--format json`, schema 1) for machines.

use std::fmt::Write as _;

use serde::Serialize;

use super::plan::ANY_PLATFORM;
use crate::scan::Readiness;
use crate::wheel::Platform;

/// Everything the summary says.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrawlSummary {
    pub schema: u32,
    /// The run's id in the store.
    pub run: i64,
    pub list: String,
    /// The shard of the list this crawl kept (absent when it crawled the whole list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSummary>,
    /// Projects the run set out to crawl: the list's, or the shard's.
    pub planned: u64,
    /// Every project of the list has been recorded; `false` when the run was stopped and
    /// is left for the next crawl of the list to resume.
    pub finished: bool,
    /// This invocation continued a run an earlier one left unfinished.
    pub resumed: bool,
    pub projects: ProjectCounts,
    pub wheels: WheelCounts,
    /// Releases whose core metadata was read (once per release, ever).
    pub metadata_read: u64,
    /// The first-ready searches of this invocation.
    pub first_ready: FirstReadyCounts,
    /// Whether the index's change feed spared pages, and why not.
    pub feed: FeedSummary,
    /// Projects that failed in this invocation, in list order.
    pub failures: Vec<FailedProject>,
    /// Per interpreter and platform, how many projects' latest releases have each readiness
    /// (the whole run, earlier invocations included).
    pub readiness: Vec<ReadinessRow>,
    pub warnings: Vec<String>,
    /// This invocation's network use.
    pub stats: NetSummary,
}

/// Which shard of the list a crawl kept (`--shard K/N`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShardSummary {
    /// `K`, from 0.
    pub index: u32,
    /// `N`.
    pub count: u32,
    /// The name the shards of the run share.
    pub batch: String,
    /// Projects of the list in this shard.
    pub kept: u64,
    /// Projects on the whole list.
    pub listed: u64,
}

/// Projects, by what happened to them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ProjectCounts {
    /// Recorded by an earlier invocation of the same run (skipped now).
    pub done_before: u64,
    /// Recorded by this invocation, failed ones included.
    pub crawled: u64,
    /// Recorded with an error over the whole run.
    pub failed: u64,
    /// Crawled now, and their file lists had changed since the store last saw them (or
    /// were new to it).
    pub changed: u64,
    /// Crawled now, with the file list the store already had.
    pub unchanged: u64,
}

/// Wheels of the releases crawled now.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct WheelCounts {
    /// Read over the network and analyzed.
    pub analyzed: u64,
    /// Answered from analyses in the store, without a byte fetched.
    pub from_store: u64,
}

/// Since-when searches: per interpreter and main platform whose latest release is ready
/// and whose first ready release the store did not know yet.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FirstReadyCounts {
    /// Targets searched (their wheels read count among `wheels`).
    pub searched: u64,
    /// Targets whose first ready release was found.
    pub found: u64,
}

/// What the index's change feed did for this invocation.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FeedSummary {
    pub state: FeedState,
    /// The feed's XML-RPC endpoint (absent when it was not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The index's serial when the run began (absent when the feed did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    /// The run has the serial recorded, so that the next run can continue from it (a
    /// resumed run that began without a feed has none).
    pub recorded: bool,
    /// The serial of the earlier run this one continued from, and that run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_run: Option<i64>,
    /// Changelog events read, in how many answers.
    pub events: u64,
    pub calls: u32,
    /// Projects of this crawl the changelog named (their pages are read).
    pub changed: u64,
    /// Projects crawled now whose pages were not read: the feed said they had not changed,
    /// and their stored listings stood.
    pub pages_spared: u64,
    /// Why every page was read (absent when the feed was used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether the change feed was used.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FeedState {
    /// Only the pages of projects the changelog named (or the store lacked) were read.
    Used,
    /// The feed did not answer, or not as a feed does (`reason`): every page was read.
    Unavailable,
    /// The feed answered, but could not be used this time (`reason`: no earlier run to
    /// continue from, `--refresh`): every page was read, and the serial was recorded.
    NotUsed,
    /// Not asked (`--no-feed`, `--offline`): every page was read.
    #[default]
    Off,
}

impl FeedSummary {
    /// The summary's line about the feed (without its label).
    fn line(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("no reason given");
        match self.state {
            FeedState::Used => format!(
                "used: {} project(s) changed since serial {} (run {}), {} page(s) not read; \
                 {} event(s) in {} answer(s), serial {} recorded",
                self.changed,
                self.since.unwrap_or_default(),
                self.since_run.unwrap_or_default(),
                self.pages_spared,
                self.events,
                self.calls,
                self.serial.unwrap_or_default()
            ),
            FeedState::Unavailable => format!("unavailable ({reason}), read every page"),
            FeedState::NotUsed => {
                let recorded = match (self.recorded, self.serial) {
                    (true, Some(serial)) => format!("; serial {serial} recorded for the next run"),
                    _ => String::new(),
                };
                format!("not used ({reason}), read every page{recorded}")
            }
            FeedState::Off => format!("off ({reason}), read every page"),
        }
    }
}

/// A project that failed, with why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedProject {
    pub project: String,
    pub rank: u32,
    pub error: String,
}

/// One count of the run's readiness table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReadinessRow {
    pub python: String,
    pub platform: String,
    pub readiness: Readiness,
    pub projects: u64,
}

/// Network use of this invocation.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct NetSummary {
    pub bytes_downloaded: u64,
    pub requests: u64,
    pub seconds: f64,
}

/// The width of a readiness column: 13, or its name and a space.
fn column_width(r: Readiness) -> usize {
    13.max(r.as_str().len() + 1)
}

/// Readiness columns of the text table, in this order.
const COLUMNS: [Readiness; 7] = [
    Readiness::Ready,
    Readiness::GilFallback,
    Readiness::Unknown,
    Readiness::NoWheel,
    Readiness::PythonExcluded,
    Readiness::SourceOnly,
    Readiness::Pure,
];

/// How many failures the text lists before saying how many more there are.
const SHOWN_FAILURES: usize = 20;

impl CrawlSummary {
    /// The summary as pretty JSON with a final newline.
    pub fn json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("the summary serializes");
        out.push('\n');
        out
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let state = if self.finished {
            "finished"
        } else {
            "stopped (run the same command again to resume it)"
        };
        let _ = writeln!(out, "crawl run {} of {}: {state}", self.run, self.list);
        if let Some(s) = &self.shard {
            let _ = writeln!(
                out,
                "shard:    {}/{} of batch {}: {} of the list's {} projects",
                s.index, s.count, s.batch, s.kept, s.listed
            );
        }
        let p = &self.projects;
        let before = if self.resumed {
            format!(", {} done before this resumed it", p.done_before)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "projects: {} {}, {} crawled now{before}, {} failed",
            self.planned,
            if self.shard.is_some() {
                "in the shard"
            } else {
                "on the list"
            },
            p.crawled,
            p.failed
        );
        let _ = writeln!(
            out,
            "changes:  {} file list(s) changed, {} unchanged; {} wheel(s) analyzed, {} answered \
             from the store; metadata of {} release(s) read",
            p.changed,
            p.unchanged,
            self.wheels.analyzed,
            self.wheels.from_store,
            self.metadata_read
        );
        let _ = writeln!(out, "feed:     {}", self.feed.line());
        let f = &self.first_ready;
        if f.searched > 0 {
            let _ = writeln!(
                out,
                "history:  first ready release searched for {} target(s), found for {}",
                f.searched, f.found
            );
        }
        let s = &self.stats;
        let _ = writeln!(
            out,
            "network:  {} request(s), {} in {:.1} s",
            s.requests,
            human_bytes(s.bytes_downloaded),
            s.seconds
        );
        if !self.readiness.is_empty() {
            out.push('\n');
            out.push_str(&self.table());
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nfailed now ({}):", self.failures.len());
            for f in self.failures.iter().take(SHOWN_FAILURES) {
                let _ = writeln!(out, "  #{} {}: {}", f.rank, f.project, f.error);
            }
            if self.failures.len() > SHOWN_FAILURES {
                let more = self.failures.len() - SHOWN_FAILURES;
                let _ = writeln!(out, "  … and {more} more (--format json lists them all)");
            }
        }
        out
    }

    /// Projects per readiness of their latest release, a row per interpreter and platform.
    fn table(&self) -> String {
        let mut rows: Vec<(&str, &str)> = self
            .readiness
            .iter()
            .map(|r| (r.python.as_str(), r.platform.as_str()))
            .collect();
        rows.sort_by_key(|&(py, pl)| (py, platform_rank(pl), pl));
        rows.dedup();
        let mut out = String::from("projects by the readiness of their latest release\n");
        let _ = write!(out, "{:<7}{:<18}", "python", "platform");
        for c in COLUMNS {
            let _ = write!(out, "{:>w$}", c.as_str(), w = column_width(c));
        }
        out.push('\n');
        for (python, platform) in rows {
            let _ = write!(out, "{python:<7}{platform:<18}");
            for c in COLUMNS {
                let n = self
                    .readiness
                    .iter()
                    .find(|r| r.python == python && r.platform == platform && r.readiness == c)
                    .map_or(0, |r| r.projects);
                let w = column_width(c);
                if n == 0 {
                    let _ = write!(out, "{:>w$}", ".");
                } else {
                    let _ = write!(out, "{n:>w$}");
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Platforms in the order `--platform` lists them, `any` last, unknown names after that.
fn platform_rank(name: &str) -> usize {
    Platform::ALL
        .iter()
        .position(|p| p.name() == name)
        .unwrap_or(if name == ANY_PLATFORM {
            Platform::ALL.len()
        } else {
            Platform::ALL.len() + 1
        })
}

/// `1234567` → `1.2 MB` (powers of 1000, as network figures usually are).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(python: &str, platform: &str, readiness: Readiness, projects: u64) -> ReadinessRow {
        ReadinessRow {
            python: python.into(),
            platform: platform.into(),
            readiness,
            projects,
        }
    }

    fn sample() -> CrawlSummary {
        CrawlSummary {
            schema: 1,
            run: 3,
            list: "top-pypi-packages[:100]".into(),
            shard: None,
            planned: 100,
            finished: true,
            resumed: true,
            projects: ProjectCounts {
                done_before: 40,
                crawled: 60,
                failed: 2,
                changed: 7,
                unchanged: 51,
            },
            wheels: WheelCounts {
                analyzed: 12,
                from_store: 230,
            },
            metadata_read: 7,
            first_ready: FirstReadyCounts {
                searched: 5,
                found: 4,
            },
            feed: FeedSummary {
                state: FeedState::Used,
                url: Some("https://pypi.org/pypi".into()),
                serial: Some(41_760_000),
                recorded: true,
                since: Some(41_753_165),
                since_run: Some(2),
                events: 5_120,
                calls: 1,
                changed: 3,
                pages_spared: 57,
                reason: None,
            },
            failures: vec![
                FailedProject {
                    project: "gone-project".into(),
                    rank: 17,
                    error: "no project named \"gone-project\" on the package index".into(),
                },
                FailedProject {
                    project: "broken".into(),
                    rank: 58,
                    error: "broken-1.0-cp314-cp314t-win_amd64.whl: unreadable wheel: bad zip"
                        .into(),
                },
            ],
            readiness: vec![
                row("3.14t", "any", Readiness::Pure, 55),
                row("3.14t", "any", Readiness::SourceOnly, 2),
                row("3.14t", "windows-amd64", Readiness::Ready, 20),
                row("3.14t", "linux-x86_64", Readiness::Ready, 25),
                row("3.14t", "linux-x86_64", Readiness::GilFallback, 9),
                row("3.14t", "linux-x86_64", Readiness::NoWheel, 6),
                row("3.13t", "linux-x86_64", Readiness::Ready, 18),
                row("3.13t", "linux-x86_64", Readiness::NoWheel, 22),
            ],
            warnings: vec![],
            stats: NetSummary {
                bytes_downloaded: 48_123_456,
                requests: 131,
                seconds: 42.25,
            },
        }
    }

    #[test]
    fn text_summary() {
        insta::assert_snapshot!(sample().text());
    }

    #[test]
    fn text_summary_of_a_stopped_fresh_run() {
        let summary = CrawlSummary {
            finished: false,
            resumed: false,
            readiness: vec![],
            failures: vec![],
            ..sample()
        };
        insta::assert_snapshot!(summary.text());
    }

    #[test]
    fn json_summary() {
        insta::assert_snapshot!(sample().json());
    }

    #[test]
    fn summaries_of_a_shard_say_which_and_how_many_it_kept() {
        let summary = CrawlSummary {
            shard: Some(ShardSummary {
                index: 1,
                count: 4,
                batch: "2026-12-03".into(),
                kept: 26,
                listed: 100,
            }),
            planned: 26,
            readiness: vec![],
            failures: vec![],
            ..sample()
        };
        insta::assert_snapshot!(summary.text());
        let doc: serde_json::Value = serde_json::from_str(&summary.json()).unwrap();
        insta::assert_json_snapshot!(doc["shard"]);
        let whole: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        assert!(whole.get("shard").is_none(), "no shard: no key");
    }

    #[test]
    fn the_feed_line_says_why_every_page_was_read() {
        let line = |feed: FeedSummary| {
            let summary = CrawlSummary { feed, ..sample() };
            let text = summary.text();
            text.lines()
                .find(|l| l.starts_with("feed:"))
                .unwrap()
                .to_string()
        };
        assert_eq!(
            line(sample().feed),
            "feed:     used: 3 project(s) changed since serial 41753165 (run 2), 57 page(s) not \
             read; 5120 event(s) in 1 answer(s), serial 41760000 recorded"
        );
        let url = "http://mirror.example/pypi";
        assert_eq!(
            line(FeedSummary {
                state: FeedState::Unavailable,
                url: Some(url.into()),
                reason: Some(format!("HTTP 404 at {url}")),
                ..FeedSummary::default()
            }),
            "feed:     unavailable (HTTP 404 at http://mirror.example/pypi), read every page"
        );
        assert_eq!(
            line(FeedSummary {
                state: FeedState::NotUsed,
                serial: Some(7),
                recorded: true,
                reason: Some(
                    "no earlier finished run of this list recorded the index's serial".into()
                ),
                ..FeedSummary::default()
            }),
            "feed:     not used (no earlier finished run of this list recorded the index's \
             serial), read every page; serial 7 recorded for the next run"
        );
        assert_eq!(
            line(FeedSummary {
                reason: Some("--no-feed".into()),
                ..FeedSummary::default()
            }),
            "feed:     off (--no-feed), read every page"
        );
        let doc: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        insta::assert_json_snapshot!(doc["feed"]);
    }

    #[test]
    fn many_failures_are_cut_in_text_only() {
        let failures: Vec<FailedProject> = (1..=25)
            .map(|i| FailedProject {
                project: format!("p{i}"),
                rank: i,
                error: "HTTP 500".into(),
            })
            .collect();
        let summary = CrawlSummary {
            failures,
            ..sample()
        };
        let text = summary.text();
        assert!(
            text.contains("#20 p20") && !text.contains("#21 p21"),
            "{text}"
        );
        assert!(text.contains("and 5 more"), "{text}");
        assert_eq!(summary.json().matches("HTTP 500").count(), 25);
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(48_123_456), "48.1 MB");
        assert_eq!(human_bytes(3_400_000_000), "3.4 GB");
    }
}
