#!/usr/bin/env python3
"""Convert the shipped uint8 TFLite MobileNets into radb safetensors model files.

Reads ../shared/models/imagenet-mobilenet/*.tflite with ai-edge-litert's interpreter (tensor
details + the op graph), dequantises every weight (per-tensor or per-channel scale and zero
point: w = (q - zero_point) * scale; int32 biases: b = q * scale), maps the folded conv weight +
bias of each layer onto torchvision-style names in PyTorch layout (conv OIHW, depthwise [C,1,3,3],
classifier [out, in]) and writes a safetensors file whose `__metadata__` is radb's model record
(DESIGN §4): radb.format, architecture, input_size, resize_shorter_side, input_scale / input_offset
(x = pixel*scale + offset, taken from the TFLite input quantisation), embedding_dim, head, padding.

Usage:
    python3 Tools/convert_tflite.py [--shared ../shared] [--out Sources/RADB/Resources/Models]
                                    [--dtype F16|F32]
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from safetensors.numpy import save_file

V2_FILE = "mobilenet_v2_1.0_224_quant.tflite"
V1_FILE = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"


def load(path):
    it = Interpreter(model_path=path,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = {t["index"]: t for t in it.get_tensor_details()}
    return it, details, it._get_ops_details()


def dequantise(it, detail):
    q = it.get_tensor(detail["index"])
    qp = detail["quantization_parameters"]
    scales, zeros, axis = qp["scales"], qp["zero_points"], qp["quantized_dimension"]
    if len(scales) == 0:
        return q.astype(np.float32)
    shape = [1] * q.ndim
    if len(scales) > 1:  # per-channel
        shape[axis] = len(scales)
    s = scales.astype(np.float64).reshape(shape)
    z = zeros.astype(np.float64).reshape(shape)
    return ((q.astype(np.float64) - z) * s).astype(np.float32)


def conv_layers(it, details, ops):
    """[(op_name, weight OHWI or 1HWC float32, bias float32, stride, out quantisation)] in graph order."""
    out = []
    for op in ops:
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        ins = [i for i in op["inputs"] if i >= 0]
        x, w, b = (details[i] for i in ins[:3])
        y = details[op["outputs"][0]]
        stride = x["shape"][1] // y["shape"][1] if y["shape"][1] > 1 else 1
        out.append((op["op_name"], dequantise(it, w), dequantise(it, b), int(stride), w["name"]))
    return out


def to_torch_layout(kind, w):
    if kind == "CONV_2D":          # TFLite OHWI -> PyTorch OIHW
        return np.ascontiguousarray(w.transpose(0, 3, 1, 2))
    return np.ascontiguousarray(w.transpose(3, 0, 1, 2))  # depthwise 1HWC -> [C,1,H,W]


def input_record(it):
    scale, zero = it.get_input_details()[0]["quantization"]
    return {"input_scale": repr(float(scale)), "input_offset": repr(float(-zero * scale))}


def convert_v2(path, dtype):
    it, details, ops = load(path)
    layers = conv_layers(it, details, ops)
    assert len(layers) == 53, len(layers)
    tensors = {}

    def put(name, kind, w, b):
        tensors[name + ".weight"] = to_torch_layout(kind, w)
        tensors[name + ".bias"] = b

    k = 0
    put("features.0.0", layers[k][0], *layers[k][1:3]); k += 1
    # Block 1 (expand ratio 1): depthwise, project.
    put("features.1.conv.0.0", layers[k][0], *layers[k][1:3]); k += 1
    put("features.1.conv.1", layers[k][0], *layers[k][1:3]); k += 1
    for block in range(2, 18):
        put(f"features.{block}.conv.0.0", layers[k][0], *layers[k][1:3]); k += 1
        put(f"features.{block}.conv.1.0", layers[k][0], *layers[k][1:3]); k += 1
        put(f"features.{block}.conv.2", layers[k][0], *layers[k][1:3]); k += 1
    put("features.18.0", layers[k][0], *layers[k][1:3]); k += 1
    kind, w, b, _, name = layers[k]
    assert "Logits" in name and w.shape == (1001, 1, 1, 1280), (name, w.shape)
    tensors["classifier.1.weight"] = np.ascontiguousarray(w.reshape(1001, 1280))
    tensors["classifier.1.bias"] = b
    meta = {"architecture": "mobilenet_v2", "embedding_dim": "1280", "num_classes": "1001",
            "source": V2_FILE}
    return tensors, meta, it


def convert_v1(path, dtype):
    it, details, ops = load(path)
    layers = conv_layers(it, details, ops)
    assert len(layers) == 27, len(layers)
    tensors = {}
    kind, w, b, _, _ = layers[0]
    tensors["features.0.0.weight"], tensors["features.0.0.bias"] = to_torch_layout(kind, w), b
    for i in range(1, 14):
        for j, part in ((2 * i - 1, "depthwise"), (2 * i, "pointwise")):
            kind, w, b, _, name = layers[j]
            assert f"Conv2d_{i}_{part}" in name, name
            tensors[f"features.{i}.{part}.weight"] = to_torch_layout(kind, w)
            tensors[f"features.{i}.{part}.bias"] = b
    meta = {"architecture": "mobilenet_v1", "embedding_dim": "1024", "source": V1_FILE}
    return tensors, meta, it


def write(tensors, meta, it, out_path, dtype, source_path):
    store = {}
    for name, t in tensors.items():
        # Biases stay F32 (tiny, and int32-quantised so F16 would round them); weights use `dtype`.
        store[name] = t.astype(np.float16 if dtype == "F16" and name.endswith("weight") else np.float32)
    with open(source_path, "rb") as f:
        source_sha = hashlib.sha256(f.read()).hexdigest()
    metadata = {"radb.format": "1", "input_size": "224", "resize_shorter_side": "224", "head": "none",
                "padding": "tf_same",
                "activation": "relu6", "weights_dtype": dtype, "source_sha256": source_sha,
                "license": "Apache-2.0 (see LICENSE beside this file)",
                **input_record(it), **meta}
    save_file(store, out_path, metadata=metadata)
    n = sum(t.size for t in tensors.values())
    print(f"{out_path}: {len(store)} tensors, {n} parameters, {os.path.getsize(out_path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Sources", "RADB",
                                                  "Resources", "Models"))
    ap.add_argument("--dtype", default="F16", choices=["F16", "F32"])
    args = ap.parse_args()
    src = os.path.join(args.shared, "models", "imagenet-mobilenet")
    if not os.path.isdir(src):
        sys.exit(f"error: {src} not found; pass --shared PATH to the shared folder")
    os.makedirs(args.out, exist_ok=True)
    for fname, convert, out in ((V2_FILE, convert_v2, "mobilenet_v2_1.0_224.safetensors"),
                                (V1_FILE, convert_v1, "mobilenet_v1_1.0_224_embedding.safetensors")):
        path = os.path.join(src, fname)
        tensors, meta, it = convert(path, args.dtype)
        write(tensors, meta, it, os.path.join(args.out, out), args.dtype, path)


if __name__ == "__main__":
    main()
