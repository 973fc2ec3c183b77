#!/usr/bin/env python3
"""Bytes of `gilfree scan NAME==VERSION` through the index, measured from outside, beside a floor.

For every release of the given truth sets (by default the two under tests/data/: the 72
releases of the shared set and 152 others, cupy-cuda12x==14.2.0 and jaxlib==0.12.0.1 among
them), runs `gilfree scan --python 3.14t --platform linux-x86_64 --no-store NAME==VERSION`
through a small counting HTTPS proxy (CONNECT tunnels) on 127.0.0.1, one proxy per release, so
each release's bytes and tunnels are its own. Several builds can be given (`--gilfree A
--gilfree B`): each release is run with each build in turn, so they meet the same index at the
same time.

The floor of a release is what any reader of the same verdicts must download: the project
page (the Simple API JSON, fetched again here, uncounted; the release's own JSON where the
index serves it and it is smaller), and per scanned wheel
its zip directory (central directory and end records) and the compressed bytes of the members
the verdicts come from (each with its local header): the modules the report lists and the
members its evidence names (libraries a stub module hands off to), each ELF member only as
far as its loadable segments go (what the dynamic loader maps: the symbol tables, debug
records and section headers after them are not needed to read its declaration). Libraries
only checked for an init hook are not in it: the floor is a lower bound. The script reads the
directories and the members with range requests of its own, outside the proxy (the members
only as far as the floor needs them).

    cargo build --release
    python3 scripts/measure-index.py [--gilfree PATH]... [--truth FILE]... [-j N] [--json OUT]

Prints one line per release and build (bytes through the proxy, gilfree's own count and
requests, the floor, the ratio, the wheel's size) and the totals.
"""
import argparse, concurrent.futures, json, os, re, select, socket, struct, subprocess, sys
import threading, time, urllib.parse, urllib.request, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRUTHS = [os.path.join(ROOT, "tests", "data", f) for f in
          ("truth-cp314t-linux-x86_64.json", "truth-cp314t-linux-x86_64-b.json")]
SIMPLE = "https://pypi.org/simple/{}/"
RELEASE = "https://pypi.org/pypi/{}/{}/json"
ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.up = self.down = self.tunnels = 0

    def add(self, up, down):
        with self.lock:
            self.up += up
            self.down += down


def pipe(a, b, counter):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 120)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
                counter.add(len(data) if s is a else 0, len(data) if s is b else 0)
    finally:
        a.close()
        b.close()


def handle(client, counter):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    line = head.split(b"\r\n", 1)[0].decode()
    method, target, _ = line.split(" ", 2)
    if method != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        client.close()
        return
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection((host, int(port)), timeout=60)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    with counter.lock:
        counter.tunnels += 1
    pipe(client, upstream, counter)


def start_proxy(counter):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c, counter), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv


def get(url, start=None, end=None, accept=None):
    """Body of a GET (bytes [start, end) when given), without any proxy."""
    req = urllib.request.Request(url)
    if start is not None:
        req.add_header("Range", f"bytes={start}-{end - 1}")
    if accept:
        req.add_header("Accept", accept)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for attempt in range(4):
        try:
            with opener.open(req, timeout=120) as resp:
                body = resp.read()
                if start is not None and resp.status != 206:
                    body = body[start:end]
                return body, resp.headers
        except OSError:
            if attempt == 3:
                raise
            time.sleep(1 + attempt)


