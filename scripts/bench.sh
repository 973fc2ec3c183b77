#!/usr/bin/env bash
# End-to-end wall-clock benchmark of `gilfree scan --format json` over the linux-x86_64 truth
# wheels (fetched by scripts/fetch-test-wheels.py into $GILFREE_WHEELS/linux-x86_64), with
# -j 1 and -j 2, against a baseline measured in the same run: decompressing the same wheels'
# extension members with Python's zipfile (scripts/bench-unzip.py). Prints MB of extension
# members, seconds, MB/s, MB/s per core, CPU seconds, and the wall- and CPU-time ratios to the
# unzip baseline (on a machine shared with other work, trust the CPU ratio). Then, per wheel,
# the CPU of one `gilfree scan` beside the CPU of inflating that wheel's members
# (scripts/bench-perwheel.py), with the worst wheels and how many exceed 3x.
#
#   scripts/bench.sh            # RUNS=5 timed runs per command after one warm-up
#   RUNS=10 scripts/bench.sh
#   SETS="linux-x86_64 linux-x86_64-b big" scripts/bench.sh   # more folders of $GILFREE_WHEELS
#
# Uses hyperfine when installed (apt-get install -y hyperfine), else a Python timing loop.
# MB are 10^6 bytes. Exits 0 without measuring when the wheels are absent.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="${GILFREE_WHEELS:-/tmp/gilfree-wheels}"
RUNS="${RUNS:-5}"
shopt -s nullglob
wheels=()
for set in ${SETS:-linux-x86_64}; do wheels+=("$ROOT/$set"/*.whl); done
if [ ${#wheels[@]} -eq 0 ]; then
    echo "bench.sh: no wheels in $ROOT/{${SETS:-linux-x86_64}} (run scripts/fetch-test-wheels.py --only linux-x86_64); skipped"
    exit 0
fi

cargo build --release --quiet
bin="$PWD/target/release/gilfree"
read -r members bytes < <(python3 scripts/bench-unzip.py --summary "${wheels[@]}")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# gilfree exits 1 when it finds modules that need the GIL: that is a result, not a failure.
list="$(printf '%q ' "${wheels[@]}")"
scan() { printf '%q scan --format json -q -j %s %s >/dev/null || [ $? -eq 1 ]' "$bin" "$1" "$list"; }
names=("unzip (python zipfile)" "gilfree scan -j 1" "gilfree scan -j 2")
cmds=("python3 scripts/bench-unzip.py $list" "$(scan 1)" "$(scan 2)")
cores=(1 1 2)

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); gilfree $(git rev-parse --short HEAD); $(python3 --version)"
echo "input: ${#wheels[@]} wheels, $members extension members, $(awk "BEGIN { printf \"%.1f\", $bytes / 1e6 }") MB uncompressed"
# The commands, with the wheel list cut short.
for i in "${!cmds[@]}"; do c="${cmds[$i]}"; [ ${#c} -gt 200 ] && c="${c:0:200}..."; echo "  ${names[$i]}: $c"; done

if command -v hyperfine >/dev/null; then
    args=()
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$out/times.json" "${args[@]}"
    timer="hyperfine $(hyperfine --version | cut -d' ' -f2)"
else
    # The fields of hyperfine's JSON export that the summary reads: one warm-up, then RUNS
    # timed runs per command.
    python3 - "$RUNS" "$out/times.json" "${names[@]}" -- "${cmds[@]}" <<'EOF'
import json, resource, subprocess, sys, time
runs, path, rest = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
k = rest.index("--")
results = []
for name, cmd in zip(rest[:k], rest[k + 1:]):
    times, user, system = [], 0.0, 0.0
    for n in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if n:
            times.append(time.perf_counter() - t)
            user += after.ru_utime - before.ru_utime
            system += after.ru_stime - before.ru_stime
    results.append({"command": name, "user": user / runs, "system": system / runs,
                    "min": min(times), "max": max(times), "times": times})
json.dump({"results": results}, open(path, "w"))
EOF
    timer="python timing loop"
fi

python3 - "$out/times.json" "$bytes" "$timer" "$RUNS" "${cores[@]}" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
mb, timer, runs, cores = int(sys.argv[2]) / 1e6, sys.argv[3], sys.argv[4], [int(c) for c in sys.argv[5:]]
for r in res:
    t = sorted(r["times"])
    r["median"] = (t[(len(t) - 1) // 2] + t[len(t) // 2]) / 2
base = res[0]["median"]
print(f"\n{mb:.1f} MB of extension members; median wall time of {runs} runs ({timer})")
print("MB/s/core = MB/s / threads; cpu s = user + system CPU seconds (mean); MB/cpu-s = MB / cpu s;")
print("x unzip = wall-time ratio to the baseline; cpu x unzip = CPU-time ratio (steadier on a shared machine)")
print(f"{'command':<24} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} {'MB/s/core':>10} {'cpu s':>6} {'MB/cpu-s':>9} {'x unzip':>8} {'cpu x unzip':>12}")
base_cpu = res[0]["user"] + res[0]["system"]
for r, c in zip(res, cores):
    s = r["median"]
    cpu = r["user"] + r["system"]
    print(f"{r['command']:<24} {s:>9.2f} {r['min']:>7.2f} {r['max']:>7.2f} {mb / s:>7.0f} {mb / s / c:>10.0f} {cpu:>6.2f} {mb / cpu:>9.0f} {s / base:>8.2f} {cpu / base_cpu:>12.2f}")
EOF

echo
echo "per wheel (best of $((RUNS < 3 ? RUNS : 3)) runs each):"
python3 scripts/bench-perwheel.py --gilfree "$bin" --runs $((RUNS < 3 ? RUNS : 3)) "${wheels[@]}"
