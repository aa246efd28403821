#!/usr/bin/env python3
"""The off-the-shelf peer of the default-model table (RESULTS.md, "Default model"): the TFLite
MobileNetV1 embedding extractor (uint8, 1024-d output, dequantised), run by ai-edge-litert on the
subsets of Tools/embedding_subsets.py the way a user of that file would: PIL decode -> RGB ->
bilinear resize to 224x224 -> uint8 input. Writes the FeatureCache layout
.data/emb/feat/tflite-v1/<subset>.{f32,json}; Tools/embedding_candidates.py ranks it by exact L2.

Usage: python3 Tools/tflite_embedding_peer.py [--threads 1]
"""
import argparse, json, os, sys, time
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "shared", "models", "imagenet-mobilenet",
                     "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")
SUBSETS = ["tin-fit", "tin-db", "tin-q", "cifar-db", "cifar-q", "fmnist-db", "fmnist-q"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    it = Interpreter(a.model, num_threads=a.threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zero = out["quantization"]
    dim = int(np.prod(out["shape"][1:]))
    for subset in SUBSETS:
        root = os.path.join(HERE, "..", ".data", "subsets", subset)
        base = os.path.join(HERE, "..", ".data", "emb", "feat", "tflite-v1", subset)
        if os.path.exists(base + ".f32"):
            continue
        classes = sorted(os.listdir(root))
        items = [(os.path.join(c, f), ci) for ci, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(root, c)))]
        feats = np.zeros((len(items), dim), dtype="<f4")
        t0 = time.time()
        for i, (rel, _) in enumerate(items):
            img = Image.open(os.path.join(root, rel)).convert("RGB").resize((224, 224), Image.BILINEAR)
            it.set_tensor(inp["index"], np.asarray(img, dtype=np.uint8)[None])
            it.invoke()
            q = it.get_tensor(out["index"]).reshape(-1).astype(np.float32)
            feats[i] = (q - zero) * scale if scale else q
        os.makedirs(os.path.dirname(base), exist_ok=True)
        feats.tofile(base + ".f32")
        with open(base + ".json", "w") as f:
            json.dump({"dim": dim, "count": len(items), "labels": [l for _, l in items], "class_names": classes,
                       "paths": [p for p, _ in items], "source": "tflite mobilenet_v1_1.0_224_quant_embedding_extractor"}, f)
        print(f"{subset}: {len(items)} x {dim} in {time.time() - t0:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
