//! How a file row is kept small (schema version 5): a file name as its release's stem plus an
//! interned ending, a sha256 as 32 bytes, a URL as an interned base plus the 32 bytes of the
//! hash path PyPI's file host puts in it, and an upload time as microseconds. Every encoding
//! is checked by decoding it back: a value that would not come back byte for byte is kept as
//! it was given. The `files` view (`schema.rs`) decodes the same way in SQL; the tests below
//! hold the two to each other.

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction, params};

/// Length of the hash path in a file host URL: `0e/f9/` and 60 hex digits.
const HASH_PATH_LEN: usize = 2 + 1 + 2 + 1 + 60;

/// Splits `filename` into the part up to and including `version` (`numpy-2.1.0`) and the
/// rest (`-cp314-cp314t-manylinux_2_28_x86_64.whl`, `.tar.gz`). A name without the version
/// where expected stays whole (an empty rest); the two parts always make the name again.
pub(crate) fn split_filename<'a>(filename: &'a str, version: &str) -> (&'a str, &'a str) {
    let needle = format!("-{version}");
    for (at, _) in filename.match_indices(&needle) {
        let end = at + needle.len();
        let next = filename[end..].chars().next();
        if at > 0 && matches!(next, Some('-' | '.')) {
            return filename.split_at(end);
        }
    }
    (filename, "")
}

/// A lowercase hex sha256 as its 32 bytes; `None` for anything else.
pub(crate) fn sha256_bytes(hex: &str) -> Option<Vec<u8>> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let out: Option<Vec<u8>> = bytes
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect();
    // Only lowercase comes back as it went in.
    out.filter(|b| sha256_hex(b) == hex)
}

/// The value of one lowercase hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Bytes as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A URL as stored: `base` (interned text), and `key`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredUrl {
    /// With a base the URL is `base`, the hash path `key` holds (if any), `/`, the file name;
    /// without one `key` is the whole URL as text.
    pub base: Option<String>,
    pub key: Value,
}

/// Encodes `url`, the address of `filename`.
pub(crate) fn encode_url(url: &str, filename: &str) -> StoredUrl {
    let whole = StoredUrl {
        base: None,
        key: Value::Text(url.to_string()),
    };
    let Some(dir) = url
        .strip_suffix(filename)
        .and_then(|rest| rest.strip_suffix('/'))
    else {
        return whole;
    };
    let hashed = dir
        .len()
        .checked_sub(HASH_PATH_LEN)
        .filter(|&at| at > 0 && dir.is_char_boundary(at) && dir[..at].ends_with('/'))
        .filter(|&at| dir[at..].is_ascii())
        .and_then(|at| {
            let path = &dir[at..];
            let b = path.as_bytes();
            let hex: String = [&path[0..2], &path[3..5], &path[6..]].concat();
            (b[2] == b'/' && b[5] == b'/')
                .then(|| sha256_bytes(&hex))
                .flatten()
                .map(|bytes| (at, bytes))
        });
    let stored = match hashed {
        Some((at, bytes)) => StoredUrl {
            base: Some(dir[..at].to_string()),
            key: Value::Blob(bytes),
        },
        None => StoredUrl {
            base: Some(dir.to_string()),
            key: Value::Null,
        },
    };
    if decode_url(stored.base.as_deref(), &stored.key, filename).as_deref() == Some(url) {
        stored
    } else {
        whole
    }
}

/// The URL a stored base and key stand for (`None`: a key of a kind no encoding writes).
pub(crate) fn decode_url(base: Option<&str>, key: &Value, filename: &str) -> Option<String> {
    match (base, key) {
        (None, Value::Text(url)) => Some(url.clone()),
        (Some(base), Value::Null) => Some(format!("{base}/{filename}")),
        (Some(base), Value::Blob(bytes)) if bytes.len() == 32 => {
            let h = sha256_hex(bytes);
            Some(format!(
                "{base}{}/{}/{}/{filename}",
                &h[0..2],
                &h[2..4],
                &h[4..]
            ))
        }
        _ => None,
    }
}

