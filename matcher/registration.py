"""A second look at an upload that came near a bank image: register it, then compare like with like.

PDQ moves about 16 bits for every 1% an edge of the hashed region moves, and
about 50 when two edges move 2% (medians on the photo set, docs/matching.md). A
re-share cropped by up to a tenth on every side, tilted and cropped, or a
screen photographed at a slant moves every edge at once: four to eight free
amounts, which no fixed set of bank and upload variants can cover.

But an upload that is such a copy usually still comes *near* one of its bank
image's hashes (a distance of 52-80 where distinct busy photos sit at 100 or
more). That pair says roughly where the bank variant's region lies in the
upload, so the regions of the bank image's other variants can be predicted
there too. :func:`register` takes the closest such pairs, predicts where each
of the bank image's variants lies in the upload, keeps those that fit inside
it, samples each as a quadrilateral (so a tilt or a keystone can be followed)
and nudges its corners while the PDQ distance to that variant's code falls.
It accepts the result only under the stricter thresholds of
:data:`REGISTERED_BANDS`: a search over the region finds the code it is
looking for more easily than a fixed variant does, for a copy and for a
stranger alike, and the bands are set from that searched distance between
distinct images (the wild suite's "false matches through registration",
``benchmarks/results/robustness_wild.md``).

This runs on the upload side only (the platform holds the upload), after the
ordinary lookup, and only against the few bank images that came near, so its
cost (~150-250 64x64 samplings, ~0.2-0.4 ms each) is paid by few uploads.
The bank side only needs the group's centred crops (group-v5's 84% and 76%
among them): the victim's browser computes nothing new in kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from . import frames, pdq
from .groups import (
    DEFAULT_STRATEGY,
    FULL,
    Box,
    HashGroup,
    Strategy,
    StructureBand,
    Variant,
    centre,
    crop_corner,
    crop_side,
    reduce_to_working_size,
    trim_box,
)
from .hash_value import hamming_matrix

#: A (query start, bank hash) pair is worth registering when its distance is at most this.
GATE = 80
#: ... and both sides have at least this structure (below it, distinct images come too close).
MIN_STRUCTURE = 162
#: How many of the closest pairs predict regions, how many of the bank image's variants (the
#: largest predicted inside the upload) each predicts, and how many predictions (the closest
#: on first sight) are refined.
PAIRS = 5
TARGETS = 4
JOBS = 4
#: At most this many bank images are registered per upload (the nearest first).
MAX_CANDIDATES = 8
#: Corner steps of the refinement, as shares of the region's size, coarse to fine.
STEPS = (0.02, 0.01, 0.005)
#: Samplings one registration may spend (0.2-0.4 ms each).
MAX_EVALUATIONS = 600
#: A target whose distance is still above this after the coarsest step is given up: a copy
#: falls fast once its region is found, a stranger's distance barely moves (most of the
#: registrations a platform runs are strangers that came within the gate).
ABANDON = 72
#: A refinement that ends at most this far from its code has found the bank image, if not
#: the exact region: its other variants are predicted from it (:func:`_repredicted`), the
#: closest ``REPREDICT_JOBS`` refined with ``REPREDICT_BUDGET`` samplings each.
REPREDICT = 56
REPREDICT_JOBS = 2
REPREDICT_BUDGET = 60

#: Accepting a registered region: the searched distance between distinct images is lower
#: than a fixed variant's, so these sit below the group's own bands (robustness_wild.md).
REGISTERED_BANDS = (
    StructureBand(208, match=31, high=16),
    StructureBand(162, match=24, high=12),
)

#: Where registration starts on the upload (each also mirrored), with the trimmed frame and
#: the frame finder's boxes. A copy is registered only if one start comes within the gate of
#: one of its bank image's hashes, so the starts are where the bank image's crops are likely
#: to lie in a cropped, tilted or slanted copy: centred crops, one-side crops of 4% and 8%
#: and corner crops of 5% (with the bank's centred and one-side crops they pair to an uneven
#: crop of up to ~12% a side), and turns of 2-5.5 degrees either way. Chosen over 64
#: candidate regions on 6,100 random edits (seed 1; the wild suite runs seed 0) for the
#: share of the lookup's misses brought within the gate, ``benchmarks/start_regions.py``:
#: at a gate of 60 this set covers crop + mirror 0.92 (group-v5's starts: 0.55), tilt + crop
#: 0.86 (0.56), perspective 0.80 (0.62), for 24 regions instead of 15. The two-thirds
#: crops the lookup already holds were dropped: a sticker or caption copy the lookup missed
#: was never registered from one (recall was flat across gates).
START_VARIANTS: tuple[Variant, ...] = (
    Variant("full"),
    centre(0.90),
    centre(0.80),
    centre(0.75),
    *(crop_side(side, c) for c in (0.04, 0.08) for side in "lrtb"),
    *(crop_corner(corner, 0.05) for corner in ("tl", "tr", "bl", "br")),
    centre(0.90, +2),
    centre(0.90, -2),
    centre(0.90, +4.5),
    centre(0.90, -4.5),
    centre(0.85, +3),
    centre(0.85, -3),
    centre(0.80, +5.5),
    centre(0.80, -5.5),
)

Quad = np.ndarray  # (4, 2) float64 corners tl, tr, br, bl as (x, y) in working-copy pixels


@dataclass(frozen=True)
class Registration:
    """A registered match: the region of the upload that came within ``threshold`` of ``bank_variant``."""

    distance: int
    threshold: int
    start: str  # "query variant ~ bank variant" of the pair it started from
    bank_variant: str
    quad: tuple[tuple[float, float], ...]
    evaluations: int


# --- geometry ------------------------------------------------------------------------


def variant_corners(box: Box, angle: float, width: float, height: float) -> Quad:
    """Corners (tl, tr, br, bl) of a variant's region in the frame it was cut from, in pixels.

    A variant rotates the frame by ``angle`` about its centre, then crops ``box``
    (:func:`matcher.groups.rotate_bilinear`): its pixel (X, Y) from the centre
    comes from (c X - s Y, s X + c Y) from the centre of the original.
    """
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) * (width, height)
    if not angle:
        return pts
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    rel = pts - (width / 2, height / 2)
    return np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], axis=1) + (width / 2, height / 2)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the 4 points ``src`` to ``dst``."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


_UNIT = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)


# --- sampling an upload along a quadrilateral ------------------------------------------


def _box_blur(a: np.ndarray, window: int, axis: int) -> np.ndarray:
    """One pass of the reference's box filter along ``axis`` (same bounds as :mod:`matcher.pdq`)."""
    n = a.shape[axis]
    half = (window + 2) // 2
    out = np.arange(n)
    lo = np.maximum(out - (window - half), 0)
    hi = np.minimum(out + half, n)
    c = np.cumsum(a, axis=axis, dtype=np.float64)
    c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
    s = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    shape = [1, 1]
    shape[axis] = n
    return (s / (hi - lo).reshape(shape)).astype(np.float32)


