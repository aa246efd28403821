#!/usr/bin/env python3
"""Candidate table of radb's default embedding (RESULTS.md, "Default model").

Reads the pooled features cached by Tools/embedding_features.sh (radb's own engine),
Tools/tflite_embedding_peer.py (the TFLite peer) and Tools/efficientnet_lite0.py (EfficientNet-Lite0
in PyTorch, radb's preprocessing), fits every fitted stage (PCA whitening,
supervised "learned whitening") on the FIT classes only, and evaluates on other classes and
other collections:

  fit         Tiny ImageNet classes 0-99 (tin-fit)
  evaluation  Tiny ImageNet classes 100-199 (database tin-db, queries tin-q),
              CIFAR-10 (cifar-db / cifar-q), Fashion-MNIST (fmnist-db / fmnist-q)

Hyper-parameters of the fitted stages (output dimension, eigenvalue power, shrinkage) are chosen
on a split of the fit classes themselves (fit on classes 0-49, validate on 50-99 with every image
as a query against the others); the evaluation collections only report, they never choose.

Metrics (as RADBTraining.RetrievalEvaluator defines them): exact L2 ranking of the whole database
per query, relevant = same class; mAP over the full ranking, P@10, P@100; ties by database order.

Usage: python3 Tools/embedding_candidates.py [--save-whitening NAME=OUT.npz ...] [--json OUT]
"""
import argparse, json, os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FEAT = os.path.join(HERE, "..", ".data", "emb", "feat")
COLLECTIONS = [("Tiny ImageNet 100-199", "tin"), ("CIFAR-10", "cifar"), ("Fashion-MNIST", "fmnist")]


