#!/usr/bin/env python3
"""A package index on 127.0.0.1 for trying gilfree outside `cargo test`: serves the wheels of
a folder (default: tests/fixtures/wheels) as a PEP 503 simple index, with `Range` requests, so
that `gilfree audit --index-url URL` reads them as it reads PyPI. Prints the index URL on its
first line, then serves until stopped or for --seconds (default 600).

    python3 scripts/test-index.py [--dir DIR] [--port 0] [--seconds 600] &
"""
import argparse, hashlib, html, http.server, os, re, sys, threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class Index(http.server.BaseHTTPRequestHandler):
    files = {}  # file name -> path
    projects = {}  # normalized name -> [file names]

    def log_message(self, *args):
        pass

    def send_text(self, body, content_type="text/html"):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/simple", "/simple/"):
            links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(self.projects))
            return self.send_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
        m = re.fullmatch(r"/simple/([^/]+)/?", path)
        if m:
            names = self.projects.get(normalize(m.group(1)))
            if names is None:
                return self.send_error(404)
            links = ""
            for n in names:
                digest = hashlib.sha256(open(self.files[n], "rb").read()).hexdigest()
                links += f'<a href="../../files/{html.escape(n)}#sha256={digest}">{html.escape(n)}</a>\n'
            return self.send_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
        m = re.fullmatch(r"/files/([^/]+)", path)
        if not m or m.group(1) not in self.files:
            return self.send_error(404)
        data = open(self.files[m.group(1)], "rb").read()
        rng = self.headers.get("Range", "")
        r = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        if r and (r.group(1) or r.group(2)):
            size = len(data)
            if r.group(1):
                start = int(r.group(1))
                end = min(int(r.group(2)), size - 1) if r.group(2) else size - 1
            else:
                start, end = max(0, size - int(r.group(2))), size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            part = data[start : end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            return self.wfile.write(part)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(ROOT, "tests", "fixtures", "wheels"))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()
    for name in sorted(os.listdir(args.dir)):
        if name.endswith(".whl"):
            Index.files[name] = os.path.join(args.dir, name)
            Index.projects.setdefault(normalize(name.split("-")[0]), []).append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Index)
    print(f"http://127.0.0.1:{server.server_address[1]}/simple/", flush=True)
    threading.Timer(args.seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
