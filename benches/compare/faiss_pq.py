"""FAISS side of the PQ comparison (one thread).

Generates the shared data set (seeded Gaussian vectors near a 32-d subspace), writes it as .npy
for the Rust side (`cargo bench --bench pq_peer -- DIR`), computes exact
float ground truth, and measures FAISS:

- k-means training time, 50k x 256-d, k = 256, 25 iterations (faiss.Kmeans)
- PQ training time, 50k x 256-d, IndexPQ(256, 32, 8)
- IndexPQ(256, 32, 8) and IndexPQFastScan(256, 64, 4): codes/s over 1M vectors,
  1000 queries, k = 10 and 100, recall@10 against exact float L2 search.

Usage: python faiss_pq.py DIR [n_base] [--only kmeans,pq8,pq4] [--repeats N]
"""

import os
import sys
import time

import faiss
import numpy as np

DIM = 256
N_TRAIN = 50_000
N_QUERY = 1000
LATENT = 32
REPEATS = 3  # searches are timed best of three by default (the machine is shared)


def generate(rng, n, basis):
    """Vectors near a 32-d subspace: z @ basis + 0.1 noise (unit variance per dim)."""
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        z = rng.standard_normal((e - s, LATENT), dtype=np.float32)
        out[s:e] = z @ basis + 0.1 * rng.standard_normal((e - s, DIM), dtype=np.float32)
    return out


def recall_at_10(found, gt):
    hits = 0
    for f, g in zip(found, gt):
        hits += len(set(f[:10].tolist()) & set(g[:10].tolist()))
    return hits / (10 * len(gt))


def main():
    args = sys.argv[1:]
    only, repeats = {"kmeans", "pq8", "pq4"}, REPEATS
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i : i + 2]
    if "--repeats" in args:
        i = args.index("--repeats")
        repeats = int(args[i + 1])
        del args[i : i + 2]
    out_dir = args[0] if args else "/tmp/crosscode_pq_data"
    n_base = int(args[1]) if len(args) > 1 else 1_000_000
    os.makedirs(out_dir, exist_ok=True)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(20261123)
    basis = rng.standard_normal((LATENT, DIM), dtype=np.float32) / np.sqrt(LATENT)
    train = generate(rng, N_TRAIN, basis)
    base = generate(rng, n_base, basis)
    queries = generate(rng, N_QUERY, basis)
    gt_path = os.path.join(out_dir, f"gt_{n_base}.npy")
    np.save(os.path.join(out_dir, "train.npy"), train)
    np.save(os.path.join(out_dir, "base.npy"), base)
    np.save(os.path.join(out_dir, "queries.npy"), queries)
    if os.path.exists(gt_path):
        gt = np.load(gt_path)
    else:
        t = time.perf_counter()
        flat = faiss.IndexFlatL2(DIM)
        flat.add(base)
        _, gt = flat.search(queries, 100)
        np.save(gt_path, gt.astype(np.int64))
        print(f"exact ground truth: {time.perf_counter() - t:.1f} s")

    if "kmeans" in only:
        t = time.perf_counter()
        km = faiss.Kmeans(DIM, 256, niter=25, seed=1, max_points_per_centroid=256)
        km.train(train)
        print(f"faiss k-means 50k x 256-d k=256 25 it: {time.perf_counter() - t:.2f} s")

    for part, name, index in [
        ("pq8", "IndexPQ(256,32,8)", faiss.IndexPQ(DIM, 32, 8)),
        ("pq4", "IndexPQFastScan(256,64,4)", faiss.IndexPQFastScan(DIM, 64, 4)),
    ]:
        if part not in only:
            continue
        t = time.perf_counter()
        index.train(train)
        print(f"faiss {name} train 50k: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        index.add(base)
        print(f"faiss {name} add {n_base}: {time.perf_counter() - t:.2f} s")
        for k in (10, 100):
            dt = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                _, found = index.search(queries, k)
                dt = min(dt, time.perf_counter() - t)
            rate = n_base * N_QUERY / dt
            print(
                f"faiss {name} k={k}: {dt:.2f} s, {rate / 1e9:.3f} G codes/s, "
                f"recall@10 vs exact float {recall_at_10(found, gt):.4f}"
            )


if __name__ == "__main__":
    main()
