"""Builds the image subsets of the default-model selection protocol (RESULTS.md, "Default model")
as folder-per-class trees of symbolic links under .data/subsets/, so every extractor (radb's own
engine via `radb-bench-train features`, the TFLite peer, the PyTorch screen) reads the same files.

Every choice is a first-N rule on sorted names (no randomness):
  tin-fit   Tiny ImageNet train, classes 0-99 (sorted wnids), first 20 images per class   (fitting only)
  tin-db    Tiny ImageNet train, classes 100-199, first 30 per class                      (database)
  tin-q     Tiny ImageNet val,   classes 100-199, first 10 per class                      (queries)
  cifar-db  CIFAR-10 train, first 200 per class;  cifar-q  CIFAR-10 test, first 50 per class
  fmnist-db Fashion-MNIST train, first 200 per class (in file order); fmnist-q t10k, first 50 per class
  <name>-mini  the first half of each of the above per class (10/15/5, 100/25, 100/25), used for
            the costlier candidates (a second input scale, MobileNetV1), which the table compares
            with the 224 V2 candidates sliced to the same images
(Small on purpose: every image goes through radb's float engine once per candidate scale on a
shared 2-core machine.)
Fashion-MNIST images are written as greyscale PNGs (Tools/export_fashion_mnist_png.py).

Usage: bash Tools/unpack-datasets.sh && python3 Tools/embedding_subsets.py
"""
import os, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, ".data")
OUT = os.path.join(DATA, "subsets")


def link_tree(name, src, classes, per_class):
    dst = os.path.join(OUT, name)
    if os.path.isdir(dst):
        return
    for c in classes:
        files = sorted(f for f in os.listdir(os.path.join(src, c)) if not f.startswith("."))[:per_class]
        os.makedirs(os.path.join(dst, c))
        for f in files:
            os.symlink(os.path.abspath(os.path.join(src, c, f)), os.path.join(dst, c, f))
    print(f"{name}: {len(classes)} classes x {per_class}")


def main():
    tin = os.path.join(DATA, "tiny-imagenet-200-mini")
    wnids = sorted(os.listdir(os.path.join(tin, "train")))
    assert len(wnids) == 200, "unpack the datasets first (bash Tools/unpack-datasets.sh)"
    cifar = os.path.join(DATA, "cifar10")
    classes = sorted(os.listdir(os.path.join(cifar, "train")))
    for suffix, half in [("", 1), ("-mini", 2)]:
        link_tree("tin-fit" + suffix, os.path.join(tin, "train"), wnids[:100], 20 // half)
        link_tree("tin-db" + suffix, os.path.join(tin, "train"), wnids[100:], 30 // half)
        link_tree("tin-q" + suffix, os.path.join(tin, "val"), wnids[100:], 10 // half)
        link_tree("cifar-db" + suffix, os.path.join(cifar, "train"), classes, 200 // half)
        link_tree("cifar-q" + suffix, os.path.join(cifar, "test"), classes, 50 // half)
    export = os.path.join(ROOT, "Tools", "export_fashion_mnist_png.py")
    for name, split, k in [("fmnist-db", "train", 200), ("fmnist-q", "t10k", 50),
                           ("fmnist-db-mini", "train", 100), ("fmnist-q-mini", "t10k", 25)]:
        if not os.path.isdir(os.path.join(OUT, name)):
            subprocess.run([sys.executable, export, os.path.join(OUT, name), "--split", split, "--per-class", str(k)], check=True)


if __name__ == "__main__":
    main()
