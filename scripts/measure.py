#!/usr/bin/env python3
"""Agreement of `gilfree scan` with the runtime truth on other platforms' wheels.

The truth set was observed on linux-x86_64; the same release's wheels for other platforms are
built from the same source, so their modules should get the same verdicts. Run after
`cargo build --release` and `scripts/fetch-test-wheels.py`:

    python3 scripts/measure.py linux-x86_64 win-amd64 macos-arm64 linux-aarch64
"""
import json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRUTH = os.path.join(ROOT, "tests", "data", "truth-cp314t-linux-x86_64.json")
WHEELS = os.environ.get("GILFREE_WHEELS", "/tmp/gilfree-wheels")


def main():
    truth = {}
    for p in json.load(open(TRUTH))["packages"]:
        for m in p["modules"]:
            truth[(p["package"].replace("_", "-").lower(), m["module"])] = m["needs_gil"]
    exe = os.path.join(ROOT, "target", "release", "gilfree")
    for plat in sys.argv[1:] or ["win-amd64", "macos-arm64", "linux-aarch64"]:
        folder = os.path.join(WHEELS, plat)
        r = subprocess.run([exe, "scan", "--format", "json", "--python", "3.14t", folder],
                           capture_output=True, text=True)
        report = json.loads(r.stdout)
        counts = {"agree": 0, "false-ready": 0, "false-alarm": 0, "unknown": 0}
        lines = []
        seen = set()
        for w in report["wheels"]:
            for m in w["modules"]:
                key = (w["project"], m["module"])
                if key not in truth or key in seen:
                    continue
                seen.add(key)
                want = "gil-used" if truth[key] else "gil-not-used"
                v = m["verdict"]
                kind = ("agree" if v == want else "false-ready" if v == "gil-not-used"
                        else "false-alarm" if v == "gil-used" else "unknown")
                counts[kind] += 1
                if kind != "agree":
                    lines.append(f"  {kind:12} {w['project']} {m['module']}: {v} {m['reason']}: {m['evidence'][:160]}")
        total = sum(counts.values())
        share = 100.0 * counts["agree"] / total if total else 0.0
        print(f"{plat}: {counts['agree']}/{total} agree ({share:.1f}%); "
              + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "agree")
              + f"; {report['stats']['seconds']:.1f} s")
        print("\n".join(lines[:40]))


main()
