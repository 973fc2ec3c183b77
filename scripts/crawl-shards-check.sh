#!/usr/bin/env bash
# Checks the sharded-crawl deployments without a cluster or a network other than PyPI:
# the Kubernetes manifests under deploy/k8s/ against the API schemas of a pinned Kubernetes
# version (kubernetes-validate, which ships the schemas: nothing is fetched when it runs),
# that the Job and the workflow each split in as many shards as their SHARDS says,
# then a dry run of the nightly workflow's steps (scripts/crawl-shards.sh) against a local
# index (scripts/test-index.py serving the fixture wheels and a few pure ones): 4 shards of
# a 12-project list crawled at once, merged, and the site built from the merged store.
# (actionlint checks the workflow itself, with the others, in scripts/ci-integrations.sh.)
#
#   GILFREE=target/debug/gilfree scripts/crawl-shards-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
gilfree=$(realpath "${GILFREE:-target/debug/gilfree}")
k8s_version=1.33.0
work=$(mktemp -d)
index_pid=
cleanup() {
  [ -n "$index_pid" ] && kill "$index_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "crawl-shards-check: $*" >&2; exit 1; }

echo "== kubernetes-validate $k8s_version: deploy/k8s/*.yaml"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
"$work/venv/bin/kubernetes-validate" --kubernetes-version "$k8s_version" --strict deploy/k8s/*.yaml

echo "== the shard counts agree: the Job's completions, parallelism and SHARDS; the workflow's matrix and SHARDS"
"$work/venv/bin/python" - <<'PY'
import yaml
job = yaml.safe_load(open("deploy/k8s/crawl-job.yaml"))
spec = job["spec"]
env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
assert spec["completionMode"] == "Indexed", spec
assert spec["completions"] == spec["parallelism"] == int(env["SHARDS"]), (spec, env)
flow = yaml.safe_load(open(".github/workflows/crawl.yml"))
matrix = flow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
assert matrix == list(range(int(flow["env"]["SHARDS"]))), (matrix, flow["env"])
print(f"k8s: {spec['completions']} shards; workflow: {len(matrix)} shards")
PY

echo "== dry run of the workflow's steps: 4 shards, merge, site"
mkdir -p "$work/wheels"
cp tests/fixtures/wheels/*.whl "$work/wheels/"
python3 - "$work/wheels" <<'PY'
import sys, zipfile
for name in ["one", "two", "three", "four", "five", "six", "seven", "eight"]:
    dist = f"pure_{name}-1.0"
    with zipfile.ZipFile(f"{sys.argv[1]}/{dist}-py3-none-any.whl", "w") as z:
        z.writestr(f"pure_{name}/__init__.py", "VALUE = 1\n")
        z.writestr(f"{dist}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: pure-{name}\nVersion: 1.0\n")
        z.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        z.writestr(f"{dist}.dist-info/RECORD", "")
PY
python3 scripts/test-index.py --dir "$work/wheels" --seconds 300 >"$work/index.url" &
index_pid=$!
for _ in $(seq 50); do [ -s "$work/index.url" ] && break; sleep 0.1; done
[ -s "$work/index.url" ] || fail "the test index did not start"
printf '%s\n' lru-dict time-machine bitstruct pure-one pure-two pure-three pure-four \
  pure-five pure-six pure-seven pure-eight no-such-project >"$work/list.txt"

export GILFREE="$gilfree" STORES="$work/stores" SITE="$work/site" BATCH=dry-run
export LIST="$work/list.txt" INDEX_URL=$(head -1 "$work/index.url")
export NO_PROXY=127.0.0.1
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
pids=()
for k in 0 1 2 3; do
  scripts/crawl-shards.sh shard "$k" 4 --timeout 5 --retries 1 2>"$work/shard-$k.log" &
  pids+=($!)
done
for k in 0 1 2 3; do
  wait "${pids[$k]}" || { cat "$work/shard-$k.log" >&2; fail "shard $k failed"; }
done
python3 - "$STORES" <<'PY'
import json, sys
kept = []
for k in range(4):
    doc = json.load(open(f"{sys.argv[1]}/shard-{k}.json"))
    assert doc["shard"]["index"] == k and doc["shard"]["count"] == 4, doc["shard"]
    assert doc["finished"] and doc["projects"]["crawled"] == doc["shard"]["kept"] > 0, doc
    kept.append(doc["shard"]["kept"])
assert sum(kept) == 12, kept
print("shards kept", kept, "of 12 projects")
PY
scripts/crawl-shards.sh merge >"$work/merge.txt" 2>"$work/merge.log" \
  || { cat "$work/merge.txt" "$work/merge.log" >&2; fail "merge failed"; }
grep -q "batch dry-run, 4 of 4 shard(s): 12 project(s), finished" "$work/merge.txt" \
  || { cat "$work/merge.txt" >&2; fail "the merged store has no finished run of 12 projects"; }
for page in index.html projects.html api/projects.json projects/time-machine.html; do
  [ -s "$SITE/$page" ] || fail "the site has no $page"
done
grep -q '"time-machine"' "$SITE/api/projects.json" || fail "time-machine is not on the site"
echo "crawl-shards-check: all passed"
