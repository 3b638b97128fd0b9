#!/usr/bin/env python3
"""Side-by-side Hamming kNN throughput: FAISS IndexBinaryFlat vs crosscode, same codes.

Needs numpy and faiss-cpu (never part of the tests):
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install faiss-cpu numpy
    /tmp/peer/bin/python benches/compare/faiss_hamming.py [--threads 1] [--repeats 5]

Generates 1M random database codes and 1000 queries per code length, writes them as
FAISS-layout packed bytes, times FAISS, then runs `cargo bench --bench hamming_peer`
on the same files and prints a Markdown table with the ratio (crosscode / FAISS codes/s).
"""
import argparse, json, os, subprocess, tempfile, time

import faiss
import numpy as np


def time_faiss(db, q, bits, k, repeats):
    index = faiss.IndexBinaryFlat(bits)
    index.add(db)
    index.search(q, k)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        index.search(q, k)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--bits", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--nq", type=int, nargs="+", default=[1, 1000])
    ap.add_argument("--k", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(["cargo", "bench", "--no-run", "--bench", "hamming_peer"], cwd=root, check=True,
                   stderr=subprocess.DEVNULL)
    rng = np.random.default_rng(12345)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for bits in args.bits:
            db = rng.integers(0, 256, size=(args.n, bits // 8), dtype=np.uint8)
            q = rng.integers(0, 256, size=(max(args.nq), bits // 8), dtype=np.uint8)
            db.tofile(f"{d}/db_{bits}.u8")
            q.tofile(f"{d}/q_{bits}.u8")
            for nq in args.nq:
                for k in args.k:
                    # Single queries are timed over a few of them to be measurable.
                    reps = args.repeats if nq > 1 else args.repeats * 20
                    f = time_faiss(db, q[:nq], bits, k, reps)
                    out = subprocess.run(
                        ["cargo", "bench", "-q", "--bench", "hamming_peer", "--", "--dir", d,
                         "--bits", str(bits), "--nq", str(nq), "--k", str(k),
                         "--threads", str(args.threads), "--repeats", str(reps)],
                        cwd=root, check=True, capture_output=True, text=True).stdout
                    c = json.loads(out.strip().splitlines()[-1])
                    fc = args.n * nq / f
                    rows.append((bits, nq, k, f, fc, c["median_s"], c["codes_per_s"], c["kernel"]))
                    print(f"bits={bits} nq={nq} k={k}: faiss {fc:.3e} codes/s, "
                          f"crosscode {c['codes_per_s']:.3e} ({c['codes_per_s'] / fc:.2f}x)", flush=True)
    print(f"\n| bits | nq | k | FAISS s | FAISS codes/s | crosscode s | crosscode codes/s | ratio | kernel |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for bits, nq, k, f, fc, cs, cc, kern in rows:
        print(f"| {bits} | {nq} | {k} | {f:.4f} | {fc:.3e} | {cs:.4f} | {cc:.3e} | {cc / fc:.2f}x | {kern} |")
    print(f"\nthreads={args.threads}, n={args.n}, faiss {faiss.__version__}")


if __name__ == "__main__":
    main()
