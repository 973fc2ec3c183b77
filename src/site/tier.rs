//! Readiness per platform tier: a project's headline readiness for an interpreter is judged
//! over the main platforms people deploy on (linux-x86_64, linux-aarch64, macos-arm64,
//! windows-amd64, and `any` for releases without native wheels); the other platforms are
//! reported beside it ("also: unknown on linux-armv7l"), never folded into it. The pages,
//! the JSON and the badges all use this one rule.

use crate::scan::Readiness;

/// The platforms the headline is judged over, in the order pages list them: the names of
/// [`crate::wheel::Platform::MAIN`].
pub const MAIN_PLATFORMS: [&str; 4] = [
    "linux-x86_64",
    "linux-aarch64",
    "macos-arm64",
    "windows-amd64",
];

/// The platform name the crawl files releases without native wheels under.
pub const ANY: &str = "any";

/// Whether the headline is judged over this platform.
pub fn is_main(platform: &str) -> bool {
    platform == ANY || MAIN_PLATFORMS.contains(&platform)
}

/// The readiness of one interpreter over a set of platforms: a module that turns the GIL
/// on anywhere decides it, then an undecided one; else ready where any platform is ready
/// (the others then lack a wheel, or fall back to a pure one), then pure, then what is
/// missing.
pub fn summarize(cells: impl IntoIterator<Item = Readiness>) -> Option<Readiness> {
    const PRIORITY: [Readiness; 7] = [
        Readiness::GilFallback,
        Readiness::Unknown,
        Readiness::Ready,
        Readiness::Pure,
        Readiness::NoWheel,
        Readiness::SourceOnly,
        Readiness::PythonExcluded,
    ];
    let seen: Vec<Readiness> = cells.into_iter().collect();
    PRIORITY.into_iter().find(|p| seen.contains(p))
}

/// The headline readiness over `(platform, readiness)` cells: [`summarize`] over the main
/// platforms; a release with cells on other platforms only is judged over those (so that
/// it is not shown as uncrawled).
pub fn headline<'a>(
    cells: impl IntoIterator<Item = (&'a str, Readiness)> + Clone,
) -> Option<Readiness> {
    summarize(
        cells
            .clone()
            .into_iter()
            .filter(|(p, _)| is_main(p))
            .map(|(_, r)| r),
    )
    .or_else(|| summarize(cells.into_iter().map(|(_, r)| r)))
}

/// The platforms whose readiness differs from the headline, grouped by readiness (in the
/// order of `order`), platforms in the order given.
pub fn also<'a>(
    cells: impl IntoIterator<Item = (&'a str, Readiness)>,
    headline: Option<Readiness>,
    order: &[Readiness],
) -> Vec<(Readiness, Vec<String>)> {
    let mut groups: Vec<(Readiness, Vec<String>)> = Vec::new();
    for (platform, r) in cells {
        if Some(r) == headline || platform == ANY {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == r) {
            Some((_, list)) => list.push(platform.to_string()),
            None => groups.push((r, vec![platform.to_string()])),
        }
    }
    groups.sort_by_key(|(r, _)| order.iter().position(|o| o == r).unwrap_or(order.len()));
    groups
}

/// A set of platforms in few words, relative to the `all` platforms it is drawn from:
/// "all 14", "windows only", "all but linux-armv7l", or the names.
pub fn platform_set(set: &[String], all: &[String]) -> String {
    let inside: Vec<&String> = all.iter().filter(|p| set.contains(p)).collect();
    let extra: Vec<&String> = set.iter().filter(|p| !all.contains(p)).collect();
    if extra.is_empty() && !all.is_empty() && inside.len() == all.len() {
        return if all.len() == 1 {
            all[0].clone()
        } else {
            format!("all {}", all.len())
        };
    }
    for family in ["linux", "musllinux", "macos", "windows"] {
        let of_family: Vec<&String> = all
            .iter()
            .filter(|p| p.split('-').next() == Some(family))
            .collect();
        if of_family.len() > 1 && extra.is_empty() && inside == of_family {
            return format!("{family} only");
        }
    }
    let missing: Vec<&str> = all
        .iter()
        .filter(|p| !set.contains(p))
        .map(String::as_str)
        .collect();
    if extra.is_empty() && all.len() >= 4 && !missing.is_empty() && missing.len() <= 2 {
        return format!("all but {}", missing.join(", "));
    }
    let mut names: Vec<&str> = inside.iter().map(|p| p.as_str()).collect();
    names.extend(extra.iter().map(|p| p.as_str()));
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Readiness::*;

    #[test]
    fn the_main_platforms_are_the_wheel_crates_main_platforms() {
        let names = crate::wheel::Platform::MAIN.map(|p| p.name());
        assert_eq!(names, MAIN_PLATFORMS);
    }

    #[test]
    fn a_blocking_platform_decides_the_summary() {
        assert_eq!(summarize([Ready, GilFallback, NoWheel]), Some(GilFallback));
        assert_eq!(summarize([Ready, NoWheel]), Some(Ready));
        assert_eq!(summarize([NoWheel, SourceOnly]), Some(NoWheel));
        assert_eq!(summarize([]), None);
    }

    #[test]
    fn the_headline_ignores_other_platforms() {
        let cells = [
            ("linux-x86_64", Ready),
            ("macos-arm64", Ready),
            ("linux-armv7l", Unknown),
            ("linux-i686", GilFallback),
        ];
        assert_eq!(headline(cells), Some(Ready));
        assert_eq!(
            also(cells, Some(Ready), &[GilFallback, Unknown]),
            [
                (GilFallback, vec!["linux-i686".to_string()]),
                (Unknown, vec!["linux-armv7l".to_string()])
            ]
        );
        // Only other platforms: judged over those.
        assert_eq!(headline([("linux-armv7l", Unknown)]), Some(Unknown));
        // A main platform that turns the GIL on decides it.
        assert_eq!(
            headline([("windows-amd64", GilFallback), ("linux-x86_64", Ready)]),
            Some(GilFallback)
        );
        assert_eq!(headline([("any", Pure)]), Some(Pure));
    }

    #[test]
    fn platform_sets_are_said_compactly() {
        let all: Vec<String> = [
            "linux-x86_64",
            "linux-aarch64",
            "macos-arm64",
            "windows-amd64",
            "windows-x86",
        ]
        .map(String::from)
        .to_vec();
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(platform_set(&all, &all), "all 5");
        assert_eq!(
            platform_set(&s(&["windows-x86", "windows-amd64"]), &all),
            "windows only"
        );
        assert_eq!(
            platform_set(
                &s(&[
                    "linux-x86_64",
                    "linux-aarch64",
                    "macos-arm64",
                    "windows-amd64"
                ]),
                &all
            ),
            "all but windows-x86"
        );
        assert_eq!(
            platform_set(&s(&["macos-arm64", "linux-x86_64"]), &all),
            "linux-x86_64, macos-arm64"
        );
        assert_eq!(
            platform_set(&s(&["linux-x86_64"]), &s(&["linux-x86_64"])),
            "linux-x86_64"
        );
    }
}
