#!/usr/bin/env python3
"""Requests against bytes for reading large ELF modules only as far as their segments go.

For every ELF extension member of the given wheels that gilfree reads in part (at least
512 KiB, with at least max(128 KiB, 1/16 of the file) past its loadable segments), find the
compressed bytes needed to inflate it to its segments' end, then simulate how many requests
and bytes a remote read takes with an estimate of that point (the member's share of the
compressed size, times a margin) completed by reads that start at a given size and double
up to 8 MiB, as gilfree's remote file does.

    python3 scripts/sim-loaded-part.py /tmp/gilfree-wheels/linux-*/*.whl /tmp/gilfree-wheels/big/*.whl
"""
import os
import struct
import sys
import zipfile
import zlib
from importlib import import_module

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
loaded_end = import_module("measure-index").loaded_end

HEAD = 64 << 10


def modules(wheels):
    """(size, compressed size, segments' end, compressed bytes needed) per module read in part."""
    for w in wheels:
        with zipfile.ZipFile(w) as z, open(w, "rb") as f:
            for i in z.infolist():
                if ".so" not in i.filename.rsplit("/", 1)[-1] or i.file_size < 512 << 10 \
                        or i.compress_type != zipfile.ZIP_DEFLATED:
                    continue
                f.seek(i.header_offset)
                local = f.read(30)
                f.seek(i.header_offset + 30 + sum(struct.unpack("<HH", local[26:30])))
                comp = f.read(i.compress_size)
                end = loaded_end(zlib.decompressobj(-15).decompress(comp[:HEAD])[:4096])
                if end is None or i.file_size - end < max(128 << 10, i.file_size // 16):
                    continue
                d, out, need = zlib.decompressobj(-15), 0, i.compress_size
                for k in range(0, len(comp), 4096):
                    out += len(d.decompress(comp[k:k + 4096]))
                    if out >= end:
                        need = min(i.compress_size, k + 4096)
                        break
                yield i.file_size, i.compress_size, end, need


def simulate(rows, margin, first):
    """Requests and bytes: one for the estimate, then doubling reads for what it missed."""
    requests = fetched = 0
    for size, csize, end, need in rows:
        estimate = min(csize, max(HEAD, int(csize * end / size * (1 + margin))))
        requests += 1
        got, step = estimate, first(csize)
        while got < need:
            got += step
            requests += 1
            step = min(step * 2, 8 << 20)
        fetched += min(csize, got)
    return requests, fetched


def main():
    rows = list(modules(sys.argv[1:]))
    need = sum(r[3] for r in rows)
    print(f"{len(rows)} modules read in part: {need / 1e6:.1f} MB needed of "
          f"{sum(r[1] for r in rows) / 1e6:.1f} MB compressed")
    for margin in (0.125, 0.25, 0.5):
        for name, first in (("64 KiB", lambda c: HEAD), ("1/16", lambda c: max(HEAD, c // 16)),
                            ("1/8", lambda c: max(HEAD, c // 8))):
            req, got = simulate(rows, margin, first)
            print(f"estimate +{margin:<5} first completing read {name:6}: {req:5} requests, "
                  f"{got / 1e6:8.1f} MB ({got / need:.3f}x needed)")


if __name__ == "__main__":
    main()
