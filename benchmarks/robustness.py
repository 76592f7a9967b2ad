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
    python -m benchmarks.robustness --suite wild [--draws K] [--seed S] [--negatives DIR ...]

Writes benchmarks/results/robustness.{json,md,png}; the wild suite (random
edits of benchmarks/wild_edits.py, worst quartile bin per family, false
matches against negative folders) writes robustness_wild.{json,md}.  The photo set is
research-only data: it is read in place, never copied.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import pickle
import sys
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from matcher import pdq, registration

try:  # the group strategy is optional: the baselines run without it
    from matcher import groups
except ImportError:  # pragma: no cover
    groups = None  # type: ignore[assignment]

try:
    from benchmarks import wild_edits
    from benchmarks._common import CACHE_ROOT, DEFAULT_PHOTOS, POPCOUNT, RESULTS, image_paths, progress
    from benchmarks.transforms import PHOTOMETRIC, suite
except ImportError:  # run as a script from benchmarks/
    import wild_edits  # type: ignore
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
# Each signal hashes an image into a set of codes for the original (bank) and
# for any image (query); a pair of sets matches when some pair of codes is
# within that pair's threshold (:meth:`Signal.thresholds`).


class Hashes(NamedTuple):
    """One image's codes under one signal; ``group`` is the HashGroup for the group strategy."""

    codes: np.ndarray  # (n, bytes) uint8
    primary: np.ndarray  # (n,) bool
    group: object = None

    def variant(self, k: int) -> str:
        return self.group.hashes[k].variant if self.group is not None else str(k)


@dataclass(frozen=True)
class Signal:
    name: str
    bits: int
    threshold: int
    secondary_threshold: int | None = None

    def query(self, rgb: np.ndarray, im: Image.Image) -> Hashes:
        raise NotImplementedError

    def bank(self, rgb: np.ndarray, im: Image.Image) -> Hashes:
        return self.query(rgb, im)

    def thresholds(self, q: Hashes, b: Hashes) -> np.ndarray:
        """(len(q), len(b)) thresholds: primary x primary pairs at ``threshold``, others at the secondary one."""
        return np.where(q.primary[:, None] & b.primary[None, :], self.threshold, self.secondary_threshold or self.threshold)


class PdqReference(Signal):
    def query(self, rgb, im):
        bits, _ = pdqhash.compute(np.ascontiguousarray(rgb))
        return Hashes(np.packbits(bits.astype(np.uint8))[None], np.ones(1, bool))


class ImageHashSignal(Signal):
    def query(self, rgb, im):
        fn = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}[self.name]
        bits = np.asarray(fn(im).hash, dtype=np.uint8).reshape(-1)
        return Hashes(np.packbits(bits)[None], np.ones(1, bool))


class PdqDihedral(Signal):
    def query(self, rgb, im):
        code, _ = pdq.hash_rgb(rgb)
        return Hashes(code[None], np.ones(1, bool))

    def bank(self, rgb, im):
        codes, _ = pdq.hash_rgb_dihedral(rgb)
        return Hashes(codes, np.ones(len(codes), bool))


class GroupSignal(Signal):
    """The default strategy; its thresholds come from ``Strategy.thresholds`` (they may depend on the hashes)."""

    @property
    def strategy(self) -> groups.Strategy:
        return groups.DEFAULT_STRATEGY

    def query(self, rgb, im):
        g = self.strategy.query_group(rgb)
        return Hashes(g.codes, g.primary, g)

    def bank(self, rgb, im):
        g = self.strategy.bank_group(rgb)
        return Hashes(g.codes, g.primary, g)

    def thresholds(self, q, b):
        return np.asarray(self.strategy.thresholds(q.group, b.group))


S = groups.DEFAULT_STRATEGY if groups else None
SIGNALS: list[Signal] = [
    PdqReference("pdqhash", 256, 31),
    ImageHashSignal("phash", 64, 8),
    ImageHashSignal("dhash", 64, 8),
    ImageHashSignal("whash", 64, 8),
    PdqDihedral("pdq+dihedral", 256, 31),
] + ([GroupSignal("group", 256, S.primary_threshold, S.secondary_threshold)] if S else [])


