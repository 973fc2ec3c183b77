//! Which projects of a list one machine crawls: `--shard K/N` keeps the projects whose
//! normalized name hashes to shard `K` of `N` (`K` counts from 0, as Kubernetes'
//! `JOB_COMPLETION_INDEX` does). The hash is the first 8 bytes of the SHA-256 of the PEP 503
//! normalized name, read big-endian, modulo `N`: the same on every platform, Rust version
//! and gilfree build, so a project stays in its shard from one night to the next and every
//! project of a list is in exactly one shard.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::index::normalize_name;

/// Shard `index` of `count` (`index < count`, `count >= 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard {0:?}: expected K/N, e.g. 0/4 (K counts from 0)")]
    Syntax(String),
    #[error("--shard {0:?}: N must be at least 1")]
    NoShards(String),
    #[error("--shard {value:?}: K must be below N (0 to {last})", last = .count - 1)]
    OutOfRange { value: String, count: u32 },
}

impl Shard {
    /// Shard `index` of `count`, if `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// `K`, from 0.
    pub fn index(self) -> u32 {
        self.index
    }

    /// `N`.
    pub fn count(self) -> u32 {
        self.count
    }

    /// The shard of `count` that the project named `name` (normalized here) belongs to.
    pub fn of(name: &str, count: u32) -> u32 {
        let name = normalize_name(name).unwrap_or_else(|| name.to_string());
        let digest = Sha256::digest(name.as_bytes());
        let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        (head % u64::from(count.max(1))) as u32
    }

    /// Whether this shard crawls the project named `name`.
    pub fn keeps(self, name: &str) -> bool {
        Shard::of(name, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let number = |t: &str| {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            t.parse::<u32>().map_err(|_| syntax())
        };
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 {
            return Err(ShardError::NoShards(s.to_string()));
        }
        Shard::new(index, count).ok_or(ShardError::OutOfRange {
            value: s.to_string(),
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_fixed_by_the_name_alone() {
        // These must never change: a change moves projects between shards (and between
        // the shard stores of a running deployment).
        let got: Vec<(&str, u32)> = ["boto3", "numpy", "requests", "lxml", "torch"]
            .into_iter()
            .map(|n| (n, Shard::of(n, 4)))
            .collect();
        insta::assert_debug_snapshot!(got);
        let head = u64::from_be_bytes(
            Sha256::digest(b"numpy")[..8]
                .try_into()
                .expect("8 bytes of a digest"),
        );
        assert_eq!(Shard::of("numpy", 7), (head % 7) as u32);
        assert_eq!(Shard::of("NumPy", 7), Shard::of("numpy", 7));
        assert_eq!(Shard::of("Foo_Bar.baz", 9), Shard::of("foo-bar-baz", 9));
        assert_eq!(Shard::of("anything", 1), 0);
    }

    #[test]
    fn every_project_is_in_exactly_one_shard() {
        let names: Vec<String> = (0..500).map(|i| format!("project-{i}")).collect();
        for count in [1, 2, 3, 4, 16] {
            let shards: Vec<Shard> = (0..count).map(|k| Shard::new(k, count).unwrap()).collect();
            let mut sizes = vec![0; count as usize];
            for n in &names {
                let keeping: Vec<u32> = shards
                    .iter()
                    .filter(|s| s.keeps(n))
                    .map(|s| s.index())
                    .collect();
                assert_eq!(keeping.len(), 1, "{n} in {keeping:?} of {count}");
                sizes[keeping[0] as usize] += 1;
            }
            // Roughly even: no shard of 500 names gets less than half its share.
            let share = 500 / count as usize;
            assert!(sizes.iter().all(|&s| s * 2 >= share), "{count}: {sizes:?}");
        }
    }

    #[test]
    fn values_parse_and_bad_ones_are_named() {
        assert_eq!("0/4".parse(), Ok(Shard::new(0, 4).unwrap()));
        assert_eq!("3/4".parse::<Shard>().unwrap().to_string(), "3/4");
        assert_eq!("0/1".parse::<Shard>().unwrap().count(), 1);
        let errors: Vec<String> = ["4/4", "1/0", "4", "-1/4", "a/4", "1/", "/4", "1/4/2", ""]
            .into_iter()
            .map(|v| v.parse::<Shard>().unwrap_err().to_string())
            .collect();
        insta::assert_debug_snapshot!(errors);
    }
}
