#!/usr/bin/env python3
"""Baseline for scripts/bench.sh: decompress the extension members of linux-x86_64 wheels.

Selects the members `gilfree scan` reads for CPython 3.14t on linux-x86_64: `.so` files on
the import path (not under `*.libs/`, `.dylibs/`, `*.data/data/`, ...) whose suffix is
`.cpython-314t-x86_64-linux-gnu.so` or a bare `.so` (abi3 and other interpreters' modules are
reported without being read). It then reads every such member in full, which is the
decompression floor of any tool that looks inside them.

    python3 scripts/bench-unzip.py WHEEL...            # read every extension member
    python3 scripts/bench-unzip.py --summary WHEEL...  # print "<members> <bytes>" only
    python3 scripts/bench-unzip.py --list WHEEL...     # print "<wheel>\t<member>" lines
"""
import os
import sys
import zipfile

SUFFIXES = (".cpython-314t-x86_64-linux-gnu.so", ".so")


def import_path(member):
    """The path below site-packages, or None when the member is not importable."""
    if not member or member.endswith("/") or member.startswith("/"):
        return None
    first, _, rest = member.partition("/")
    if first.endswith(".data") and rest:
        scheme, _, rest = rest.partition("/")
        if scheme not in ("platlib", "purelib") or not rest:
            return None
        member = rest
    if any(c in ("", ".", "..") for c in member.split("/")):
        return None
    return member


def is_extension(member):
    path = import_path(member)
    if path is None:
        return False
    *dirs, name = path.split("/")
    stem, dot, _ = name.partition(".")
    if not stem or not dot or any(not d or "." in d for d in dirs):
        return False
    return name[len(stem):] in SUFFIXES


def members(wheel):
    with zipfile.ZipFile(wheel) as z:
        return [i for i in z.infolist() if not i.is_dir() and is_extension(i.filename)]


def main(argv):
    mode = "read"
    if argv and argv[0] in ("--summary", "--list"):
        mode, argv = argv[0][2:], argv[1:]
    if not argv:
        sys.exit(__doc__)
    count = total = 0
    for wheel in argv:
        infos = members(wheel)
        if mode == "list":
            for i in infos:
                print(f"{os.path.basename(wheel)}\t{i.filename}")
            continue
        count += len(infos)
        total += sum(i.file_size for i in infos)
        if mode == "read":
            with zipfile.ZipFile(wheel) as z:
                for i in infos:
                    with z.open(i) as f:
                        while f.read(1 << 20):
                            pass
    if mode == "summary":
        print(count, total)


if __name__ == "__main__":
    main(sys.argv[1:])