def _pair(sig: Signal, q: Hashes, b: Hashes) -> tuple[int, int, int, int]:
    """(best slack = distance - threshold, its distance, query index, bank index) between two hash sets."""
    if not len(q.codes) or not len(b.codes):
        return (10**6, 10**6, -1, -1)
    d = _POP[q.codes[:, None, :] ^ b.codes[None, :, :]].sum(-1, dtype=np.int32)
    s = d - sig.thresholds(q, b)
    i, j = np.unravel_index(int(np.argmin(s)), s.shape)
    return int(s[i, j]), int(d[i, j]), int(i), int(j)


def _slack(sig: Signal, q: Hashes, b: Hashes) -> tuple[int, int]:
    """(best slack = distance - threshold, distance of that pair) between two hash sets."""
    return _pair(sig, q, b)[:2]


# --- per photo ------------------------------------------------------------------------


def _load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _originals(path: Path) -> dict:
    """Bank and query hashes of an unedited photo, for every signal (cached on disk)."""
    # "hashes-v3": the entries are (codes, primary, group) tuples (older caches held (codes, primary) pairs).
    key = zlib.crc32(f"hashes-v3|{path.name}|{path.stat().st_mtime_ns}|{_strategy_key()}".encode())
    cached = CACHE / f"{path.stem}-{key:08x}.pkl"
    if cached.exists():
        # Stored as plain tuples: a pickled Hashes would name __main__ when run with -m.
        return {s: {k: Hashes(*v) for k, v in d.items()} for s, d in pickle.loads(cached.read_bytes()).items()}
    im = _load(path)
    rgb = np.asarray(im)
    out = {s.name: {"bank": s.bank(rgb, im), "query": s.query(rgb, im)} for s in SIGNALS}
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps({s: {k: tuple(v) for k, v in d.items()} for s, d in out.items()}))
    return out


@lru_cache(maxsize=1)
def _strategy_key() -> str:
    """The strategy and the matcher's source: a changed strategy with the same repr must not reuse the cache."""
    src = b"".join(f.read_bytes() for f in sorted(Path(pdq.__file__).parent.rglob("*.py")))
    return f"{S!r}|{zlib.crc32(src):08x}"


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
    for j, q in enumerate(query):
        qc, qp = q.codes, q.primary
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


# --- the wild suite -------------------------------------------------------------------------
#
# The grid above is what group-v3 was tuned on.  The wild suite draws every
# edit's amounts at random (benchmarks/wild_edits.py) and reports, per family,
# the mean recall with its 95% interval and the worst quartile bin of the
# family's main parameter, so that a strategy cannot be tuned to grid points.

WILD_SIGNALS = [s for s in SIGNALS if s.name in ("pdqhash", "pdq+dihedral", "group")]
#: The report's columns: the signals, then the group lookup followed by registration.
WILD_NAMES = [s.name for s in WILD_SIGNALS] + ["registered"]
WILD_TARGETS = {"core_mean": 0.97, "family_min": 0.90}
#: Bins with fewer copies than this are shown but never called the worst.
MIN_BIN = 5


def _wild_photo(args: tuple[Path, list[Path], int, int]) -> dict:
    """Every family's ``draws`` random edits of one photo, scored against its own bank hashes."""
    path, pool, draws, seed = args
    im = _load(path)
    orig = _originals(path)
    rows = []
    for family in wild_edits.FAMILIES:
        for draw in range(draws):
            edited, params = wild_edits.edit(path, family, draw, seed, pool, image=im)
            rgb = np.asarray(edited)
            row = {"photo": path.name, "family": family, "draw": draw, "params": params, "slack": {}, "dist": {}}
            for s in WILD_SIGNALS:
                q, b = s.query(rgb, edited), orig[s.name]["bank"]
                row["slack"][s.name], row["dist"][s.name], i, j = _pair(s, q, b)
                if s.name == "group" and i >= 0:
                    row["variants"] = f"{q.variant(i)} ~ {b.variant(j)}"
            _registered(row, rgb, orig["group"]["bank"].group)
            rows.append(row)
    return {"file": path.name, "rows": rows, "orig": orig}


