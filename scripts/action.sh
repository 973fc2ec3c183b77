#!/usr/bin/env bash
# The GitHub Action's work (action.yml), runnable anywhere: installs gilfree into a virtualenv
# under $RUNNER_TEMP, audits, prints the text report to the log, appends the Markdown report
# to $GITHUB_STEP_SUMMARY, writes the SARIF report under $RUNNER_TEMP, and sets the outputs
# `exit_code` and `sarif_file` in $GITHUB_OUTPUT. Always exits 0: the action's last step
# fails the job from `exit_code`, after the SARIF upload.
#
# Inputs come as INPUT_FILES, INPUT_PYTHON, INPUT_PLATFORM, INPUT_FAIL_ON, INPUT_VERSION,
# INPUT_PACKAGE; GILFREE_INDEX_URL and the other GILFREE_* variables are honoured as usual.
set -uo pipefail

temp="${RUNNER_TEMP:-$(mktemp -d)}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
output="${GITHUB_OUTPUT:-/dev/null}"
python="${PYTHON:-python3}"

venv="$temp/gilfree-venv"
if [ ! -x "$venv/bin/gilfree" ]; then
  "$python" -m venv "$venv" || { echo "::error::cannot create a virtualenv with $python"; echo "exit_code=2" >>"$output"; exit 0; }
  requirement="${INPUT_PACKAGE:-}"
  if [ -z "$requirement" ]; then
    requirement="gilfree${INPUT_VERSION:+==$INPUT_VERSION}"
  fi
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$requirement"; then
    echo "::error::cannot install $requirement"
    echo "exit_code=2" >>"$output"
    exit 0
  fi
fi
gilfree="$venv/bin/gilfree"

args=(audit --no-progress --db "$temp/gilfree.db")
[ -n "${INPUT_PYTHON:-}" ] && args+=(--python "$INPUT_PYTHON")
[ -n "${INPUT_PLATFORM:-}" ] && args+=(--platform "$INPUT_PLATFORM")
[ -n "${INPUT_FAIL_ON:-}" ] && args+=(--fail-on "$INPUT_FAIL_ON")
read -r -a files <<<"${INPUT_FILES:-}"

"$gilfree" --version
# The text report for the log and the exit code; the other formats are answered from the
# store the first run filled, without asking the index again for what it already read.
"$gilfree" "${args[@]}" "${files[@]}"
code=$?
echo "exit_code=$code" >>"$output"
if [ "$code" -le 1 ]; then
  "$gilfree" "${args[@]}" -q --format markdown "${files[@]}" >>"$summary"
  sarif="$temp/gilfree.sarif"
  if "$gilfree" "${args[@]}" -q --format sarif -o "$sarif" "${files[@]}" || [ $? -eq 1 ]; then
    echo "sarif_file=$sarif" >>"$output"
  fi
fi
exit 0
