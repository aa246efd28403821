#!/usr/bin/env python3
"""Run the reference runtime (ai-edge-litert, TFLite's builtin uint8 kernels) on fixed inputs and
commit its outputs as the fixture radb's engine must agree with (issue 4).

Inputs
  * photos: the nine photos in ../shared/models/imagenet-mobilenet/photos, decoded with Pillow,
    RGB, shorter side resized to 224 (Pillow bilinear with antialiasing), centre-cropped to 224.
    These Apache-2.0 photos are committed preprocessed: Fixtures/reference/photos_224_u8.bin.
  * tiny: the first PER_CLASS files (sorted) of every class of Tiny ImageNet val
    (.data/tiny-imagenet-200-mini/val, see Tools/unpack-datasets.sh). ImageNet pixels may not be
    committed, so the fixture records the *recipe*: decode (Pillow, RGB), then the exact integer
    bilinear upscale 64x64 -> 224x224 of `upscale_exact` (half-pixel centres, weights in 1/224,
    round half up), which the Swift test reproduces bit for bit, plus an FNV-1a-64 hash of the
    decoded 64x64 RGB bytes so the test can tell whether its decoder saw the same pixels.

Outputs (Fixtures/reference/)
  * <set>.json: file names, pixel hashes, reference top-1, quantisation of the stored outputs.
  * <set>_v2_logits_u8.bin: MobileNetV2 uint8 logits (the tensor before the softmax), [N, 1001].
  * <set>_v1_embedding_u8.bin: MobileNetV1 uint8 1024-d embeddings, [N, 1024].
It also prints how often the reference disagrees with itself when every input pixel moves by one
grey level, and with its own XNNPACK kernels, which bounds the agreement any float engine can reach.

Usage: python3 Tools/tflite_reference.py [--shared ../shared] [--per-class 5] [--float-check]
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter, OpResolverType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
V2 = "mobilenet_v2_1.0_224_quant.tflite"
V1 = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def upscale_exact(img: np.ndarray, size: int = 224) -> np.ndarray:
    """Integer bilinear resize with half-pixel centres: src = (dst + 0.5) * in / out - 0.5.

    Positions are kept as integers over the denominator `out` (p = (2*dst+1)*in - out over 2*out),
    clamped at the borders; the result is (sum of w_y*w_x*pixel + D^2/2) // D^2, D = 2*out."""
    h, w, c = img.shape

    def taps(n_in, n_out):
        d = 2 * n_out
        p = np.array([(2 * o + 1) * n_in - n_out for o in range(n_out)], dtype=np.int64)
        p = np.clip(p, 0, (n_in - 1) * d)
        i0 = p // d
        f = p - i0 * d
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, f, d

    y0, y1, fy, d = taps(h, size)
    x0, x1, fx, _ = taps(w, size)
    a = img.astype(np.int64)
    rows = a[y0] * (d - fy)[:, None, None] + a[y1] * fy[:, None, None]      # [size, w, c] over d
    out = rows[:, x0] * (d - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]  # over d*d
    return ((out + d * d // 2) // (d * d)).astype(np.uint8)


def photo_input(path: str, size: int = 224) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = size / min(w, h)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    im = im.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


class Runner:
    def __init__(self, path, xnnpack=False, threads=2):
        kw = {} if xnnpack else {
            "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "experimental_preserve_all_tensors": True}
        self.it = Interpreter(model_path=path, num_threads=threads, **kw)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]
        # The uint8 logits are the input of the final SOFTMAX (if any).
        self.logits = None
        if not xnnpack:
            for op in self.it._get_ops_details():
                if op["op_name"] == "SOFTMAX":
                    self.logits = op["inputs"][0]
        det = {t["index"]: t for t in self.it.get_tensor_details()}
        self.qout = det[self.logits]["quantization"] if self.logits is not None else self.out["quantization"]

    def run(self, x):
        self.it.set_tensor(self.inp, x[None])
        self.it.invoke()
        if self.logits is not None:
            return self.it.get_tensor(self.logits)[0].copy()
        return self.it.get_tensor(self.out["index"]).reshape(-1).copy()


def deq(q, qp):
    return (q.astype(np.float32) - qp[1]) * qp[0]


def cosine(a, b):
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--data", default=os.path.join(ROOT, ".data", "tiny-imagenet-200-mini", "val"))
    ap.add_argument("--per-class", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "reference"))
    ap.add_argument("--float-check", action="store_true",
                    help="also run the converted float model in PyTorch and report its agreement")
    ap.add_argument("--dump-inputs", help="write the uint8 tiny inputs here (git-ignored scratch)")
    args = ap.parse_args()
    mdir = os.path.join(args.shared, "models", "imagenet-mobilenet")
    if not os.path.isdir(args.data):
        sys.exit(f"error: {args.data} missing; run `bash Tools/unpack-datasets.sh` first")
    os.makedirs(args.out, exist_ok=True)
    labels = open(os.path.join(mdir, "imagenet_labels.txt")).read().splitlines()

    # -- inputs
    photo_names = sorted(os.listdir(os.path.join(mdir, "photos")))
    photos = np.stack([photo_input(os.path.join(mdir, "photos", n)) for n in photo_names])
    photos.tofile(os.path.join(args.out, "photos_224_u8.bin"))
    tiny_names, tiny_hash, tiny = [], [], []
    for wnid in sorted(os.listdir(args.data)):
        for f in sorted(os.listdir(os.path.join(args.data, wnid)))[: args.per_class]:
            small = np.asarray(Image.open(os.path.join(args.data, wnid, f)).convert("RGB"), dtype=np.uint8)
            tiny_names.append(f"{wnid}/{f}")
            tiny_hash.append(fnv1a64(small.tobytes()))
            tiny.append(upscale_exact(small))
    tiny = np.stack(tiny)
    if args.dump_inputs:
        tiny.tofile(args.dump_inputs)
    sets = {"photos": (photo_names, None, photos), "tiny_imagenet_val": (tiny_names, tiny_hash, tiny)}

    v2, v1 = Runner(os.path.join(mdir, V2)), Runner(os.path.join(mdir, V1))
    v2x = Runner(os.path.join(mdir, V2), xnnpack=True)
    report = {}
    for set_name, (names, hashes, x) in sets.items():
        logits = np.stack([v2.run(im) for im in x])
        emb = np.stack([v1.run(im) for im in x])
        logits.tofile(os.path.join(args.out, f"{set_name}_v2_logits_u8.bin"))
        emb.tofile(os.path.join(args.out, f"{set_name}_v1_embedding_u8.bin"))
        lf = deq(logits, v2.qout)
        top1 = lf.argmax(1)
        manifest = {
            "recipe": ("pillow_rgb_shorter_side_bilinear_center_crop_224" if hashes is None
                       else "pillow_rgb_decode_then_upscale_exact_64_to_224"),
            "files": names, "count": len(names),
            "v2_logits_scale": float(v2.qout[0]), "v2_logits_zero_point": int(v2.qout[1]),
            "v1_embedding_scale": float(v1.qout[0]), "v1_embedding_zero_point": int(v1.qout[1]),
            "v2_top1": [int(t) for t in top1],
            "v2_top1_label": [labels[t] for t in top1],
        }
        if hashes is not None:
            manifest["pixels_fnv1a64"] = hashes
            manifest["data_root"] = ".data/tiny-imagenet-200-mini/val"
        # Self-agreement of the reference runtime: every pixel one grey level up / down.
        flips, coss = 0, []
        for sign in (1, -1):
            xs = np.clip(x.astype(np.int16) + sign, 0, 255).astype(np.uint8)
            l2 = deq(np.stack([v2.run(im) for im in xs]), v2.qout)
            flips += int((l2.argmax(1) != top1).sum())
            coss += [cosine(a, b) for a, b in zip(lf, l2)]
        # XNNPACK (same uint8 file, the delegate's kernels) on the softmax output.
        sx = np.stack([v2x.run(im) for im in x])
        # Softmax is monotone, so compare the argmax of the XNNPACK probabilities with the top-1
        # logits class (ties in the 1/256 probabilities resolve to the lowest index, like argmax).
        xnn_agree = float((sx.argmax(1) == top1).mean())
        stats = {"n": len(names),
                 "one_grey_level_top1_agreement": 1 - flips / (2 * len(names)),
                 "one_grey_level_mean_cosine": float(np.mean(coss)),
                 "xnnpack_vs_builtin_top1_agreement": xnn_agree}
        manifest["reference_self_agreement"] = stats
        with open(os.path.join(args.out, f"{set_name}.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        report[set_name] = stats
        print(set_name, json.dumps(stats))
        if set_name == "photos":
            for n, t in zip(names, top1):
                print(f"  {n}: {t} {labels[t]}")

    if args.float_check:
        float_check(sets, v2, v1, os.path.join(ROOT, "Sources", "RADB", "Resources", "Models"))


def float_check(sets, v2, v1, model_dir):
    """The converted safetensors in PyTorch float32 (TF 'SAME' padding) vs the fixture."""
    import torch
    import torch.nn.functional as F
    from safetensors import safe_open

    def load(p):
        with safe_open(p, "pt") as f:
            return {k: f.get_tensor(k).float() for k in f.keys()}, f.metadata()

    def conv(x, t, name, stride=1, groups=1, act=True):
        w, b = t[name + ".weight"], t[name + ".bias"]
        k = w.shape[-1]
        if k > 1:
            pad = max((-(-x.shape[-1] // stride) - 1) * stride + k - x.shape[-1], 0)
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        y = F.conv2d(x, w, b, stride=stride, groups=groups)
        return y.clamp(0, 6) if act else y

    def v2_forward(t, x):
        x = conv(x, t, "features.0.0", 2)
        x = conv(x, t, "features.1.conv.0.0", 1, 32)
        x = conv(x, t, "features.1.conv.1", act=False)
        strides = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
        for i, s in zip(range(2, 18), strides):
            y = conv(x, t, f"features.{i}.conv.0.0")
            y = conv(y, t, f"features.{i}.conv.1.0", s, y.shape[1])
            y = conv(y, t, f"features.{i}.conv.2", act=False)
            x = x + y if (s == 1 and y.shape == x.shape) else y
        x = conv(x, t, "features.18.0").mean((2, 3))
        return x @ t["classifier.1.weight"].T + t["classifier.1.bias"]

    def v1_forward(t, x):
        x = conv(x, t, "features.0.0", 2)
        strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
        for i, s in zip(range(1, 14), strides):
            x = conv(x, t, f"features.{i}.depthwise", s, x.shape[1])
            x = conv(x, t, f"features.{i}.pointwise")
        return x.mean((2, 3))

    t2, m2 = load(os.path.join(model_dir, "mobilenet_v2_1.0_224.safetensors"))
    t1, m1 = load(os.path.join(model_dir, "mobilenet_v1_1.0_224_embedding.safetensors"))
    scale, offset = float(m2["input_scale"]), float(m2["input_offset"])
    for set_name, (names, _, x) in sets.items():
        xf = torch.from_numpy(x).float().permute(0, 3, 1, 2) * scale + offset
        with torch.no_grad():
            lf = torch.cat([v2_forward(t2, xf[i:i + 50]) for i in range(0, len(xf), 50)]).numpy()
            ef = torch.cat([v1_forward(t1, xf[i:i + 50]) for i in range(0, len(xf), 50)]).numpy()
        ref = deq(np.fromfile(os.path.join(ROOT, "Fixtures", "reference", f"{set_name}_v2_logits_u8.bin"),
                              np.uint8).reshape(len(names), 1001), v2.qout)
        refe = deq(np.fromfile(os.path.join(ROOT, "Fixtures", "reference", f"{set_name}_v1_embedding_u8.bin"),
                               np.uint8).reshape(len(names), 1024), v1.qout)
        agree = float((lf.argmax(1) == ref.argmax(1)).mean())
        print(f"float-check {set_name}: v2 top1 agreement {agree:.4f}, mean cosine "
              f"{np.mean([cosine(a, b) for a, b in zip(lf, ref)]):.4f}, min "
              f"{np.min([cosine(a, b) for a, b in zip(lf, ref)]):.4f}; v1 embedding mean cosine "
              f"{np.mean([cosine(a, b) for a, b in zip(ef, refe)]):.4f}")


if __name__ == "__main__":
    main()