#: Gates the report gives the final column's recall at (a narrower gate costs a big bank less).
REPORT_GATES = (60, 64, 68, 72, 76, 80)
#: The last column: the group lookup, then registration (matcher.registration) for a copy it missed.
FINAL = "registered"


def _registered(row: dict, rgb: np.ndarray, bank) -> None:
    """Stage two for a copy the lookup missed: register it on its own photo, if a start pair passes the gate.

    Against its own photo only: which other bank images pass the gate is what
    :func:`registration_negatives` measures, on the negatives.
    """
    row["slack"][FINAL], row["dist"][FINAL] = row["slack"]["group"], row["dist"]["group"]
    if row["slack"]["group"] <= 0:
        row["registered_at"] = 0  # matched by the lookup: a hit at every gate
        return
    work = groups.reduce_to_working_size(rgb)
    starts = registration.Starts.of(work)
    r = registration.register(work, bank, starts=starts)
    if r is not None:
        # The gate this hit needed: its nearest start pair (recall at a narrower gate, from the same run).
        row["registered_at"] = int(starts.distances([bank])[0])
        row["slack"][FINAL], row["dist"][FINAL] = r.distance - r.threshold, r.distance
        row["variants"] = f"{r.start} -> {r.bank_variant}"


def _registration_chunk(args: tuple[list, list]) -> list[dict]:
    """Pass one over negatives: nearest bank image by start regions, and gated registrations accepted."""
    items, banks = args
    out = []
    for name, path, exclude in items:
        try:
            work = groups.reduce_to_working_size(np.asarray(_load(path)))
        except Exception:  # noqa: BLE001 - a broken negative is skipped
            continue
        starts = registration.Starts.of(work)
        if not len(starts.codes):
            out.append({"negative": name, "start": None, "accepted": []})
            continue
        per = starts.distances(banks)
        if exclude is not None:
            per[exclude] = 10**6
        accepted = []
        for k in np.flatnonzero(per <= registration.GATE).tolist():
            r = registration.register(work, banks[k], starts=starts)
            if r is not None:
                accepted.append({"bank": k, "distance": r.distance, "threshold": r.threshold, "start": r.start, "bank_variant": r.bank_variant})
        nearest = int(np.argmin(per))
        out.append({"negative": name, "start": int(per[nearest]), "nearest": nearest, "gated": int((per <= registration.GATE).sum()), "accepted": accepted})
    return out


def _forced(args: tuple[str, Path, object]) -> dict:
    name, path, bank = args
    work = groups.reduce_to_working_size(np.asarray(_load(path)))
    r = registration.register(work, bank, gate=10**6, bands=(groups.StructureBand(registration.MIN_STRUCTURE, 0, 0),), force=True)
    return {"negative": name, "refined": None if r is None else r.distance, "start": None if r is None else r.start,
            "bank_variant": None if r is None else r.bank_variant}


def registration_negatives(sets: list[tuple[str, list[tuple[str, Path, int | None]]]], banks: list, names: list[str],
                           workers: int, forced: int = 200) -> list[dict]:
    """Registration against distinct images: gated registrations accepted (must be 0), and how close
    a forced search (no gate, no early stop) brings the ``forced`` negatives nearest a bank image."""
    reports = []
    for label, items in sets:
        t = time.time()
        chunks = [(items[i : i + 100], banks) for i in range(0, len(items), 100)]
        rows = [r for part in _pool_map(_registration_chunk, chunks, workers, f"registration: {label}") for r in part]
        have = [r for r in rows if r["start"] is not None]
        have.sort(key=lambda r: r["start"])
        paths = {n: p for n, p, _ in items}
        force_rows = _pool_map(_forced, [(r["negative"], paths[r["negative"]], banks[r["nearest"]]) for r in have[:forced]], workers, f"forced: {label}")
        for fr, r in zip(force_rows, have[:forced]):
            fr["start_distance"], fr["bank"] = r["start"], names[r["nearest"]]
        refined = [f["refined"] for f in force_rows if f["refined"] is not None]
        accepted = [dict(a, negative=r["negative"], bank=names[a["bank"]]) for r in rows for a in r["accepted"]]
        reports.append({
            "set": label, "images": len(items), "with_starts": len(have),
            "gated_pairs": int(sum(r["gated"] for r in have)), "accepted": accepted,
            "start_min": have[0]["start"] if have else None,
            "forced": len(force_rows), "forced_refined_min": min(refined) if refined else None,
            "forced_refined_median": float(np.median(refined)) if refined else None,
            "closest_forced": sorted((f for f in force_rows if f["refined"] is not None), key=lambda f: f["refined"])[:8],
            "seconds": round(time.time() - t, 1),
        })
    return reports


