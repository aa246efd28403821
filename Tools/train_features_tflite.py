#!/usr/bin/env python3
"""Caches MobileNetV2 (TFLite, uint8) 1280-d pooled features of a folder-per-class split.

Why: head training (mode a) needs backbone features computed once. Until the Swift
MobileNetV2 of RADBNeural can do it, this peer script fills the same cache format with the
reference runtime's features (the layer `MobilenetV2/Logits/AvgPool`, dequantised).

Output (read by RADBTraining.FeatureCache):
  <out>.f32   little-endian float32, row-major [count, 1280]
  <out>.json  {"dim", "count", "labels": [int], "class_names": [str], "paths": [str], "source"}

Usage: python3 Tools/train_features_tflite.py .data/cifar10/test .data/features/cifar10-test-tflite [--limit-per-class N]
"""
import argparse, json, os, sys, time
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models", "imagenet-mobilenet",
                     "mobilenet_v2_1.0_224_quant.tflite")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root"); ap.add_argument("out")
    ap.add_argument("--model", default=os.environ.get("RADB_MOBILENETV2_TFLITE", MODEL))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit-per-class", type=int, default=0)
    a = ap.parse_args()
    classes = sorted(d for d in os.listdir(a.root) if os.path.isdir(os.path.join(a.root, d)))
    items = []
    for ci, c in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(a.root, c)) if not f.startswith("."))
        if a.limit_per_class: files = files[:a.limit_per_class]
        items += [(os.path.join(c, f), ci) for f in files]
    it = Interpreter(a.model, num_threads=a.threads, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    pooled = [d for d in it.get_tensor_details() if d["name"] == "MobilenetV2/Logits/AvgPool"][0]
    scale, zero = pooled["quantization"]
    feats = np.zeros((len(items), 1280), dtype="<f4")
    t0 = time.time()
    for i, (rel, _) in enumerate(items):
        img = Image.open(os.path.join(a.root, rel)).convert("RGB").resize((224, 224), Image.BILINEAR)
        it.set_tensor(inp["index"], np.asarray(img, dtype=np.uint8)[None])
        it.invoke()
        q = it.get_tensor(pooled["index"]).reshape(-1).astype(np.float32)
        feats[i] = (q - zero) * scale
        if i % 2000 == 0:
            el = time.time() - t0
            print(f"{a.root}: {i}/{len(items)} {i / max(el, 1e-9):.0f} img/s", file=sys.stderr, flush=True)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    feats.tofile(a.out + ".f32")
    with open(a.out + ".json", "w") as f:
        json.dump({"dim": 1280, "count": len(items), "labels": [l for _, l in items], "class_names": classes,
                   "paths": [p for p, _ in items], "source": "tflite mobilenet_v2_1.0_224_quant AvgPool"}, f)
    print(f"wrote {a.out}.f32 ({len(items)} x 1280) in {time.time() - t0:.0f}s", file=sys.stderr)

if __name__ == "__main__":
    main()
