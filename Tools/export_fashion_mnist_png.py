"""Writes Fashion-MNIST test images as greyscale PNG files, one folder per class
(OUT/<class>/<index>.png), so they can be embedded exactly as radb ingests photos
(decode -> RGB -> resize shorter side -> centre crop, the model record's preprocessing).

Usage: python3 Tools/export_fashion_mnist_png.py OUT [--split t10k|train] [--per-class K]
Reads /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).
"""
import argparse, gzip, os
import numpy as np
from PIL import Image

CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--split", default="t10k")
    ap.add_argument("--per-class", type=int, default=0, help="first K images of every class (0 = all)")
    ap.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    with gzip.open(os.path.join(a.root, f"{a.split}-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(a.root, f"{a.split}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    seen = [0] * 10
    for i, (img, y) in enumerate(zip(images, labels)):
        if a.per_class and seen[y] >= a.per_class:
            continue
        seen[y] += 1
        d = os.path.join(a.out, f"{y}-{CLASSES[y]}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(img, "L").save(os.path.join(d, f"{i:05d}.png"))
    print(f"wrote {sum(seen)} images to {a.out}")

if __name__ == "__main__":
    main()
