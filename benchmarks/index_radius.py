"""HashIndex at one or more radii on uniform random 256-bit codes: single-query latency and batched throughput.

One thread by default (``faiss.omp_set_num_threads(1)``, search blocks run in
the caller), so numbers compare across machines with different core counts.
The index is built once with ``--tuned`` (52 is what the service uses).

Usage: python benchmarks/index_radius.py [--n 1000000] [--radius 31 52] [--tuned 52] [--groups]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--radius", type=int, nargs="+", default=[31, 52])
    p.add_argument("--tuned", type=int, default=52)
    p.add_argument("--single", type=int, default=300, help="single queries timed")
    p.add_argument("--batch", type=int, default=2000, help="queries in the batched run")
    p.add_argument("--groups", action="store_true", help="also 8-code groups (dihedral-sized)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--paths", nargs="+", default=["compiled", "numpy"], choices=["compiled", "numpy"],
                   help="candidate/verify paths, measured alternately at each radius (same machine state)")
    args = p.parse_args()

    import faiss

    from matcher.index import HashIndex, hash_index, kernel

    from concurrent.futures import ThreadPoolExecutor

    faiss.omp_set_num_threads(args.threads)
    pool = ThreadPoolExecutor(args.threads)
    hash_index._pool = lambda: pool  # the index's block threads: --threads of them
    rng = np.random.default_rng(1234)
    codes = rng.integers(0, 256, (args.n, 32), dtype=np.uint8)
    index = HashIndex(256, tuned_threshold=args.tuned, background_merges=False)
    t = time.perf_counter()
    index.add(np.arange(args.n, dtype=np.int64), codes)
    print(f"build {time.perf_counter() - t:.2f} s; layout {index._state.tables.layout.lengths}")
    queries = rng.integers(0, 256, (max(args.single, args.batch), 32), dtype=np.uint8)
    kernel.warm_up()
    for r in args.radius:
        plan = index._state.tables.plan(r)
        print(f"radius {r}: probe radii {plan.radii if plan else 'scan'}, probes {len(plan.masks) if plan else 0}")
        for path in args.paths * 2:  # each path twice, alternating: the machine is shared and noisy
            kernel.USE_KERNEL = path == "compiled"
            index.search(queries[:5], r)  # warm
            times = []
            for q in queries[: args.single]:
                t = time.perf_counter()
                index.search(q[None], r)
                times.append(time.perf_counter() - t)
            times = np.array(times) * 1e3
            t = time.perf_counter()
            index.search(queries[: args.batch], r)
            dt = time.perf_counter() - t
            line = (f"  {path:8s} single: median {np.median(times):.3f} ms p99 {np.percentile(times, 99):.3f} ms; "
                    f"batched ({args.threads} thr): {args.batch / dt:,.0f} q/s")
            if args.groups:
                g = queries[: 8 * 100].reshape(100, 8, 32)
                t = time.perf_counter()
                for i in range(100):
                    index.search(g[i : i + 1], r)
                gs = (time.perf_counter() - t) / 100 * 1e3
                t = time.perf_counter()
                index.search(g, r)
                gb = 100 / (time.perf_counter() - t)
                line += f"; group of 8: {gs:.3f} ms single, {gb:,.0f} groups/s batched"
            print(line, flush=True)


if __name__ == "__main__":
    main()
