#!/usr/bin/env python3
"""Decode speed per format: RADBVision (radb-bench-vision --decode-only) vs Pillow (+ pillow-heif).

Same machine, same files, one thread each. The files are the 9 sample photos (Fixtures/photos:
5 JPEG + 4 PNG, 0.2-1.2 MP) re-encoded per format by the tools the fixtures use, into
.data/bench_formats/<format>/:
  heic  heif-enc -q 80                   avif  avifenc -s 8 --min 20 --max 30
  tiff  convert -compress LZW (8-bit RGB)   gif   convert (256 colours)
  bmp   convert BMP3: (24-bit)           dng   a 16-bit RGGB mosaic at 2x the photo's size with a
                                               16x11 preview (Tools/make_format_fixtures.write_dng),
                                               so both sides demosaic at half size
Peers, each decoding at full size to 8-bit RGB in memory:
  radb    ImageDecoder.decode(contentsOf:) (no size hint)
  Pillow  Image.open(path).convert("RGB") with pillow-heif registered (HEIC); Pillow's own AVIF plugin
  rawpy   rawpy.imread(path).postprocess(half_size=True, use_camera_wb=True, output_bps=8) for DNG
Each of --rounds rounds runs both peers once, alternating, in fresh processes (a warm-up pass,
then a timed pass); each peer keeps its best round. The machine is shared (other jobs running):
wall times are upper bounds, CPU seconds (user + system of the timed pass) are the steadier figure.

Usage (from the repository root, after `swift build -c release --product radb-bench-vision`):
  python3 Tools/bench_formats.py [--rounds 3] [--formats heic,avif,tiff,gif,bmp,dng]
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, ".data/bench_formats")
PHOTOS = os.path.join(ROOT, "Fixtures/photos")
BENCH = os.path.join(ROOT, ".build/release/radb-bench-vision")
FORMATS = ["heic", "avif", "tiff", "gif", "bmp", "dng"]


def make(fmt):
    out = os.path.join(DATA, fmt)
    os.makedirs(out, exist_ok=True)
    photos = sorted(p for p in os.listdir(PHOTOS) if p.endswith((".jpg", ".png")))
    files = []
    for p in photos:
        src = os.path.join(PHOTOS, p)
        stem = os.path.splitext(p)[0]
        dst = os.path.join(out, f"{stem}.{fmt}")
        files.append(dst)
        if os.path.exists(dst):
            continue
        png = os.path.join(out, stem + ".src.png")
        subprocess.run(["convert", src, "-auto-orient", "-strip", "PNG24:" + png], check=True)
        if fmt == "heic":
            cmd = ["heif-enc", "-q", "80", "-o", dst, png]
        elif fmt == "avif":
            cmd = ["avifenc", "-s", "8", "--min", "20", "--max", "30", png, dst]
        elif fmt == "tiff":
            cmd = ["convert", png, "-compress", "LZW", dst]
        elif fmt == "gif":
            cmd = ["convert", png, dst]
        elif fmt == "bmp":
            cmd = ["convert", png, "BMP3:" + dst]
        elif fmt == "dng":
            import numpy as np
            from PIL import Image
            sys.path.insert(0, os.path.join(ROOT, "Tools"))
            from make_format_fixtures import write_dng
            rgb = np.asarray(Image.open(png).convert("RGB"))
            write_dng(dst, rgb, np.asarray(Image.fromarray(rgb).resize((16, 11))))
            cmd = None
        if cmd:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.remove(png)
    listing = os.path.join(DATA, f"{fmt}.txt")
    with open(listing, "w") as f:
        f.write("\n".join(files) + "\n")
    megapixels = 0.0
    for p in files:
        from PIL import Image
        try:
            import pillow_heif
            pillow_heif.register_heif_opener()
        except ImportError:
            pass
        if fmt == "dng":
            import rawpy
            with rawpy.imread(p) as r:
                megapixels += r.sizes.width * r.sizes.height / 1e6
        else:
            with Image.open(p) as im:
                megapixels += im.size[0] * im.size[1] / 1e6
    return listing, len(files), megapixels


PEER = r'''
import resource, sys, time
fmt, listing = sys.argv[1], sys.argv[2]
files = open(listing).read().split()
if fmt == "dng":
    import rawpy
    def decode(p):
        with rawpy.imread(p) as r:
            return r.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
else:
    from PIL import Image
    import pillow_heif
    pillow_heif.register_heif_opener()
    def decode(p):
        with Image.open(p) as im:
            return im.convert("RGB")
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
for p in files: decode(p)            # warm-up
c0, t0 = cpu(), time.perf_counter()
for p in files: decode(p)
print(f"seconds={time.perf_counter() - t0:.4f} cpu_seconds={cpu() - c0:.4f}")
'''


def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split() if "=" in f)}


def run_radb(listing):
    out = subprocess.run([BENCH, "--list", listing, "--threads", "1", "--decode-only", "--repeat", "1"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    r = parse(out)
    if r["failures"] != 0:
        sys.exit(f"radb failed to decode {int(r['failures'])} files of {listing}")
    return r["seconds"], r["cpu_seconds"]


def run_peer(fmt, listing):
    out = subprocess.run([sys.executable, "-c", PEER, fmt, listing], check=True, capture_output=True, text=True).stdout
    r = parse(out.strip().splitlines()[-1])
    return r["seconds"], r["cpu_seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    if not os.path.exists(BENCH):
        sys.exit("build first: swift build -c release --product radb-bench-vision")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, {args.rounds} rounds")
    print("| format | files (MP) | radb img/s | peer img/s | speed ratio (radb/peer) | radb CPU s | peer CPU s | CPU ratio (peer/radb) |")
    print("|---|---|---|---|---|---|---|---|")
    for fmt in args.formats.split(","):
        listing, n, mp = make(fmt)
        best = {"radb": [1e9, 1e9], "peer": [1e9, 1e9]}
        for _ in range(args.rounds):
            for name, fn in (("radb", lambda: run_radb(listing)), ("peer", lambda: run_peer(fmt, listing))):
                s, c = fn()
                best[name][0] = min(best[name][0], s)
                best[name][1] = min(best[name][1], c)
        (rs, rc), (ps, pc) = best["radb"], best["peer"]
        peer = "rawpy" if fmt == "dng" else "Pillow"
        print(f"| {fmt} | {n} ({mp:.1f}) | {n / rs:.1f} | {n / ps:.1f} ({peer}) | {ps / rs:.2f} | {rc:.3f} | {pc:.3f} | {pc / rc:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
