#!/usr/bin/env python3
"""Bytes and time of `gilfree scan NAME==VERSION` through the index, measured from outside.

Starts a small counting HTTPS proxy (CONNECT tunnels) on 127.0.0.1, runs gilfree through it
for every release of the runtime truth set, then downloads the same matched wheels whole
through the same proxy as the baseline, and prints both. Run after `cargo build --release`:

    python3 scripts/measure-index.py [--db PATH]   # --db: reuse a store (second run)
"""
import argparse, json, os, select, socket, subprocess, sys, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRUTH = os.path.join(ROOT, "tests", "data", "truth-cp314t-linux-x86_64.json")


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
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c, counter), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="store to use (default: none)")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    counter = Counter()
    port = start_proxy(counter)
    proxy = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HTTPS_PROXY=proxy, HTTP_PROXY=proxy, NO_PROXY="")
    entries = json.load(open(TRUTH))["packages"]
    targets = [f"{e['package']}=={e['version']}" for e in entries]
    store = ["--db", args.db] if args.db else ["--no-store"]
    exe = os.path.join(ROOT, "target", "release", "gilfree")
    t0 = time.time()
    r = subprocess.run([exe, "scan", "--format", "json", "--python", "3.14t", "--platform", "linux-x86_64",
                        *store, *targets], capture_output=True, text=True, env=env)
    secs = time.time() - t0
    report = json.loads(r.stdout)
    scanned = {w["filename"] for w in report["wheels"] if w.get("sha256") or w["modules"]}
    print(f"gilfree: {counter.down:,} bytes down, {counter.up:,} up, {counter.tunnels} tunnels, "
          f"{secs:.1f} s; its own count {report['stats']['bytes_downloaded']:,} bytes in "
          f"{report['stats']['requests']} requests; {len(scanned)} wheels")
    if r.stderr.strip():
        print("stderr:", r.stderr.strip()[:500])
    if args.skip_baseline:
        return
    # Baseline: the same wheels downloaded whole, through the same proxy.
    urls = []
    for e in entries:
        page = f"https://pypi.org/pypi/{e['package']}/json"
        data = json.load(urllib.request.urlopen(page, timeout=60))
        for f in data["releases"].get(e["version"], []):
            if f["filename"] in scanned:
                urls.append(urllib.parse.urljoin(page, f["url"]))
    before = counter.down
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy}))
    t0 = time.time()
    total = 0
    for u in urls:
        with opener.open(u, timeout=600) as resp:
            while chunk := resp.read(1 << 20):
                total += len(chunk)
    base_secs = time.time() - t0
    base = counter.down - before
    print(f"whole wheels: {base:,} bytes down ({total:,} of file data), {base_secs:.1f} s, {len(urls)} wheels")
    print(f"gilfree / whole = {counter.down_first / base:.1%}" if hasattr(counter, "down_first") else
          f"gilfree / whole = {before / base:.1%} of the bytes, {secs / base_secs:.2f}x the time")


if __name__ == "__main__":
    import urllib.parse
    main()