def zip_floor(url, size, members):
    """(directory bytes, needed member bytes, names not found) of the wheel at `url`."""
    tail_len = min(size, 1 << 16)
    tail, _ = get(url, size - tail_len, size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise ValueError(f"{url}: no end record in the last {tail_len} bytes")
    _, _, _, _, count, cd_size, cd_off, _ = struct.unpack("<IHHHHIIH", tail[at:at + 22])
    loc = at - 20
    if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":
        z64_off = struct.unpack("<Q", tail[loc + 8:loc + 16])[0]
        rec = tail[z64_off - (size - tail_len):] if z64_off >= size - tail_len else get(url, z64_off, z64_off + 56)[0]
        count, cd_size, cd_off = struct.unpack("<QQQ", rec[32:56])
    directory = size - cd_off
    cd = tail[cd_off - (size - tail_len):] if cd_off >= size - tail_len else get(url, cd_off, size)[0]
    entries = {}
    pos = 0
    while pos + 46 <= len(cd) and cd[pos:pos + 4] == b"PK\x01\x02":
        (csize, usize, nlen, xlen, clen) = struct.unpack("<II HHH", cd[pos + 20:pos + 34])
        (hoff,) = struct.unpack("<I", cd[pos + 42:pos + 46])
        name = cd[pos + 46:pos + 46 + nlen].decode("utf-8", "replace")
        extra = cd[pos + 46 + nlen:pos + 46 + nlen + xlen]
        # Zip64 sizes and offset in the extra field, in this order, for the fields at 0xffffffff.
        e = 0
        while e + 4 <= len(extra):
            tag, n = struct.unpack("<HH", extra[e:e + 4])
            if tag == 1:
                vals = list(struct.unpack(f"<{n // 8}Q", extra[e + 4:e + 4 + n - n % 8]))
                if usize == 0xFFFFFFFF and vals:
                    usize = vals.pop(0)
                if csize == 0xFFFFFFFF and vals:
                    csize = vals.pop(0)
                if hoff == 0xFFFFFFFF and vals:
                    hoff = vals.pop(0)
            e += 4 + n
        entries[name] = (hoff, csize)
        pos += 46 + nlen + xlen + clen
    needed = 0
    missing = []
    for name in members:
        if name not in entries:
            missing.append(name)
            continue
        hoff, csize = entries[name]
        head, _ = get(url, hoff, hoff + 30)
        method, = struct.unpack("<H", head[8:10])
        nlen, xlen = struct.unpack("<HH", head[26:30])
        needed += 30 + nlen + xlen + loaded_part(url, hoff + 30 + nlen + xlen, csize, method)
    return directory, needed, missing, entries


def loaded_end(head):
    """Where an ELF file's loadable segments end (what the dynamic loader maps; symbol
    tables, debug records and section headers come after), from its first bytes; None for
    other files."""
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        phoff, = struct.unpack_from(order + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 0x36)
    else:
        phoff, = struct.unpack_from(order + "I", head, 0x1c)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 0x2a)
    end = None
    for k in range(min(phnum, 64)):
        at = phoff + k * phentsize
        if at + (56 if wide else 32) > len(head):
            return None
        if struct.unpack_from(order + "I", head, at)[0] != 1:
            continue
        if wide:
            offset, filesz = struct.unpack_from(order + "Q", head, at + 8)[0], struct.unpack_from(order + "Q", head, at + 0x20)[0]
        else:
            offset, filesz = struct.unpack_from(order + "I", head, at + 4)[0], struct.unpack_from(order + "I", head, at + 0x10)[0]
        end = max(end or 0, offset + filesz)
    return end


CHUNK = 1 << 20


def loaded_part(url, start, csize, method):
    """Compressed bytes of a member needed to inflate it as far as its loadable segments go
    (an ELF file), or all of them (anything else), to within 4 KiB: the member is fetched and
    inflated chunk by chunk until that point."""
    if method == 0:
        head, _ = get(url, start, start + min(csize, 4096))
        end = loaded_end(head)
        return csize if end is None else min(csize, end)
    if method != 8:
        return csize
    inflate = zlib.decompressobj(-15)
    head = bytearray()
    end = None
    produced = used = 0
    while used < csize:
        chunk, _ = get(url, start + used, start + min(csize, used + CHUNK))
        if not chunk:
            break
        before = inflate.copy()
        data = inflate.decompress(chunk)
        if end is None:
            head += data[:4096 - len(head)]
            if len(head) >= 4096 or used + len(chunk) >= csize:
                end = loaded_end(bytes(head))
                if end is None:
                    return csize
        if end is not None and produced + len(data) >= end:
            # Feed the chunk again a little at a time to find where `end` was reached.
            out = produced
            for k in range(0, len(chunk), 4096):
                out += len(before.decompress(chunk[k:k + 4096]))
                if out >= end:
                    return min(csize, used + k + 4096)
        produced += len(data)
        used += len(chunk)
    return csize


def run_release(exe, target, env_extra):
    counter = Counter()
    srv = start_proxy(counter)
    proxy = f"http://127.0.0.1:{srv.getsockname()[1]}"
    env = dict(os.environ, HTTPS_PROXY=proxy, HTTP_PROXY=proxy, NO_PROXY="", **env_extra)
    t0 = time.time()
    r = subprocess.run([exe, "scan", "--format", "json", "--python", "3.14t", "--platform",
                        "linux-x86_64", "--no-store", "-q", target],
                       capture_output=True, text=True, env=env)
    secs = time.time() - t0
    srv.close()
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        report = {"wheels": [], "stats": {}}
    return {"down": counter.down, "up": counter.up, "tunnels": counter.tunnels, "seconds": secs,
            "report": report, "stderr": r.stderr.strip()[:300]}