class Sampler:
    """An upload's luma, blurred as PDQ blurs a region of a given size, hashed along any quadrilateral.

    PDQ blurs a region with a box of about 1/128 of its size, then takes 64x64
    samples; doing the same along a quadrilateral (sampling through the
    homography from the unit square) gives the code the bank variant would have
    if the upload were warped back, within a few bits (median 4), for 0.2-0.4 ms.
    """

    def __init__(self, work: np.ndarray):
        self.luma = pdq.luma(work)
        self.height, self.width = self.luma.shape
        self._blurred: dict[tuple[int, int], np.ndarray] = {}
        self.evaluations = 0

    def _blur(self, wx: int, wy: int) -> np.ndarray:
        key = (wx, wy)
        if key not in self._blurred:
            b = self.luma
            for _ in range(2):
                b = _box_blur(b, wy, 0) if wy > 1 else b
                b = _box_blur(b, wx, 1) if wx > 1 else b
            self._blurred[key] = b
        return self._blurred[key]

    def hash(self, quad: Quad, with_structure: bool = True) -> tuple[np.ndarray, int]:
        """PDQ code and structure of the region ``quad`` (corners tl, tr, br, bl) mapped to a square."""
        self.evaluations += 1
        qw = (np.hypot(*(quad[1] - quad[0])) + np.hypot(*(quad[2] - quad[3]))) / 2
        qh = (np.hypot(*(quad[3] - quad[0])) + np.hypot(*(quad[2] - quad[1]))) / 2
        img = self._blur(pdq.jarosz_window(max(1, int(qw))), pdq.jarosz_window(max(1, int(qh))))
        return pdq.hash_buffer64(_sample64(img, homography(_UNIT, quad)), with_structure)


