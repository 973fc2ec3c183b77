#!/usr/bin/env python3
"""Measure `gilfree audit` against run-time truth, and a peer tool beside it.

For every lockfile of every project under FIXTURES (tests/fixtures/audit), runs
`gilfree audit --format json` for CPython 3.14t on linux-x86_64 with an empty store, and
optionally `abi3t-doctor tree --deep` with an empty cache, in the same run; compares each
package's readiness with TRUTH, a JSON-lines file of {"name", "version", "readiness"} measured
by importing every extension module in a free-threaded interpreter (how it was made is in the
closing note of issue 4; this script only reads it). Prints, per format: packages right / total
for each tool, exit codes right / runs, and wall times.

    python3 scripts/audit-compare.py --truth truth.jsonl --fixtures tests/fixtures/audit \
        [--gilfree target/release/gilfree] [--abi3t-doctor /path/to/abi3t-doctor] [--json out.json]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

LOCKFILES = [
    "requirements.txt",
    "uv.lock",
    "pylock.toml",
    "pylock.pip.toml",
    "poetry/poetry.lock",
    "Pipfile.lock",
    "pdm.lock",
]

# What exit code 1 means for gilfree by default (--fail-on): these readiness values block.
BLOCKING = {"gil-fallback", "no-wheel", "unknown"}

# abi3t-doctor's verdicts in gilfree's vocabulary.
PEER_READINESS = {
    "ready": "ready",
    "pure": "pure",
    "source-only": "source-only",
    "unavailable": "no-wheel",
    "mistagged": "no-wheel",
    "needs-rebuild": "no-wheel",
    "unknown": "unknown",
}

MANYLINUX = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"] + [
    f"manylinux_2_{m}_x86_64" for m in range(5, 41)
]


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def format_of(rel):
    name = rel.rsplit("/", 1)[-1]
    return "pylock.toml" if name.startswith("pylock") else name


def load_truth(path):
    truth = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            truth[(norm(d["name"]), d["version"])] = d["readiness"]
    return truth


def run(cmd, cwd):
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return p, time.monotonic() - start


def run_gilfree(binary, lockfile, scratch):
    db = Path(scratch) / f"gilfree-{os.getpid()}-{time.monotonic_ns()}.db"
    cmd = [binary, "audit", "--python", "3.14t", "--platform", "linux-x86_64",
           "--format", "json", "--db", str(db), "--no-progress", str(lockfile)]
    p, seconds = run(cmd, lockfile.parent)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {"packages": []}
    got = {(norm(x["name"]), x.get("version")): x["readiness"] for x in doc["packages"]}
    return got, p.returncode, seconds, p.stderr


def run_peer(binary, lockfile, scratch):
    cache = tempfile.mkdtemp(prefix="abi3t-cache-", dir=scratch)
    cmd = [binary, "tree", "--target", "3.14t", "--deep", "-a", "--format", "json",
           "--cache-dir", cache]
    for plat in MANYLINUX:
        cmd += ["--platform", plat]
    cmd.append(str(lockfile))
    p, seconds = run(cmd, lockfile.parent)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {"distributions": []}
    got = {}
    for d in doc.get("distributions", []):
        readiness = PEER_READINESS.get(d["verdict"], d["verdict"])
        # "source-only" after rejecting wheels: wheels exist, none for the target.
        if d["verdict"] == "source-only" and d.get("rejected_wheels"):
            readiness = "no-wheel"
        got[norm(d["name"])] = (d.get("version"), readiness)
    return got, p.returncode, seconds, p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--gilfree", default="target/release/gilfree")
    ap.add_argument("--abi3t-doctor")
    ap.add_argument("--json", help="write every comparison here")
    args = ap.parse_args()
    truth = load_truth(args.truth)
    gilfree = str(Path(args.gilfree).resolve())
    rows = defaultdict(lambda: defaultdict(float))
    details = []
    with tempfile.TemporaryDirectory(prefix="audit-compare-") as scratch:
        for project in sorted(p for p in Path(args.fixtures).iterdir() if p.is_dir()):
            for rel in LOCKFILES:
                lockfile = (project / rel).resolve()
                if not lockfile.exists():
                    continue
                fmt = format_of(rel)
                got, code, seconds, err = run_gilfree(gilfree, lockfile, scratch)
                # The packages the lock installs on the target, as gilfree read them.
                wanted = [(n, v) for (n, v) in got if v is not None]
                known = [(n, v) for (n, v) in wanted if (n, v) in truth]
                expect_code = 1 if any(truth[k] in BLOCKING for k in known) else 0
                right = [k for k in known if got[k] == truth[k]]
                r = rows[fmt]
                r["files"] += 1
                r["packages"] += len(known)
                r["gilfree_right"] += len(right)
                r["gilfree_exit_right"] += int(code == expect_code)
                r["gilfree_seconds"] += seconds
                wrong = [(n, v, got[(n, v)], truth[(n, v)]) for (n, v) in known
                         if got[(n, v)] != truth[(n, v)]]
                missing = [k for k in wanted if k not in truth]
                entry = {"project": project.name, "file": rel, "packages": len(known),
                         "gilfree": {"right": len(right), "exit": code, "expected_exit": expect_code,
                                     "seconds": round(seconds, 2), "wrong": wrong,
                                     "no_truth": missing, "stderr": err[-2000:]}}
                if args.abi3t_doctor:
                    peer, pcode, pseconds, perr = run_peer(args.abi3t_doctor, lockfile, scratch)
                    pright = [k for k in known if peer.get(k[0], (None, None))[1] == truth[k]]
                    other_version = [k for k in known if k[0] in peer and peer[k[0]][0] != k[1]]
                    r["peer_right"] += len(pright)
                    r["peer_exit_right"] += int((pcode != 0) == (expect_code != 0))
                    r["peer_seconds"] += pseconds
                    r["peer_other_version"] += len(other_version)
                    entry["abi3t-doctor"] = {
                        "right": len(pright), "exit": pcode, "seconds": round(pseconds, 2),
                        "missing": [k for k in known if k[0] not in peer],
                        "other_version": other_version,
                        "wrong": [(n, v, peer.get(n), truth[(n, v)]) for (n, v) in known
                                  if peer.get(n, (None, None))[1] != truth[(n, v)]],
                    }
                details.append(entry)
                print(f"{project.name}/{rel}: gilfree {len(right)}/{len(known)} exit {code} "
                      f"(want {expect_code}) {seconds:.1f}s"
                      + (f"; abi3t-doctor {entry['abi3t-doctor']['right']}/{len(known)} "
                         f"exit {entry['abi3t-doctor']['exit']} {entry['abi3t-doctor']['seconds']}s"
                         if args.abi3t_doctor else ""),
                      file=sys.stderr)
    head = f"{'format':<14} {'files':>5} {'pkgs':>5}  {'gilfree right':>14} {'exit ok':>7} {'time':>7}"
    if args.abi3t_doctor:
        head += f"  {'abi3t-doctor right':>18} {'exit ok':>7} {'time':>7}"
    print(head)
    total = defaultdict(float)
    for fmt, r in sorted(rows.items()):
        for k, v in r.items():
            total[k] += v
    for fmt, r in sorted(rows.items()) + [("all", total)]:
        pct = lambda n: f"{100 * n / r['packages']:.1f}%" if r["packages"] else "-"
        line = (f"{fmt:<14} {int(r['files']):>5} {int(r['packages']):>5}  "
                f"{int(r['gilfree_right']):>5} {pct(r['gilfree_right']):>8} "
                f"{int(r['gilfree_exit_right'])}/{int(r['files']):<5} {r['gilfree_seconds']:>6.1f}s")
        if args.abi3t_doctor:
            line += (f"  {int(r['peer_right']):>9} {pct(r['peer_right']):>8} "
                     f"{int(r['peer_exit_right'])}/{int(r['files']):<5} {r['peer_seconds']:>6.1f}s")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(details, indent=1))


if __name__ == "__main__":
    main()
