"""Robustness benchmark: recall on edited copies vs false matches among distinct photos.

For every photo, every edit of :mod:`benchmarks.transforms` is applied and the
edited copy is looked up against the photo it came from, for every signal and
strategy at its operating threshold (recall per transform).  Then every photo's
unedited query hashes are compared with every *other* photo's bank hashes
(false matches among ~n^2/2 distinct pairs, both directions for the asymmetric
group strategy), which gives the distance distributions and the margin between
the worst true match and the best false match.

Signals side by side, in the same run:

* ``pdqhash``: Meta's reference PDQ (C++ via the ``pdqhash`` package), 31;
* ``phash``, ``dhash``, ``whash``: imagehash, 64 bits, 8 (as ``matcher.signals``);
* ``pdq+dihedral``: matcher's PDQ of the full frame, 8 dihedral turns, 31;
* ``group``: :data:`matcher.groups.DEFAULT_STRATEGY` (crops, rotations,
  trimming, centred query crops: see docs/matching.md).

Usage::

    python -m benchmarks.robustness [--images DIR] [--limit N] [--workers N]

Writes benchmarks/results/robustness.{json,md,png}.  The photo set is
research-only data: it is read in place, never copied.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import pickle
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from matcher import pdq

try:  # the group strategy is optional: the baselines run without it
    from matcher import groups
except ImportError:  # pragma: no cover
    groups = None  # type: ignore[assignment]

try:
    from benchmarks._common import CACHE_ROOT, DEFAULT_PHOTOS, POPCOUNT, RESULTS, image_paths, progress
    from benchmarks.transforms import PHOTOMETRIC, suite
except ImportError:  # run as a script from benchmarks/
    from _common import CACHE_ROOT, DEFAULT_PHOTOS, POPCOUNT, RESULTS, image_paths, progress  # type: ignore
    from transforms import PHOTOMETRIC, suite  # type: ignore

DEFAULT_IMAGES = DEFAULT_PHOTOS
CACHE = CACHE_ROOT / "robustness"
_POP = POPCOUNT

# Targets of issue 4, per transform family.
TARGETS = {
    **{f: 0.99 for f in PHOTOMETRIC},
    "dihedral": 0.99,
    "crop<=10": 0.95,
    "border<=25": 0.95,
    "rotate<=5": 0.95,
}


# --- signals ------------------------------------------------------------------------
#
# Each signal hashes an image into (bank codes, bank primary flags) for the
# original and (query codes, query primary flags) for any image; a pair matches
# when distance <= threshold (primary x primary) or secondary threshold.


@dataclass(frozen=True)
class Signal:
    name: str
    bits: int
    threshold: int
    secondary_threshold: int | None = None

    def query(self, rgb: np.ndarray, im: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def bank(self, rgb: np.ndarray, im: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        return self.query(rgb, im)


class PdqReference(Signal):
    def query(self, rgb, im):
        bits, _ = pdqhash.compute(np.ascontiguousarray(rgb))
        return np.packbits(bits.astype(np.uint8))[None], np.ones(1, bool)


class ImageHashSignal(Signal):
    def query(self, rgb, im):
        fn = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}[self.name]
        bits = np.asarray(fn(im).hash, dtype=np.uint8).reshape(-1)
        return np.packbits(bits)[None], np.ones(1, bool)


class PdqDihedral(Signal):
    def query(self, rgb, im):
        code, _ = pdq.hash_rgb(rgb)
        return code[None], np.ones(1, bool)

    def bank(self, rgb, im):
        codes, _ = pdq.hash_rgb_dihedral(rgb)
        return codes, np.ones(len(codes), bool)


class GroupSignal(Signal):
    @property
    def strategy(self) -> groups.Strategy:
        return groups.DEFAULT_STRATEGY

    def query(self, rgb, im):
        g = self.strategy.query_group(rgb)
        return g.codes, g.primary

    def bank(self, rgb, im):
        g = self.strategy.bank_group(rgb)
        return g.codes, g.primary


S = groups.DEFAULT_STRATEGY if groups else None
SIGNALS: list[Signal] = [
    PdqReference("pdqhash", 256, 31),
    ImageHashSignal("phash", 64, 8),
    ImageHashSignal("dhash", 64, 8),
    ImageHashSignal("whash", 64, 8),
    PdqDihedral("pdq+dihedral", 256, 31),
] + ([GroupSignal("group", 256, S.primary_threshold, S.secondary_threshold)] if S else [])


def _slack(sig: Signal, q: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[int, int]:
    """(best slack = distance - threshold, distance of that pair) between two hash sets."""
    (qc, qp), (bc, bp) = q, b
    if not len(qc) or not len(bc):
        return (10**6, 10**6)
    d = _POP[qc[:, None, :] ^ bc[None, :, :]].sum(-1, dtype=np.int32)
    t = np.where(qp[:, None] & bp[None, :], sig.threshold, sig.secondary_threshold or sig.threshold)
    s = d - t
    k = int(np.argmin(s))
    return int(s.flat[k]), int(d.flat[k])


# --- per photo ------------------------------------------------------------------------


def _load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _originals(path: Path) -> dict:
    """Bank and query hashes of an unedited photo, for every signal (cached on disk)."""
    key = zlib.crc32(f"{path.name}|{path.stat().st_mtime_ns}|{_strategy_key()}".encode())
    cached = CACHE / f"{path.stem}-{key:08x}.pkl"
    if cached.exists():
        return pickle.loads(cached.read_bytes())
    im = _load(path)
    rgb = np.asarray(im)
    out = {s.name: {"bank": s.bank(rgb, im), "query": s.query(rgb, im)} for s in SIGNALS}
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(out))
    return out


def _strategy_key() -> str:
    return repr(S)


def _sampled(photo: str, transform: str, fraction: float) -> bool:
    """Whether this (photo, edit) pair is in the fixed seeded sample."""
    return fraction >= 1 or zlib.crc32(f"sample|{photo}|{transform}".encode()) < fraction * 2**32


def _one_photo(args: tuple[Path, list[str], float]) -> dict:
    path, names, fraction = args
    transforms = {t.name: t for t in suite()}
    im = _load(path)
    orig = _originals(path)
    rows: dict[str, dict[str, tuple[int, int]]] = {s.name: {} for s in SIGNALS}
    for name in names:
        if not _sampled(path.name, name, fraction):
            continue
        t = transforms[name]
        rng = np.random.default_rng(zlib.crc32(f"{path.name}|{name}".encode()))
        edited = t(im, rng)
        rgb = np.asarray(edited)
        for s in SIGNALS:
            rows[s.name][name] = _slack(s, s.query(rgb, edited), orig[s.name]["bank"])
    return {"file": path.name, "rows": rows, "orig": orig}


# --- false matches ----------------------------------------------------------------------


def _false_pairs(origs: list[dict], sig: Signal) -> dict:
    """Best slack and its distance for every ordered pair (query photo j, bank photo i), i != j."""
    bank = [o[sig.name]["bank"] for o in origs]
    query = [o[sig.name]["query"] for o in origs]
    owner = np.concatenate([np.full(len(b[0]), i) for i, b in enumerate(bank)])
    bcodes = np.concatenate([b[0] for b in bank])
    bprim = np.concatenate([b[1] for b in bank])
    n = len(origs)
    sec = sig.secondary_threshold or sig.threshold
    slack = np.empty((n, n), np.int32)
    dist = np.empty((n, n), np.int32)
    for j, (qc, qp) in enumerate(query):
        d = _POP[qc[:, None, :] ^ bcodes[None, :, :]].sum(-1, dtype=np.int32)  # (q, B)
        s = d - np.where(qp[:, None] & bprim[None, :], sig.threshold, sec)
        # Reduce over query hashes, then over each photo's bank hashes.
        k = np.argmin(s, axis=0)
        s1, d1 = s[k, np.arange(len(k))], d[k, np.arange(len(k))]
        order = np.lexsort((s1, owner))
        first = np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]
        slack[j] = s1[order][first]
        dist[j] = d1[order][first]
    off = ~np.eye(n, dtype=bool)
    return {"slack": slack[off], "dist": dist[off]}


# --- report -----------------------------------------------------------------------------


def run(images: Path, limit: int | None, workers: int, out: Path, fraction: float = 1.0) -> dict:
    paths = image_paths(images, limit)
    ts = suite()
    names = [t.name for t in ts]
    family = {t.name: t.family for t in ts}
    started = time.time()
    jobs = [(p, names, fraction) for p in paths]
    results = []
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            for k, r in enumerate(pool.imap(_one_photo, jobs, chunksize=4)):
                results.append(r)
                _progress(k + 1, len(jobs), started)
    else:
        for k, job in enumerate(jobs):
            results.append(_one_photo(job))
            _progress(k + 1, len(jobs), started)
    print(file=sys.stderr)
    origs = [r["orig"] for r in results]

    report = {
        "images": str(images),
        "photos": len(paths),
        "sample_fraction": fraction,
        "transforms": [{"name": t.name, "family": t.family} for t in ts],
        "targets": TARGETS,
        "strategy": _describe_strategy(),
        "signals": {},
    }
    for s in SIGNALS:
        # (photos, transforms); pairs outside the sample are masked out.
        missing = (10**6, 10**6)
        slack = np.array([[r["rows"][s.name].get(n, missing)[0] for n in names] for r in results])
        dist = np.array([[r["rows"][s.name].get(n, missing)[1] for n in names] for r in results])
        done = slack < 10**6
        matched = (slack <= 0) & done
        fp = _false_pairs(origs, s)
        false_matches = int((fp["slack"] <= 0).sum())
        per_t = {n: float(matched[:, k].sum() / max(1, done[:, k].sum())) for k, n in enumerate(names)}
        fams = sorted(set(family.values()), key=lambda f: names.index(next(n for n in names if family[n] == f)))
        per_f = {f: float(np.mean([per_t[n] for n in names if family[n] == f])) for f in fams}
        worst_f = {f: float(min(per_t[n] for n in names if family[n] == f)) for f in fams}
        worst_true_slack = int(slack[matched].max()) if matched.any() else None
        bins = s.bits + 1
        report["signals"][s.name] = {
            "bits": s.bits,
            "threshold": s.threshold,
            "secondary_threshold": s.secondary_threshold,
            "bank_hashes_per_image": float(np.mean([len(o[s.name]["bank"][0]) for o in origs])),
            "bank_hashes_max": int(max(len(o[s.name]["bank"][0]) for o in origs)),
            "query_hashes_per_upload": float(np.mean([len(o[s.name]["query"][0]) for o in origs])),
            "query_hashes_max": int(max(len(o[s.name]["query"][0]) for o in origs)),
            "recall": per_t,
            "recall_by_family": per_f,
            "worst_transform_by_family": worst_f,
            "false_matches": false_matches,
            "pairs_compared": int(len(fp["slack"])),
            "best_false_slack": int(fp["slack"].min()),
            "best_false_distance": int(fp["dist"][np.argmin(fp["slack"])]),
            "worst_true_match_slack": worst_true_slack,
            "margin": None if worst_true_slack is None else int(fp["slack"].min() - worst_true_slack),
            "edited_copies": int(done.sum()),
            "true_distance_hist": np.bincount(np.clip(dist[done], 0, s.bits), minlength=bins).tolist(),
            "false_distance_hist": np.bincount(np.clip(fp["dist"], 0, s.bits), minlength=bins).tolist(),
        }
    report["seconds"] = round(time.time() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness.json").write_text(json.dumps(report, indent=1))
    (out / "robustness.md").write_text(markdown(report))
    plot(report, out / "robustness.png")
    return report


def _describe_strategy() -> dict | None:
    if S is None:
        return None
    return {
        "name": S.name,
        "bank_variants": [v.name + (" (x8 dihedral)" if v.dihedral else "") for v in S.bank],
        "query_variants": [v.name for v in S.query] + (["trim"] if S.trim_query else []),
        "primary_threshold": S.primary_threshold,
        "secondary_threshold": S.secondary_threshold,
        "min_quality": S.min_quality,
    }


_progress = progress


def markdown(rep: dict) -> str:
    sigs = list(rep["signals"])
    S_ = rep["signals"]
    lines = [
        f"# Robustness: {rep['photos']} photos, {len(rep['transforms'])} edits, {rep['seconds']:.0f} s",
        "",
        f"Each edit was applied to a fixed seeded sample of {rep['sample_fraction']:.0%} of the photos "
        f"({rep['signals'][next(iter(rep['signals']))]['edited_copies']} edited copies in all); "
        "false matches use every photo.",
        "",
        "Recall of edited copies at each signal's operating threshold; false matches among all ordered "
        "pairs of distinct photos (unedited upload vs another photo's bank hashes). Generated by "
        "`python -m benchmarks.robustness`; see docs/matching.md.",
        "",
        "| | " + " | ".join(sigs) + " |",
        "|---|" + "---:|" * len(sigs),
        "| threshold | " + " | ".join(f"{S_[s]['threshold']}" + (f" / {S_[s]['secondary_threshold']}" if S_[s]["secondary_threshold"] else "") for s in sigs) + " |",
        "| bank hashes per image (mean / max) | " + " | ".join(f"{S_[s]['bank_hashes_per_image']:.1f} / {S_[s]['bank_hashes_max']}" for s in sigs) + " |",
        "| query hashes per upload (mean / max) | " + " | ".join(f"{S_[s]['query_hashes_per_upload']:.1f} / {S_[s]['query_hashes_max']}" for s in sigs) + " |",
        "| false matches / pairs | " + " | ".join(f"{S_[s]['false_matches']} / {S_[s]['pairs_compared']}" for s in sigs) + " |",
        "| best false: distance (slack) | " + " | ".join(f"{S_[s]['best_false_distance']} ({S_[s]['best_false_slack']:+d})" for s in sigs) + " |",
        "| margin: best false slack - worst true match slack | " + " | ".join(str(S_[s]["margin"]) for s in sigs) + " |",
        "",
        "## Recall by family (mean over its edits; worst edit in brackets)",
        "",
        "| family | target | " + " | ".join(sigs) + " |",
        "|---|---:|" + "---:|" * len(sigs),
    ]
    for f in S_[sigs[0]]["recall_by_family"]:
        tgt = rep["targets"].get(f)
        cells = []
        for s in sigs:
            mean, worst = S_[s]["recall_by_family"][f], S_[s]["worst_transform_by_family"][f]
            mark = "" if tgt is None or s != "group" else (" ✅" if worst >= tgt else " ❌")
            cells.append(f"{mean:.3f} ({worst:.3f}){mark}")
        lines.append(f"| {f} | {'' if tgt is None else f'{tgt:.2f}'} | " + " | ".join(cells) + " |")
    lines += ["", "## Recall per edit", "", "| edit | family | " + " | ".join(sigs) + " |", "|---|---|" + "---:|" * len(sigs)]
    for t in rep["transforms"]:
        lines.append(f"| {t['name']} | {t['family']} | " + " | ".join(f"{S_[s]['recall'][t['name']]:.3f}" for s in sigs) + " |")
    st = rep["strategy"]
    if st is None:
        return "\n".join(lines + [""])
    lines += [
        "",
        "## The group strategy",
        "",
        f"- bank variants: {', '.join(st['bank_variants'])}",
        f"- query variants: {', '.join(st['query_variants'])}",
        f"- thresholds: {st['primary_threshold']} full frame vs full frame (incl. dihedral), "
        f"{st['secondary_threshold']} for any pair involving another variant; variants with quality < {st['min_quality']} dropped",
        "",
    ]
    return "\n".join(lines)


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sigs = list(rep["signals"])
    S_ = rep["signals"]
    fams = list(S_[sigs[0]]["recall_by_family"])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(13, 9.5), gridspec_kw={"height_ratios": [1.1, 1]})
    width = 0.8 / len(sigs)
    for k, s in enumerate(sigs):
        vals = [S_[s]["recall_by_family"][f] for f in fams]
        ax1.bar(np.arange(len(fams)) + (k - (len(sigs) - 1) / 2) * width, vals, width, label=s)
    for i, f in enumerate(fams):
        if f in rep["targets"]:
            ax1.plot([i - 0.42, i + 0.42], [rep["targets"][f]] * 2, color="black", lw=1, ls="--")
    ax1.set_xticks(range(len(fams)), fams, rotation=20, ha="right")
    ax1.set_ylabel("recall (mean over the family's edits)")
    ax1.set_ylim(0, 1.05)
    ax1.set_title(f"Recall per edit family at each signal's threshold ({rep['photos']} photos; dashed: target)")
    ax1.legend(ncol=len(sigs), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))

    # PDQ distances are nearly always even (median quantisation): bin by 4 bits.
    for s, colour in (("pdqhash", "tab:blue"), ("group", "tab:red")):
        if s not in S_:
            continue
        t = np.add.reduceat(np.array(S_[s]["true_distance_hist"], float), np.arange(0, 257, 4))
        f = np.add.reduceat(np.array(S_[s]["false_distance_hist"], float), np.arange(0, 257, 4))
        edges = np.arange(0, 257 + 4, 4)[: len(t) + 1]
        ax2.stairs(t / t.sum(), edges, color=colour, lw=1.6, label=f"{s}: edited copy vs its photo")
        ax2.stairs(f / f.sum(), edges, color=colour, lw=1.6, ls=":", label=f"{s}: distinct photos (best pair)")
        thr = S_[s]["secondary_threshold"] or S_[s]["threshold"]
        ax2.axvline(thr, color=colour, lw=0.9, ls="--")
        bf = S_[s]["best_false_distance"]
        ax2.plot([bf], [8e-7], marker="^", color=colour, ms=7)
        ax2.text(bf + 3, 2e-6 if s == "group" else 7e-7, f"best false {bf} (threshold {thr})", color=colour, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylim(5e-7, 1)
    ax2.set_xlim(0, 256)
    ax2.set_xlabel("Hamming distance, 4-bit bins (256-bit PDQ; for the group, the pair with the most room under its threshold)")
    ax2.set_ylabel("share of pairs (log)")
    ax2.set_title("Distances: matches (edited copies) vs non-matches (distinct photos); dashed: threshold")
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--limit", type=int, default=None, help="first N photos only (quick runs)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fraction", type=float, default=1.0, help="apply each edit to this seeded share of the photos")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    rep = run(a.images, a.limit, a.workers, a.out, a.fraction)
    print((a.out / "robustness.md").read_text().split("## Recall per edit")[0])
    print(f"{rep['seconds']} s")


if __name__ == "__main__":
    main()
