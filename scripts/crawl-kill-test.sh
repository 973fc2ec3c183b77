#!/usr/bin/env bash
# Kill -9 test of `gilfree crawl`: crawl the top N projects into a fresh store, SIGKILL the
# crawl at KILLS random moments (resuming it after each), let the last resume finish, crawl
# the same list uninterrupted into a second fresh store, and compare the two with
# scripts/crawl-store-dump.py (rows without ids, times and network totals; integrity check).
#
#   scripts/crawl-kill-test.sh                  # N=200 KILLS=3, stores under /tmp
#   N=100 KILLS=5 MAX_WAIT=8 scripts/crawl-kill-test.sh
#
# Each kill comes 1..MAX_WAIT seconds after a (re)start; keep KILLS x MAX_WAIT below the
# time a crawl of N projects takes from empty.
#
# The uninterrupted crawl runs right after the killed one, so that the index changes as
# little as possible in between; a project that published a release in that window shows
# up as a difference (the script prints the first differing rows of each table).
set -euo pipefail

cd "$(dirname "$0")/.."
N="${N:-200}"
KILLS="${KILLS:-3}"
MAX_WAIT="${MAX_WAIT:-12}"
OUT="${OUT:-/tmp/crawl-kill}"
bin="${GILFREE:-$PWD/target/release/gilfree}"
[ -x "$bin" ] || cargo build --release --quiet

mkdir -p "$OUT"
killed="$OUT/killed.db"
whole="$OUT/whole.db"
rm -f "$killed"* "$whole"*

# Whether the store's run is finished (no store yet: not finished).
finished() {
    [ -f "$killed" ] && [ "$(sqlite3 "$killed" \
        "SELECT count(*) FROM crawl_runs WHERE finished_at IS NOT NULL" 2>/dev/null)" = 1 ]
}

for i in $(seq 1 "$KILLS"); do
    if finished; then
        echo "kill $i: the run already finished (raise N or lower MAX_WAIT)"
        break
    fi
    "$bin" crawl --top "$N" --db "$killed" --no-progress >"$OUT/killed-$i.txt" 2>&1 &
    pid=$!
    wait_s=$((RANDOM % MAX_WAIT + 1))
    sleep "$wait_s"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        done_now=$(sqlite3 "$killed" "SELECT count(*) FROM crawl_projects" 2>/dev/null || echo "?")
        echo "kill $i: SIGKILL after ${wait_s}s, $done_now of $N project(s) recorded"
    else
        wait "$pid" || true
        echo "kill $i: the crawl had finished within ${wait_s}s (no kill)"
    fi
done
if ! finished; then
    start=$(date +%s)
    "$bin" crawl --top "$N" --db "$killed" --no-progress --format json >"$OUT/killed-final.json"
    echo "final resume: $(( $(date +%s) - start ))s, $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('resumed' if d['resumed'] else 'new run', d['projects'])" "$OUT/killed-final.json")"
fi

start=$(date +%s)
"$bin" crawl --top "$N" --db "$whole" --no-progress --format json >"$OUT/whole.json"
echo "uninterrupted crawl: $(( $(date +%s) - start ))s"

python3 scripts/crawl-store-dump.py --compare "$killed" "$whole"
