#!/usr/bin/env python3
"""Decode + resize to 224x224: RADBVision (radb-bench-vision) vs Pillow (and pillow-simd).

Same machine, same files, same pass structure, 1 and 2 worker threads/processes, best of N
passes after a warm-up pass. Every run is a fresh subprocess so the peers do not share a heap.

  radb        ImageDecoder.decode(contentsOf:targetSizeHint:) + Image.resized(224, 224)
              (EXIF orientation applied; with "DCT" the JPEG decoder scales by 1/2..1/8 first)
  Pillow      Image.open + [draft("RGB", (224, 224)) for JPEG] + convert("RGB")
              + resize((224, 224), BILINEAR)   (BILINEAR in Pillow is the antialiased triangle filter)
  2 threads   radb: 2 threads in one process; Pillow: multiprocessing.Pool(2)

Datasets: Tiny ImageNet val (10,000 JPEGs, 64x64), the 9 photos of ../shared/models/imagenet-mobilenet
(5 JPEG + 4 PNG, 0.2-1.2 MP), and 12-megapixel JPEGs (4032x3024) made here by upscaling those photos.

Usage (from the repository root, after `swift build -c release --product radb-bench-vision`):
  python3 Tools/bench_decode.py [--simd-python .data/simdvenv/bin/python] [--repeat 3]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SIZE = (224, 224)


# MARK: - Pillow worker (runs in a subprocess, under whichever Python has the Pillow to test)

def _pillow_one(args):
    path, draft = args
    from PIL import Image
    im = Image.open(path)
    if draft and im.format == "JPEG":
        im.draft("RGB", SIZE)
    im = im.convert("RGB").resize(SIZE, Image.BILINEAR)
    return im.size == SIZE


def pillow_worker(list_path, threads, draft, repeat):
    import PIL
    files = [l.strip() for l in open(list_path) if l.strip()]
    jobs = [(f, draft) for f in files]
    pool = None
    if threads > 1:
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(threads)
        run = lambda: pool.map(_pillow_one, jobs, chunksize=max(1, len(jobs) // (threads * 16)))
    else:
        run = lambda: [_pillow_one(j) for j in jobs]
    run()  # warm-up
    best = float("inf")
    ok = 0
    for _ in range(repeat):
        t = time.perf_counter()
        results = run()
        best = min(best, time.perf_counter() - t)
        ok = sum(results)
    if pool:
        pool.close()
    print(json.dumps({"images": len(files), "failures": len(files) - ok, "seconds": best,
                      "version": PIL.__version__}))


# MARK: - Orchestration

def make_12mp_jpegs(photos_dir, out_dir):
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    made = []
    for name in ["cat_720p.jpg", "hot_dog.jpg", "kite_and_cold.jpg", "owl.jpg", "parrot.jpg", "grace_hopper.png"]:
        src = os.path.join(photos_dir, name)
        dst = os.path.join(out_dir, os.path.splitext(name)[0] + "_12mp.jpg")
        if not os.path.exists(src):
            continue
        if not os.path.exists(dst):
            im = Image.open(src).convert("RGB")
            size = (4032, 3024) if im.width >= im.height else (3024, 4032)
            im.resize(size, Image.BICUBIC).save(dst, quality=90)
        made.append(dst)
    return made


def write_list(name, files):
    path = os.path.join(ROOT, ".data", f"bench-{name}.txt")
    with open(path, "w") as f:
        f.write("\n".join(files) + "\n")
    return path


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def run_radb(binary, list_path, threads, dct, repeat):
    cmd = [binary, "--list", list_path, "--threads", str(threads), "--repeat", str(repeat)]
    if not dct:
        cmd.append("--no-dct")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in out.split())
    return {"images": int(fields["images"]), "failures": int(fields["failures"]), "seconds": float(fields["seconds"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pillow-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--list")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--draft", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--simd-python", default=os.path.join(ROOT, ".data/simdvenv/bin/python"),
                    help="a Python whose PIL is pillow-simd (skipped if absent)")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/radb-bench-vision"))
    ap.add_argument("--datasets", default="tiny,photos,12mp")
    args = ap.parse_args()
    if args.pillow_worker:
        return pillow_worker(args.list, args.threads, args.draft, args.repeat)

    photos = os.path.normpath(os.path.join(ROOT, "..", "shared", "models", "imagenet-mobilenet", "photos"))
    datasets = {}
    tiny = sorted(glob.glob(os.path.join(ROOT, ".data/tiny-imagenet-200-mini/val/*/*.JPEG")))
    if tiny:
        datasets["tiny"] = ("Tiny ImageNet val, 10,000 JPEG 64x64", tiny, args.repeat)
    if os.path.isdir(photos):
        shared = sorted(glob.glob(os.path.join(photos, "*")))
        # 9 files are too few for a stable time: each pass decodes the list 10 times.
        datasets["photos"] = ("9 shared photos (5 JPEG, 4 PNG) x10", shared * 10, args.repeat)
        datasets["12mp"] = ("6 JPEG 4032x3024 (12 MP) x2", make_12mp_jpegs(photos, os.path.join(ROOT, ".data/bench-12mp")) * 2,
                            args.repeat)
    peers = [("Pillow", sys.executable)]
    if os.path.exists(args.simd_python):
        peers.append(("pillow-simd", args.simd_python))

    print("| data | threads | radb img/s | Pillow img/s | radb / Pillow | pillow-simd img/s | radb / pillow-simd | mode |")
    print("|---|---|---|---|---|---|---|---|")
    for key in args.datasets.split(","):
        if key not in datasets:
            print(f"| {key} | skipped: data absent | | | | | | |")
            continue
        label, files, repeat = datasets[key]
        list_path = write_list(key, files)
        modes = [(True, "DCT scaling / draft()"), (False, "full decode")] if key != "tiny" else [(True, "full decode (64 px < 224: no scaling)")]
        for dct, mode in modes:
            for threads in (1, 2):
                radb = run_radb(args.binary, list_path, threads, dct, repeat)
                row = [label, str(threads), f"{radb['images'] / radb['seconds']:.0f}"]
                assert radb["failures"] == 0, radb
                for name, python in peers:
                    cmd = [python, os.path.abspath(__file__), "--pillow-worker", "--list", list_path,
                           "--threads", str(threads), "--repeat", str(repeat)] + (["--draft"] if dct else [])
                    peer = run_json(cmd)
                    assert peer["failures"] == 0, peer
                    rate = peer["images"] / peer["seconds"]
                    row += [f"{rate:.0f}", f"{(radb['images'] / radb['seconds']) / rate:.2f}x"]
                while len(row) < 7:
                    row += ["n/a"]
                row.append(mode)
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
