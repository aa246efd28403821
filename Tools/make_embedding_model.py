"""Writes a radb model file (safetensors, readable by PyTorch's safetensors.torch.load_file) from a
packaged backbone with a different embedding recipe: pooling (avg | gem + p), input scale, and an
optional whitening stage fitted in numpy (Tools/embedding_candidates.py --save-whitening).

The Embedder applies, after the backbone's pooling:
    f = pooled features                       [featureDim]
    f = f / |f|            if l2_features = 1
    e = W (f - mean)       if the file has whiten.mean [featureDim] and whiten.weight [out, featureDim]
    e = e / |e|            if l2_output = 1
Tensors are little-endian; the whitening stage is stored F32 (it is small and precision matters
after the eigenvalue scaling). Only numpy is needed.

Usage:
  python3 Tools/make_embedding_model.py --backbone Sources/RADB/Resources/Models/mobilenet_v2_1.0_224.safetensors \\
      --out OUT.safetensors [--pooling gem --gem-p 3] [--input-size 288] [--whitening W.npz] \\
      [--l2-features 1 --l2-output 1] [--drop-classifier] [--meta key=value ...]
"""
import argparse, json, struct
import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
    return meta, tensors


def write_safetensors(path, meta, tensors):
    header, chunks, offset = {"__metadata__": meta}, [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)   # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pooling", choices=["avg", "gem", "avg+gem"], default=None)
    ap.add_argument("--gem-p", type=float, default=3.0)
    ap.add_argument("--input-size", type=int, default=None, help="network input side (and resize_shorter_side)")
    ap.add_argument("--whitening", default=None, help=".npz with mean [d] and weight [out, d]")
    ap.add_argument("--l2-features", type=int, default=None)
    ap.add_argument("--l2-output", type=int, default=None)
    ap.add_argument("--drop-classifier", action="store_true")
    ap.add_argument("--meta", action="append", default=[], help="extra metadata key=value")
    a = ap.parse_args()

    meta, tensors = read_safetensors(a.backbone)
    for k in ["class_names", "evaluation", "training", "head_widths"] + [k for k in meta if k.startswith("loss")]:
        meta.pop(k, None)
    tensors = {k: v for k, v in tensors.items() if not (k.startswith("head.") or k == "anchors")}
    meta["head"] = "none"
    if a.drop_classifier:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("classifier.")}
        meta.pop("num_classes", None)
    if a.pooling:
        meta["pooling"] = a.pooling
        if a.pooling == "avg+gem":
            meta["embedding_dim"] = str(2 * int(meta["embedding_dim"]))
        if a.pooling in ("gem", "avg+gem"):
            meta["gem_p"] = repr(float(a.gem_p))
        else:
            meta.pop("gem_p", None)
    if a.input_size:
        meta["input_size"] = str(a.input_size)
        meta["resize_shorter_side"] = str(a.input_size)
    if a.whitening:
        w = np.load(a.whitening)
        mean, weight = w["mean"].astype("<f4"), w["weight"].astype("<f4")
        assert mean.ndim == 1 and weight.ndim == 2 and weight.shape[1] == mean.shape[0], (mean.shape, weight.shape)
        assert np.isfinite(mean).all() and np.isfinite(weight).all()
        tensors["whiten.mean"] = ("F32", mean.shape, mean.tobytes())
        tensors["whiten.weight"] = ("F32", weight.shape, weight.tobytes())
        meta["embedding_dim"] = str(weight.shape[0])
        for k in w.files:
            if k not in ("mean", "weight") and w[k].ndim == 0:
                meta["whiten_" + k] = str(w[k].item())
    if a.l2_features is not None:
        meta["l2_features"] = str(a.l2_features)
    if a.l2_output is not None:
        meta["l2_output"] = str(a.l2_output)
    for kv in a.meta:
        k, v = kv.split("=", 1)
        meta[k] = v
    write_safetensors(a.out, meta, tensors)
    print(f"wrote {a.out}: embedding_dim {meta['embedding_dim']}, pooling {meta.get('pooling', 'avg')}, "
          f"input {meta['input_size']}, whitening {'yes' if a.whitening else 'no'}")


if __name__ == "__main__":
    main()
