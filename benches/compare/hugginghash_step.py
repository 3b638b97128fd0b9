"""PyTorch CPU reference of one HuggingHash training step, for throughput comparison.

Mirrors src/train/methods/hugginghash.rs: per modality a token encoder GELU(W_e x + b)
shared by the global ([CLS]) vector and the content tokens, hash head tanh(a * f(.)),
straight-through sign, symmetric InfoNCE on cosine(b^a, b^b)/tau, quantisation loss,
and fine alignment: tokens -> encoder -> linear to D=128 -> one GhostVLAD shared by both
modalities (N_c = 7 real clusters + 1 ghost, batch norm on the assignment logits,
residuals, intra-normalisation + L2) -> cluster-wise symmetric InfoNCE. AdamW update.

Usage (2 threads, bible data, same configuration as the crosscode run):
    python hugginghash_step.py --data ../shared/data/bible --threads 2 --train 8000
Prints pairs/s over one epoch (after one warm-up batch).
"""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class GhostVLAD(nn.Module):
    def __init__(self, dim, k, g):
        super().__init__()
        self.k = k
        self.assign = nn.Linear(dim, k + g, bias=False)
        self.bn = nn.BatchNorm1d(k + g)
        self.centroids = nn.Parameter(torch.randn(k, dim) * 0.1)

    def forward(self, z, item):  # z: (N, D) packed tokens, item: (N,) item index
        a = F.softmax(self.bn(self.assign(z)), dim=1)[:, : self.k]  # (N, K)
        b = int(item.max()) + 1
        # r[b, n] = sum_t a[t, n] z_t - (sum_t a[t, n]) c_n
        az = torch.zeros(b, self.k, z.shape[1]).index_add_(0, item, a.unsqueeze(2) * z.unsqueeze(1))
        s = torch.zeros(b, self.k).index_add_(0, item, a)
        r = az - s.unsqueeze(2) * self.centroids.unsqueeze(0)
        r = F.normalize(r, dim=2)
        return F.normalize(r.flatten(1), dim=1).view(b, self.k, -1)


class Branch(nn.Module):
    def __init__(self, d, hidden, bits, latent):
        super().__init__()
        self.encoder = nn.Linear(d, hidden)
        self.head = nn.Linear(hidden, bits)
        self.token_proj = nn.Linear(hidden, latent)


def info_nce(u, v, tau):
    s = F.normalize(u, dim=1) @ F.normalize(v, dim=1).t() / tau
    t = torch.arange(u.shape[0])
    return 0.5 * (F.cross_entropy(s, t) + F.cross_entropy(s.t(), t))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/bible")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train", type=int, default=8000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--lam", type=float, default=0.2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    a, tau, k = 0.5, 0.2, 7
    mods = []
    for lang in ("en", "es"):
        g = np.load(f"{args.data}/{lang}.npy")
        ids = np.load(f"{args.data}/{lang}_token_ids.npy")
        lens = np.load(f"{args.data}/{lang}_lengths.npy")
        table = np.load(f"{args.data}/{lang}_term_vectors.npy")
        g = (g - g.mean(0)) / (g.std(0) + 1e-6)
        mods.append((torch.from_numpy(g.astype(np.float32)), ids, lens, torch.from_numpy(table)))
    branches = nn.ModuleList([Branch(128, args.hidden, args.bits, 128) for _ in range(2)])
    vlad = GhostVLAD(128, k, 1)
    params = list(branches.parameters()) + list(vlad.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    order = np.random.default_rng(0).permutation(args.train)
    batches = [order[i : i + args.batch] for i in range(0, args.train - args.batch + 1, args.batch)]

    def step(idx):
        hs, rs = [], []
        for br, (g, ids, lens, table) in zip(branches, mods):
            x = g[idx]
            h = torch.tanh(a * br.head(F.gelu(br.encoder(x), approximate="tanh")))
            hs.append(h)
            if args.lam > 0:
                toks = [ids[i, : lens[i]] for i in idx]
                item = torch.from_numpy(np.concatenate([np.full(len(t), j) for j, t in enumerate(toks)]))
                z = table[torch.from_numpy(np.concatenate(toks).astype(np.int64))]
                z = br.token_proj(F.gelu(br.encoder(z), approximate="tanh"))
                rs.append(vlad(z, item))
        b = [h + (torch.sign(h) - h).detach() for h in hs]
        loss = info_nce(b[0], b[1], tau)
        loss = loss + 0.5 * sum(((torch.sign(h).detach() - h) ** 2).mean() for h in hs)
        if args.lam > 0:
            fa = sum(info_nce(rs[0][:, n], rs[1][:, n], tau) for n in range(k)) / k
            loss = loss + args.lam * fa
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    step(batches[0])
    t0 = time.perf_counter()
    for idx in batches:
        step(idx)
    dt = time.perf_counter() - t0
    pairs = len(batches) * args.batch
    print(f"torch {torch.__version__} threads={args.threads} lambda={args.lam} hidden={args.hidden}: "
          f"{pairs} pairs in {dt:.2f}s = {pairs / dt:.1f} pairs/s")


if __name__ == "__main__":
    main()
