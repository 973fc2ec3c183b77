#!/usr/bin/env python3
"""How much of the large (>= 512 KiB) PE and Mach-O extension members of some wheels lies past
what a reader needs: for PE, the bytes after the last section (certificates, appended data);
for Mach-O (64-bit), the code signature, beside the whole __LINKEDIT segment it ends.

    python3 scripts/layout-slack.py /tmp/gilfree-wheels/win-amd64/*.whl /tmp/gilfree-wheels/macos-arm64/*.whl
"""
import sys, zipfile, struct, glob, os
def pe(d):
    if d[:2] != b"MZ": return None
    o, = struct.unpack_from("<I", d, 0x3c)
    if d[o:o+4] != b"PE\0\0": return None
    nsec, = struct.unpack_from("<H", d, o+6); opt, = struct.unpack_from("<H", d, o+20)
    sec = o + 24 + opt; end = 0
    for k in range(nsec):
        raw_size, raw_ptr = struct.unpack_from("<II", d, sec + 40*k + 16)
        end = max(end, raw_ptr + raw_size)
    return end  # sections end; past it: certificates, appended data
def macho(d):
    m, = struct.unpack_from("<I", d, 0)
    if m != 0xfeedfacf: return None
    ncmds, = struct.unpack_from("<I", d, 16); at = 32; sig = 0; linkedit = None
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", d, at)
        if cmd == 0x19:  # LC_SEGMENT_64
            name = d[at+8:at+24].rstrip(b"\0")
            fileoff, filesize = struct.unpack_from("<QQ", d, at+40)
            if name == b"__LINKEDIT": linkedit = (fileoff, filesize)
        if cmd == 0x1d:  # LC_CODE_SIGNATURE
            sig = struct.unpack_from("<II", d, at+8)[1]
        at += size
    return linkedit, sig
tot = {}
for w in sys.argv[1:]:
    with zipfile.ZipFile(w) as z:
        for i in z.infolist():
            n = i.filename
            if not (n.endswith(".pyd") or n.endswith(".so") or n.endswith(".dll") or n.endswith(".dylib")) or i.file_size < 512*1024:
                continue
            d = z.read(i)
            e = pe(d)
            if e is not None:
                t = tot.setdefault("pe", [0, 0, 0]); t[0] += 1; t[1] += len(d); t[2] += max(0, len(d) - e)
                continue
            r = macho(d)
            if r is not None:
                (lo, ls), sig = r if r[0] else ((0, 0), r[1])
                t = tot.setdefault("macho", [0, 0, 0, 0]); t[0] += 1; t[1] += len(d); t[2] += sig; t[3] += ls
for k, t in tot.items():
    print(k, "members", t[0], "MB", round(t[1]/1e6, 1), "past sections / code signature MB", round(t[2]/1e6, 2), f"({100*t[2]/t[1]:.2f}%)",
          *( [f"__LINKEDIT MB {t[3]/1e6:.1f} ({100*t[3]/t[1]:.1f}%)"] if k == "macho" else []))
