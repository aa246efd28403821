#!/usr/bin/env python3
"""Peer for `radb-bench-train speed`: the same ResNetSmall (3×3 stem 16, one basic block per
stage 16-32-64, stride 2 between stages, GAP, linear → 128) trained with the same CAM loss
(½‖e−c_y‖² mean + repeller + min-norm) and AdamW, batch and thread count, on the same real
32×32 CIFAR-10 images, in PyTorch CPU. Prints training images/s.

Usage: python3 Tools/bench_train.py --root .data/cifar10/train --batch 128 --steps 5 --threads 2
"""
import argparse, json, os, time
import numpy as np, torch, torch.nn as nn
from PIL import Image

class Block(nn.Module):
    def __init__(s, cin, w, stride):
        super().__init__()
        s.c1 = nn.Conv2d(cin, w, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(w)
        s.c2 = nn.Conv2d(w, w, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(w)
        s.sc = nn.Sequential(nn.Conv2d(cin, w, 1, stride, bias=False), nn.BatchNorm2d(w)) if stride != 1 or cin != w else nn.Identity()
    def forward(s, x):
        return torch.relu(s.b2(s.c2(torch.relu(s.b1(s.c1(x))))) + s.sc(x))

class ResNetSmall(nn.Module):
    def __init__(s, d=128, widths=(16, 32, 64)):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(Block(cin, w, 1 if i == 0 else 2)); cin = w
        s.blocks = nn.Sequential(*blocks); s.fc = nn.Linear(cin, d)
    def forward(s, x):
        return s.fc(s.blocks(s.stem(x)).mean((2, 3)))

def cam_loss(e, y, c, m=1.0, p=1.0):
    la = 0.5 * ((e - c[y]) ** 2).sum(1).mean()
    d = torch.cdist(c, c); off = ~torch.eye(len(c), dtype=torch.bool)
    lr = 0.5 * (torch.clamp(2 * m - d[off], min=0) ** 2).sum()
    ln = torch.clamp(p - c.norm(dim=1), min=0).sum()
    return la + lr + ln

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=".data/cifar10/train"); ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5); ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    classes = sorted(os.listdir(a.root)); xs, ys = [], []
    for ci, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(a.root, c)))[: a.batch // len(classes) + 1]:
            xs.append(np.asarray(Image.open(os.path.join(a.root, c, f)).convert("RGB"), dtype=np.float32) / 255); ys.append(ci)
    x = torch.tensor(np.stack(xs[: a.batch])).permute(0, 3, 1, 2).contiguous(); y = torch.tensor(ys[: a.batch])
    net = ResNetSmall(); anchors = nn.Parameter(torch.randn(len(classes), 128))
    opt = torch.optim.AdamW(list(net.parameters()) + [anchors], lr=1e-3, weight_decay=1e-4)
    def step():
        opt.zero_grad(); cam_loss(net(x), y, anchors).backward(); opt.step()
    step()
    # CPU time as well as wall time: on a shared machine CPU seconds per image measure the
    # implementation; the wall clock also measures the neighbours.
    t0, c0 = time.time(), time.process_time()
    for _ in range(a.steps): step()
    dt, dc = time.time() - t0, time.process_time() - c0
    print(json.dumps({"impl": "pytorch", "batch": a.batch, "steps": a.steps, "threads": a.threads,
                      "images_per_second": a.batch * a.steps / dt, "images_per_cpu_second": a.batch * a.steps / dc}))

if __name__ == "__main__":
    main()
