//! Since when a target is ready: for one (interpreter, main platform) whose latest release
//! keeps the GIL off, the first release of the unbroken run of ready releases that ends at
//! the latest, found by bisection.
//!
//! Only releases whose installer pick for the target is a free-threaded wheel need reading;
//! every other release is settled by its file names (only a pure wheel: ready; no wheel for
//! the target, only an sdist: not ready). The search assumes that once a release is ready
//! the later ones are too, and reads O(log n) of the n unsettled releases. What it saw
//! against that assumption is kept: an older release that was ready before a not-ready one
//! ([`Found::earlier_ready`]), and an undecided release where the search had to stop short
//! ([`Basis::Undecided`], the store's `FirstReadyBasis`).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use pep440_rs::Version;

use crate::index::select::{self, Pick, Release};
use crate::inspect::ANALYZER_VERSION;
use crate::scan::{ListedScan, ListedWheel, Readiness};
use crate::store::{FirstReady, FirstReadyBasis as Basis};
use crate::wheel::{Platform, PythonTarget, WheelFilename};

/// Rounds of reading after which a search gives up (2^20 releases: never in practice; a
/// bound against a search that would not end).
const MAX_ROUNDS: usize = 20;

/// What is known of one release for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its wheel has not been read yet (the file name of the wheel to read).
    Unread(String),
    /// It keeps the GIL off with native code.
    Ready,
    /// It keeps the GIL off with no native code (a pure wheel): ready for the search's
    /// bounds, but not evidence that native readiness came and went.
    Pure,
    /// Its wheel turns the GIL on.
    NotReady,
    /// It has no free-threaded wheel for the target (no wheel for it, only an sdist, a
    /// `requires-python` that excludes it): settled by its file names.
    NoWheel,
    /// Its wheel was read and the verdict is unknown.
    Undecided,
}

impl State {
    /// The state a readiness judged for the release gives.
    pub fn of(readiness: Readiness) -> State {
        match readiness {
            Readiness::Ready => State::Ready,
            Readiness::Pure => State::Pure,
            Readiness::Unknown => State::Undecided,
            Readiness::GilFallback => State::NotReady,
            Readiness::NoWheel | Readiness::SourceOnly | Readiness::PythonExcluded => {
                State::NoWheel
            }
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The first release of the ready run that ends at the latest.
    pub version: String,
    pub basis: Basis,
    /// The first release of an older run of ready releases, before a not-ready one:
    /// readiness went back and forth, and `version` is where it last became ready.
    pub earlier_ready: Option<String>,
    /// Wheels read for the search.
    pub read: u32,
}

/// One target's search over a project's releases, oldest first, ending at the latest.
#[derive(Debug, Clone)]
pub struct Search {
    pub python: PythonTarget,
    pub platform: Platform,
    versions: Vec<String>,
    states: Vec<State>,
    read: u32,
}

/// What the search needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read this release's wheel for the target (index into the search, file name).
    Read {
        at: usize,
        version: String,
        wheel: String,
    },
    /// Done.
    Found(Found),
    /// The latest release is not ready: there is nothing to find.
    NotReady,
}

impl Search {
    /// A search over `releases` (oldest first, the last is the latest) with their states.
    pub fn new(python: PythonTarget, platform: Platform, releases: Vec<(String, State)>) -> Search {
        let (versions, states) = releases.into_iter().unzip();
        Search {
            python,
            platform,
            versions,
            states,
            read: 0,
        }
    }

    /// The search of `python` on `platform` over the page's releases up to `latest`:
    /// final, unyanked releases (pre-releases too when the latest is one), each settled by
    /// its file names or left to read, and `judged` (version → readiness) for those already
    /// judged in this run.
    pub fn over_releases(
        all: &BTreeMap<Version, Release>,
        latest: &str,
        python: PythonTarget,
        platform: Platform,
        judged: &dyn Fn(&str) -> Option<Readiness>,
    ) -> Search {
        let latest_version = Version::from_str(latest).ok();
        let pre_ok = latest_version.as_ref().is_some_and(Version::any_prerelease);
        let releases = all
            .iter()
            .filter(|(v, _)| latest_version.as_ref().is_some_and(|l| *v <= l))
            .filter(|(v, r)| {
                r.version == latest || (!r.yanked() && (pre_ok || !v.any_prerelease()))
            })
            .map(|(_, r)| {
                let state = match judged(&r.version) {
                    Some(readiness) => State::of(readiness),
                    None => match select::pick(r, python, Some(platform), false) {
                        Pick::Wheel(wheel, _) => State::Unread(wheel.to_string()),
                        Pick::Pure(..) => State::Pure,
                        Pick::NoWheel(_)
                        | Pick::SourceOnly
                        | Pick::PythonExcluded(_)
                        | Pick::Nothing => State::NoWheel,
                    },
                };
                (r.version.clone(), state)
            })
            .collect();
        Search::new(python, platform, releases)
    }

