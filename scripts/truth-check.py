#!/usr/bin/env python3
"""Score a gilfree build against the runtime truth in tests/data/.

Every module of the truth file is looked up in `gilfree scan --format json` of the same
release, and counted as agreeing, wrongly "GIL-free" (false-ready), wrongly "GIL on"
(false-alarm), unknown, or missing. Exit 0 when every module agrees.

    python3 scripts/fetch-test-wheels.py --only linux-x86_64    # once: the truth set's wheels
    cargo build --release
    python3 scripts/truth-check.py                      # the downloaded wheels ($GILFREE_WHEELS)
    python3 scripts/truth-check.py --index              # NAME==VERSION through the index
    python3 scripts/truth-check.py --truth tests/data/truth-cp314t-linux-x86_64-b.json --index
"""
import argparse, json, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def release_key(filename):
    """(name, version) of a wheel file name, normalized: another build of the same release
    for the same platform (manylinux_2_28 for manylinux2014) has the same truth."""
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", default=os.path.join(ROOT, "tests", "data", "truth-cp314t-linux-x86_64.json"))
    ap.add_argument("--index", action="store_true", help="scan NAME==VERSION from the index instead of local wheels")
    ap.add_argument("--wheels", default=os.path.join(os.environ.get("GILFREE_WHEELS", "/tmp/gilfree-wheels"), "linux-x86_64"))
    ap.add_argument("--gilfree", default=os.path.join(ROOT, "target", "release", "gilfree"))
    args = ap.parse_args()
    entries = json.load(open(args.truth))["packages"]
    if args.index:
        targets = [f"{e['package']}=={e['version']}" for e in entries] + ["--platform", "linux-x86_64"]
    else:
        missing = [e["wheel"] for e in entries if not os.path.exists(os.path.join(args.wheels, e["wheel"]))]
        if missing:
            sys.exit(f"{len(missing)} wheel(s) of the truth set are not in {args.wheels} "
                     f"(e.g. {missing[0]}): run scripts/fetch-test-wheels.py, or use --index")
        targets = [os.path.join(args.wheels, e["wheel"]) for e in entries]
    run = subprocess.run([args.gilfree, "scan", "--format", "json", "--python", "3.14t", "-q", *targets],
                         capture_output=True, text=True)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        sys.exit(f"gilfree exited {run.returncode} without a JSON report: {run.stderr.strip()[-300:]}")
    verdicts = {}
    for wheel in report["wheels"]:
        for m in wheel["modules"]:
            verdicts.setdefault((release_key(wheel["filename"]), m["module"]), m)
    counts = dict.fromkeys(["agree", "false-ready", "false-alarm", "unknown", "missing"], 0)
    for e in entries:
        for m in e["modules"]:
            want = "gil-used" if m["needs_gil"] else "gil-not-used"
            got = verdicts.get((release_key(e["wheel"]), m["module"]))
            verdict = got["verdict"] if got else None
            if verdict == want:
                kind = "agree"
            elif verdict is None:
                kind = "missing"
            elif verdict == "gil-not-used":
                kind = "false-ready"
            elif verdict == "gil-used":
                kind = "false-alarm"
            else:
                kind = "unknown"
            counts[kind] += 1
            if kind != "agree":
                reason = got["reason"] if got else ""
                print(f"{kind:12} {e['package']}=={e['version']} {m['module']}: {verdict} (truth {want}) {reason}")
    total = sum(counts.values())
    rest = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "agree")
    print(f"{counts['agree']}/{total} modules agree; {rest}")
    return 0 if counts["agree"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