@njit(nogil=True, cache=True, boundscheck=False)
def _sample64(img: np.ndarray, h: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Bilinear samples of ``img`` at the 64x64 grid of the unit square mapped through ``h``."""
    rows, cols = img.shape
    out = np.empty((64, 64), dtype=np.float64)
    for r in range(64):
        v = (r + 0.5) / 64
        for c in range(64):
            u = (c + 0.5) / 64
            den = h[2, 0] * u + h[2, 1] * v + h[2, 2]
            x = min(max((h[0, 0] * u + h[0, 1] * v + h[0, 2]) / den - 0.5, 0.0), cols - 1.0)
            y = min(max((h[1, 0] * u + h[1, 1] * v + h[1, 2]) / den - 0.5, 0.0), rows - 1.0)
            ix = min(int(x), max(cols - 2, 0))
            iy = min(int(y), max(rows - 2, 0))
            fx = x - ix
            fy = y - iy
            ix1 = min(ix + 1, cols - 1)
            iy1 = min(iy + 1, rows - 1)
            top = img[iy, ix] * (1 - fx) + img[iy, ix1] * fx
            bot = img[iy1, ix] * (1 - fx) + img[iy1, ix1] * fx
            out[r, c] = top * (1 - fy) + bot * fy
    return out


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.unpackbits(np.bitwise_xor(a, b)).sum())


def refine(sampler: Sampler, quad: Quad, target: np.ndarray, stop_at: int, budget: int,
           steps: tuple[float, ...] = None) -> tuple[int, Quad]:
    """Nudge the corners (edges, single corners, a turn) while the distance to ``target`` falls.

    First improvement, coarse steps to fine; stops at ``stop_at`` or when the
    budget of samplings is spent.
    """
    steps = STEPS if steps is None else steps
    best = _distance(sampler.hash(quad, False)[0], target)
    spent = 1
    for step in steps:
        improved = True
        passes = 0
        while improved and best > stop_at and spent < budget:
            if step == STEPS[0] and passes == 1 and best > ABANDON:
                return best, quad  # a stranger: one pass moved it little (see ABANDON)
            passes += 1
            improved = False
            size = np.array([np.hypot(*(quad[1] - quad[0])), np.hypot(*(quad[3] - quad[0]))])
            for move in _moves(step, size):
                cand = quad + move
                d = _distance(sampler.hash(cand, False)[0], target)
                spent += 1
                if d < best:
                    best, quad, improved = d, cand, True
                    if best <= stop_at or spent >= budget:
                        break
        if best <= stop_at or spent >= budget:
            break
    return best, quad


@lru_cache(maxsize=16)
def _unit_moves(step: float) -> tuple[np.ndarray, ...]:
    """Corner displacements (in shares of the region's width, height): edges, corners, a turn, a zoom."""
    moves = []
    for s in (-step, step):
        for edge in ((0, 3), (1, 2), (0, 1), (3, 2)):  # left, right, top, bottom
            m = np.zeros((4, 2))
            axis = 0 if edge in ((0, 3), (1, 2)) else 1
            m[list(edge), axis] = s
            moves.append(m)
        for corner in range(4):
            for axis in range(2):
                m = np.zeros((4, 2))
                m[corner, axis] = s
                moves.append(m)
        moves.append(np.array([[0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]]) * s)  # a small turn
        moves.append(np.array([[-s, -s], [s, -s], [s, s], [-s, s]]) / 2)  # zoom out (s > 0) or in
    return tuple(moves)


def _moves(step: float, size: np.ndarray):
    for m in _unit_moves(step):
        yield m * size


# --- registering an upload on one bank image ----------------------------------------------


def start_regions(work: np.ndarray, variants: tuple[Variant, ...] = START_VARIANTS) -> list[tuple[str, Quad]]:
    """Regions of the upload to pair with the bank image's hashes, each with its mirror image."""
    h, w = work.shape[:2]
    out: list[tuple[str, Quad]] = []
    for v in variants:
        out.append((v.name, variant_corners(v.box, v.angle, w, h)))
    x0, y0, x1, y1 = trim_box(work)
    if (x1 - x0) * (y1 - y0) < 0.96 * w * h:
        out.append(("trim", variant_corners(FULL, 0, 1, 1) * (x1 - x0, y1 - y0) + (x0, y0)))
    for k, (box, _) in enumerate(frames.content_boxes(work, 2)):
        bx0, by0, bx1, by1 = box
        out.append((f"box{k + 1}", np.array([[bx0, by0], [bx1, by0], [bx1, by1], [bx0, by1]], dtype=np.float64)))
    mirrored = [(f"{n}/mirror", q[[1, 0, 3, 2]]) for n, q in out]  # left-right: tl<->tr, bl<->br
    return out + mirrored


@dataclass
class Starts:
    """An upload's start regions, hashed once and shared by every bank image it is registered on."""

    work: np.ndarray
    sampler: Sampler
    regions: list[tuple[str, Quad]]
    hashed: list[tuple[np.ndarray, int]]  # per region: (code, structure)

    @classmethod
    def of(cls, work: np.ndarray, variants: tuple[Variant, ...] = START_VARIANTS) -> Starts:
        sampler = Sampler(work)
        regions = start_regions(work, variants)
        return cls(work, sampler, regions, [sampler.hash(q) for _, q in regions])

    @property
    def usable(self) -> list[int]:
        """The regions structured enough to pair (distinct images come too close below it)."""
        return [i for i, (_, s) in enumerate(self.hashed) if s >= MIN_STRUCTURE]

    @property
    def codes(self) -> np.ndarray:
        """(n, 32) codes of the usable regions (n may be 0)."""
        usable = self.usable
        return np.stack([self.hashed[i][0] for i in usable]) if usable else np.zeros((0, pdq.HASH_BYTES), np.uint8)

    def distances(self, banks: list[HashGroup]) -> np.ndarray:
        """Per bank image, the distance of its closest (usable start, hash) pair (a large number if none)."""
        out = np.full(len(banks), 1 << 30, dtype=np.int64)
        codes = self.codes
        sized = [k for k, g in enumerate(banks) if len(g)]
        if not len(codes) or not sized:
            return out
        owner = np.concatenate([np.full(len(banks[k]), k) for k in sized])
        d = hamming_matrix(codes, np.concatenate([banks[k].codes for k in sized])).min(axis=0)
        np.minimum.at(out, owner, d)
        return out


def _geometry(strategy: Strategy) -> dict[str, Variant]:
    return {v.name: v for v in strategy.bank if not v.dihedral}


def register(
    work: np.ndarray,
    bank: HashGroup,
    strategy: Strategy = DEFAULT_STRATEGY,
    *,
    gate: int = GATE,
    bands: tuple[StructureBand, ...] = REGISTERED_BANDS,
    starts: Starts | None = None,
    force: bool = False,
) -> Registration | None:
    """Register the upload (its working copy) on one bank image's group; a match or None.

    The ``PAIRS`` closest (start region, bank hash) pairs within ``gate`` each
    predict where ``TARGETS`` of the bank image's variants lie in the upload;
    every prediction is sampled once, and the ``JOBS`` closest are refined, a
    job given up when one pass of the coarsest step leaves it above
    ``ABANDON``. ``force`` returns the closest registration even if no band
    accepts it (benchmarks: how close the search brings two distinct images).
    """
    geometry = _geometry(strategy)
    structures = bank.structures
    usable = [k for k, vh in enumerate(bank.hashes) if vh.variant in geometry and structures[k] >= MIN_STRUCTURE]
    if not usable:
        return None
    starts = starts if starts is not None else Starts.of(work)
    sampler = starts.sampler
    keep = starts.usable
    if not keep:
        return None
    d = hamming_matrix(starts.codes, bank.codes[usable])

    def band_of(k: int, region_structure: int) -> StructureBand | None:
        """The registered band of bank hash ``k`` against an upload region of this structure."""
        return next((b for b in bands if min(structures[k], region_structure) >= b.floor), None)

    jobs = []
    seen: set[tuple] = set()
    for flat in np.argsort(d, axis=None, kind="stable")[:PAIRS]:
        qi, bj = np.unravel_index(int(flat), d.shape)
        if d[qi, bj] > gate:
            break
        name, quad = starts.regions[keep[qi]]
        anchor = bank.hashes[usable[bj]]
        for target_k, pred in _targets(quad, geometry[anchor.variant], bank, usable, geometry, work.shape):
            band = band_of(target_k, starts.hashed[keep[qi]][1])
            key = (target_k, tuple(np.round(pred / 4).astype(int).ravel()))  # the same region, predicted twice
            if band is None or key in seen:
                continue
            seen.add(key)
            first = _distance(sampler.hash(pred, False)[0], bank.hashes[target_k].code)
            jobs.append((first, f"{name}~{anchor.variant}", target_k, pred, band))
    jobs.sort(key=lambda j: j[0])
    closest: Registration | None = None

    for _, start, target_k, pred, band in jobs[:JOBS]:
        target = bank.hashes[target_k]
        dist, quad = refine(sampler, pred, target.code, band.match, MAX_EVALUATIONS // JOBS)
        found = Registration(dist, band.match, start, target.variant, tuple(map(tuple, np.round(quad, 1))), sampler.evaluations)
        if dist > band.match and dist <= REPREDICT:
            found = _repredicted(sampler, quad, target_k, bank, usable, geometry, work.shape, band_of, start) or found
        if found.distance <= found.threshold:
            return found
        if closest is None or found.distance - found.threshold < closest.distance - closest.threshold:
            closest = found
    return closest if force else None


def _repredicted(sampler: Sampler, quad: Quad, target_k: int, bank: HashGroup, usable: list[int],
                 geometry: dict[str, Variant], shape, band_of, start: str) -> Registration | None:
    """A refinement that ended near its code has located the bank image: predict its other regions from it.

    The refined region pins down the homography from the bank image to the
    upload far better than the start pair did, so the bank image's other
    variants, predicted through it, start within a few bits of their codes
    (one is often already under its band, where the refined one stalled a
    few bits above it: a region the copy's crop cut into, or its own small
    misalignment); the closest few are refined briefly at the finest steps.
    """
    anchor = geometry[bank.hashes[target_k].variant]
    tries = []
    for k, pred in _targets(quad, anchor, bank, usable, geometry, shape, limit=None):
        if k == target_k:
            continue
        code, structure = sampler.hash(pred)
        band = band_of(k, structure)
        if band is not None:
            tries.append((_distance(code, bank.hashes[k].code) - band.match, k, pred, band))
    tries.sort(key=lambda t: t[0])
    best: Registration | None = None
    for over, k, pred, band in tries[:REPREDICT_JOBS]:
        dist, q = (over + band.match, pred) if over <= 0 else refine(sampler, pred, bank.hashes[k].code, band.match, REPREDICT_BUDGET, steps=STEPS[1:])
        found = Registration(dist, band.match, f"{start} (re-predicted)", bank.hashes[k].variant, tuple(map(tuple, np.round(q, 1))), sampler.evaluations)
        if dist <= band.match:
            return found
        if best is None or dist - band.match < best.distance - best.threshold:
            best = found
    return best


def _targets(quad: Quad, anchor: Variant, bank: HashGroup, usable: list[int], geometry: dict[str, Variant], shape,
             limit: int | None = TARGETS):
    """Bank hashes whose regions, predicted through the anchor pair, lie inside the upload (largest first)."""
    qh, qw = shape[:2]
    # The original's aspect ratio, from the anchor pair: the query region spans the anchor's box.
    x0, y0, x1, y1 = anchor.box
    region_w = (np.hypot(*(quad[1] - quad[0])) + np.hypot(*(quad[2] - quad[3]))) / 2
    region_h = (np.hypot(*(quad[3] - quad[0])) + np.hypot(*(quad[2] - quad[1]))) / 2
    aspect = (region_w / (x1 - x0)) / (region_h / (y1 - y0))
    width, height = aspect, 1.0
    to_query = homography(variant_corners(anchor.box, anchor.angle, width, height), quad)
    found = []
    slack = 0.01 * max(qw, qh)
    for k in usable:
        v = geometry[bank.hashes[k].variant]
        pred = apply(to_query, variant_corners(v.box, v.angle, width, height))
        if pred[:, 0].min() < -slack or pred[:, 1].min() < -slack or pred[:, 0].max() > qw + slack or pred[:, 1].max() > qh + slack:
            continue
        pred = np.clip(pred, 0, (qw, qh))
        area = 0.5 * abs(np.dot(pred[:, 0], np.roll(pred[:, 1], 1)) - np.dot(pred[:, 1], np.roll(pred[:, 0], 1)))
        found.append((area, k, pred))
    found.sort(key=lambda f: -f[0])
    return [(k, pred) for _, k, pred in found[:limit]]


def register_near(rgb: np.ndarray, banks: list[HashGroup], strategy: Strategy = DEFAULT_STRATEGY,
                  skip: set[int] = frozenset(), gate: int = GATE,
                  max_candidates: int = MAX_CANDIDATES) -> list[tuple[int, Registration]]:
    """Stage two for an upload (decoded pixels): register it on the bank images that came near.

    The bank images one of whose hashes comes within ``gate`` of a start
    region, nearest first, at most ``max_candidates`` of them (the cost bound:
    a stranger within the gate costs ~50 ms); ``skip``: positions the
    ordinary lookup already matched.
    """
    work = reduce_to_working_size(rgb)
    starts = Starts.of(work)
    distances = starts.distances(banks)
    near = sorted((int(d), k) for k, d in enumerate(distances) if d <= gate and k not in skip)
    out = []
    for _, k in near[:max_candidates]:
        r = register(work, banks[k], strategy, gate=gate, starts=starts)
        if r is not None:
            out.append((k, r))
    return out