def release_floor(name, version, report):
    """Floor bytes of a release and the sizes of its scanned wheels."""
    page, _ = get(SIMPLE.format(name), accept=ACCEPT)
    files = {f["filename"]: f for f in json.loads(page)["files"]}
    floor = len(page)
    # Where the index serves one release's JSON (PyPI does), that is the page to count.
    try:
        release, _ = get(RELEASE.format(name, version))
        if json.loads(release).get("urls"):
            floor = min(floor, len(release))
    except (OSError, ValueError):
        pass
    sizes = {}
    notes = []
    for w in report.get("wheels", []):
        fn = w["filename"]
        if fn not in files or not (w.get("sha256") or w.get("modules")):
            continue
        f = files[fn]
        url = urllib.parse.urljoin(SIMPLE.format(name), f["url"])
        size = f.get("size") or int(get(url, 0, 1)[1]["Content-Range"].rsplit("/", 1)[1])
        text = " ".join([w.get("note") or ""] + [m.get("evidence") or "" for m in w["modules"]])
        members = {m["member"] for m in w["modules"]}
        directory, _, _, entries = zip_floor(url, size, [])
        # Members the evidence names: the libraries stub modules hand off to, the files
        # loaded with ctypes or cffi the note lists.
        members |= {n for n in entries if n.endswith((".so", ".pyd", ".dylib")) or ".so." in n
                    if n in text}
        directory, needed, missing, _ = zip_floor(url, size, sorted(members))
        if missing:
            notes.append(f"{fn}: not in the directory: {missing}")
        floor += directory + needed
        sizes[fn] = size
    return floor, sizes, notes, len(page)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gilfree", action="append",
                    help="gilfree executable (repeat to compare builds; default target/release/gilfree)")
    ap.add_argument("--truth", action="append", help="truth file(s) naming the releases")
    ap.add_argument("--only", action="append", help="measure only this NAME==VERSION (repeat)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="releases measured at once")
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    exes = args.gilfree or [os.path.join(ROOT, "target", "release", "gilfree")]
    releases = []
    for truth in args.truth or TRUTHS:
        for e in json.load(open(truth))["packages"]:
            if (e["package"], e["version"]) not in releases:
                releases.append((e["package"], e["version"]))

    if args.only:
        releases = [r for r in releases if f"{r[0]}=={r[1]}" in args.only]

    def one(rel):
        name, version = rel
        runs = [run_release(exe, f"{name}=={version}", {}) for exe in exes]
        floor, sizes, notes, page = release_floor(name, version, runs[-1]["report"])
        return rel, runs, floor, sizes, notes, page

    totals = [dict(down=0, own=0, requests=0, tunnels=0, seconds=0.0, over=[]) for _ in exes]
    floor_total = size_total = 0
    rows = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for (name, version), runs, floor, sizes, notes, page in pool.map(one, releases):
            size = sum(sizes.values())
            floor_total += floor
            size_total += size
            row = {"release": f"{name}=={version}", "floor": floor, "wheel_bytes": size, "page": page,
                   "runs": []}
            for k, run in enumerate(runs):
                st = run["report"].get("stats", {})
                t = totals[k]
                t["down"] += run["down"]
                t["own"] += st.get("bytes_downloaded", 0)
                t["requests"] += st.get("requests", 0)
                t["tunnels"] += run["tunnels"]
                t["seconds"] += run["seconds"]
                # The wheel's bytes (gilfree's own count less the page) against its size.
                wheel_cost = st.get("bytes_downloaded", 0) - page
                if size and wheel_cost > size:
                    t["over"].append((f"{name}=={version}", wheel_cost, size))
                ratio = run["down"] / floor if floor else float("nan")
                print(f"{name}=={version} [{k}] {run['down']:,} B ({st.get('bytes_downloaded', 0):,} own, "
                      f"{st.get('requests', 0)} req, {run['tunnels']} tunnels) floor {floor:,} "
                      f"= {ratio:.2f}x; wheel {size:,}, its bytes {wheel_cost:,} "
                      f"= {wheel_cost / size if size else 0:.1%}"
                      + (f"  stderr: {run['stderr']}" if run["stderr"] else ""), flush=True)
                row["runs"].append({"exe": exes[k], "down": run["down"], "own": st.get("bytes_downloaded", 0),
                                    "requests": st.get("requests", 0), "tunnels": run["tunnels"],
                                    "seconds": round(run["seconds"], 2)})
            for n in notes:
                print("  note:", n)
            rows.append(row)
    print(f"\n{len(releases)} releases, {size_total:,} bytes of scanned wheels, floor {floor_total:,} "
          f"({floor_total / size_total:.1%} of the wheels)")
    for k, t in enumerate(totals):
        print(f"[{k}] {exes[k]}: {t['down']:,} bytes through the proxy "
              f"({t['down'] / floor_total:.2f}x the floor, {t['down'] / size_total:.1%} of the wheels), "
              f"own count {t['own']:,} in {t['requests']} requests, {t['tunnels']} tunnels, "
              f"{t['seconds']:.0f} s; releases costing more than their wheels: {len(t['over'])}")
        for rel, down, size in sorted(t["over"], key=lambda o: o[2] - o[1])[:10]:
            print(f"     {rel}: {down:,} bytes for {size:,}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"releases": rows, "exes": exes, "floor": floor_total, "wheel_bytes": size_total,
                       "totals": totals}, out, indent=1)


if __name__ == "__main__":
    main()
