"""CAM investigation mirror (PyTorch, CPU): radb's head trainer re-implemented for quick
controlled experiments on cached backbone features (.data/features/*.f32/.json) — same Linear
init bounds, AdamW, per-step cosine schedule with 1 warm-up epoch and 1 % floor, CAM with
N(0, 1) anchors, m, p, sum-reduced repeller; plus cross-entropy and centre loss. It reports
mAP (full ranking) and, for CAM, the learned geometry (anchor norm, minimum anchor distance,
mean distance of training embeddings to their anchor), and optionally the mAP of the trained head
on an unseen labelled set split into seeded halves (--halves). It is not radb: the figures in
RESULTS.md's tables come from radb-bench-train; this tool only explains them (its baseline
reproduces radb's: Tiny ImageNet CAM 0.2245 vs radb 0.224; 10-shot with --wd 1: 0.291 vs 0.293).

Usage: python3 Tools/cam_investigation.py --train BASE --test BASE [--loss cam|ce|centre]
       [--epochs N --lr X --wd X --dim D --hidden H --margin M --p P --init-scale S --std 1
        --few K --freeze-anchors 1 --anchor-wd X --halves BASE]
"""
import argparse, json, math, time, numpy as np, torch
torch.set_num_threads(1)
ap = argparse.ArgumentParser()
ap.add_argument('--train'); ap.add_argument('--test'); ap.add_argument('--loss', default='cam')
ap.add_argument('--epochs', type=int, default=12); ap.add_argument('--lr', type=float, default=1e-2)
ap.add_argument('--anchor-lr', type=float, default=None); ap.add_argument('--wd', type=float, default=1e-4)
ap.add_argument('--anchor-wd', type=float, default=None)
ap.add_argument('--dim', type=int, default=128); ap.add_argument('--hidden', type=int, default=0)
ap.add_argument('--margin', type=float, default=1); ap.add_argument('--p', type=float, default=1)
ap.add_argument('--init-scale', type=float, default=1.0, help='anchor init std')
ap.add_argument('--init', default='gauss')
ap.add_argument('--std', type=int, default=0, help='standardise features (train mean/std)')
ap.add_argument('--rep-red', default='sum'); ap.add_argument('--few', type=int, default=0)
ap.add_argument('--freeze-anchors', type=int, default=0); ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--halves', default=None); ap.add_argument('--batch', type=int, default=256)
ap.add_argument('--l2eval', type=int, default=0)
a = ap.parse_args()
def load(b):
    h = json.load(open(b + '.json')); X = np.fromfile(b + '.f32', np.float32).reshape(h['count'], h['dim'])
    return torch.from_numpy(X), torch.tensor(h['labels'])
Xtr, ytr = load(a.train); Xte, yte = load(a.test)
g = torch.Generator().manual_seed(a.seed)
if a.few:
    idx = torch.cat([torch.nonzero(ytr == c).flatten()[torch.randperm(int((ytr == c).sum()), generator=g)[:a.few]] for c in range(int(ytr.max()) + 1)])
    Xtr, ytr = Xtr[idx], ytr[idx]
if a.std:
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-3
    Xtr = (Xtr - mu) / sd; Xte = (Xte - mu) / sd
t = int(ytr.max()) + 1; D = Xtr.shape[1]
torch.manual_seed(a.seed)
layers = [torch.nn.Linear(D, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, a.dim)] if a.hidden else [torch.nn.Linear(D, a.dim)]
head = torch.nn.Sequential(*layers)
extra = []
if a.loss == 'cam':
    if a.init == 'gauss': C = torch.randn(t, a.dim) * a.init_scale
    elif a.init == 'sphere': C = torch.nn.functional.normalize(torch.randn(t, a.dim), dim=1) * a.init_scale
    C = torch.nn.Parameter(C); extra = [C]
elif a.loss in ('ce', 'centre'):
    cls = torch.nn.Linear(a.dim, t); extra = list(cls.parameters())
    if a.loss == 'centre': cent = torch.nn.Parameter(torch.zeros(t, a.dim)); extra.append(cent)
