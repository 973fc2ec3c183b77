//! Migration 5's Rust step: every row of version 1's `files` table moves to `file_rows`,
//! encoded as `compact.rs` encodes new rows, in the transaction of the migration; then the
//! old table goes and the `files` view takes its name.

use rusqlite::Transaction;

use super::compact::{FileColumns, KeyCache, file_key, write_file_row};
use super::schema::FILES_VIEW;

/// One row of the old `files` table, with its release's version.
struct OldFile {
    release_id: i64,
    version: String,
    filename: String,
    kind: String,
    url: String,
    sha256: Option<String>,
    size: Option<i64>,
    upload_time: Option<String>,
    yanked: bool,
    yanked_reason: Option<String>,
    requires_python: Option<String>,
    tags: [Option<String>; 3],
    first_seen: i64,
    last_seen: i64,
}

/// Moves the old rows (a release's first file first, which gives the release its stem),
/// drops the old table and its indexes, and creates the view.
pub(crate) fn move_file_rows(tx: &Transaction) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(
        "SELECT f.release_id, r.version, f.filename, f.kind, f.url, f.sha256, f.size,
                f.upload_time, f.yanked, f.yanked_reason, f.requires_python, f.python_tags,
                f.abi_tags, f.platform_tags, f.first_seen, f.last_seen
         FROM files f JOIN releases r ON r.id = f.release_id
         ORDER BY f.release_id, f.id",
    )?;
    let mut rows = stmt.query([])?;
    let mut cache = KeyCache::default();
    while let Some(r) = rows.next()? {
        let old = OldFile {
            release_id: r.get(0)?,
            version: r.get(1)?,
            filename: r.get(2)?,
            kind: r.get(3)?,
            url: r.get(4)?,
            sha256: r
                .get::<_, Option<String>>(5)?
                .map(|s| s.to_ascii_lowercase()),
            size: r.get(6)?,
            upload_time: r.get(7)?,
            yanked: r.get(8)?,
            yanked_reason: r.get(9)?,
            requires_python: r.get(10)?,
            tags: [r.get(11)?, r.get(12)?, r.get(13)?],
            first_seen: r.get(14)?,
            last_seen: r.get(15)?,
        };
        let columns = FileColumns {
            filename: &old.filename,
            version: &old.version,
            kind: &old.kind,
            tags: [
                old.tags[0].as_deref(),
                old.tags[1].as_deref(),
                old.tags[2].as_deref(),
            ],
            url: &old.url,
            sha256: old.sha256.as_deref(),
            size: old.size,
            upload_time: old.upload_time.as_deref(),
            yanked: old.yanked,
            yanked_reason: old.yanked_reason.as_deref(),
            requires_python: old.requires_python.as_deref(),
        };
        let key = file_key(tx, &mut cache, old.release_id, &columns)?;
        write_file_row(tx, &key, &columns, old.first_seen, old.last_seen)?;
    }
    drop(rows);
    drop(stmt);
    tx.execute_batch("DROP TABLE files;")?;
    tx.execute_batch(FILES_VIEW)
}
