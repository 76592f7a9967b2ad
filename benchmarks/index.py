"""Index speed, size and exactness: ``matcher.index.HashIndex`` against the obvious choices, in one run.

A platform checks every upload against the whole bank, so the index decides
both the cost of matching and whether a victim's image is found. This builds
one bank per size (uniform random 256-bit codes, the worst case for pruning,
with planted neighbours) and measures, for each contender:

* ``ncii``: ``HashIndex`` (multi-index-hashing tables + FAISS flat tail);
* ``faiss-flat``: FAISS ``IndexBinaryFlat`` (exact full scan);
* ``faiss-mih``: FAISS ``IndexBinaryMultiHash``, 16 tables of 16 bits,
  ``nflip=1`` (exact by pigeonhole at radius 31), and the same index with
  ``nflip=0`` (fast but lossy) as ``faiss-mih-nflip0``;
* ``te-pdqindex``: python-threatexchange's ``PDQIndex`` (what HMA uses).

Planted sets, searched at threshold 31: (1) random queries, each with one
stored neighbour at a distance drawn from 8..31 and one decoy at 32..40;
(2) real PDQ hashes: photos from ``--photos`` hashed with ``pdqhash``, their
edited copies (resize, JPEG recompress, crop, brightness) planted in the bank
and the originals used as queries. Ground truth is a brute-force scan of the
planted rows (a random background code lands within 31 bits of a query with
probability below 2**-120, so the planted rows are the only possible matches);
every returned result is also re-checked against the stored code, counting
any beyond the threshold.

Each contender runs in its own process so that its memory is measured alone:
bytes per hash is the growth of resident memory from before the bank exists to
after the index is built and the input arrays are freed. Single-query latency
is on one thread; batched throughput uses every core.

Usage: python benchmarks/index.py [--sizes 1000000 10000000] [--out benchmarks/results/] [--photos DIR]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"
DEFAULT_OUT = REPO / "benchmarks" / "results"
THRESHOLD = 31
SEED = 1234
N_RANDOM_PLANTED = 300
N_NO_MATCH = 300
SINGLE_ROUNDS = 3  # the 300 timing queries, this many times (the machine is shared and noisy)
METHODS = ("ncii", "faiss-flat", "faiss-mih", "te-pdqindex")


# ---------------------------------------------------------------------- data


def photo_hashes(photos: Path, limit: int) -> dict[str, np.ndarray]:
    """PDQ of ``limit`` photos (queries) and of simple edits of each (to plant), as packed bytes."""
    import pdqhash
    from PIL import Image, ImageEnhance

    def pdq(image: Image.Image) -> np.ndarray:
        bits, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
        return np.packbits(bits.astype(np.uint8))

    def jpeg(image: Image.Image, quality: int) -> Image.Image:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue()))

    edits = {
        "resize-50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.LANCZOS),
        "jpeg-q30": lambda im: jpeg(im, 30),
        "crop-5%": lambda im: im.crop((im.width // 20, im.height // 20, im.width * 19 // 20, im.height * 19 // 20)),
        "brightness+20%": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    }
    files = sorted(p for p in photos.glob("*.jpg"))[:limit]
    queries, planted, edit_names = [], [], []
    for path in files:
        with Image.open(path) as image:
            image.load()
            queries.append(pdq(image))
            for name, edit in edits.items():
                planted.append(pdq(edit(image)))
                edit_names.append(name)
    return {"queries": np.array(queries), "planted": np.array(planted), "edits": np.array(edit_names)}


def flip_bits(code: np.ndarray, distance: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(256, distance, replace=False)] ^= 1
    return np.packbits(bits)


def make_bank(n: int, photos: dict[str, np.ndarray]) -> dict[str, Any]:
    """The same bank in every worker process: deterministic from SEED."""
    rng = np.random.default_rng(SEED)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    random_queries = rng.integers(0, 256, (N_RANDOM_PLANTED, 32), dtype=np.uint8)
    planted = []
    for q in random_queries:
        planted.append(flip_bits(q, int(rng.integers(8, THRESHOLD + 1)), rng))
        planted.append(flip_bits(q, int(rng.integers(THRESHOLD + 1, 41)), rng))  # decoy beyond the threshold
    planted_codes = np.concatenate([np.array(planted), photos["planted"]])
    planted_rows = rng.choice(n, len(planted_codes), replace=False)
    codes[planted_rows] = planted_codes
    no_match = rng.integers(0, 256, (N_NO_MATCH, 32), dtype=np.uint8)
    timing = np.concatenate([random_queries, photos["queries"], no_match])
    timing = timing[rng.permutation(len(timing))][:300]
    return {
        "codes": codes,
        "ids": np.arange(n, dtype=np.int64),
        "planted_rows": planted_rows,
        "planted_codes": planted_codes,
        "query_sets": {"random-planted": random_queries, "pdq-edited": photos["queries"]},
        "timing_queries": timing,
    }


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise distances between two small sets of packed codes."""
    return np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2).sum(axis=2)