groups = [{'params': head.parameters()}]
if extra:
    groups.append({'params': extra, 'lr': a.anchor_lr or a.lr, 'weight_decay': a.wd if a.anchor_wd is None else a.anchor_wd})
if a.freeze_anchors and a.loss == 'cam': C.requires_grad_(False); groups = groups[:1]
opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=a.wd)
for gg in opt.param_groups: gg['base'] = gg['lr']
n = len(ytr); bpe = len([s for s in range(0, n, a.batch) if min(a.batch, n - s) >= 2]); total = a.epochs * bpe; warm = bpe
def factor(step):
    if step < warm: return (step + 1) / warm
    p = (step - warm) / max(total - warm, 1); return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p))
step = 0; t0 = time.time()
for ep in range(a.epochs):
    perm = torch.randperm(n, generator=g); tot = 0
    for s in range(0, n, a.batch):
        b = perm[s:s + a.batch]
        if len(b) < 2: continue
        for gg in opt.param_groups: gg['lr'] = gg['base'] * factor(step)
        e = head(Xtr[b]); y = ytr[b]
        if a.loss == 'cam':
            la = 0.5 * ((e - C[y]) ** 2).sum(1).mean()
            Dm = torch.cdist(C, C); h = torch.clamp(2 * a.margin - Dm, min=0); h = h - torch.diag(torch.diag(h))
            lr_ = 0.5 * (h ** 2).sum(); lr_ = lr_ / (t * (t - 1)) if a.rep_red == 'mean' else lr_
            ln = torch.clamp(a.p - C.norm(dim=1), min=0).sum()
            L = la + lr_ + ln
        else:
            L = torch.nn.functional.cross_entropy(cls(e), y)
            if a.loss == 'centre': L = L + 0.1 * 0.5 * ((e - cent[y]) ** 2).sum(1).mean()
        opt.zero_grad(); L.backward(); opt.step(); step += 1; tot += L.item()
def mAP(db, ydb, q, yq):
    aps = []
    for s in range(0, len(q), 500):
        d = torch.cdist(q[s:s + 500], db); order = d.argsort(1); rel = (ydb[order] == yq[s:s + 500, None]).float()
        cs = rel.cumsum(1); ranks = torch.arange(1, db.shape[0] + 1).float()
        ap = (rel * cs / ranks).sum(1) / rel.sum(1).clamp(min=1); aps.append(ap)
        p100 = rel[:, :100].mean(1)
    return torch.cat(aps).mean().item()
with torch.no_grad():
    Etr, Ete = head(Xtr), head(Xte)
    res = {'mAP': round(mAP(Etr, ytr, Ete, yte), 4)}
    if a.loss == 'cam':
        res['anchor_acc'] = round((torch.cdist(Ete, C).argmin(1) == yte).float().mean().item(), 4)
        Dm = torch.cdist(C, C) + torch.eye(t) * 1e9
        res['anchor_norm'] = round(C.norm(dim=1).mean().item(), 2); res['min_anchor_dist'] = round(Dm.min().item(), 2)
        res['emb_norm'] = round(Etr.norm(dim=1).mean().item(), 2)
        res['within'] = round((Etr - C[ytr]).norm(dim=1).mean().item(), 2)
    if a.halves:
        Xh, yh = load(a.halves)
        if a.std: Xh = (Xh - mu) / sd
        perm = torch.randperm(len(yh), generator=torch.Generator().manual_seed(7)); A, B = perm[: len(yh) // 2], perm[len(yh) // 2:]
        Eh = head(Xh); res['transfer_mAP'] = round(mAP(Eh[A], yh[A], Eh[B], yh[B]), 4)
res['sec'] = round(time.time() - t0, 1); res['loss_last'] = round(tot / bpe, 4)
print(json.dumps({k: v for k, v in vars(a).items() if v not in (None, 0) and k not in ('train', 'test')}), json.dumps(res), flush=True)
