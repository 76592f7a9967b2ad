"""HashIndex at one or more radii on uniform random 256-bit codes: single-query latency and batched throughput.

One thread by default (``faiss.omp_set_num_threads(1)``, search blocks run in
the caller), so numbers compare across machines with different core counts;
``--threads 2`` is what the service gets on a 2-core machine. Batches are
``--batch-size`` queries per search call (100: the service's batch request).

The machine this runs on is usually shared, so every figure is measured
several times (``--rounds``), alternating the search paths and, with several
``--tuned``, the layouts (one index per layout, all built up front), and
reported as a range. Batched throughput is given per wall second and per
CPU second of the process: on a VM whose second core comes and goes, the
CPU figure is the steadier one. Singles are the median of ``--single`` queries.

Usage: python benchmarks/index_radius.py [--n 1000000] [--radius 31 52] [--tuned 52 31] [--threads 2] [--groups] [--json F]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--radius", type=int, nargs="+", default=[31, 52])
    p.add_argument("--tuned", type=int, nargs="+", default=[52], help="layouts (tuned thresholds) to compare")
    p.add_argument("--single", type=int, default=200, help="single queries timed per round")
    p.add_argument("--batch", type=int, default=1000, help="queries in the batched run of a round")
    p.add_argument("--batch-size", type=int, default=100, help="queries per search call in the batched run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--groups", action="store_true", help="also 8-code groups (dihedral-sized)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write every round's figures here")
    p.add_argument("--paths", nargs="+", default=["compiled", "numpy"], choices=["compiled", "numpy"],
                   help="candidate/verify paths, measured alternately at each radius (same machine state)")
    args = p.parse_args()

    import faiss

    from matcher.index import HashIndex, hash_index, kernel

    from concurrent.futures import ThreadPoolExecutor

    faiss.omp_set_num_threads(args.threads)
    pool = ThreadPoolExecutor(args.threads)
    hash_index._pool = lambda: pool  # the index's block threads: --threads of them
    if hasattr(hash_index, "_threads"):
        hash_index._threads = lambda: args.threads
    rng = np.random.default_rng(1234)
    codes = rng.integers(0, 256, (args.n, 32), dtype=np.uint8)
    indexes = {}
    for tuned in args.tuned:
        index = HashIndex(256, tuned_threshold=tuned, background_merges=False)
        t = time.perf_counter()
        index.add(np.arange(args.n, dtype=np.int64), codes)
        print(f"tuned {tuned}: build {time.perf_counter() - t:.2f} s; layout {index._state.tables.layout.lengths}")
        indexes[tuned] = index
    n_queries = max(args.single, args.batch, 800) * args.rounds
    queries = rng.integers(0, 256, (n_queries, 32), dtype=np.uint8)
    kernel.warm_up()
    results: dict[tuple, list[float]] = defaultdict(list)
    for r in args.radius:
        for tuned, index in indexes.items():
            plan = index._state.tables.plan(r)
            print(f"radius {r}, tuned {tuned}: probe radii {plan.radii if plan else 'scan'}, "
                  f"probes {len(plan.masks) if plan else 0}, expected candidates {plan.expected_rows if plan else 0:,.0f}")
        # Fewer queries at wide radii, where each costs ~10x more.
        scale = 1 if r <= 40 else 10
        for rnd in range(args.rounds):
            # Alternate the order of the layouts and paths from round to round.
            combos = [(t, path) for t in indexes for path in args.paths]
            for tuned, path in combos if rnd % 2 == 0 else combos[::-1]:
                index = indexes[tuned]
                kernel.USE_KERNEL = path == "compiled"
                index.search(queries[:5], r)  # warm
                offset = rnd * (n_queries // args.rounds)
                times = []
                cpu = []
                for q in queries[offset : offset + args.single // scale]:
                    t, c = time.perf_counter(), time.thread_time()
                    index.search(q[None], r)
                    times.append(time.perf_counter() - t)
                    cpu.append(time.thread_time() - c)
                key = (r, tuned, path)
                results[key + ("single ms",)].append(float(np.median(times)) * 1e3)
                results[key + ("single CPU ms",)].append(float(np.median(cpu)) * 1e3)
                batch = queries[offset : offset + max(args.batch_size, args.batch // scale)]
                t, c = time.perf_counter(), time.process_time()
                for start in range(0, len(batch), args.batch_size):
                    index.search(batch[start : start + args.batch_size], r)
                results[key + ("batched q/s",)].append(len(batch) / (time.perf_counter() - t))
                results[key + ("batched q/CPU-s",)].append(len(batch) / (time.process_time() - c))
                if args.groups:
                    g = queries[offset : offset + 8 * 100 // scale].reshape(-1, 8, 32)
                    t = time.perf_counter()
                    for i in range(len(g)):
                        index.search(g[i : i + 1], r)
                    results[key + ("group of 8 single ms",)].append((time.perf_counter() - t) / len(g) * 1e3)
                    t = time.perf_counter()
                    index.search(g, r)
                    results[key + ("groups of 8 batched groups/s",)].append(len(g) / (time.perf_counter() - t))
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump([{"radius": k[0], "tuned": k[1], "path": k[2], "metric": k[3], "values": v} for k, v in results.items()], f)
    print(f"\n{args.threads} thread(s), batches of {args.batch_size}, {args.rounds} rounds (range over rounds)")
    for key in sorted(results):
        v = results[key]
        lo, hi = min(v), max(v)
        fmt = (lambda x: f"{x:.3f}") if "ms" in key[3] else (lambda x: f"{x:,.0f}")
        print(f"  radius {key[0]} tuned {key[1]} {key[2]:8s} {key[3]:28s} {fmt(lo)}-{fmt(hi)}")


if __name__ == "__main__":
    main()