# ---------------------------------------------------------------------- contenders


class Contender:
    """Builds one index, answers single and batched queries as lists of (ids, distances)."""

    name: str

    def build(self, ids: np.ndarray, codes: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def single(self, query: np.ndarray) -> None:
        self.search(query[None])


class Ncii(Contender):
    name = "ncii"

    def build(self, ids, codes):
        from matcher.index import HashIndex

        self.index = HashIndex(256)
        self.index.add(ids, codes)

    def search(self, queries):
        return [(m.ids, m.distances) for m in self.index.search(queries, THRESHOLD)]


class FaissRange(Contender):
    def search(self, queries):
        lims, dist, ids = self.index.range_search(queries, THRESHOLD + 1)
        return [(ids[a:b], dist[a:b]) for a, b in zip(lims[:-1], lims[1:])]


class FaissFlat(FaissRange):
    name = "faiss-flat"

    def build(self, ids, codes):
        import faiss

        self.index = faiss.IndexBinaryFlat(256)
        self.index.add(codes)  # ids are row numbers here


class FaissMih(FaissRange):
    name = "faiss-mih"

    def __init__(self, nflip: int = 1):
        self.nflip = nflip

    def build(self, ids, codes):
        import faiss

        self.index = faiss.IndexBinaryMultiHash(256, 16, 16)
        self.index.nflip = self.nflip
        self.index.add(codes)


class TePdqIndex(Contender):
    name = "te-pdqindex"

    def build(self, ids, codes):
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex

        hexes = [c.tobytes().hex() for c in codes]
        self.index = PDQIndex(zip(hexes, ids.tolist()))

    def search(self, queries):
        hexes = [q.tobytes().hex() for q in queries]
        found = self.index.index.search_with_distance_in_result(hexes, THRESHOLD)
        out = []
        for h in hexes:
            rows = found.get(h, [])
            out.append((np.array([r[0] for r in rows], dtype=np.int64), np.array([r[2] for r in rows])))
        return out

    def single(self, query):
        self.index.query(query.tobytes().hex())


# ---------------------------------------------------------------------- one worker


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def percentile_ms(times: list[float], p: float) -> float:
    return float(np.percentile(times, p) * 1e3)


def run_worker(method: str, n: int, photos_file: Path) -> list[dict[str, Any]]:
    import faiss

    with np.load(photos_file) as f:
        photos = {k: f[k] for k in f.files}
    contenders = {
        "ncii": [Ncii()],
        "faiss-flat": [FaissFlat()],
        "faiss-mih": [FaissMih(1)],
        "te-pdqindex": [TePdqIndex()],
    }[method]
    contender = contenders[0]
    # Import the contender's modules first: their code is not part of the bank's memory.
    import matcher.index  # noqa: F401
    import threatexchange.signal_type.pdq.pdq_index  # noqa: F401

    gc.collect()
    rss0 = rss_bytes()
    bank = make_bank(n, photos)
    codes, ids = bank.pop("codes"), bank.pop("ids")
    t = time.perf_counter()
    contender.build(ids, codes)
    build_s = time.perf_counter() - t
    del codes, ids
    gc.collect()
    bytes_per_hash = (rss_bytes() - rss0) / n

    variants = [(contender.name, contender)]
    if method == "faiss-mih":
        variants.append(("faiss-mih-nflip0", contender))
    rows = []
    for name, c in variants:
        if name == "faiss-mih-nflip0":
            c.index.nflip = 0
        row: dict[str, Any] = {"method": name, "n": n, "build_s": build_s, "bytes_per_hash": bytes_per_hash}
        # single queries, one thread
        faiss.omp_set_num_threads(1)
        timing = bank["timing_queries"]
        for q in timing[:5]:
            c.single(q)
        times = []
        row["load_average_before"] = os.getloadavg()[0]
        for _round in range(SINGLE_ROUNDS):
            for q in timing:
                t = time.perf_counter()
                c.single(q)
                times.append(time.perf_counter() - t)
        row.update(single_p50_ms=percentile_ms(times, 50), single_p99_ms=percentile_ms(times, 99))
        # batched, all cores: every planted query (their results also give recall)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        queries = np.concatenate(list(bank["query_sets"].values()))
        t = time.perf_counter()
        results = c.search(queries)
        elapsed = time.perf_counter() - t
        row["batch_size"] = len(queries)
        row["batch_qps"] = len(queries) / elapsed
        row.update(score(bank, results))
        row["load_average_after"] = os.getloadavg()[0]
        rows.append(row)
    if method == "ncii":
        rows[0].update(ncii_extras(contender.index, bank))
    rows[0]["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return rows


def score(bank: dict[str, Any], results: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Recall per planted set against brute force over the planted rows; results beyond the threshold."""
    row_of = {int(r): i for i, r in enumerate(bank["planted_rows"])}
    out: dict[str, Any] = {}
    beyond = 0
    start = 0
    for set_name, queries in bank["query_sets"].items():
        dist = hamming(queries, bank["planted_codes"])
        truth = [set(bank["planted_rows"][np.flatnonzero(d <= THRESHOLD)].tolist()) for d in dist]
        found = 0
        for qi, want in enumerate(truth):
            got_ids, _got_d = results[start + qi]
            got = set(np.asarray(got_ids).tolist())
            found += len(want & got)
            for extra in got - want:  # recheck against the stored code
                i = row_of.get(int(extra))
                if i is None or dist[qi, i] > THRESHOLD:
                    beyond += 1
        total = sum(len(t) for t in truth)
        out[f"recall_{set_name}"] = found / total if total else None
        out[f"truth_{set_name}"] = total
        start += len(queries)
    out["results_beyond_threshold"] = beyond
    return out


def ncii_extras(index, bank: dict[str, Any]) -> dict[str, Any]:
    """Updates, dihedral groups and persistence: the costs that only our index has to show."""
    from matcher.index import HashIndex

    rng = np.random.default_rng(SEED + 1)
    n = len(index)
    extras: dict[str, Any] = {}
    adds = []
    for batch in range(5):  # the fourth fills the tail and starts a background merge
        new_ids = np.arange(10_000, dtype=np.int64) + 10**12 + batch * 10_000
        t = time.perf_counter()
        index.add(new_ids, rng.integers(0, 256, (10_000, 32), dtype=np.uint8))
        adds.append(time.perf_counter() - t)
    extras["add_10k_s"] = float(np.median(adds))
    extras["add_10k_max_s"] = max(adds)
    index.wait_for_merge()
    t = time.perf_counter()
    index.remove(rng.choice(n, 10_000, replace=False).astype(np.int64))
    extras["remove_10k_s"] = time.perf_counter() - t
    t = time.perf_counter()
    index._state = index._absorb_tail(index._state)  # the same merge run in the caller, timed
    extras["merge_tail_s"] = time.perf_counter() - t
    # One query as 8 codes (a PDQ hash's dihedral variants), best distance per id.
    groups = np.stack([np.stack([q] + [flip_bits(q, 100, rng) for _ in range(7)]) for q in bank["timing_queries"]])
    index.search(groups[:2], THRESHOLD)
    times = []
    for g in groups:
        t = time.perf_counter()
        index.search(g[None], THRESHOLD)
        times.append(time.perf_counter() - t)
    extras["dihedral8_p50_ms"] = percentile_ms(times, 50)
    with tempfile.TemporaryDirectory(dir=REPO) as tmp:
        path = Path(tmp) / "bank.idx"
        t = time.perf_counter()
        index.save(path)
        extras["save_s"] = time.perf_counter() - t
        extras["file_bytes_per_hash"] = path.stat().st_size / len(index)
        del index
        gc.collect()
        t = time.perf_counter()
        loaded = HashIndex.load(path)
        extras["load_s"] = time.perf_counter() - t
        del loaded
        gc.collect()
        t = time.perf_counter()
        HashIndex.load(path, verify=True)
        extras["load_verified_s"] = time.perf_counter() - t
    return extras


# ---------------------------------------------------------------------- report


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    def f(x: Any, fmt: str) -> str:
        return "n/a" if x is None else format(x, fmt)

    lines = [
        "# Index benchmark",
        "",
        f"{meta['machine']}; threshold {THRESHOLD}; random 256-bit bank with planted neighbours; "
        f"single queries on one thread (p50/p99 over {meta['single_queries']} timings: 300 queries, a mix of "
        f"planted and no-match, {SINGLE_ROUNDS} times), batched on all cores. Recall is against brute force over "
        "the planted rows. The machine is shared: the 1-minute load average before and after each contender's "
        "timings is in index.json; compare contenders within a size, not across runs.",
        "",
        "| n | method | build s | bytes/hash (RSS) | single p50 ms | single p99 ms | batched q/s | "
        "recall random-planted | recall PDQ-edited | results beyond threshold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['build_s']:.1f} | {r['bytes_per_hash']:.0f} | "
            f"{r['single_p50_ms']:.3f} | {r['single_p99_ms']:.3f} | {r['batch_qps']:,.0f} | "
            f"{f(r['recall_random-planted'], '.4f')} | {f(r['recall_pdq-edited'], '.4f')} | "
            f"{r['results_beyond_threshold']} |"
        )
    lines += ["", "## Ratios to `faiss-flat` (same run)", ""]
    lines += ["| n | method | single p50 speed-up | batched speed-up |", "|---|---|---|---|"]
    for r in rows:
        flat = next((x for x in rows if x["n"] == r["n"] and x["method"] == "faiss-flat"), None)
        if flat and r["method"] != "faiss-flat":
            lines.append(
                f"| {r['n']:,} | {r['method']} | {flat['single_p50_ms'] / r['single_p50_ms']:.1f}x | "
                f"{r['batch_qps'] / flat['batch_qps']:.1f}x |"
            )
    lines += ["", "## `ncii` only: updates, dihedral groups, persistence", ""]
    lines += [
        "| n | add 10k s (median / max of 5) | remove 10k s | merge tail s | 8-variant query p50 ms | save s | "
        "load s | load (full verify) s | file bytes/hash | peak RSS GiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["method"] == "ncii":
            lines.append(
                f"| {r['n']:,} | {r['add_10k_s']:.3f} / {r['add_10k_max_s']:.3f} | {r['remove_10k_s']:.3f} | {r['merge_tail_s']:.2f} | "
                f"{r['dihedral8_p50_ms']:.3f} | {r['save_s']:.1f} | {r['load_s']:.1f} | {r['load_verified_s']:.1f} | "
                f"{r['file_bytes_per_hash']:.0f} | {r['peak_rss_gib']:.1f} |"
            )
    lines += ["", *meta.get("notes", [])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--photo-limit", type=int, default=300, help="photos hashed for the real-PDQ planted set")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--pdqindex-max", type=int, default=1_000_000, help="largest bank for te-pdqindex (its memory and build time)"
    )
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "N", "PHOTOS_NPZ"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        method, n, photos_file = args.worker
        print(json.dumps(run_worker(method, int(n), Path(photos_file))))
        return

    import faiss

    t = time.perf_counter()
    photos = photo_hashes(args.photos, args.photo_limit)
    print(f"hashed {len(photos['queries'])} photos and {len(photos['planted'])} edits in {time.perf_counter() - t:.1f} s")
    within = (hamming(photos["queries"], photos["planted"]).min(axis=0) <= THRESHOLD).mean()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        photos_file = Path(tmp) / "photos.npz"
        np.savez(photos_file, **photos)
        for n in args.sizes:
            for method in args.methods:
                if method == "te-pdqindex" and n > args.pdqindex_max:
                    print(f"skip {method} at n={n:,} (--pdqindex-max)")
                    continue
                print(f"n={n:,} {method} ...", flush=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", method, str(n), str(photos_file)],
                    capture_output=True,
                    text=True,
                )
                if done.returncode:
                    print(done.stderr[-3000:])
                    raise SystemExit(f"worker {method} n={n} failed")
                for row in json.loads(done.stdout.strip().splitlines()[-1]):
                    print("  ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
                    rows.append(row)

    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, faiss {faiss.__version__}",
        "threshold": THRESHOLD,
        "single_queries": 300 * SINGLE_ROUNDS,
        "photos": len(photos["queries"]),
        "photo_edits_within_threshold": float(within),
        "notes": [
            "Adds land in a tail searched by FAISS flat; when it passes 32,768 codes a background thread merges "
            "it into the tables (the 'merge tail' column times that merge run in the caller). Removes set a flag.",
            f"PDQ-edited set: {len(photos['queries'])} photos, 4 edits each (resize 50%, JPEG q30, crop 5%, "
            f"brightness +20%); {within:.1%} of the edited hashes are within {THRESHOLD} of their original, "
            "so recall counts only those (and any other planted hash within the threshold).",
            f"te-pdqindex is measured only up to {args.pdqindex_max:,} hashes: it keeps a Python list of "
            "(hex, entry) tuples next to a FAISS multi-hash index (about 550 bytes per hash), so 10M hashes "
            "would take about 5.5 GB and minutes of Python-level building on this shared machine.",
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (args.out / "index.md").write_text(markdown(rows, meta))
    print((args.out / "index.md").read_text())


if __name__ == "__main__":
    main()
