"""False matches: the per-comparison distance tail between distinct images, by structure.

Why this exists.  The group strategy (:mod:`matcher.groups`) matches an upload
to a stored image when *any* of the upload's ~11 query codes is within 52 bits
of *any* of the image's ~18 bank codes.  An independent evaluation found 3
false matches among 1,052 distinct negatives, all dark, low-structure photos
(bright objects on black), at distances 50 and 52.  PDQ's quality score is 100
for almost every photo (it is a gradient sum capped at 100), so it cannot
single those images out.  This benchmark

1. hashes every bank photo into its bank group and every query image (the
   negatives, and every bank photo as a query against the *other* bank
   photos) into its query group, keeping for every code a few candidate
   *structure* measures of the pixels it was computed on (see
   :func:`structure_of_buffer`);
2. computes the distance of **every** (query code, bank code) comparison
   between distinct images (not only the best one per image pair) in a numba
   kernel, into distance histograms per structure band of the pair (the pair's
   structure is the lower of its two sides), and keeps every comparison closer
   than :data:`RECORD_RADIUS` individually;
3. reports which structure measure best separates the close comparisons from
   the rest, fits the lower tail of the distance distribution per band
   (beta-binomial by moments, and a quadratic in log P(d <= t) on the lowest
   observed part), extrapolates P(d <= t) for t = 24..64, and turns it into
   a per-upload false-match rate against a bank of 10 million codes, and the
   largest threshold per band that keeps it below 1e-6 and 1e-9.

Pairs of "negatives" that are really the same picture (see
:data:`SAME_PICTURE`) are listed separately and left out of the fit.

Usage::

    python -m benchmarks.false_matches [--bank DIR] [--negatives DIR ...] [--limit N]
        [--sheets D]   # also side-by-side PNGs of the pairs closer than D, to look at
    python -m benchmarks.false_matches --refit   # bands and fits again from the JSON

Writes benchmarks/results/false_matches.{json,md}.  Hashes and structure
values are cached per file under ~/.cache/ncii-matcher/false_matches/ (first
run: ~0.14 s an image with a bank group, ~10 ms query-only; 2-core shared VM),
so a rerun costs the kernel (~20 ns a comparison, one core: 4.7e9 in ~90 s)
and the fits.  Negative sets of more than 2,000 images are queried only, not
also stored as bank groups (``--negatives-in-bank``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from scipy import optimize, stats

from matcher import groups, pdq
from matcher.errors import ImageError
from matcher.loading import load_rgb_array

try:
    from benchmarks._common import CACHE_ROOT, DEFAULT_DISTRACTORS, DEFAULT_PHOTOS, POPCOUNT, RESULTS, image_paths, progress
except ImportError:  # run as a script from benchmarks/
    from _common import CACHE_ROOT, DEFAULT_DISTRACTORS, DEFAULT_PHOTOS, POPCOUNT, RESULTS, image_paths, progress  # type: ignore

CACHE = CACHE_ROOT / "false_matches"
#: The hard-negative set being built; used when it exists.
HARDNEG = Path("/work/data/hardneg")
#: Comparisons at or below this distance are kept one by one (the rest only in histograms).
RECORD_RADIUS = 80
#: Bank size the per-upload rates are quoted for (codes, not images).
BANK_CODES = 10_000_000
#: Thresholds the tail fit is extrapolated to.
THRESHOLDS = tuple(range(24, 65))
#: Fitted P(d <= t) is stored for t up to this.
P_UP_TO = 100
#: Target per-upload false-match rates at BANK_CODES.
TARGETS = (1e-6, 1e-9)
#: A fit needs at least this many comparisons at or below its lowest point.
MIN_TAIL_COUNT = 20
#: Quantiles of the per-code structure values that bound its bins (bands are
#: unions of bins): dense at the low end, where the close comparisons are.
BIN_QUANTILES = np.r_[[0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02], np.linspace(0.025, 0.975, 39)]
N_BINS = len(BIN_QUANTILES) + 1
#: Bumped whenever the cached per-image record changes meaning.
CACHE_VERSION = 1

#: Pairs of distinct files that are the same picture (looked at side by side:
#: see the report's "same picture" table); their comparisons are left out.
#: Keys are sorted file-name pairs.
SAME_PICTURE: dict[tuple[str, str], str] = {
    ("deepface__tests_unit_dataset_img11.jpg", "deepface__tests_unit_dataset_img11_reflection.jpg"):
        "the same portrait mirrored, slightly brighter (closest 16, full/flipy vs full)",
    ("zerodce__Zero-DCE_code_data_test_data_DICM_12.jpg", "zerodce__Zero-DCE_code_data_test_data_DICM_14.jpg"):
        "the same night shot (astronaut and lunar rover) at two exposures, shifted by a few pixels (28)",
    ("zerodce__Zero-DCE_code_data_test_data_DICM_30.jpg", "zerodce__Zero-DCE_code_data_test_data_DICM_31.jpg"):
        "the same river sunset at two exposures (40)",
    ("facerec__examples_knn_examples_train_obama_obama.jpg", "facerec__examples_obama-1080p.jpg"):
        "the same official portrait, one pillarboxed on black and cropped (52, trim vs crop_b7.5)",
    ("deepface__tests_unit_dataset_img7.jpg", "people__facemask__without_mask-23.jpg"):
        "the same portrait (hard-negative copy cropped, with a Getty watermark) (46)",
}


# --- structure measures (belongs in matcher.pdq once chosen; kept here for now) -------------
#
# Candidate structure measures, computed on the pixels of each variant (it reads
# matcher.pdq internals: _downsample, _dct_matrix, _structure). The chosen one,
# "gradient", is matcher.pdq's structure; the others are here for the comparison.

#: Measures, each oriented so that *higher means more structure*.
MEASURES = (
    "quality",  # PDQ quality as the reference computes it (capped at 100)
    "gradient",  # the same gradient total uncapped: total // 90
    "gradient_image",  # "gradient" of the image's full frame, for every code of the image
    "dct_not_low2",  # 1 - share of DCT energy in the lowest 2x2 frequencies
    "dct_not_low3",  # 1 - share of DCT energy in the lowest 3x3 frequencies
    "strong_bits",  # 1 - share of coefficients within 0.1 RMS of the median (weak bits)
    "mean_luma",  # mean of the 64x64 luma buffer, 0-255
    "not_dark",  # 1 - share of the 64x64 luma buffer below 32
)
WEAK_BIT_FRACTION = 0.1
#: "Close" comparisons, for the separation table: d < each of these.
SEPARATION_CUTS = (70, 80, 90)
DARK_LEVEL = 32


def structure_of_buffer(buffer64: np.ndarray) -> dict[str, float]:
    """Candidate structure measures of one PDQ 64x64 luma buffer (``gradient_image`` aside)."""
    gradient = pdq._structure(buffer64)  # what the matcher bands by (its quality, uncapped)
    dct = pdq._dct_matrix()
    c = dct @ buffer64 @ dct.T  # the 16x16 coefficients PDQ thresholds (frequencies 1..16)
    energy = float((c * c).sum()) or 1.0
    flat = c.ravel()
    median = np.partition(flat, 127)[127]
    dev = np.abs(flat - median)
    rms = float(np.sqrt((dev * dev).mean())) or 1.0
    return {
        "quality": float(pdq.quality_of(gradient)),
        "gradient": float(gradient),
        "dct_not_low2": 1.0 - float((c[:2, :2] ** 2).sum()) / energy,
        "dct_not_low3": 1.0 - float((c[:3, :3] ** 2).sum()) / energy,
        "strong_bits": 1.0 - float((dev < WEAK_BIT_FRACTION * rms).mean()),
        "mean_luma": float(buffer64.mean()),
        "not_dark": 1.0 - float((buffer64 < DARK_LEVEL).mean()),
    }


def structure_of_pixels(rgb: np.ndarray) -> dict[str, float]:
    """:func:`structure_of_buffer` of the PDQ buffer of ``rgb`` (what PDQ hashes)."""
    return structure_of_buffer(pdq._downsample(np.ascontiguousarray(rgb)))


def _variant_pixels(rgb: np.ndarray, work: np.ndarray, name: str, variants: dict[str, groups.Variant]):
    """The pixels a group's variant ``name`` was hashed on (dihedral turns share their base's)."""
    base = name.split("/")[0]
    if base == "trim":
        x0, y0, x1, y1 = groups.trim_box(work)
        return work[y0:y1, x0:x1]
    v = variants.get(base)
    if v is None:
        return None
    if v.primary:
        return groups.crop(rgb, v.box)
    return groups.rotate_bilinear(work, v.angle, v.box) if v.angle else groups.crop(work, v.box)


def _group_record(rgb: np.ndarray, group: groups.HashGroup, variants: dict[str, groups.Variant]) -> dict:
    """Codes, primary flags, variant names and per-code structure of one hash group."""
    work = groups.reduce_to_working_size(rgb)
    cache: dict[str, dict[str, float]] = {}
    rows, unknown = [], 0
    for h in group:
        base = h.variant.split("/")[0]
        if base not in cache:
            pixels = _variant_pixels(rgb, work, h.variant, variants)
            if pixels is None:  # a variant kind this benchmark does not know: use the full frame
                unknown += 1
                pixels = rgb
            cache[base] = structure_of_pixels(pixels)
        row = dict(cache[base])
        if h.structure is not None:  # the group's own value, exactly what the matcher bands by
            row["gradient"], row["quality"] = float(h.structure), float(h.quality)
        rows.append(row)
    return {
        "codes": group.codes,
        "primary": group.primary,
        "variants": [h.variant for h in group],
        "structure": {m: np.array([r[m] for r in rows], np.float64) for m in MEASURES if m != "gradient_image"},
        "unknown_variants": unknown,
    }


def _strategy_key(strategy: groups.Strategy) -> str:
    return hashlib.sha1(f"{CACHE_VERSION}|{strategy!r}".encode()).hexdigest()[:12]


def image_record(path: Path, strategy: groups.Strategy, with_bank: bool) -> dict:
    """Query group (and bank group if ``with_bank``) of one file with structure values, cached."""
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|{_strategy_key(strategy)}".encode()).hexdigest()[:16]
    cached = CACHE / f"{path.stem[:60]}-{key}-{'qb' if with_bank else 'q'}.pkl"
    if cached.exists():
        return pickle.loads(cached.read_bytes())
    rgb = load_rgb_array(path)
    names = {v.name: v for v in (*strategy.bank, *strategy.query)}
    full = structure_of_pixels(rgb)
    rec = {
        "file": path.name,
        "shape": rgb.shape[:2],
        "full": full,
        "query": _group_record(rgb, strategy.query_group(rgb), names),
        "bank": _group_record(rgb, strategy.bank_group(rgb), names) if with_bank else None,
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(rec))
    tmp.replace(cached)
    return rec


# --- the comparison kernel -----------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True, nogil=True)
def _compare_all(qcodes, qimg, qkind, qbin, qtile, bcodes, bimg, bkind, bbin, btile, skip, hist, rec_q, rec_b, rec_d, radius):
    """Every (query code, bank code) distance with skip[qimg, bimg] false, into ``hist``.

    Only comparisons the strategy can make are counted: a tile (``qtile``/``btile`` > 0, the
    same number for the same tile) meets only its namesake, other codes meet each other (0).

    ``hist[m, min(qbin[m, q], bbin[m, b]), 2 * qkind + bkind, d] += 1`` for every
    measure m; comparisons with d <= radius are also written to rec_* (as many
    as fit; the return value is how many there were).
    """
    n_rec = 0
    cap = rec_q.shape[0]
    n_meas = qbin.shape[0]
    for q in range(qcodes.shape[0]):
        q0, q1, q2, q3 = qcodes[q, 0], qcodes[q, 1], qcodes[q, 2], qcodes[q, 3]
        row = skip[qimg[q]]
        kq = 2 * qkind[q]
        tq = qtile[q]
        for b in range(bcodes.shape[0]):
            if row[bimg[b]] or btile[b] != tq:
                continue
            d = (
                _popcount64(q0 ^ bcodes[b, 0])
                + _popcount64(q1 ^ bcodes[b, 1])
                + _popcount64(q2 ^ bcodes[b, 2])
                + _popcount64(q3 ^ bcodes[b, 3])
            )
            k = kq + bkind[b]
            for m in range(n_meas):
                x = qbin[m, q]
                y = bbin[m, b]
                hist[m, x if x < y else y, k, d] += 1
            if d <= radius:
                if n_rec < cap:
                    rec_q[n_rec] = q
                    rec_b[n_rec] = b
                    rec_d[n_rec] = d
                n_rec += 1
    return n_rec


# --- data set ---------------------------------------------------------------------------------


@dataclass
class Side:
    """All codes of one side (query or bank), flattened, with their image and structure."""

    codes: np.ndarray  # (n, 32) uint8
    image: np.ndarray  # (n,) index into the run's image list
    primary: np.ndarray  # (n,) bool
    variant: list[str]
    structure: dict[str, np.ndarray]  # measure -> (n,)

    @classmethod
    def build(cls, records: list[dict], which: str, images: list[int]) -> "Side":
        codes, image, primary, variant = [], [], [], []
        structure: dict[str, list[np.ndarray]] = {m: [] for m in MEASURES}
        for idx, rec in zip(images, records):
            g = rec[which]
            n = len(g["codes"])
            codes.append(g["codes"])
            image.append(np.full(n, idx, np.int32))
            primary.append(g["primary"])
            variant.extend(g["variants"])
            for m in MEASURES:
                v = np.full(n, rec["full"]["gradient"]) if m == "gradient_image" else g["structure"][m]
                structure[m].append(v)
        return cls(
            np.concatenate(codes).astype(np.uint8),
            np.concatenate(image),
            np.concatenate(primary).astype(bool),
            variant,
            {m: np.concatenate(v) for m, v in structure.items()},
        )


def tile_numbers(strategy: groups.Strategy, variants: list[str]) -> np.ndarray:
    """Per code, its tile's number (1, 2, ...) or 0: a tile is compared only with its namesake
    (``Strategy.pair_threshold``), so comparisons across tiles are never made and not counted."""
    number = {name: k + 1 for k, name in enumerate(sorted(strategy.tiles))}
    return np.array([number.get(v, 0) for v in variants], np.int64)


def _as_words(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes).view(np.uint64).reshape(-1, 4)


def bin_edges(values: np.ndarray) -> np.ndarray:
    """N_BINS - 1 inner edges at BIN_QUANTILES of ``values`` (ties make some bins empty)."""
    return np.quantile(values, BIN_QUANTILES)


# --- tail fits ----------------------------------------------------------------------------------


def _betabinom_moments(hist: np.ndarray) -> tuple[float, float] | None:
    n = 256
    d = np.arange(len(hist), dtype=np.float64)
    tot = hist.sum()
    if tot < 2:
        return None
    mean = float((hist * d).sum() / tot)
    var = float((hist * (d - mean) ** 2).sum() / tot)
    p = mean / n
    binvar = n * p * (1 - p)
    rho = max((var / binvar - 1) / (n - 1), 1e-9)
    a = p * (1 / rho - 1)
    b = (1 - p) * (1 / rho - 1)
    return a, b


def _tail_range(cum: np.ndarray) -> np.ndarray | None:
    """Even t from the lowest with >= MIN_TAIL_COUNT comparisons at or below it up to
    where P(d <= t) reaches 1e-3 (at least 6 points); None without such a t."""
    tot = cum[-1]
    enough = np.flatnonzero(cum >= MIN_TAIL_COUNT)
    if not len(enough):
        return None
    t_lo = int(enough[0]) + (int(enough[0]) % 2)  # even: PDQ distances are almost all even
    below = np.flatnonzero(cum <= 1e-3 * tot)
    t_hi = max(t_lo + 10, int(below[-1]) if len(below) else t_lo)
    return np.arange(t_lo, min(t_hi, 256) + 1, 2)


def _monotone_below(logp: np.ndarray, t_lo: int, cum: np.ndarray, tot: float) -> np.ndarray:
    """Observed log P at and above t_lo; below it the fit, held non-decreasing in t."""
    logp = logp.copy()
    logp[t_lo:] = np.log(np.maximum(cum[t_lo:], 0.5) / tot)
    for t in range(t_lo - 1, -1, -1):
        logp[t] = min(logp[t], logp[t + 1])
    return logp


def fit_tail(hist: np.ndarray) -> dict:
    """Fits of P(d <= t) for one distance histogram (index = distance 0..256).

    Both fits use the same points: the *tail range* (:func:`_tail_range`), log
    P(d <= t) at even t, weighted by the count at or below t (the variance of
    the log of a count is ~1/count).  At and above the range's start the
    observed P is used; below it the fit, held non-decreasing in t.

    * ``betabinom_tail``: a beta-binomial on 256 bits (PDQ bits are correlated,
      so distances are over-dispersed against a binomial) whose two parameters
      minimise the weighted squared error of log P on the tail range.
    * ``logquad``: weighted least squares of log P on a quadratic in t (a
      normal-like tail if it curves down, exponential if straight; a parabola
      that turns up below the range is held flat: conservative).
    * ``p``: the larger of the two at every t (conservative).
    * ``p_logconcave``: the same with the log-linear fit (an exponential tail)
      in place of a parabola that turns up: what one gets assuming the log of
      the lower tail is concave below the observed range, as it is for a
      binomial, a beta-binomial or a normal.  Mixtures of such tails (a band
      holds many image pairs) need not be, hence both.

    ``betabinom_moments`` (mean and variance of the whole histogram) is kept as
    a check of how much heavier than the body's shape the tail is
    (``check``: its expected counts against the observed ones).
    """
    hist = np.asarray(hist, np.float64)
    tot = hist.sum()
    cum = np.cumsum(hist)
    out: dict = {"comparisons": int(tot)}
    ts = np.arange(257)
    if tot == 0:
        return out
    ab = _betabinom_moments(hist)
    bbm = stats.betabinom.cdf(ts, 256, *ab) if ab else np.full(257, np.nan)
    out["betabinom_moments"] = {"alpha": ab[0], "beta": ab[1]} if ab else None
    out["check"] = [{"t": t, "observed": int(cum[t]), "expected": float(bbm[t] * tot)} for t in (60, 70, 80, 90, 100)]
    out["observed"] = {int(t): int(cum[t]) for t in (40, 50, 60, 70, 80, 90)}

    fit_t = _tail_range(cum)
    bb = lq = ll = np.full(257, np.nan)
    out["betabinom_tail"] = out["logquad"] = out["loglinear"] = None
    if fit_t is not None and ab:
        y = np.log(cum[fit_t] / tot)
        w = cum[fit_t]
        t_lo = int(fit_t[0])

        def loss(x):
            mu, size = 1 / (1 + np.exp(-x[0])), np.exp(x[1])
            pred = stats.betabinom.logcdf(fit_t, 256, mu * size, (1 - mu) * size)
            return float((w * (pred - y) ** 2).sum())

        mu0 = ab[0] / (ab[0] + ab[1])
        x0 = np.array([np.log(mu0 / (1 - mu0)), np.log(ab[0] + ab[1])])
        res = optimize.minimize(loss, x0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
        mu, size = 1 / (1 + np.exp(-res.x[0])), np.exp(res.x[1])
        a, b = mu * size, (1 - mu) * size
        bb = np.exp(_monotone_below(stats.betabinom.logcdf(ts, 256, a, b), t_lo, cum, tot))
        resid = (stats.betabinom.cdf(fit_t, 256, a, b) * tot - cum[fit_t]) / np.sqrt(cum[fit_t])
        out["betabinom_tail"] = {"alpha": a, "beta": b, "max_abs_pearson_resid": float(np.abs(resid).max())}

        coef = np.polyfit(fit_t, y, 2, w=np.sqrt(w))
        lq = np.exp(_monotone_below(np.polyval(coef, ts), t_lo, cum, tot))
        resid = (np.exp(np.polyval(coef, fit_t)) * tot - cum[fit_t]) / np.sqrt(cum[fit_t])
        out["logquad"] = {"coef": coef.tolist(), "max_abs_pearson_resid": float(np.abs(resid).max()),
                          "turns_up": bool(coef[0] > 0)}
        lin = np.polyfit(fit_t, y, 1, w=np.sqrt(w))
        ll = np.exp(_monotone_below(np.polyval(lin, ts), t_lo, cum, tot))
        resid = (np.exp(np.polyval(lin, fit_t)) * tot - cum[fit_t]) / np.sqrt(cum[fit_t])
        out["loglinear"] = {"coef": lin.tolist(), "max_abs_pearson_resid": float(np.abs(resid).max())}
        out["fit_range"] = [t_lo, int(fit_t[-1])]
        out["fit_points"] = int(len(fit_t))
    out["p_betabinom_moments"] = {int(t): float(bbm[t]) for t in range(P_UP_TO + 1)}
    out["p_betabinom"] = {int(t): float(bb[t]) for t in range(P_UP_TO + 1)}
    out["p_logquad"] = {int(t): float(lq[t]) for t in range(P_UP_TO + 1)}
    # the log-concave estimate: the quadratic where it curves down, else the straight line
    lc = ll if out["logquad"] is None or out["logquad"]["turns_up"] else lq
    out["p_logconcave"] = {int(t): float(np.nanmax([bb[t], lc[t], 0.0])) for t in range(P_UP_TO + 1)}
    out["p"] = {int(t): float(np.nanmax([bb[t], lq[t], 0.0])) for t in range(P_UP_TO + 1)}
    return out


def per_upload(p: float, codes_per_upload: float, bank_codes: int = BANK_CODES) -> float:
    """1 - (1 - p)^(codes per upload x bank codes), computed without cancellation."""
    if not p > 0:
        return 0.0
    return float(-math.expm1(codes_per_upload * bank_codes * math.log1p(-min(p, 1 - 1e-16))))


def largest_threshold(fit: dict, codes_per_upload: float, target: float, key: str = "p") -> int | None:
    """The largest t in 0..64 whose per-upload rate (from ``fit[key]``) stays below ``target``."""
    best = None
    for t in range(0, 65):
        if per_upload(fit[key][t], codes_per_upload) < target:
            best = t
        else:
            break
    return best


# --- the run ---------------------------------------------------------------------------------


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def run(bank_dir: Path, negative_dirs: list[Path], limit: int | None, out: Path, negatives_in_bank: bool | None) -> dict:
    strategy = groups.DEFAULT_STRATEGY
    started = time.time()
    bank_paths = image_paths(bank_dir, limit)
    neg_sets = [image_paths(d, limit) for d in negative_dirs]
    neg_paths = [p for ps in neg_sets for p in ps]
    # A negative set is stored as bank groups too (all pairs) while that stays cheap.
    nib = [len(ps) <= 2000 if negatives_in_bank is None else negatives_in_bank for ps in neg_sets]
    paths = bank_paths + neg_paths
    in_bank = [True] * len(bank_paths) + [b for ps, b in zip(neg_sets, nib) for _ in ps]
    sets = ["bank"] * len(bank_paths) + [p.parent.name for p in neg_paths]
    records, keep, unreadable = [], [], []
    for k, (p, b) in enumerate(zip(paths, in_bank)):
        try:
            records.append(image_record(p, strategy, b))
            keep.append(k)
        except (ImageError, OSError) as exc:  # e.g. a file still being written
            unreadable.append(f"{p.name}: {exc}")
        if (k + 1) % 20 == 0 or k + 1 == len(paths):
            progress(k + 1, len(paths), started, "images hashed")
    print(file=sys.stderr)
    in_bank, sets = [in_bank[k] for k in keep], [sets[k] for k in keep]
    t_hash = time.time() - started
    names = [r["file"] for r in records]
    if len(set(names)) != len(names):  # file names identify images in the report
        names = [f"{s}/{n}" for s, n in zip(sets, names)]

    query = Side.build(records, "query", list(range(len(records))))
    bank_idx = [i for i, b in enumerate(in_bank) if b]
    bank = Side.build([records[i] for i in bank_idx], "bank", bank_idx)
    # bank image slot of each image (-1 if not in the bank), and the comparisons to skip
    slot = np.full(len(records), -1, np.int64)
    slot[bank_idx] = np.arange(len(bank_idx))
    skip = np.zeros((len(records), len(bank_idx)), np.bool_)
    skip[bank_idx, np.arange(len(bank_idx))] = True  # an image against itself
    index = {n: i for i, n in enumerate(names)}
    excluded = []
    for (a, b), why in SAME_PICTURE.items():
        ia, ib = index.get(a), index.get(b)
        if ia is None or ib is None:
            continue
        for x, y in ((ia, ib), (ib, ia)):
            if slot[y] >= 0:
                skip[x, slot[y]] = True
        d = [
            int(POPCOUNT[records[x]["query"]["codes"][:, None] ^ records[y]["bank"]["codes"][None]].sum(-1).min())
            for x, y in ((ia, ib), (ib, ia)) if slot[y] >= 0
        ]
        excluded.append({"a": a, "b": b, "reason": why, "closest_distance": min(d) if d else None})

    edges = {m: bin_edges(np.concatenate([query.structure[m], bank.structure[m]])) for m in MEASURES}
    qbin = np.stack([np.searchsorted(edges[m], query.structure[m], side="right") for m in MEASURES]).astype(np.uint8)
    bbin = np.stack([np.searchsorted(edges[m], bank.structure[m], side="right") for m in MEASURES]).astype(np.uint8)
    hist = np.zeros((len(MEASURES), N_BINS, 4, 257), np.int64)
    cap = 2_000_000
    rec_q, rec_b, rec_d = np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int16)
    t0 = time.time()
    n_rec = _compare_all(
        _as_words(query.codes), query.image, query.primary.astype(np.int64), qbin, tile_numbers(strategy, query.variant),
        _as_words(bank.codes), slot[bank.image], bank.primary.astype(np.int64), bbin, tile_numbers(strategy, bank.variant),
        skip, hist, rec_q, rec_b, rec_d, RECORD_RADIUS,
    )
    t_kernel = time.time() - t0
    if n_rec > cap:
        print(f"warning: {n_rec} comparisons within {RECORD_RADIUS}, kept {cap}", file=sys.stderr)
    n_rec = min(n_rec, cap)
    close = {"q": rec_q[:n_rec], "b": rec_b[:n_rec], "d": rec_d[:n_rec].astype(np.int64)}
    report = analyse(
        strategy, records, names, sets, query, bank, edges, hist, close, excluded, started
    )
    report["chosen_measure"] = CHOSEN_MEASURE
    report["bands"] = banded(report, CHOSEN_MEASURE, BAND_EDGES)
    report["seconds"] = {"hashing": round(t_hash, 1), "kernel": round(t_kernel, 1), "total": round(time.time() - started, 1)}
    report["inputs"] = {
        "bank": str(bank_dir),
        "negatives": [str(d) for d in negative_dirs],
        "negatives_in_bank": dict(zip([str(d) for d in negative_dirs], nib)),
        "limit": limit,
        "unreadable": unreadable,
        "images": {s: sets.count(s) for s in dict.fromkeys(sets)},
    }
    out.mkdir(parents=True, exist_ok=True)
    report = json.loads(json.dumps(report, default=_json_default))  # str keys, as the file has them
    (out / "false_matches.json").write_text(_dump(report))
    (out / "false_matches.md").write_text(markdown(report))
    return report


def _dump(rep: dict) -> str:
    """Indented JSON with every list of plain numbers on one line (the histograms)."""
    text = json.dumps(rep, indent=1)
    return re.sub(r"\[\s*([-0-9.eE+,\s]*?)\s*\]", lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]", text)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def _pair_percentile(qv: np.ndarray, bv: np.ndarray, x: float) -> float:
    """Share of all (query code, bank code) comparisons whose min(structure) is below ``x``.

    Every query code meets (almost) every bank code, so
    P(min >= x) = P(query >= x) * P(bank >= x).
    """
    sq = 1 - np.searchsorted(np.sort(qv), x, side="left") / len(qv)
    sb = 1 - np.searchsorted(np.sort(bv), x, side="left") / len(bv)
    return float(1 - sq * sb)


def analyse(strategy, records, names, sets, query: Side, bank: Side, edges, hist, close, excluded, started) -> dict:
    H = hist.sum(axis=2)  # (measure, bin, distance)
    total = H[0].sum()
    all_hist = H[0].sum(axis=0)

    # --- which measure separates close comparisons ---
    sep = {}
    for mi, m in enumerate(MEASURES):
        per_bin = H[mi]
        n_bin = per_bin.sum(axis=1)
        call = n_bin / max(1, n_bin.sum())
        below_all = 1 - np.cumsum(call) + call / 2  # P(random comparison above this bin), ties half
        low = np.cumsum(call) <= 0.10 + 1e-9  # the lowest ~10% of comparisons by pair structure
        entry = {"lowest_decile_share": float(call[low].sum())}
        for cut in SEPARATION_CUTS:
            close_n = per_bin[:, :cut].sum(axis=1)  # d < cut
            c = close_n / max(1, close_n.sum())
            # AUC: P(a close comparison has lower structure than a random one)
            entry[f"auc_below{cut}"] = float((c * below_all).sum())
            entry[f"below{cut}"] = int(close_n.sum())
            entry[f"below{cut}_in_lowest_decile"] = float(close_n[low].sum() / max(1, close_n.sum()))
            entry[f"rate_below{cut}_lowest_decile"] = float(close_n[low].sum() / max(1, n_bin[low].sum()))
            entry[f"rate_below{cut}_rest"] = float(close_n[~low].sum() / max(1, n_bin[~low].sum()))
        entry["bins"] = [
            {"lo": None if b == 0 else float(edges[m][b - 1]), "hi": None if b == N_BINS - 1 else float(edges[m][b]),
             "comparisons": int(n_bin[b]), **{f"below{c}": int(per_bin[b, :c].sum()) for c in SEPARATION_CUTS}}
            for b in range(N_BINS) if n_bin[b]
        ]
        sep[m] = entry

    # --- closest false pairs (one row per image pair: its closest comparison) ---
    skip_pairs = {(e["a"], e["b"]) for e in excluded}
    order = np.lexsort((close["b"], close["q"], close["d"]))
    seen, pairs = set(), []
    for k in order:
        q, b, d = int(close["q"][k]), int(close["b"][k]), int(close["d"][k])
        qi, bi = int(query.image[q]), int(bank.image[b])
        key = (qi, bi)
        if key in seen:
            continue
        seen.add(key)
        row = {
            "distance": d,
            "query": names[qi], "query_set": sets[qi], "query_variant": query.variant[q],
            "bank": names[bi], "bank_set": sets[bi], "bank_variant": bank.variant[b],
            "query_structure": {m: float(query.structure[m][q]) for m in MEASURES},
            "bank_structure": {m: float(bank.structure[m][b]) for m in MEASURES},
            "pair_percentile": {
                m: _pair_percentile(query.structure[m], bank.structure[m],
                                    min(query.structure[m][q], bank.structure[m][b]) + 1e-12)
                for m in MEASURES
            },
            "comparisons_within_70": int(((close["d"] <= 70) & (query.image[close["q"]] == qi) & (bank.image[close["b"]] == bi)).sum()),
        }
        row["same_picture"] = _pair_key(names[qi], names[bi]) in skip_pairs
        pairs.append(row)
        if len(pairs) >= 60:
            break

    codes_per_upload = {
        "mean": float(len(query.codes) / len(records)),
        "max": int(max(len(r["query"]["codes"]) for r in records)),
    }
    return {
        "strategy": strategy.name,
        "threshold_now": strategy.widest_threshold,
        "images": len(records),
        "query_codes": int(len(query.codes)),
        "bank_codes": int(len(bank.codes)),
        "bank_images": int(len(set(bank.image.tolist()))),
        "codes_per_upload": codes_per_upload,
        "bank_codes_per_image": float(len(bank.codes) / max(1, len(set(bank.image.tolist())))),
        "comparisons": int(total),
        "comparisons_by_kind": {k: int(hist[0, :, i].sum()) for i, k in enumerate(
            ("secondary-secondary", "secondary-primary", "primary-secondary", "primary-primary"))},
        "distance_hist": all_hist.tolist(),
        "hist": H,  # (measure, bin, distance), kept for the banding below
        "edges": {m: edges[m].tolist() for m in MEASURES},
        # codes per structure bin, per measure and side (for the code shares of a band)
        "codes_per_bin": {m: {side: np.bincount(np.searchsorted(edges[m], sd.structure[m], side="right"),
                                                minlength=N_BINS).tolist() for side, sd in (("query", query), ("bank", bank))}
                          for m in MEASURES},
        "separation": sep,
        "closest": pairs,
        "excluded_same_picture": excluded,
        "recorded_within": RECORD_RADIUS,
        "recorded": int(len(close["d"])),
    }


def banded(report: dict, measure: str, band_edges: list[float]) -> list[dict]:
    """Per-band fits of the chosen measure; bands are unions of its quantile bins.

    ``band_edges`` are structure values; a bin belongs to the band its lower edge falls in.
    """
    mi = MEASURES.index(measure)
    H = np.asarray(report["hist"])[mi]
    lo_edges = np.r_[-np.inf, np.asarray(report["edges"][measure])]
    bounds = [-np.inf, *band_edges, np.inf]
    out = []
    cpu = report["codes_per_upload"]["max"]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sel = (lo_edges >= lo) & (lo_edges < hi) if np.isfinite(lo) else (lo_edges < hi)
        h = H[sel].sum(axis=0)
        fit = fit_tail(h)
        for side in ("query", "bank"):
            n = np.asarray(report["codes_per_bin"][measure][side], np.float64)
            fit[f"{side}_code_share"] = float(n[sel].sum() / n.sum())
        # the band's real bounds: the edges of the quantile bins it is made of
        first, last = np.flatnonzero(sel)[[0, -1]] if sel.any() else (0, 0)
        inner = report["edges"][measure]
        fit["band"] = [None if first == 0 else float(inner[first - 1]), None if last >= len(inner) else float(inner[last])]
        fit["nominal_band"] = [None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi)]
        if fit["comparisons"]:
            fit["per_upload"] = {t: per_upload(fit["p"][t], cpu) for t in THRESHOLDS}
            fit["threshold_for"] = {f"{t:g}": largest_threshold(fit, cpu, t) for t in TARGETS}
            fit["per_upload_logconcave"] = {t: per_upload(fit["p_logconcave"][t], cpu) for t in THRESHOLDS}
            fit["threshold_for_logconcave"] = {f"{t:g}": largest_threshold(fit, cpu, t, "p_logconcave") for t in TARGETS}
        out.append(fit)
    return out if len(bounds) == 2 else out + banded(report, measure, [])


# --- report ---------------------------------------------------------------------------------

#: The structure measure the bands use, and the band edges (values of it),
#: chosen from the separation table (see the report).
CHOSEN_MEASURE = "gradient"
#: The floors of matcher.groups.STRUCTURE_BANDS (and 61, to show the lowest part apart).
BAND_EDGES = [61.0, 108.0, 162.0, 208.0]


def _sci(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "0" if x == 0 else f"{x:.1e}"


NOTES = """\
- Comparisons are not independent: one image contributes ~11 x 17 codes to each of its pairs and
  a few low-structure images (tiles of face crops, a near-black RetinexNet frame, a letterboxed
  lion) account for many of the closest comparisons, so the effective sample behind each tail is
  a few dozen image pairs, not the comparison count.  The fits describe this data set's mix.
