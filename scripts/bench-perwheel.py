#!/usr/bin/env python3
"""Per-wheel CPU of `gilfree scan` beside the time to merely inflate the same members.

For every wheel, in the same run: the CPU seconds Python's zlib (through zipfile) takes to
inflate the extension members `gilfree scan` reads for 3.14t on linux-x86_64 (the selection of
scripts/bench-unzip.py), and the CPU seconds (user + system) of one `gilfree scan` process per
wheel and per build given. Each figure is the best of --runs runs, so a busy machine inflates
neither side. Prints one line per wheel (sorted by the last build's ratio, worst first, or all
with --all), the totals and their ratio, the worst wheel and how many exceed 3x.

    python3 scripts/bench-perwheel.py --gilfree target/release/gilfree WHEEL...
    python3 scripts/bench-perwheel.py --gilfree OLD --gilfree NEW --runs 3 --json out.json WHEEL...

Wheels: scripts/fetch-test-wheels.py puts the truth sets' wheels under /tmp/gilfree-wheels/.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

unzip = import_module("bench-unzip")


def inflate_cpu(wheel):
    """CPU seconds to inflate the wheel's extension members once, and their size."""
    infos = unzip.members(wheel)
    start = time.process_time()
    with zipfile.ZipFile(wheel) as z:
        for info in infos:
            with z.open(info) as f:
                while f.read(1 << 20):
                    pass
    return time.process_time() - start, sum(i.file_size for i in infos)


def scan_cpu(binary, wheel):
    """CPU seconds of one `gilfree scan` of the wheel (exit 1, GIL on, is a result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [binary, "scan", "--no-store", "--format", "json", "-q", "-j", "1", wheel],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{binary} scan {wheel}: exit {proc.returncode}: {proc.stderr.decode()[-300:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gilfree", action="append", required=True, metavar="BIN")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="print every wheel, not the worst 15")
    ap.add_argument("--json", metavar="FILE", help="write the per-wheel figures as JSON")
    ap.add_argument("wheels", nargs="+")
    args = ap.parse_args()

    rows = []
    for n, wheel in enumerate(args.wheels, 1):
        runs = [inflate_cpu(wheel) for _ in range(args.runs)]
        floor, size = min(r[0] for r in runs), runs[0][1]
        builds = [min(scan_cpu(b, wheel) for _ in range(args.runs)) for b in args.gilfree]
        rows.append({"wheel": os.path.basename(wheel), "members_bytes": size,
                     "inflate_cpu": floor, "scan_cpu": builds})
        print(f"\r{n}/{len(args.wheels)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    # Wheels without extension members have no floor: their cost is reported in the totals only.
    measured = [r for r in rows if r["inflate_cpu"] > 0]
    ratio = lambda r, k: r["scan_cpu"][k] / r["inflate_cpu"]
    last = len(args.gilfree) - 1
    shown = sorted(measured, key=lambda r: -ratio(r, last))
    if not args.all:
        shown = shown[:15]
    names = [f"build {k + 1}" for k in range(len(args.gilfree))]
    for k, b in enumerate(args.gilfree):
        print(f"build {k + 1}: {b}")
    print(f"{len(rows)} wheels, {sum(r['members_bytes'] for r in rows) / 1e6:.1f} MB of extension "
          f"members; CPU seconds, best of {args.runs}; x = scan CPU / inflate CPU of the same wheel")
    head = "".join(f" {n + ' s':>10} {'x':>6}" for n in names)
    print(f"{'wheel':<60} {'MB':>7} {'inflate s':>10}{head}")
    for r in shown:
        cols = "".join(f" {s:>10.3f} {ratio(r, k):>6.2f}" for k, s in enumerate(r["scan_cpu"]))
        print(f"{r['wheel'][:60]:<60} {r['members_bytes'] / 1e6:>7.1f} {r['inflate_cpu']:>10.3f}{cols}")
    floor = sum(r["inflate_cpu"] for r in rows)
    print(f"{'total':<60} {'':>7} {floor:>10.2f}", end="")
    for k in range(len(args.gilfree)):
        total = sum(r["scan_cpu"][k] for r in rows)
        print(f" {total:>10.2f} {total / floor:>6.2f}", end="")
    print()
    for k, name in enumerate(names):
        worst = max(measured, key=lambda r: ratio(r, k))
        over = sum(1 for r in measured if ratio(r, k) > 3)
        print(f"{name}: worst {worst['wheel']} {ratio(worst, k):.2f}x; {over} wheel(s) over 3x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"builds": args.gilfree, "runs": args.runs, "wheels": rows}, f, indent=1)


if __name__ == "__main__":
    main()
