#!/usr/bin/env python3
"""Download the wheels behind the runtime truth set, for measuring gilfree.

For every release in tests/data/truth-cp314t-linux-x86_64.json this fetches the exact
cp314t manylinux x86_64 wheel that was imported, plus the same release's cp314t wheels for
win_amd64, macOS arm64 and manylinux aarch64 (same source, other binary formats), and the
cp315t / abi3.abi3t wheels of rpds-py, pydantic-core and cryptography; with
`--only linux-x86_64-b`, the exact wheels of the second truth set
(tests/data/truth-cp314t-linux-x86_64-b.json, 152 releases). Wheels land in $GILFREE_WHEELS
(default /tmp/gilfree-wheels/<platform>/); files already there are kept. The default test run
does not need any of this: it is for `scripts/measure.py` and the opt-in tests.

    python3 scripts/fetch-test-wheels.py [--only linux-x86_64,win-amd64,...]
"""
import argparse, hashlib, json, os, re, sys, urllib.parse, urllib.request
import concurrent.futures as cf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRUTH = os.path.join(ROOT, "tests", "data", "truth-cp314t-linux-x86_64.json")
TRUTH_B = os.path.join(ROOT, "tests", "data", "truth-cp314t-linux-x86_64-b.json")
DEST = os.environ.get("GILFREE_WHEELS", "/tmp/gilfree-wheels")
INDEX = os.environ.get("GILFREE_INDEX", "https://pypi.org/")

PLATFORMS = {
    "win-amd64": re.compile(r"-cp314t-win_amd64\.whl$"),
    "macos-arm64": re.compile(r"-cp314t-macosx_[0-9_]+_(arm64|universal2)\.whl$"),
    "linux-aarch64": re.compile(r"-cp314t-[a-z0-9_.]*manylinux[a-z0-9_.]*aarch64\.whl$"),
}
# Releases with 3.15 builds: project -> filename pattern.
CP315 = {
    "rpds-py": re.compile(r"-cp315t-[a-z0-9_.]*manylinux[a-z0-9_.]*x86_64\.whl$"),
    "pydantic-core": re.compile(r"-cp315t-[a-z0-9_.]*manylinux[a-z0-9_.]*x86_64\.whl$"),
    "cryptography": re.compile(r"-abi3\.abi3t-[a-z0-9_.]*manylinux[a-z0-9_.]*x86_64\.whl$"),
}


def project_json(name):
    url = urllib.parse.urljoin(INDEX, f"pypi/{name}/json")
    with urllib.request.urlopen(url, timeout=120) as r:
        return url, json.load(r)


def download(page, f, folder):
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, f["filename"])
    if os.path.exists(dest):
        return dest
    url = urllib.parse.urljoin(page, f["url"])
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=900) as r, open(dest + ".part", "wb") as out:
        while chunk := r.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != f["digests"]["sha256"]:
        os.remove(dest + ".part")
        raise RuntimeError(f"sha256 mismatch for {f['filename']}")
    os.rename(dest + ".part", dest)
    return dest


def jobs(only):
    truth = json.load(open(TRUTH))["packages"]
    for e in truth:
        page, data = project_json(e["package"])
        files = data["releases"].get(e["version"], [])
        for f in files:
            if "linux-x86_64" in only and f["filename"] == e["wheel"]:
                yield page, f, os.path.join(DEST, "linux-x86_64")
            for plat, pat in PLATFORMS.items():
                if plat in only and pat.search(f["filename"]):
                    yield page, f, os.path.join(DEST, plat)
                    break
    if "linux-x86_64-b" in only:
        for e in json.load(open(TRUTH_B))["packages"]:
            page, data = project_json(e["package"])
            for f in data["releases"].get(e["version"], []):
                if f["filename"] == e["wheel"]:
                    yield page, f, os.path.join(DEST, "linux-x86_64-b")
    if "cp315" in only:
        for name, pat in CP315.items():
            page, data = project_json(name)
            for f in data["urls"]:
                if pat.search(f["filename"]):
                    yield page, f, os.path.join(DEST, "cp315")
                    break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="linux-x86_64,win-amd64,macos-arm64,linux-aarch64,cp315")
    args = ap.parse_args()
    only = set(args.only.split(","))
    # One wheel per platform per release: keep the first match (newest tags come first rarely
    # matter: any wheel of the release for that platform is built from the same source).
    seen, todo = set(), []
    for page, f, folder in jobs(only):
        key = (folder, f["filename"].split("-")[0], f["filename"].split("-")[1])
        if key in seen and not folder.endswith(("linux-x86_64", "linux-x86_64-b")):
            continue
        seen.add(key)
        todo.append((page, f, folder))
    with cf.ThreadPoolExecutor(6) as ex:
        for fut in cf.as_completed([ex.submit(download, *t) for t in todo]):
            try:
                print(fut.result())
            except Exception as err:  # keep going: one bad download must not stop the rest
                print(f"error: {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
