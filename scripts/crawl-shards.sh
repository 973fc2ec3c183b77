#!/usr/bin/env bash
# The steps of a sharded crawl, as the nightly workflow (.github/workflows/crawl.yml) runs
# them, to run the same way anywhere:
#
#   scripts/crawl-shards.sh shard K N [CRAWL-OPTION...]   crawl shard K (from 0) of N into
#                                                         $STORES/shard-K.sqlite3
#   scripts/crawl-shards.sh merge                         merge $STORES/shard-*.sqlite3 into
#                                                         $STORES/merged.sqlite3, then build
#                                                         the site from it into $SITE
#
# Settings, from the environment: GILFREE (the binary, default `gilfree` on PATH), STORES
# (default `stores`), SITE (default `site`), BATCH (the name the shards of one run share;
# default: gilfree's, the UTC date the shard's run began), LIST (a project list file) or
# TOP (the first N projects of the bundled list), INDEX_URL, BASE_URL (for `gilfree site`).
# Options after `shard K N` go to `gilfree crawl` as they are. The shard's JSON summary is
# written to $STORES/shard-K.json; the exit code is the crawl's (0: the shard's run is
# complete, failed projects included; 2: it stopped and the next call resumes it).
set -euo pipefail

gilfree=${GILFREE:-gilfree}
stores=${STORES:-stores}
site=${SITE:-site}

usage() {
  echo "usage: $0 shard K N [CRAWL-OPTION...] | merge" >&2
  exit 2
}

shard() {
  [ $# -ge 2 ] || usage
  local k=$1 n=$2
  shift 2
  local args=(crawl --shard "$k/$n" --db "$stores/shard-$k.sqlite3" --format json --no-progress)
  [ -n "${BATCH:-}" ] && args+=(--batch "$BATCH")
  [ -n "${LIST:-}" ] && args+=(--list "$LIST")
  [ -n "${TOP:-}" ] && args+=(--top "$TOP")
  [ -n "${INDEX_URL:-}" ] && args+=(--index-url "$INDEX_URL")
  mkdir -p "$stores"
  local code=0
  "$gilfree" "${args[@]}" "$@" >"$stores/shard-$k.json" || code=$?
  echo "shard $k/$n: exit $code, summary in $stores/shard-$k.json" >&2
  return "$code"
}

merge() {
  [ $# -eq 0 ] || usage
  shopt -s nullglob
  local inputs=("$stores"/shard-*.sqlite3)
  [ ${#inputs[@]} -gt 0 ] || { echo "no shard stores in $stores" >&2; exit 2; }
  # A new merged store each time, swapped in once complete: the shard stores hold every
  # run, so nothing is lost, and a failed merge leaves the previous merged store in place.
  rm -f "$stores/merged.sqlite3.new"
  "$gilfree" store merge "$stores/merged.sqlite3.new" "${inputs[@]}"
  mv "$stores/merged.sqlite3.new" "$stores/merged.sqlite3"
  local args=(site --db "$stores/merged.sqlite3" --out "$site")
  [ -n "${BASE_URL:-}" ] && args+=(--base-url "$BASE_URL")
  "$gilfree" "${args[@]}"
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
  shard) shard "$@" ;;
  merge) merge "$@" ;;
  *) usage ;;
esac
