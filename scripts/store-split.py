#!/usr/bin/env python3
"""Split a gilfree store into N stores the way `gilfree crawl --shard K/N` would have filled
them, to measure `gilfree store merge` on real data and check that merging the parts gives
the store back (`scripts/crawl-store-dump.py --compare`).

Part K keeps the projects whose normalized name hashes to K (the first 8 bytes of its
SHA-256, big-endian, mod N) with their releases, files, metadata, first-ready answers and
crawled outcomes, and the analyses of those files' bytes; every part keeps every crawl run
(the runs of an unsharded crawl, which the merge matches by list, analyzer and start), and
part 0 also keeps the page cache and the analyses no file names.

    scripts/store-split.py STORE N OUT_DIR     # writes OUT_DIR/part-K.sqlite3
"""
import hashlib
import os
import sqlite3
import sys


def shard(name, n):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % n


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    store, n, out = argv[1], int(argv[2]), argv[3]
    os.makedirs(out, exist_ok=True)
    src = sqlite3.connect(f"file:{os.path.abspath(store)}?mode=ro", uri=True)
    for k in range(n):
        path = os.path.join(out, f"part-{k}.sqlite3")
        if os.path.exists(path):
            os.remove(path)
        dst = sqlite3.connect(path)
        src.backup(dst)
        dst.create_function("shard", 2, shard, deterministic=True)
        dst.executescript(
            f"""
            PRAGMA foreign_keys = ON;
            CREATE TEMP TABLE gone AS SELECT id FROM projects WHERE shard(name, {n}) != {k};
            CREATE TEMP TABLE kept_sha AS SELECT DISTINCT f.sha256 FROM files f
                JOIN releases r ON r.id = f.release_id
                WHERE f.sha256 IS NOT NULL AND r.project_id NOT IN (SELECT id FROM gone);
            CREATE TEMP TABLE gone_sha AS SELECT DISTINCT f.sha256 FROM files f
                JOIN releases r ON r.id = f.release_id
                WHERE f.sha256 IS NOT NULL AND r.project_id IN (SELECT id FROM gone);
            DELETE FROM crawl_readiness WHERE release_id IN
                (SELECT id FROM releases WHERE project_id IN (SELECT id FROM gone));
            DELETE FROM crawl_projects WHERE project_id IN (SELECT id FROM gone);
            DELETE FROM projects WHERE id IN (SELECT id FROM gone);
            DELETE FROM analyses WHERE sha256 NOT IN (SELECT sha256 FROM kept_sha)
              AND ({k} != 0 OR sha256 IN (SELECT sha256 FROM gone_sha));
            """
        )
        if k != 0:
            dst.execute("DELETE FROM page_cache")
        dst.commit()
        dst.execute("VACUUM")
        dst.close()
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main(sys.argv)