    /// Records what reading the release at `at` gave.
    pub fn judge(&mut self, at: usize, readiness: Readiness) {
        if let Some(s) = self.states.get_mut(at) {
            *s = State::of(readiness);
            self.read += 1;
        }
    }

    /// The next release to read, or the answer.
    pub fn step(&self) -> Step {
        let Some(last) = self.states.len().checked_sub(1) else {
            return Step::NotReady;
        };
        if self.states[last] != State::Ready {
            return Step::NotReady;
        }
        let (hi, lo, newest_undecided) = match self.run_start(last) {
            Ok(found) => found,
            Err(at) => return self.read_at(at),
        };
        let basis = match (newest_undecided, lo) {
            (Some(u), _) if u + 1 == hi => Basis::Undecided(self.versions[u].clone()),
            (_, Some(l)) if l + 1 == hi => Basis::AfterNotReady(self.versions[l].clone()),
            (_, None) if hi == 0 => Basis::OldestRelease,
            // Only reachable when the releases between are undecided.
            _ => Basis::Undecided(self.versions[hi - 1].clone()),
        };
        // A release without a free-threaded wheel between ready ones (an upload that
        // missed it) is how readiness usually comes and goes: below such a gap, the newest
        // release that had a wheel tells whether an older run of ready releases exists.
        // Read it, and if it was ready, find where that run began. (Below a release whose
        // module turns the GIL on, older releases are taken to be not ready unless an
        // earlier run judged one ready.)
        let mut earlier_ready = None;
        if let Some(l) = lo
            && let Some(p) = self.states[..l]
                .iter()
                .rposition(|s| !matches!(s, State::NoWheel | State::Pure))
        {
            match &self.states[p] {
                State::Unread(_) if self.states[l] == State::NoWheel => return self.read_at(p),
                State::Ready => match self.run_start(p) {
                    Ok((first, _, _)) => earlier_ready = Some(self.versions[first].clone()),
                    Err(at) => return self.read_at(at),
                },
                _ => {}
            }
        }
        Step::Found(Found {
            version: self.versions[hi].clone(),
            basis,
            earlier_ready,
            read: self.read,
        })
    }

    /// Where the run of ready releases that ends at `end` (ready) begins: `Ok((first,
    /// newest not-ready release below, newest undecided release between))`, or `Err(at)`:
    /// read the release at `at` first.
    fn run_start(&self, end: usize) -> Result<(usize, Option<usize>, Option<usize>), usize> {
        let lo = self.states[..end]
            .iter()
            .rposition(|s| matches!(s, State::NotReady | State::NoWheel));
        let start = lo.map_or(0, |l| l + 1);
        // The oldest known-ready release above it; every release between is unread or
        // undecided.
        let hi = (start..=end)
            .find(|&i| matches!(self.states[i], State::Ready | State::Pure))
            .unwrap_or(end);
        // Undecided releases just below `hi` cannot be passed by bisection: read the
        // unread ones above the newest undecided one first.
        let newest_undecided = (start..hi)
            .rev()
            .find(|&i| self.states[i] == State::Undecided);
        let open: Vec<usize> = (newest_undecided.map_or(start, |u| u + 1)..hi)
            .filter(|&i| matches!(self.states[i], State::Unread(_)))
            .collect();
        match open.get(open.len() / 2) {
            Some(&at) => Err(at),
            None => Ok((hi, lo, newest_undecided)),
        }
    }

