#!/usr/bin/env python3
"""Dump what `gilfree crawl` stores, to compare two stores (say, a crawl killed with SIGKILL
and resumed several times, and an uninterrupted one over the same list).

Every row of the tables the crawl writes, without row ids, times and network totals (which
differ from run to run by nature), with foreign keys replaced by the names they stand for,
sorted, one line per row. Also runs `PRAGMA integrity_check`.

    scripts/crawl-store-dump.py STORE                 # print the dump
    scripts/crawl-store-dump.py --compare STORE STORE # exit 0 when both dump the same

--compare prints each store's integrity check, its row counts per table and, when they
differ, the first lines only one of the two has.
"""
import sqlite3
import sys

QUERIES = {
    "projects": "SELECT name, last_listed IS NOT NULL FROM projects",
    "releases": """SELECT p.name, r.version, r.metadata_read_at IS NOT NULL
                   FROM releases r JOIN projects p ON p.id = r.project_id""",
    "files": """SELECT filename, kind, url, sha256, size, upload_time, yanked, yanked_reason,
                       requires_python, python_tags, abi_tags, platform_tags FROM files""",
    "analyses": """SELECT sha256, analyzer_version, python, platform, readiness, note, error
                   FROM analyses""",
    "modules": """SELECT a.sha256, a.analyzer_version, a.python, a.platform, m.position,
                         m.member, m.module, m.verdict, m.reason, m.binder, m.evidence, m.fix
                  FROM modules m JOIN analyses a ON a.id = m.analysis_id""",
    "release_classifiers": """SELECT p.name, r.version, c.classifier
                              FROM release_classifiers c JOIN releases r ON r.id = c.release_id
                              JOIN projects p ON p.id = r.project_id""",
    # The index's serial at a run's start (the change feed's) depends on when the run began.
    "page_cache": """SELECT url, content_type,
                            CASE content_type WHEN 'text/x-gilfree-run-serial' THEN 'SERIAL'
                                              ELSE body END,
                            etag, last_modified FROM page_cache""",
    "crawl_runs": """SELECT list_name, planned, analyzer_version, finished_at IS NOT NULL
                     FROM crawl_runs""",
    "crawl_projects": """SELECT r.list_name, p.name, c.rank, v.version, c.error
                         FROM crawl_projects c JOIN crawl_runs r ON r.id = c.run_id
                         JOIN projects p ON p.id = c.project_id
                         LEFT JOIN releases v ON v.id = c.release_id""",
    "crawl_readiness": """SELECT r.list_name, p.name, v.version, c.python, c.platform,
                                 c.readiness
                          FROM crawl_readiness c JOIN crawl_runs r ON r.id = c.run_id
                          JOIN releases v ON v.id = c.release_id
                          JOIN projects p ON p.id = v.project_id""",
}


def dump(path):
    """(integrity check lines, {table: sorted lines})."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    tables = {}
    for table, sql in QUERIES.items():
        rows = ["\t".join(repr(v) for v in row) for row in conn.execute(sql)]
        tables[table] = sorted(rows)
    conn.close()
    return check, tables


def main(argv):
    if len(argv) == 2 and not argv[1].startswith("-"):
        check, tables = dump(argv[1])
        print("integrity_check\t" + "; ".join(check))
        for table, rows in tables.items():
            for row in rows:
                print(f"{table}\t{row}")
        return 0 if check == ["ok"] else 1
    if len(argv) == 4 and argv[1] == "--compare":
        (check_a, a), (check_b, b) = dump(argv[2]), dump(argv[3])
        same = check_a == ["ok"] and check_b == ["ok"]
        print(f"integrity_check: {argv[2]}: {'; '.join(check_a)}; {argv[3]}: {'; '.join(check_b)}")
        for table in QUERIES:
            only_a = sorted(set(a[table]) - set(b[table]))
            only_b = sorted(set(b[table]) - set(a[table]))
            verdict = "same" if a[table] == b[table] else "DIFFERENT"
            print(f"{table:20} {len(a[table]):>9} {len(b[table]):>9}  {verdict}")
            for line in only_a[:5]:
                print(f"    only in {argv[2]}: {line[:200]}")
            for line in only_b[:5]:
                print(f"    only in {argv[3]}: {line[:200]}")
            same = same and a[table] == b[table]
        print("the stores are the same" if same else "the stores DIFFER")
        return 0 if same else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