def load(variant, subset, mini=False):
    """Features of `subset`; with `mini`, its -mini version (the first half of every class), read
    from the variant's own -mini file when it has one, else sliced from the full file."""
    own = os.path.join(FEAT, variant, subset + "-mini")
    base = own if mini and os.path.exists(own + ".f32") else os.path.join(FEAT, variant, subset)
    with open(base + ".json") as f:
        h = json.load(f)
    x = np.fromfile(base + ".f32", dtype="<f4").reshape(h["count"], h["dim"]).astype(np.float64)
    y = np.asarray(h["labels"])
    if mini and base != own:
        keep = np.concatenate([np.flatnonzero(y == c)[:(y == c).sum() // 2] for c in np.unique(y)])
        x, y = x[keep], y[keep]
    return x, y


# MARK: - Metrics

def retrieval(q, yq, db, ydb, exclude_self=False):
    """mAP (full ranking), P@10, P@100 of exact L2 search of q in db."""
    aps, p10, p100 = [], [], []
    dbn = (db * db).sum(1)
    for s in range(0, len(q), 256):
        d = dbn[None, :] - 2 * q[s:s + 256] @ db.T
        if exclude_self:
            d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        order = np.argsort(d, axis=1, kind="stable")
        if exclude_self:
            order = order[:, :-1]
        rel = ydb[order] == yq[s:s + 256, None]
        hits = np.cumsum(rel, axis=1)
        ranks = np.arange(1, rel.shape[1] + 1)
        nrel = rel.sum(1)
        aps += list((rel * hits / ranks).sum(1) / np.maximum(nrel, 1))
        p10 += list(rel[:, :10].mean(1))
        p100 += list(rel[:, :100].mean(1))
    return float(np.mean(aps)), float(np.mean(p10)), float(np.mean(p100))


# MARK: - Stages

def l2(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


_EIG = {}


def pca_whitening(x, dim, power=0.5, shrink=0.0):
    """mean [d], weight [dim, d]: e = W (x - mean), W = diag((λ + shrink·mean λ)^-power) Uᵀ."""
    key = (x.shape, float(x[0, 0]), float(x[-1, -1]), float(x.sum()))
    if key not in _EIG:   # one eigendecomposition per fit set, shared by every (dim, power, shrink)
        mean = x.mean(0)
        xc = x - mean
        lam, u = np.linalg.eigh(xc.T @ xc / len(x))
        _EIG[key] = (mean, lam[::-1].copy(), u[:, ::-1].copy())
    mean, lam, u = _EIG[key]
    lam = np.maximum(lam, 0) + shrink * lam.mean() + 1e-12
    w = (u[:, :dim] * lam[:dim] ** -power).T
    return mean, w


def learned_whitening(x, y, dim, shrink=0.1):
    """Radenović et al.'s learned whitening from class labels: whiten the within-class
    covariance (shrunk towards its mean eigenvalue), then rotate to the principal axes of the
    between-class scatter in that space; keeps `dim` axes."""
    mean = x.mean(0)
    classes = np.unique(y)
    centres = np.stack([x[y == c].mean(0) for c in classes])
    within = x - centres[np.searchsorted(classes, y)]
    cw = within.T @ within / len(x)
    lam, u = np.linalg.eigh(cw)
    lam = np.maximum(lam, 0) + shrink * lam.mean() + 1e-12
    p = (u * lam ** -0.5).T                      # within-class whitening
    b = (centres - mean) @ p.T
    lb, ub = np.linalg.eigh(b.T @ b / len(b))
    ub = ub[:, ::-1][:, :dim]
    return mean, ub.T @ p


class Recipe:
    """pooled features -> [sqrt] -> [L2] -> [W (f - mean)] -> [L2]."""

    def __init__(self, name, variant, part, l2_in=False, stage=None, l2_out=False, sqrt=False, family=None, **params):
        self.name, self.variant, self.part = name, variant, part
        self.family = family or name
        self.l2_in, self.stage, self.l2_out, self.sqrt, self.params = l2_in, stage, l2_out, sqrt, params
        self.mean = self.weight = None

    def pooled(self, x):
        d = x.shape[1]
        if self.part == "avg":
            x = x[:, :d // 2] if self.variant.startswith(("v1-", "v2-", "effl0-")) else x
        elif self.part == "gem":
            x = x[:, d // 2:]
        return np.sqrt(x) if self.sqrt else x

    def prepare(self, x):
        x = self.pooled(x)
        return l2(x) if self.l2_in else x

    def fit(self, x, y):
        if self.stage == "pca":
            self.mean, self.weight = pca_whitening(self.prepare(x), **self.params)
        elif self.stage == "lw":
            self.mean, self.weight = learned_whitening(self.prepare(x), y, **self.params)
        return self

    def __call__(self, x):
        x = self.prepare(x)
        if self.weight is not None:
            x = (x - self.mean) @ self.weight.T
        return l2(x) if self.l2_out else x


# MARK: - Candidates

def candidates(variants, small=False):
    """Every recipe; `small` keeps raw, L2, PCA whitening with shrinkage 1 (both powers, three
    widths) and full learned whitening with shrinkage 1 (the -mini table)."""
    out = []
    if "tflite-v1" in variants:
        out.append(Recipe("TFLite MobileNetV1 embedding (peer), raw", "tflite-v1", "all"))
        out.append(Recipe("TFLite MobileNetV1 embedding (peer), L2", "tflite-v1", "all", l2_in=True))
    for v, label in [("v2-224", "radb V2 224"), ("v2-256", "radb V2 256"), ("v1-224", "radb V1 224"),
                     ("effl0-224", "EfficientNet-Lite0 224 (PyTorch)")]:
        if v not in variants:
            continue
        for part in ["avg", "gem"]:
            tag = f"{label} {part}"
            out.append(Recipe(f"{tag}, raw", v, part))
            out.append(Recipe(f"{tag}, L2", v, part, l2_in=True))
            if not small:
                out.append(Recipe(f"{tag}, sqrt+L2", v, part, l2_in=True, sqrt=True))
            full = 1024 if v.startswith("v1") else 1280
            for dim in [256, 512, full]:
                for power in [0.5, 0.25]:
                    for shrink in [1.0] if small else [0.0, 0.1, 1.0]:
                        out.append(Recipe(f"{tag}, L2-PCAw{dim} a={power} s={shrink}-L2", v, part, l2_in=True,
                                          stage="pca", l2_out=True, dim=dim, power=power, shrink=shrink,
                                          family=f"{tag}, L2 -> PCA-whiten {dim} -> L2"))
            for dim in [full] if small else [64, full]:
                for shrink in [1.0] if small else [0.1, 1.0]:
                    out.append(Recipe(f"{tag}, L2-LW{dim} s={shrink}-L2", v, part, l2_in=True, stage="lw",
                                      l2_out=True, dim=dim, shrink=shrink,
                                      family=f"{tag}, L2 -> learned whitening {dim} -> L2"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save-whitening", action="append", default=[], help="NAME=OUT.npz: save a recipe's fitted stage")
    ap.add_argument("--json", default=None)
    ap.add_argument("--all", action="store_true", help="print every candidate, not only the best per family")
    ap.add_argument("--mini", action="store_true", help="the -mini subsets (first half of every class), with the costlier candidates")
    ap.add_argument("--small", action="store_true", help="the reduced grid (see candidates())")
    ap.add_argument("--only", default=None, help="evaluate only recipes whose name contains this")
    a = ap.parse_args()
    suffix = "-mini" if a.mini else ""
    variants = sorted(v for v in os.listdir(FEAT) if os.path.exists(os.path.join(FEAT, v, "fmnist-q" + suffix + ".f32"))
                      or (v in ("v2-224", "tflite-v1", "effl0-224") and os.path.exists(os.path.join(FEAT, v, "fmnist-q.f32"))))
    data = {v: {s: load(v, s, a.mini) for s in ["tin-fit", "tin-db", "tin-q", "cifar-db", "cifar-q", "fmnist-db", "fmnist-q"]}
            for v in variants}
    print(f"variants: {variants}; " + ", ".join(f"{s} {len(data[variants[0]][s][1])}" for s in data[variants[0]]), file=sys.stderr)
    rows = []
    for r in candidates(variants, small=a.small):
        if a.only and a.only not in r.name:
            continue
        d = data[r.variant]
        x, y = d["tin-fit"]
        # Validation inside the fit classes: fit on classes 0-49, every image of 50-99 queries the rest.
        lo = y < 50
        r.fit(x[lo], y[lo])
        e = r(x[~lo])
        val = retrieval(e, y[~lo], e, y[~lo], exclude_self=True)[0]
        # Evaluation: refit on all fit classes, then the other classes and collections.
        r.fit(x, y)
        res = {}
        for _, c in COLLECTIONS:
            (xd, yd), (xq, yq) = d[c + "-db"], d[c + "-q"]
            res[c] = retrieval(r(xq), yq, r(xd), yd)
        dim = r.weight.shape[0] if r.weight is not None else r.pooled(x[:1]).shape[1]
        rows.append({"name": r.name, "family": r.family, "variant": r.variant, "dim": int(dim), "val_map": val,
                     **{c: res[c] for _, c in COLLECTIONS}})
        print(f"{r.name:52s} d={dim:5d} val {val:.3f} " + " ".join(f"{c} {res[c][0]:.3f}" for _, c in COLLECTIONS),
              file=sys.stderr, flush=True)
        for spec in a.save_whitening:
            name, path = spec.rsplit("=", 1)
            if name == r.name:
                np.savez(path, mean=r.mean.astype(np.float32), weight=r.weight.astype(np.float32))
                print(f"saved {name} -> {path}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    # Table: per family (everything before the first comma + the stage kind), the row with the
    # best validation mAP — chosen on the fit classes, never on the evaluation collections.
    best = {}
    for row in rows:
        fam = row["name"] if a.all else row["family"]
        if fam not in best or row["val_map"] > best[fam]["val_map"]:
            best[fam] = row
    print("| candidate | d | validation mAP (fit classes 50-99) | " + " | ".join(f"{n} mAP / P@10 / P@100" for n, _ in COLLECTIONS) + " | mean mAP |")
    print("|---|---:|---:|" + "---|" * len(COLLECTIONS) + "---:|")
    for row in best.values():
        m = np.mean([row[c][0] for _, c in COLLECTIONS])
        print(f"| {row['name']} | {row['dim']} | {row['val_map']:.3f} | " +
              " | ".join("{:.3f} / {:.3f} / {:.3f}".format(*row[c]) for _, c in COLLECTIONS) + f" | {m:.3f} |")


if __name__ == "__main__":
    main()