    /// The step that reads the release at `at` (unread).
    fn read_at(&self, at: usize) -> Step {
        let wheel = match &self.states[at] {
            State::Unread(wheel) => wheel.clone(),
            _ => String::new(),
        };
        Step::Read {
            at,
            version: self.versions[at].clone(),
            wheel,
        }
    }
}

/// What the searches of one project gave.
#[derive(Debug, Default)]
pub struct Searched {
    /// Every release read: (version, interpreter, platform, readiness).
    pub judged: Vec<(String, PythonTarget, Platform, Readiness)>,
    /// The answers found now.
    pub found: Vec<FirstReady>,
    /// Targets whose latest release is not ready: a stored answer no longer holds.
    pub gone: Vec<(String, String)>,
    /// Targets searched now.
    pub searched: u64,
    /// Wheels read over the network, and answered from the store.
    pub analyzed: u64,
    pub from_store: u64,
}

/// Searches the first ready release of each `(python, platform)` target whose latest
/// release is ready (`judged` gives what this run already judged: version, python,
/// platform → readiness) and whose answer is not in `stored`, all targets in lockstep:
/// each round reads, through `read`, one wheel per open search, side by side.
pub fn search_project(
    all: &BTreeMap<Version, Release>,
    latest: &str,
    targets: &[(PythonTarget, Platform)],
    judged: &dyn Fn(&str, PythonTarget, Platform) -> Option<Readiness>,
    stored: &[FirstReady],
    read: &mut dyn FnMut(&[ListedWheel]) -> Vec<ListedScan>,
) -> Searched {
    let mut out = Searched::default();
    let mut searches = Vec::new();
    for &(python, platform) in targets {
        match judged(latest, python, platform) {
            Some(Readiness::Ready) => {}
            Some(_) => {
                out.gone.push((python.to_string(), platform.to_string()));
                continue;
            }
            None => continue,
        }
        let known = stored
            .iter()
            .any(|f| f.python == python.to_string() && f.platform == platform.to_string());
        if !known {
            let judged = |v: &str| judged(v, python, platform);
            searches.push(Search::over_releases(
                all, latest, python, platform, &judged,
            ));
        }
    }
    out.searched = searches.len() as u64;
    let files: HashMap<String, (WheelFilename, crate::index::DistFile)> = all
        .values()
        .flat_map(|r| r.wheels.iter())
        .map(|(w, f)| (f.filename.clone(), (w.clone(), f.clone())))
        .collect();
    for _ in 0..MAX_ROUNDS {
        // (search, release index, version) per wheel to read; one listed wheel per file
        // with every target it is read for.
        let mut asks: Vec<(usize, usize, String, String)> = Vec::new();
        let mut wheels: Vec<ListedWheel> = Vec::new();
        for (k, s) in searches.iter().enumerate() {
            let Step::Read { at, version, wheel } = s.step() else {
                continue;
            };
            let Some((name, file)) = files.get(&wheel) else {
                continue;
            };
            match wheels.iter_mut().find(|w| w.file.filename == wheel) {
                Some(w) => {
                    if !w.pythons.contains(&s.python) {
                        w.pythons.push(s.python);
                    }
                    if !w.platforms.contains(&s.platform) {
                        w.platforms.push(s.platform);
                    }
                }
                None => wheels.push(ListedWheel {
                    wheel: name.clone(),
                    file: file.clone(),
                    pythons: vec![s.python],
                    platforms: vec![s.platform],
                }),
            }
            asks.push((k, at, version, wheel));
        }
        if asks.is_empty() {
            break;
        }
        let mut reports: HashMap<(String, String, String), Readiness> = HashMap::new();
        for scan in read(&wheels) {
            if scan.from_store {
                out.from_store += 1;
            } else {
                out.analyzed += 1;
            }
            for r in scan.reports {
                let readiness = match r.error {
                    Some(_) => Readiness::Unknown,
                    None => r.readiness,
                };
                if let Some(platform) = r.platform {
                    reports.insert((r.filename, r.python, platform), readiness);
                }
            }
        }
        for (k, at, version, wheel) in asks {
            let s = &mut searches[k];
            let key = (wheel, s.python.to_string(), s.platform.to_string());
            let readiness = reports.get(&key).copied().unwrap_or(Readiness::Unknown);
            s.judge(at, readiness);
            out.judged.push((version, s.python, s.platform, readiness));
        }
    }
    for s in &searches {
        if let Step::Found(f) = s.step() {
            out.found.push(FirstReady {
                python: s.python.to_string(),
                platform: s.platform.to_string(),
                version: f.version,
                basis: f.basis,
                earlier_ready: f.earlier_ready,
                wheels_read: f.read,
                analyzer_version: ANALYZER_VERSION.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search over states given as letters: `r` ready, `p` pure, `n` turns the GIL on,
    /// `w` no free-threaded wheel, `u` undecided, `?` unread; versions are `1`, `2`, …
    fn search(states: &str) -> Search {
        let releases = states
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let v = (i + 1).to_string();
                let s = match c {
                    'r' => State::Ready,
                    'p' => State::Pure,
                    'n' => State::NotReady,
                    'w' => State::NoWheel,
                    'u' => State::Undecided,
                    _ => State::Unread(format!("demo-{v}.whl")),
                };
                (v, s)
            })
            .collect();
        Search::new(PythonTarget::Py314t, Platform::LinuxX86_64, releases)
    }

    /// Runs a search to its end against the hidden truth (same letters, no `?`); the answer
    /// and the releases read, in order.
    fn run(states: &str, truth: &str) -> (Step, Vec<usize>) {
        let mut s = search(states);
        let truth: Vec<char> = truth.chars().collect();
        let mut reads = Vec::new();
        loop {
            match s.step() {
                Step::Read { at, .. } => {
                    assert!(!reads.contains(&at), "read {at} twice");
                    reads.push(at);
                    let r = match truth[at] {
                        'r' => Readiness::Ready,
                        'n' => Readiness::GilFallback,
                        _ => Readiness::Unknown,
                    };
                    s.judge(at, r);
                }
                done => return (done, reads),
            }
        }
    }

    fn found(version: &str, basis: Basis, earlier: Option<&str>, read: u32) -> Step {
        Step::Found(Found {
            version: version.into(),
            basis,
            earlier_ready: earlier.map(String::from),
            read,
        })
    }

    #[test]
    fn a_latest_that_is_not_ready_has_no_first_ready_release() {
        assert_eq!(run("??n", "rrn").0, Step::NotReady);
        assert_eq!(run("", "").0, Step::NotReady);
    }

    #[test]
    fn bisection_reads_few_releases_and_proves_the_answer() {
        // Sixteen releases with a free-threaded wheel, ready since the 11th.
        let truth = "nnnnnnnnnnrrrrrr";
        let (step, reads) = run("???????????????r", truth);
        assert_eq!(
            step,
            found(
                "11",
                Basis::AfterNotReady("10".into()),
                None,
                reads.len() as u32
            )
        );
        assert!(reads.len() <= 4, "{reads:?}");
    }

    #[test]
    fn releases_settled_by_file_names_need_no_reading() {
        // No free-threaded wheel before the 4th: the first with one is proven first.
        let (step, reads) = run("www???r", "wwwrrrr");
        assert_eq!(step, found("4", Basis::AfterNotReady("3".into()), None, 2));
        assert_eq!(reads.len(), 2);
        // Ready since the oldest release considered.
        assert_eq!(
            run("??r", "rrr").0,
            found("1", Basis::OldestRelease, None, 2)
        );
    }

    #[test]
    fn an_undecided_release_stops_the_search_short_and_says_so() {
        let (step, _) = run("?????r", "nnnurr");
        assert_eq!(step, found("5", Basis::Undecided("4".into()), None, 3));
    }

    #[test]
    fn readiness_that_went_back_and_forth_is_reported() {
        // A release without a free-threaded wheel between ready ones: the older run of
        // ready releases is found too, and where it began.
        let (step, reads) = run("???w??r", "rrrwrrr");
        assert_eq!(
            step,
            found("5", Basis::AfterNotReady("4".into()), Some("1"), 5)
        );
        assert_eq!(reads.len(), 5);
        // Below the gap the newest release with a wheel was not ready: nothing older.
        let (step, reads) = run("???w??r", "nnnwrrr");
        assert_eq!(step, found("5", Basis::AfterNotReady("4".into()), None, 3));
        assert_eq!(reads, [5, 4, 2]);
        // What earlier runs judged counts without reading.
        let (step, reads) = run("rr?wr?r", "rrrwrrr");
        assert_eq!(
            step,
            found("5", Basis::AfterNotReady("4".into()), Some("1"), 1)
        );
        assert_eq!(reads, [2]);
        // Below a release that turns the GIL on, nothing is read.
        let (step, reads) = run("rrnn??r", "rrnnnrr");
        assert_eq!(step, found("6", Basis::AfterNotReady("5".into()), None, 2));
        assert_eq!(reads.len(), 2);
        // Pure placeholder releases are not an older run; a pure release bounds the
        // search as a ready one.
        let (step, _) = run("ppww??r", "ppwwnrr");
        assert_eq!(step, found("6", Basis::AfterNotReady("5".into()), None, 2));
        assert_eq!(
            run("nnp?r", "nnprr").0,
            found("3", Basis::AfterNotReady("2".into()), None, 0)
        );
    }

    #[test]
    fn bisection_finds_the_boundary_of_every_monotone_history() {
        for n in 1..=12usize {
            for first in 0..n {
                let truth: String = (0..n).map(|i| if i < first { 'n' } else { 'r' }).collect();
                let start: String = (0..n).map(|i| if i + 1 == n { 'r' } else { '?' }).collect();
                let (step, reads) = run(&start, &truth);
                let Step::Found(f) = step else {
                    panic!("{truth}: {step:?}")
                };
                assert_eq!(f.version, (first + 1).to_string(), "{truth}");
                let bound = (usize::BITS - n.leading_zeros()) as usize;
                assert!(reads.len() <= bound, "{truth}: {reads:?}");
            }
        }
    }
}