- Every estimate at t <= 60 is an extrapolation: no comparison between distinct pictures is
  closer than the first row of the closest-pairs table.  The beta-binomial, fitted to the same
  tail points, misfits them (max Pearson residuals >> 3): the tail is a mixture, heavier than any
  one beta-binomial, so it never sets p.
- Where the parabola turns up (the tail flattens towards small distances in the observed
  range), the conservative estimate is held flat below the range: it bounds, it does not
  predict.  The log-concave table is the estimate if the tail keeps falling at least
  exponentially.
- Per upload: an upload whose codes are in a band (pairs take the lower side) against 10M bank
  codes; a structured upload meets the bank's low-structure codes in the low bands too, so the
  per-upload rate of a real bank is the sum over bands of (bank codes in band) x codes x p.
"""


def _th(t: int | None) -> str:
    return "none >= 0" if t is None else str(t)


def _band_name(b: list) -> str:
    lo, hi = b
    if lo is None and hi is None:
        return "all"
    if lo is None:
        return f"< {hi:g}"
    if hi is None:
        return f">= {lo:g}"
    return f"{lo:g} - {hi:g}"


def markdown(rep: dict) -> str:
    inp, sec = rep["inputs"], rep["seconds"]
    m = rep["chosen_measure"]
    cpu = rep["codes_per_upload"]
    L = [
        f"# False matches by structure: {rep['comparisons']:,} comparisons, {sec['total']:.0f} s",
        "",
        "Generated by `python -m benchmarks.false_matches` (see its docstring and docs/matching.md). "
        f"Strategy `{rep['strategy']}` (threshold now {rep['threshold_now']}). Images: "
        + ", ".join(f"{k} {v}" for k, v in inp["images"].items())
        + f"; bank groups for {rep['bank_images']} of them ({rep['bank_codes']:,} codes, "
        f"{rep['bank_codes_per_image']:.1f} per image), query groups for all {rep['images']} "
        f"({rep['query_codes']:,} codes, {cpu['mean']:.1f} per upload, max {cpu['max']}). "
        "Every (query code, bank code) comparison between distinct images that the strategy can make "
        "is counted (a tile, e.g. a quadrant, meets only the same tile) "
        f"({rep['comparisons']:,}; "
        + ", ".join(f"{k} {v:,}" for k, v in rep["comparisons_by_kind"].items())
        + f"). Hashing {sec['hashing']:.0f} s (cached after the first run), comparisons {sec['kernel']:.1f} s "
        "(numba, one core).",
        "",
        "## Which structure measure separates the close comparisons",
        "",
        "Per code, on the pixels it was hashed from (its 64x64 PDQ luma buffer); a comparison's structure "
        "is the lower of its two sides; every measure is oriented so that higher = more structure. "
        "AUC: probability that a comparison closer than the cut has lower structure than a random comparison "
        f"(0.5 = no information; from {N_BINS} quantile bins). Lowest decile: the 10% of comparisons with the "
        "lowest structure (bins, so about 10%). Closest pairs: percentile of the pair's structure among "
        "all comparisons, for the 15 closest false image pairs (median and worst).",
        "",
        "| measure | AUC d < 70 | AUC d < 80 | AUC d < 90 | share of d < 80 in lowest decile | rate d < 80: lowest decile | rest | ratio | 15 closest: median percentile | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    closest = [p for p in rep["closest"] if not p["same_picture"]][:15]
    for meas, s in rep["separation"].items():
        pc = sorted(100 * p["pair_percentile"][meas] for p in closest)
        lo, rest = s["rate_below80_lowest_decile"], s["rate_below80_rest"]
        auc = [f"{s[f'auc_below{c}']:.3f}" if s[f"below{c}"] else "-" for c in SEPARATION_CUTS]
        L.append(
            f"| {meas}{' (chosen)' if meas == m else ''} | " + " | ".join(auc) + " | "
            f"{s['below80_in_lowest_decile']:.2f} ({s['lowest_decile_share']:.0%} of comparisons) | {_sci(lo)} | {_sci(rest)} | "
            f"{lo / rest if rest else float('inf'):.1f}x | {np.median(pc) if pc else float('nan'):.1f}% | {max(pc) if pc else float('nan'):.1f}% |"
        )
    s0 = next(iter(rep["separation"].values()))
    L += ["", "Close comparisons behind the table (same pictures excluded): "
          + ", ".join(f"d < {c}: {s0[f'below{c}']:,}" for c in SEPARATION_CUTS) + "."]
    best = max(rep["separation"], key=lambda k: rep["separation"][k]["auc_below80"])
    L += ["", f"Highest AUC at d < 80: `{best}`. Bands use `{m}` (the per-code gradient: defined on "
          "exactly the pixels each code was hashed from, so a crop of a dark corner counts as dark; "
          "`gradient_image`, the full frame's value for every code of the image, is within noise of it).", ""]

    bands = rep["bands"]
    L += [
        f"## Bands of `{m}` (pair = min of the two sides)",
        "",
        "Observed: comparisons at or below the distance. Fitted p(t) = P(d <= t) per comparison: "
        "a beta-binomial fitted to the tail range (bb) and a quadratic in log P fitted to it (lq), and the "
        "larger of the two (**p**), which the rest uses; tail range: the even t from the lowest with >= "
        f"{MIN_TAIL_COUNT} comparisons at or below it to P = 1e-3. The body beta-binomial (moments of the "
        "whole histogram) shows how much heavier the tail is than the body's shape. "
        f"Per upload at {BANK_CODES / 1e6:.0f}M bank codes: 1 - (1 - p)^({cpu['max']} x {BANK_CODES:,}) "
        f"({cpu['max']} = the most codes an upload queries).",
        "",
        "| band | bank codes / query codes in band | comparisons | d<=40 | d<=50 | d<=60 | d<=70 | d<=80 | d<=90 | tail range (points) | max Pearson residual bb / lq | body beta-binomial: expected vs observed at 80 / 90 / 100 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for b in bands:
        o = b["observed"]
        ch = {c["t"]: c for c in b["check"]}
        fr = "%d-%d (%d)" % (b["fit_range"][0], b["fit_range"][1], b["fit_points"]) if b.get("fit_range") else "none"
        res = (f"{b['betabinom_tail']['max_abs_pearson_resid']:.1f} / {b['logquad']['max_abs_pearson_resid']:.1f}"
               if b.get("logquad") else "-")
        L.append(
            f"| {_band_name(b['band'])} | {b['bank_code_share']:.1%} / {b['query_code_share']:.1%} | {b['comparisons']:,} | {o['40']} | {o['50']} | {o['60']} | {o['70']} | {o['80']} | {o['90']} | "
            f"{fr} | {res} | " + " / ".join(f"{ch[t]['expected']:.1f} vs {ch[t]['observed']}" for t in (80, 90, 100)) + " |"
        )
    L += [
        "",
        "| band | p(31) bb / lq / **p** | p(40) | p(46) | p(52) | per upload at 10M: 31 | 40 | 46 | 52 | largest t, per upload < 1e-6 | < 1e-9 |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in bands:
        cells = []
        for t in (31, 40, 46, 52):
            cells.append(f"{_sci(b['p_betabinom'][str(t)])} / {_sci(b['p_logquad'][str(t)])} / **{_sci(b['p'][str(t)])}**")
        pu = [_sci(b["per_upload"][str(t)]) for t in (31, 40, 46, 52)]
        th = [_th(b["threshold_for"][k]) for k in ("1e-06", "1e-09")]
        L.append(f"| {_band_name(b['band'])} | " + " | ".join(cells) + " | " + " | ".join(pu) + " | " + " | ".join(th) + " |")
    L += [
        "",
        "Log-concave estimate (the log-linear fit where the parabola turns up, see `fit_tail`): less "
        "conservative, and the one to use only if one accepts that the tail does not flatten below the "
        "observed range.",
        "",
        "| band | parabola turns up | log-linear slope (per bit) | p(31) | p(40) | p(46) | p(52) | per upload at 10M: 31 | 40 | 46 | 52 | largest t < 1e-6 | < 1e-9 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in bands:
        pc = [_sci(b["p_logconcave"][str(t)]) for t in (31, 40, 46, 52)]
        pu = [_sci(b["per_upload_logconcave"][str(t)]) for t in (31, 40, 46, 52)]
        th = [_th(b["threshold_for_logconcave"][k]) for k in ("1e-06", "1e-09")]
        L.append(f"| {_band_name(b['band'])} | {'yes' if b['logquad']['turns_up'] else 'no'} | "
                 f"{b['loglinear']['coef'][0]:.3f} | " + " | ".join(pc + pu + th) + " |")
    L += ["", "Conservative p(t) per comparison, every 4 bits:", "",
          "| band | " + " | ".join(str(t) for t in range(24, 65, 4)) + " |",
          "|---|" + "---:|" * len(range(24, 65, 4))]
    for b in bands:
        L.append(f"| {_band_name(b['band'])} | " + " | ".join(_sci(b["p"][str(t)]) for t in range(24, 65, 4)) + " |")

    L += ["", "## The 15 closest false pairs (closest comparison of each image pair)", "",
          f"Structure values: {m} / mean luma / dct_not_low3 of the query side, then of the bank side; "
          f"percentile: the pair's {m} among all comparisons.", "",
          "| d | query (set, variant) | bank (set, variant) | query structure | bank structure | percentile | comparisons <= 70 |",
          "|---:|---|---|---|---|---:|---:|"]
    for p in closest:
        qs, bs = p["query_structure"], p["bank_structure"]
        L.append(
            f"| {p['distance']} | {p['query']} ({p['query_set']}, {p['query_variant']}) | {p['bank']} ({p['bank_set']}, {p['bank_variant']}) | "
            f"{qs[m]:.0f} / {qs['mean_luma']:.0f} / {qs['dct_not_low3']:.2f} | {bs[m]:.0f} / {bs['mean_luma']:.0f} / {bs['dct_not_low3']:.2f} | "
            f"{100 * p['pair_percentile'][m]:.2f}% | {p['comparisons_within_70']} |"
        )
    L += ["", "## Same picture: excluded from the fit", ""]
    if rep["excluded_same_picture"]:
        L += ["| a | b | closest distance | why |", "|---|---|---:|---|"]
        for e in rep["excluded_same_picture"]:
            L.append(f"| {e['a']} | {e['b']} | {e['closest_distance']} | {e['reason']} |")
    else:
        L.append("None in this run.")
    L += ["", "## Caveats", "", NOTES, ""]
    return "\n".join(L)


def pair_sheets(rep: dict, dirs: list[Path], below: int, out: Path) -> list[Path]:
    """Side-by-side PNGs of the image pairs closer than ``below``, to look at (not committed:
    the photo sets are research-only)."""
    from PIL import Image

    where = {p.name: p for d in dirs for p in image_paths(d)}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, p in enumerate(x for x in rep["closest"] if x["distance"] < below):
        ims = []
        for name in (p["query"], p["bank"]):
            with Image.open(where[name.split("/")[-1]]) as im:
                im = im.convert("RGB")
                im.thumbnail((400, 400))
                ims.append(im)
        sheet = Image.new("RGB", (ims[0].width + ims[1].width + 10, max(i.height for i in ims)), (255, 0, 255))
        sheet.paste(ims[0], (0, 0))
        sheet.paste(ims[1], (ims[0].width + 10, 0))
        path = out / f"{k:02d}_d{p['distance']}.png"
        sheet.save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bank", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--negatives", type=Path, action="append", default=None,
                    help=f"repeatable; default {DEFAULT_DISTRACTORS} and {HARDNEG} when it exists")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each directory (quick runs)")
    ap.add_argument("--negatives-in-bank", choices=("auto", "yes", "no"), default="auto",
                    help="also store the negatives as bank groups (all pairs); auto: each set of <= 2000 images")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--refit", action="store_true",
                    help="redo the bands, fits and report from the last false_matches.json (no hashing, no kernel)")
    ap.add_argument("--sheets", type=int, default=0, metavar="D",
                    help=f"also write side-by-sides of the pairs closer than D to {CACHE / 'pairs'}")
    a = ap.parse_args(argv)
    negs = a.negatives or [DEFAULT_DISTRACTORS] + ([HARDNEG] if HARDNEG.is_dir() else [])
    nib = {"auto": None, "yes": True, "no": False}[a.negatives_in_bank]
    if a.refit:
        rep = json.loads((a.out / "false_matches.json").read_text())
        rep["chosen_measure"] = CHOSEN_MEASURE
        rep["bands"] = json.loads(json.dumps(banded(rep, CHOSEN_MEASURE, BAND_EDGES), default=_json_default))
        (a.out / "false_matches.json").write_text(_dump(rep))
        (a.out / "false_matches.md").write_text(markdown(rep))
    else:
        rep = run(a.bank, negs, a.limit, a.out, nib)
    if a.sheets:
        for p in pair_sheets(rep, [a.bank, *negs], a.sheets, CACHE / "pairs"):
            print(p)
    print((a.out / "false_matches.md").read_text()[:6000])
    print(rep["seconds"])


if __name__ == "__main__":
    main()