/// An upload time as stored: microseconds since 1970 when it is written the way PyPI writes
/// it (`2025-08-19T10:00:00.123456Z`), else the text as given.
pub(crate) fn encode_upload_time(text: &str) -> Value {
    match parse_upload_time(text) {
        Some(micros) if format_upload_time(micros).as_deref() == Some(text) => {
            Value::Integer(micros)
        }
        _ => Value::Text(text.to_string()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (years 1970 to 9999) as microseconds since 1970.
fn parse_upload_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 27 || !text.is_ascii() {
        return None;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    let fits = b.iter().zip(shape).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    if !fits {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second, micro) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micro)
}

/// Microseconds since 1970 as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; `None` before 1970.
pub(crate) fn format_upload_time(micros: i64) -> Option<String> {
    if micros < 0 {
        return None;
    }
    let (secs, micro) = (micros / 1_000_000, micros % 1_000_000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micro:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A file row's columns as the index gave them, before encoding.
pub(crate) struct FileColumns<'a> {
    pub filename: &'a str,
    /// The release's version as the file name spells it.
    pub version: &'a str,
    pub kind: &'a str,
    /// Python, ABI and platform tag sets of a wheel.
    pub tags: [Option<&'a str>; 3],
    pub url: &'a str,
    /// Lowercase hex; anything else is kept as NULL.
    pub sha256: Option<&'a str>,
    pub size: Option<i64>,
    pub upload_time: Option<&'a str>,
    pub yanked: bool,
    pub yanked_reason: Option<&'a str>,
    pub requires_python: Option<&'a str>,
}

/// Where a file's row is: its release, its name's prefix (empty: the release's stem) and
/// the id of its ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileKey {
    pub release_id: i64,
    pub prefix: String,
    pub ending_id: i64,
}

/// Stems and ending ids already looked up in one transaction (a listing, the migration),
/// so that each costs one query however many files share it.
#[derive(Default)]
pub(crate) struct KeyCache {
    stems: HashMap<i64, String>,
    endings: HashMap<[String; 5], i64>,
}

/// The key of `file`'s row in release `release_id`, interning its ending and giving the
/// release its stem if it has none yet.
pub(crate) fn file_key(
    tx: &Transaction,
    cache: &mut KeyCache,
    release_id: i64,
    file: &FileColumns,
) -> rusqlite::Result<FileKey> {
    let (prefix, ending) = split_filename(file.filename, file.version);
    let stem = match cache.stems.get(&release_id) {
        Some(stem) => stem.clone(),
        None => {
            let stored: Option<String> = tx
                .prepare_cached("SELECT stem FROM releases WHERE id = ?1")?
                .query_row([release_id], |r| r.get(0))
                .optional()?
                .flatten();
            let stem = match stored {
                Some(stem) => stem,
                None => {
                    tx.prepare_cached("UPDATE releases SET stem = ?2 WHERE id = ?1")?
                        .execute(params![release_id, prefix])?;
                    prefix.to_string()
                }
            };
            cache.stems.insert(release_id, stem.clone());
            stem
        }
    };
    let [python, abi, platform] = file.tags.map(|t| t.unwrap_or(""));
    let wanted = [ending, file.kind, python, abi, platform].map(str::to_string);
    let ending_id = match cache.endings.get(&wanted) {
        Some(id) => *id,
        None => {
            let id = ending_id(tx, &wanted)?;
            cache.endings.insert(wanted, id);
            id
        }
    };
    Ok(FileKey {
        release_id,
        prefix: if prefix == stem {
            String::new()
        } else {
            prefix.to_string()
        },
        ending_id,
    })
}

/// The id of an ending with its kind and tag sets, added if new.
fn ending_id(tx: &Transaction, ending: &[String; 5]) -> rusqlite::Result<i64> {
    let known: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM file_endings WHERE ending = ?1 AND kind = ?2 AND python_tags = ?3
               AND abi_tags = ?4 AND platform_tags = ?5",
        )?
        .query_row(rusqlite::params_from_iter(ending), |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO file_endings (ending, kind, python_tags, abi_tags, platform_tags)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(rusqlite::params_from_iter(ending))?;
    Ok(tx.last_insert_rowid())
}

/// The id of `text` in `file_texts`, added if new.
fn text_id(tx: &Transaction, text: &str) -> rusqlite::Result<i64> {
    let known: Option<i64> = tx
        .prepare_cached("SELECT id FROM file_texts WHERE text = ?1")?
        .query_row([text], |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO file_texts (text) VALUES (?1)")?
        .execute([text])?;
    Ok(tx.last_insert_rowid())
}

/// Writes `file`'s row at `key` (replacing what was there), first and last seen as given.
pub(crate) fn write_file_row(
    tx: &Transaction,
    key: &FileKey,
    file: &FileColumns,
    first_seen: i64,
    last_seen: i64,
) -> rusqlite::Result<()> {
    let url = encode_url(file.url, file.filename);
    let url_base = url.base.as_deref().map(|b| text_id(tx, b)).transpose()?;
    let requires_python = file
        .requires_python
        .map(|spec| text_id(tx, spec))
        .transpose()?;
    let sha256 = file.sha256.and_then(sha256_bytes);
    let upload_time = file.upload_time.map(encode_upload_time);
    tx.prepare_cached(
        "INSERT INTO file_rows (release_id, prefix, ending_id, url_base, url_key, sha256, size,
             upload_time, yanked, yanked_reason, requires_python, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (release_id, prefix, ending_id) DO UPDATE SET
             url_base = excluded.url_base, url_key = excluded.url_key,
             sha256 = excluded.sha256, size = excluded.size, upload_time = excluded.upload_time,
             yanked = excluded.yanked, yanked_reason = excluded.yanked_reason,
             requires_python = excluded.requires_python, first_seen = excluded.first_seen,
             last_seen = excluded.last_seen",
    )?
    .execute(params![
        key.release_id,
        key.prefix,
        key.ending_id,
        url_base,
        url.key,
        sha256,
        file.size,
        upload_time,
        file.yanked,
        file.yanked_reason,
        requires_python,
        first_seen,
        last_seen,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTED: &str = "https://files.pythonhosted.org/packages/0e/f9/66471f9b7e9291cca697b2e61a10645a537f389a9d5c0679d50dd86b20f7/six-0.9.0.tar.gz";

    #[test]
    fn file_names_split_after_the_version_and_join_again() {
        for (name, version, prefix) in [
            (
                "numpy-2.1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                "2.1.0",
                "numpy-2.1.0",
            ),
            ("six-1.0.tar.gz", "1.0", "six-1.0"),
            ("Foo-Bar-1.0-rc1.tar.bz2", "1.0-rc1", "Foo-Bar-1.0-rc1"),
            ("pkg-1-1-py3-none-any.whl", "1", "pkg-1"),
            ("odd.whl", "1.0", "odd.whl"),
            ("x-1.0", "1.0", "x-1.0"),
        ] {
            let (p, rest) = split_filename(name, version);
            assert_eq!(p, prefix, "{name}");
            assert_eq!(format!("{p}{rest}"), name);
        }
    }

    #[test]
    fn sha256_round_trips_only_as_lowercase_hex() {
        let hex = "14fd1ed3dd0e1a46cc53b8fc890b5a3b11737515aeb7f42c3af9f38e8d8975d7";
        let bytes = sha256_bytes(hex).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(sha256_hex(&bytes), hex);
        assert_eq!(sha256_bytes(&hex.to_uppercase()), None);
        assert_eq!(sha256_bytes("abc"), None);
        assert_eq!(sha256_bytes(&"g".repeat(64)), None);
    }

    #[test]
    fn urls_of_the_file_host_keep_only_their_hash_path() {
        let url = encode_url(HOSTED, "six-0.9.0.tar.gz");
        assert_eq!(
            url.base.as_deref(),
            Some("https://files.pythonhosted.org/packages/")
        );
        assert!(matches!(&url.key, Value::Blob(b) if b.len() == 32));
        for (u, f) in [
            (HOSTED, "six-0.9.0.tar.gz"),
            (
                "https://mirror.example/files/six-1.0.tar.gz",
                "six-1.0.tar.gz",
            ),
            (
                "https://mirror.example/x/six-1.0.tar.gz#sha256=ab",
                "six-1.0.tar.gz",
            ),
            ("six-1.0.tar.gz", "six-1.0.tar.gz"),
            (
                "https://h/AB/cd/66471f9b7e9291cca697b2e61a10645a537f389a9d5c0679d50dd86b20f7/f",
                "f",
            ),
            ("https://h/é/six.whl", "six.whl"),
        ] {
            let s = encode_url(u, f);
            assert_eq!(
                decode_url(s.base.as_deref(), &s.key, f).as_deref(),
                Some(u),
                "{u}"
            );
        }
        let other = encode_url("https://mirror.example/a.whl?x=1", "a.whl");
        assert_eq!(other.base, None);
    }

    #[test]
    fn upload_times_become_microseconds_when_they_come_back_the_same() {
        for text in [
            "2010-06-29T19:56:36.719942Z",
            "1970-01-01T00:00:00.000000Z",
            "2024-02-29T23:59:59.999999Z",
            "2100-03-01T00:00:00.000001Z",
        ] {
            let Value::Integer(micros) = encode_upload_time(text) else {
                panic!("{text} kept as text");
            };
            assert_eq!(format_upload_time(micros).as_deref(), Some(text));
        }
        assert_eq!(
            encode_upload_time("2010-06-29T19:56:36.719942Z"),
            Value::Integer(1_277_841_396_719_942)
        );
        for text in [
            "2010-06-29T19:56:36Z",
            "2010-06-29T19:56:36.719942+00:00",
            "2023-02-30T00:00:00.000000Z",
            "1969-12-31T23:59:59.000000Z",
            "yesterday",
            "2010-06-29T19:56:36.71994éZ",
        ] {
            assert_eq!(encode_upload_time(text), Value::Text(text.into()), "{text}");
        }
    }

    /// What the store reads back through the `files` view is what was recorded, whatever
    /// shape each value had: the view's SQL decodes as the Rust above encodes.
    #[test]
    fn the_files_view_gives_back_every_value_as_recorded() {
        use crate::index::DistFile;
        use crate::store::Store;

        let hosted = |tail: &str| {
            format!(
                "https://files.pythonhosted.org/packages/0e/f9/66471f9b7e9291cca697b2e61a10645a537f389a9d5c0679d50dd86b20f7/{tail}"
            )
        };
        let file = |name: &str, url: String, upload: Option<&str>| DistFile {
            filename: name.to_string(),
            url,
            sha256: Some(format!("{:064x}", name.len())),
            size: Some(1234),
            requires_python: Some(">=3.9".into()),
            yanked: None,
            upload_time: upload.map(str::to_string),
        };
        let files = vec![
            file(
                "zope_interface-7.2-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                hosted("zope_interface-7.2-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
                Some("2024-11-28T08:47:45.123456Z"),
            ),
            DistFile {
                sha256: None,
                requires_python: None,
                yanked: Some("broken".into()),
                ..file(
                    "zope.interface-7.2.tar.gz",
                    hosted("zope.interface-7.2.tar.gz"),
                    Some("2024-11-28T08:47:45Z"),
                )
            },
            file(
                "zope_interface-7.1-1-py3-none-any.whl",
                "https://mirror.example/simple/zope-interface/zope_interface-7.1-1-py3-none-any.whl"
                    .into(),
                None,
            ),
            file(
                "zope_interface-7.0-py3-none-any.whl",
                "../../packages/zope_interface-7.0-py3-none-any.whl#sha256=00".into(),
                Some("2024-01-01T00:00:00.000000+00:00"),
            ),
            file("zope.interface-6.0.zip", "zope.interface-6.0.zip".into(), None),
        ];
        let mut store = Store::in_memory().unwrap();
        let summary = store
            .record_project_files("zope.interface", &files)
            .unwrap();
        assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
        let page = store.project_page("zope-interface").unwrap().unwrap();
        let mut want = files.clone();
        want.sort_by(|a, b| a.filename.cmp(&b.filename));
        assert_eq!(page.files, want);
        // Recording the same listing again changes nothing.
        let again = store
            .record_project_files("zope.interface", &files)
            .unwrap();
        assert!(!again.changed(), "{again:?}");
        let hashed: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM file_rows WHERE typeof(url_key) = 'blob'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hashed, 2);
    }
}