def _negative_query(path: Path) -> Hashes | None:
    """The group query hashes of one negative image (None if it cannot be decoded)."""
    try:
        im = _load(path)
    except Exception:  # noqa: BLE001 - a broken file in a distractor folder is skipped, not fatal
        return None
    return GroupSignal("group", 256, 0).query(np.asarray(im), im)


def _pool_map(fn, jobs: list, workers: int, label: str) -> list:
    started = time.time()
    out = []
    every = max(1, len(jobs) // 50)
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            for k, r in enumerate(pool.imap(fn, jobs, chunksize=4)):
                out.append(r)
                if (k + 1) % every == 0 or k + 1 == len(jobs):
                    _progress(k + 1, len(jobs), started, label)
    else:
        for k, job in enumerate(jobs):
            out.append(fn(job))
            if (k + 1) % every == 0 or k + 1 == len(jobs):
                _progress(k + 1, len(jobs), started, label)
    print(file=sys.stderr)
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sensible at 0 and 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, c - h), min(1.0, c + h))


def _bins(values: list, hits: dict[str, np.ndarray]) -> list[dict]:
    """Recall per bin of one parameter: quartiles if numeric, one bin per value otherwise."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    out = []
    if numeric:
        v = np.asarray(values, float)
        edges = np.unique(np.quantile(v, [0, 0.25, 0.5, 0.75, 1]))
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, max(0, len(edges) - 2))
        groups_ = [(f"{edges[k]:.4g}-{edges[min(k + 1, len(edges) - 1)]:.4g}", idx == k) for k in range(max(1, len(edges) - 1))]
    else:
        v = np.asarray([str(x) for x in values])
        groups_ = [(c, v == c) for c in sorted(set(v.tolist()))]
    for label, m in groups_:
        n = int(m.sum())
        if n:
            out.append({"bin": label, "n": n, "recall": {s: float(h[m].mean()) for s, h in hits.items()}})
    return out


def _worst(bins: list[dict], signal: str) -> dict | None:
    ok = [b for b in bins if b["n"] >= MIN_BIN] or bins
    return min(ok, key=lambda b: b["recall"][signal]) if ok else None


def _family_report(family: str, rows: list[dict], seed: int) -> dict:
    n = len(rows)
    hits = {s: np.array([r["slack"][s] <= 0 for r in rows]) for s in WILD_NAMES}
    main = wild_edits.MAIN_PARAM[family]
    keys = sorted({k for r in rows for k in r["params"]})
    by_param = {}
    for k in keys:
        have = [i for i, r in enumerate(rows) if k in r["params"]]
        if len(have) >= MIN_BIN:
            by_param[k] = _bins([rows[i]["params"][k] for i in have], {s: h[have] for s, h in hits.items()})
    main_bins = by_param.get(main, [])
    gates = {g: float(np.mean([r.get("registered_at", 10**6) <= g for r in rows])) for g in REPORT_GATES}
    missed = sorted((r for r in rows if r["slack"][FINAL] > 0), key=lambda r: -r["slack"][FINAL])[:5]
    return {
        "copies": n,
        "main_param": main,
        "recall": {s: float(h.mean()) for s, h in hits.items()},
        "recall_by_gate": gates,
        "interval": {s: wilson(int(h.sum()), n) for s, h in hits.items()},
        "main_bins": main_bins,
        "worst_bin": {s: _worst(main_bins, s) for s in WILD_NAMES},
        "by_param": by_param,
        "group_distance_median": float(np.median([r["dist"]["group"] for r in rows])),
        "misses": [
            {
                "photo": r["photo"],
                "draw": r["draw"],
                "slack": r["slack"][FINAL],
                "distance": r["dist"][FINAL],
                "variants": r.get("variants"),
                "params": r["params"],
                "show": f"python -m benchmarks.wild_edits --show {r['photo']} {family} {r['draw']} --seed {seed} --out miss.png",
            }
            for r in missed
        ],
    }


def closest_pairs(sig: Signal, queries: list[Hashes], banks: list[Hashes], same_set: bool = False, keep: int = 10, k: int = 128) -> dict:
    """Pairs (query image, bank image) within threshold, the best slack, the ``keep`` closest pairs.

    A pair's threshold comes from ``sig.thresholds`` and may depend on its
    hashes, so this runs in two steps.  faiss k-NN over all codes at once
    gives, for every query code, its ``k`` nearest bank codes; the image pairs
    they reach, by their smallest distance, are then scored exactly (distance
    matrix minus thresholds, :func:`_pair`) until no unscored pair can be within
    threshold or beat the ``keep``-th best slack.  That bound is ``t_max``,
    the largest threshold ``sig.thresholds`` gives any query against the first
    bank image or the first query against any bank image.  A query image one
    of whose codes has all ``k`` neighbours within ``t_max`` (a near-duplicate
    cluster) is scored against every bank image.  ``same_set``: query ``i``
    and bank ``i`` are the same photo and are skipped.
    """
    import faiss

    nq, nb = len(queries), len(banks)
    t_max = int(max(max(sig.thresholds(q, banks[0]).max() for q in queries if len(q.codes)),
                    max(sig.thresholds(queries[0], b).max() for b in banks if len(b.codes))))
    bcodes = np.ascontiguousarray(np.concatenate([b.codes for b in banks]))
    bowner = np.concatenate([np.full(len(b.codes), i) for i, b in enumerate(banks)])
    qcodes = np.ascontiguousarray(np.concatenate([q.codes for q in queries if len(q.codes)]))
    qowner = np.concatenate([np.full(len(q.codes), i) for i, q in enumerate(queries)])
    index = faiss.IndexBinaryFlat(sig.bits)
    index.add(bcodes)
    k = min(k, len(bcodes))
    keys, dists, crowded = [], [], set()
    for lo in range(0, len(qcodes), 20000):
        D, I = index.search(qcodes[lo : lo + 20000], k)
        qi = np.repeat(qowner[lo : lo + 20000], k)
        bi = bowner[I.reshape(-1)]
        d = D.reshape(-1).astype(np.int64)
        if same_set:
            d[qi == bi] = 10**6
        crowded.update(qowner[lo : lo + 20000][D[:, -1] <= t_max].tolist())
        keys.append(qi.astype(np.int64) * nb + bi)
        dists.append(d)
    for qi in crowded:  # every bank image, smallest distance by brute force
        d = _POP[queries[qi].codes[:, None, :] ^ bcodes[None, :, :]].sum(-1, dtype=np.int64).min(0)
        per = np.full(nb, 10**6, np.int64)
        np.minimum.at(per, bowner, d)
        if same_set:
            per[qi] = 10**6
        keys.append(qi * nb + np.arange(nb, dtype=np.int64))
        dists.append(per)
    key, dist = np.concatenate(keys), np.concatenate(dists)
    order = np.lexsort((dist, key))
    key, dist = key[order], dist[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, dist = key[first], dist[first]
    order = np.argsort(dist, kind="stable")
    key, dist = key[order], dist[order]

    scored: list[dict] = []
    within = 0
    for kk, d in zip(key.tolist(), dist.tolist()):
        if d >= 10**6:
            break
        if d - t_max > 0 and len(scored) >= keep and d - t_max > scored[keep - 1]["slack"]:
            break
        qi, bi = divmod(kk, nb)
        slack, dd, i, j = _pair(sig, queries[qi], banks[bi])
        within += slack <= 0
        scored.append({"query": qi, "bank": bi, "slack": slack, "distance": dd,
                       "query_variant": queries[qi].variant(i), "bank_variant": banks[bi].variant(j)})
        scored.sort(key=lambda r: (r["slack"], r["distance"]))
    return {
        "pairs_compared": nq * nb - (min(nq, nb) if same_set else 0),
        "within_threshold": int(within),
        "best_slack": scored[0]["slack"] if scored else None,
        "best_distance": scored[0]["distance"] if scored else None,
        "min_distance": int(dist[0]) if len(dist) else None,
        "t_max": t_max,
        "crowded_queries": len(crowded),
        "closest": scored[:keep],
    }


def run_wild(images: Path, limit: int | None, workers: int, out: Path, draws: int = 1, seed: int = 0, negatives: list[Path] = ()) -> dict:
    """The wild suite: random edits per family, false matches among the photos and against negatives."""
    pool = wild_edits.list_photos(images)
    paths = pool[:limit] if limit else pool
    started = time.time()
    results = _pool_map(_wild_photo, [(p, pool, draws, seed) for p in paths], workers, "photos")
    rows = [r for res in results for r in res["rows"]]
    origs = [res["orig"] for res in results]
    report: dict = {
        "suite": "wild",
        "images": str(images),
        "photos": len(paths),
        "draws": draws,
        "seed": seed,
        "strategy": _describe_strategy(),
        "signals": {**{s.name: {"threshold": s.threshold, "secondary_threshold": s.secondary_threshold} for s in WILD_SIGNALS},
                    FINAL: {"threshold": registration.REGISTERED_BANDS[0].match, "secondary_threshold": None, "gate": registration.GATE}},
        "targets": WILD_TARGETS,
        "families": {f: _family_report(f, [r for r in rows if r["family"] == f], seed) for f in wild_edits.FAMILIES},
    }
    fams = report["families"]
    report["core_mean"] = {s: float(np.mean([fams[f]["recall"][s] for f in wild_edits.CORE])) for s in WILD_NAMES}
    report["edit_seconds"] = round(time.time() - started, 1)

    import faiss

    faiss.omp_set_num_threads(max(1, workers))
    t = time.time()
    names = [p.name for p in paths]
    report["distinct_photos"] = {}
    for s in WILD_SIGNALS:
        fp = closest_pairs(s, [o[s.name]["query"] for o in origs], [o[s.name]["bank"] for o in origs], same_set=True)
        for c in fp["closest"]:
            c["query"], c["bank"] = names[c["query"]], names[c["bank"]]
        report["distinct_photos"][s.name] = fp
    report["negatives"] = []
    g = next(s for s in WILD_SIGNALS if s.name == "group")
    for folder in negatives:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in wild_edits.PHOTO_SUFFIXES)
        hashed = _pool_map(_negative_query, files, workers, f"negatives in {folder.name}")
        kept = [(f, q) for f, q in zip(files, hashed) if q is not None and len(q.codes)]
        fm = closest_pairs(g, [q for _, q in kept], [o["group"]["bank"] for o in origs])
        for c in fm["closest"]:
            c["query"], c["bank"] = str(kept[c["query"]][0].relative_to(folder)), names[c["bank"]]
        report["negatives"].append({"folder": str(folder), "images": len(files), "hashed": len(kept), **fm})
    banks = [o["group"]["bank"].group for o in origs]
    sets = [("photos", [(p.name, p, k) for k, p in enumerate(paths)])]
    for folder in negatives:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in wild_edits.PHOTO_SUFFIXES)
        sets.append((folder.name, [(str(p.relative_to(folder)), p, None) for p in files]))
    report["registration_negatives"] = registration_negatives(sets, banks, names, workers)
    report["false_match_seconds"] = round(time.time() - t, 1)
    report["seconds"] = round(time.time() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness_wild.json").write_text(json.dumps(report, indent=1, default=_json_default))
    (out / "robustness_wild.md").write_text(markdown_wild(report))
    return report


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def _cell(fam: dict, s: str) -> str:
    lo, hi = fam["interval"][s]
    return f"{fam['recall'][s]:.3f} [{lo:.2f}-{hi:.2f}]"


def _worst_cell(fam: dict, s: str) -> str:
    w = fam["worst_bin"][s]
    return "" if w is None else f"{w['recall'][s]:.3f} ({fam['main_param']} {w['bin']}, n={w['n']})"


def markdown_wild(rep: dict) -> str:
    sigs = list(rep["signals"])
    fams = rep["families"]
    st = rep["strategy"] or {}
    label = {s: f"{s} ({rep['signals'][s]['threshold']})" for s in sigs}
    if "group" in label:
        label["group"] = f"group {st.get('name', '')} ({st.get('primary_threshold')}/{st.get('secondary_threshold')})"
    if FINAL in label:
        label[FINAL] = f"group, then registration (gate {rep['signals'][FINAL].get('gate')})"
    tg = rep["targets"]
    lines = [
        f"# Robustness in the wild: {rep['photos']} photos x {rep['draws']} random edit(s) per family, seed {rep['seed']}, {rep['seconds']:.0f} s",
        "",
        "Every photo gets random edits of each family (benchmarks/wild_edits.py), every amount drawn from a generator "
        "seeded by (photo, family, draw, seed); an edited copy is a hit for a signal if some query code is within "
        "its pair's threshold of some bank code of its own photo. Recall with its 95% Wilson interval; the worst "
        f"case is the worst quartile bin of the family's main parameter (bins of >= {MIN_BIN} copies). "
        f"Generated by `python -m benchmarks.robustness --suite wild --draws {rep['draws']} --seed {rep['seed']}`.",
        "",
        f"Targets: core mean >= {tg['core_mean']:.2f} (all families but collage), no family below {tg['family_min']:.2f}.",
        "",
        "| family | copies | " + " | ".join(label[s] for s in sigs) + " | final: worst bin | pdqhash: worst bin |",
        "|---|---:|" + "---:|" * len(sigs) + "---|---|",
    ]
    for f, fam in fams.items():
        mark = "" if FINAL not in fam["recall"] or f not in wild_edits.CORE else (" ✅" if fam["recall"][FINAL] >= tg["family_min"] else " ❌")
        name = f if f in wild_edits.CORE else f"{f} (stretch, not in the mean)"
        lines.append(f"| {name} | {fam['copies']} | " + " | ".join(_cell(fam, s) + (mark if s == FINAL else "") for s in sigs)
                     + f" | {_worst_cell(fam, FINAL) if FINAL in sigs else ''} | {_worst_cell(fam, 'pdqhash') if 'pdqhash' in sigs else ''} |")
    cm = rep["core_mean"]
    lines.append("| **core mean** | | " + " | ".join(f"**{cm[s]:.3f}**" + ((" ✅" if cm[s] >= tg["core_mean"] else " ❌") if s == FINAL else "") for s in sigs) + " | | |")
    if all("recall_by_gate" in fam for fam in fams.values()):
        gates = list(next(iter(fams.values()))["recall_by_gate"])
        lines += ["", "## The final column at narrower gates", "",
                  "Registration runs on bank images one of whose hashes comes within the gate of a start region; a narrower "
                  "gate registers fewer strangers at a big bank (docs/matching.md) and finds fewer copies:", "",
                  "| family | " + " | ".join(f"gate {g}" for g in gates) + " |", "|---|" + "---:|" * len(gates)]
        for f, fam in fams.items():
            lines.append(f"| {f} | " + " | ".join(f"{fam['recall_by_gate'][g]:.3f}" for g in gates) + " |")
        core = {g: np.mean([fams[f]["recall_by_gate"][g] for f in wild_edits.CORE]) for g in gates}
        lines.append("| **core mean** | " + " | ".join(f"**{core[g]:.3f}**" for g in gates) + " |")
    lines += ["", "## Worst case: recall per quartile bin of each family's main parameter", "",
              "| family | parameter | bins: range (copies) " + " / ".join(sigs) + " |", "|---|---|---|"]
    for f, fam in fams.items():
        cells = "; ".join(f"{b['bin']} ({b['n']}): " + " / ".join(f"{b['recall'][s]:.2f}" for s in sigs) for b in fam["main_bins"])
        lines.append(f"| {f} | {fam['main_param']} | {cells} |")
    lines += ["", "## Misses", "",
              "The 5 copies missed by the final column with the largest slack per family (distance - threshold of their best pair); "
              "`python -m benchmarks.wild_edits --show PHOTO FAMILY DRAW --seed S --out x.png` writes one.", ""]
    for f, fam in fams.items():
        if not fam["misses"]:
            continue
        lines += [f"**{f}**", "", "| photo | draw | slack | distance | best pair | parameters |", "|---|---:|---:|---:|---|---|"]
        for m in fam["misses"]:
            params = ", ".join(f"{k}={v}" for k, v in m["params"].items())
            lines.append(f"| {m['photo']} | {m['draw']} | {m['slack']:+d} | {m['distance']} | {m['variants']} | {params} |")
        lines.append("")
    lines += ["## False matches", "", "Unedited photos: every photo's query hashes vs every other photo's bank hashes.", "",
              "| signal | pairs | within threshold | best slack (distance) | smallest distance |", "|---|---:|---:|---:|---:|"]
    for s, fp in rep["distinct_photos"].items():
        lines.append(f"| {label[s]} | {fp['pairs_compared']:,} | {fp['within_threshold']} | {fp['best_slack']:+d} ({fp['best_distance']}) | {fp['min_distance']} |")
    for neg in rep["negatives"]:
        lines += ["", f"Negatives `{neg['folder']}`: {neg['hashed']:,} of {neg['images']:,} images hashed (group query hashes) "
                  f"vs every photo's bank group: {neg['pairs_compared']:,} pairs, **{neg['within_threshold']} within threshold**, "
                  f"best slack {neg['best_slack']:+d} (distance {neg['best_distance']}), smallest distance {neg['min_distance']}.", "",
                  "| negative | photo | distance | slack | query variant | bank variant |", "|---|---|---:|---:|---|---|"]
        for c in neg["closest"]:
            lines.append(f"| {c['query']} | {c['bank']} | {c['distance']} | {c['slack']:+d} | {c['query_variant']} | {c['bank_variant']} |")
    if rep.get("registration_negatives"):
        lines += ["", "## False matches through registration", "",
                  f"Every unedited photo (against every other photo's bank group) and every negative image is registered "
                  f"(matcher.registration) on each bank image one of whose hashes comes within the gate "
                  f"({rep['signals'][FINAL].get('gate')}) of one of its start regions; an accepted registration is a false match. "
                  "Then the negatives nearest a bank image are registered on it with no gate and no early stop, "
                  "to show how close the search brings distinct images (the acceptance threshold is at most "
                  f"{rep['signals'][FINAL]['threshold']}).", "",
                  "| set | images | gated pairs | **accepted (false)** | nearest start | forced | forced: closest / median refined |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in rep["registration_negatives"]:
            lines.append(f"| {r['set']} | {r['images']:,} | {r['gated_pairs']} | **{len(r['accepted'])}** | {r['start_min']} | {r['forced']} | "
                         f"{r['forced_refined_min']} / {r['forced_refined_median']} |")
        for r in rep["registration_negatives"]:
            for a in r["accepted"]:
                lines.append(f"- false: {r['set']} {a['negative']} ~ {a['bank']} at {a['distance']} ({a['start']} -> {a['bank_variant']})")
    lines += ["", f"Edits and scoring {rep['edit_seconds']:.0f} s, false matches {rep['false_match_seconds']:.0f} s.", ""]
    if st:
        lines += [f"Strategy {st['name']}: bank {', '.join(st['bank_variants'])}; query {', '.join(st['query_variants'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--limit", type=int, default=None, help="first N photos only (quick runs)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fraction", type=float, default=1.0, help="apply each edit to this seeded share of the photos")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--suite", choices=("grid", "wild"), default="grid", help="grid: fixed edits (robustness.md); wild: random edits (robustness_wild.md)")
    ap.add_argument("--draws", type=int, default=1, help="wild: random edits per family per photo")
    ap.add_argument("--seed", type=int, default=0, help="wild: a new seed draws new parameters")
    ap.add_argument("--negatives", type=Path, action="append", default=[], help="wild: folder of images that must match no photo (repeatable)")
    a = ap.parse_args(argv)
    if a.suite == "wild":
        rep = run_wild(a.images, a.limit, a.workers, a.out, a.draws, a.seed, a.negatives)
        print((a.out / "robustness_wild.md").read_text().split("## Misses")[0])
        print(f"{rep['seconds']} s")
        return
    rep = run(a.images, a.limit, a.workers, a.out, a.fraction)
    print((a.out / "robustness.md").read_text().split("## Recall per edit")[0])
    print(f"{rep['seconds']} s")


if __name__ == "__main__":
    main()
