"""Hash groups: one submitted image becomes a few PDQ hashes that survive edits.

Plain PDQ survives recompression, resizing and colour edits, but not the edits
that keep intimate images circulating: a few percent of crop, a border, a small
rotation, a mirror.  A PDQ hash moves by ~25 bits for a 2% crop on one side and
by ~55 bits for a 2 degree rotation, far beyond the usual threshold of 31.

So a submission is hashed several times, on a fixed list of *variants* of the
image (the full frame in its 8 dihedral orientations, crops of it, small
rotations of it), and all those hashes point to that one image: a
:class:`HashGroup`.  An upload is hashed a few times too (the full frame, the
frame with its borders trimmed, a centred sub-region) and it matches the
image if any query hash is close to any hash of the group (:func:`match_group`).

Everything here must be reproducible in the victim's browser, in JavaScript,
so the operations are few and defined exactly below:

* crop to an integer pixel box, given as fractions of the width and height,
  rounded with :func:`_px` (``floor(f * n + 0.5)``);
* every variant except the full frame works on a copy reduced by an integer
  factor ``k = max(1, floor(max(h, w) / 512))``, averaging k x k blocks
  (:func:`reduce_to_working_size`); the full frame is PDQ of the original
  pixels, equal to Meta's reference, so it interoperates with every PDQ bank;
* rotation (only for the ``rot*`` variants): bilinear resampling about the
  centre, pixel centres at ``i + 0.5``, coordinates clamped at the edges
  (see :func:`rotate_bilinear`);
* border trimming of queries (:func:`trim_box`): integer comparisons on pixels;
* PDQ itself (:mod:`matcher.pdq`), whose Jarosz filter resamples any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from . import frames, pdq
from .hash_value import hamming_matrix

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of w, h
FULL: Box = (0.0, 0.0, 1.0, 1.0)



# --- variants -----------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A recipe for one sub-image: rotate by ``angle`` degrees, then crop to ``box``.

    ``angle`` is counter-clockwise, about the image centre, in a frame of the
    original size.  ``dihedral`` asks for the 8 dihedral hashes of the result
    (one PDQ computation, see :func:`matcher.pdq.hash_rgb_dihedral`).
    ``primary`` variants are compared at the primary threshold; all others at
    the (stricter or looser, measured) secondary one. A ``tile`` (a quadrant)
    is compared only with the same tile of the other side: it is there for
    copies whose geometry is untouched but part of which is covered (stickers,
    emoji), and pairing it with every other variant would multiply the
    comparisons an upload makes, and so its false-match rate, for nothing.
    """

    name: str
    box: Box = FULL
    angle: float = 0.0
    dihedral: bool = False
    primary: bool = False
    tile: bool = False


def crop_side(side: str, c: float) -> Variant:
    box = {"l": (c, 0, 1, 1), "r": (0, 0, 1 - c, 1), "t": (0, c, 1, 1), "b": (0, 0, 1, 1 - c)}[side]
    return Variant(f"crop_{side}{c * 100:g}", tuple(float(v) for v in box))


def crop_corner(corner: str, c: float) -> Variant:
    x0, x1 = (c, 1.0) if "l" in corner else (0.0, 1 - c)
    y0, y1 = (c, 1.0) if "t" in corner else (0.0, 1 - c)
    return Variant(f"crop_{corner}{c * 100:g}", (x0, y0, x1, y1))


def quadrant(corner: str) -> Variant:
    """A quarter of the frame (``tl``, ``tr``, ``bl``, ``br``), paired only with itself."""
    x0, x1 = (0.0, 0.5) if "l" in corner else (0.5, 1.0)
    y0, y1 = (0.0, 0.5) if "t" in corner else (0.5, 1.0)
    return Variant(f"quad_{corner}", (x0, y0, x1, y1), tile=True)


def centre(keep: float, angle: float = 0.0) -> Variant:
    m = (1 - keep) / 2
    rot = f"rot{angle:+g}_" if angle else ""
    return Variant(f"{rot}centre{round(keep * 100)}", (m, m, 1 - m, 1 - m), angle)


def rotated_fit(angle: float, aspect_w_over_h: float) -> Box:
    """Largest centred box of the frame's aspect ratio that a rotation leaves free of fill."""
    t = math.radians(abs(angle))
    r = max(aspect_w_over_h, 1 / aspect_w_over_h)
    s = 1 / (math.cos(t) + r * math.sin(t))
    m = (1 - s) / 2
    return (m, m, 1 - m, 1 - m)


# --- pixel operations ------------------------------------------------------------


def _px(f: float, n: int) -> int:
    return min(n, max(0, math.floor(f * n + 0.5)))


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _px(box[0], w), _px(box[1], h), _px(box[2], w), _px(box[3], h)
    return rgb[y0:y1, x0:x1]


def reduce_to_working_size(rgb: np.ndarray, max_side: int = 512) -> np.ndarray:
    """Average k x k blocks, k = floor(long side / max_side) (remainder lines dropped).

    Every variant but the full frame is computed on this working copy: PDQ
    reduces to 64x64 anyway, a rotation must not alias, and a 12-megapixel
    upload would otherwise cost a full-resolution PDQ per variant.
    """
    h, w = rgb.shape[:2]
    k = max(1, max(h, w) // max_side)
    if k == 1:
        return rgb
    hh, ww = h // k * k, w // k * k
    sums = rgb[:hh, :ww].reshape(hh // k, k, ww // k, k, 3).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + (k * k) // 2) // (k * k)).astype(np.uint8)


def rotate_bilinear(rgb: np.ndarray, angle: float, box: Box = FULL) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the centre, then crop to ``box``.

    The frame keeps the input's size.  Output pixel (x, y) (centre at
    x + 0.5, y + 0.5) samples the input at the point rotated back by
    ``angle``: ``sx = c*X - s*Y + w/2 - 0.5``, ``sy = s*X + c*Y + h/2 - 0.5``
    with ``X = x + 0.5 - w/2``, ``Y = y + 0.5 - h/2``, ``c, s = cos, sin(angle)``;
    coordinates clamped to the image (edge pixels repeat; the variants crop
    those corners away anyway), bilinear weights in float64, rounded half up.
    Only the pixels of ``box`` are computed.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _px(box[0], w), _px(box[1], h), _px(box[2], w), _px(box[3], h)
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5 - w / 2
    ys = np.arange(y0, y1, dtype=np.float64) + 0.5 - h / 2
    X, Y = np.meshgrid(xs, ys)
    sx = np.clip(c * X - s * Y + w / 2 - 0.5, 0, w - 1)
    sy = np.clip(s * X + c * Y + h / 2 - 0.5, 0, h - 1)
    ix = np.minimum(np.floor(sx).astype(np.intp), max(w - 2, 0))
    iy = np.minimum(np.floor(sy).astype(np.intp), max(h - 2, 0))
    fx = (sx - ix)[..., None]
    fy = (sy - iy)[..., None]
    ix1 = np.minimum(ix + 1, w - 1)
    iy1 = np.minimum(iy + 1, h - 1)
    flat = rgb.reshape(-1, 3)

    def at(yy, xx):
        return flat.take(yy * w + xx, axis=0).astype(np.float64)

    top = at(iy, ix) * (1 - fx) + at(iy, ix1) * fx
    bot = at(iy1, ix) * (1 - fx) + at(iy1, ix1) * fx
    return np.floor(top * (1 - fy) + bot * fy + 0.5).astype(np.uint8)


def rotate_fast(rgb: np.ndarray, angle: float, box: Box = FULL) -> np.ndarray:
    """:func:`rotate_bilinear`'s rotation by Pillow's compiled resampler, for uploads only.

    The bank side must be reproducible in a browser, bit for bit, so it keeps
    the arithmetic spelled out above; an upload's hashes need no twin, and PDQ
    does not see the difference (a level here and there), while numpy's
    gather costs ~20 ms a rotation.
    """
    from PIL import Image

    h, w = rgb.shape[:2]
    turned = Image.fromarray(rgb).rotate(angle, resample=Image.Resampling.BILINEAR, center=(w / 2, h / 2))
    return crop(np.asarray(turned), box)


def render(rgb: np.ndarray, variant: Variant) -> np.ndarray:
    """The pixels a variant hashes (``rgb`` at full size; see :func:`reduce_to_working_size`)."""
    if variant.primary:
        return crop(rgb, variant.box)
    work = reduce_to_working_size(rgb)
    return rotate_bilinear(work, variant.angle, variant.box) if variant.angle else crop(work, variant.box)


# --- border trimming -----------------------------------------------------------------

#: A pixel belongs to a border if every channel is within this of the edge colour.
TRIM_TOLERANCE = 24
#: A line (row or column) is border-coloured if this share of its pixels are.
TRIM_LINE_SHARE = 0.95
#: A border may hold a caption: it ends at the last border-coloured line such
#: that at least this share of the lines from the edge up to it are border-coloured.
TRIM_BAND_SHARE = 0.5
#: Never trim more than this share of a dimension from one edge.
TRIM_MAX_SHARE = 0.4


def _edge_run(lines: np.ndarray, limit: int) -> int:
    """How many leading lines of ``lines`` (n, m, 3) form a border band."""
    if limit < 1:
        return 0
    ref = np.median(lines[0], axis=0).astype(np.int16)

    def solid_lines(block: np.ndarray) -> np.ndarray:
        near = (np.abs(block.astype(np.int16) - ref) <= TRIM_TOLERANCE).all(axis=2)
        return near.mean(axis=1) >= TRIM_LINE_SHARE

    if not solid_lines(lines[:1])[0]:  # the common case: no border at all
        return 0
    solid = solid_lines(lines[:limit])
    ok = solid & (np.cumsum(solid) >= TRIM_BAND_SHARE * np.arange(1, limit + 1))
    return int(np.flatnonzero(ok)[-1]) + 1


def trim_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) left after removing solid borders and caption bars.

    From each edge inward: the edge colour is the per-channel median of the
    outermost line; a line is border-coloured if at least
    :data:`TRIM_LINE_SHARE` of its pixels are within :data:`TRIM_TOLERANCE` of
    it on every channel; the band ends at the last border-coloured line that
    keeps the band at least :data:`TRIM_BAND_SHARE` border-coloured (so the
    text of a caption bar does not stop it), and at most
    :data:`TRIM_MAX_SHARE` of the dimension.  Top, bottom, left, right in that
    order on the box left so far, twice (so that a letterbox inside a
    pillarbox goes too).  Blurred fills are not trimmed: the centred query
    crops catch them.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    for _ in range(2):
        limit = int((y1 - y0) * TRIM_MAX_SHARE)
        box = rgb[y0:y1, x0:x1]
        top = _edge_run(box, limit)
        bottom = _edge_run(box[::-1], limit)
        y0, y1 = y0 + top, y1 - bottom
        limit = int((x1 - x0) * TRIM_MAX_SHARE)
        cols = rgb[y0:y1, x0:x1].transpose(1, 0, 2)
        left = _edge_run(cols, limit)
        right = _edge_run(cols[::-1], limit)
        x0, x1 = x0 + left, x1 - right
        if min(x1 - x0, y1 - y0) < 8:
            return (0, 0, w, h)
    return (x0, y0, x1, y1)


# --- hashing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantHash:
    """One hash of a group: which variant, its 256-bit code, its PDQ quality and structure."""

    variant: str
    code: np.ndarray  # (32,) uint8, MSB-first: bytes(code).hex() is the PDQ hex
    quality: int
    primary: bool
    #: PDQ's gradient energy uncapped (:func:`matcher.pdq.hash_rgb_structure`); None where
    #: unknown (a hash from a plain PDQ list), see :func:`known_structure`.
    structure: int | None = None

    @property
    def hex(self) -> str:
        return bytes(self.code).hex()

    @property
    def known_structure(self) -> int:
        return known_structure(self.quality, self.structure)


#: A structure above every band's floor: what a code with no structure limit (a signal
#: other than PDQ, or a caller that does not band) is taken to have.
UNBANDED = 10**6


def known_structure(quality: int | None, structure: int | None) -> int:
    """The structure to band a hash by: its own, else what its PDQ quality proves.

    Quality is structure capped at 100, so below 100 it *is* the structure;
    a hash known only to be "100" is banded as 100, the cautious reading.
    """
    if structure is not None:
        return int(structure)
    return 100 if quality is None else min(int(quality), 100)


@dataclass(frozen=True)
class HashGroup:
    """All the hashes of one image; every one of them stands for that image."""

    hashes: tuple[VariantHash, ...]

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self):
        return iter(self.hashes)

    @property
    def codes(self) -> np.ndarray:
        return np.stack([h.code for h in self.hashes]) if self.hashes else np.zeros((0, 32), np.uint8)

    @property
    def primary(self) -> np.ndarray:
        return np.array([h.primary for h in self.hashes], dtype=bool)

    @property
    def structures(self) -> np.ndarray:
        return np.array([h.known_structure for h in self.hashes], dtype=np.int64)

    def records(self) -> list[dict]:
        """Plain records (variant, pdq hex, quality, structure, primary) for storage and the wire."""
        return [
            {"variant": h.variant, "pdq": h.hex, "quality": h.quality, "structure": h.structure, "primary": h.primary}
            for h in self.hashes
        ]

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> "HashGroup":
        """Inverse of :meth:`records`; ``primary`` defaults to "the full frame or one of its turns"."""
        out = []
        for r in records:
            code = np.frombuffer(bytes.fromhex(r["pdq"]), dtype=np.uint8)
            if code.size != pdq.HASH_BYTES:
                raise ValueError(f"not a 256-bit PDQ hash: {r['pdq']!r}")
            primary = r.get("primary", is_primary_variant(r["variant"]))
            structure = r.get("structure")
            out.append(VariantHash(r["variant"], code, int(r.get("quality", 100)), bool(primary),
                                   None if structure is None else int(structure)))
        return cls(tuple(out))


def is_primary_variant(name: str) -> bool:
    """The full frame and its dihedral turns are primary; crops, rotations and trims are not."""
    return name == "full" or name.startswith("full/")


def _hash_variants(
    rgb: np.ndarray, variants: Iterable[Variant], min_quality: int, work: np.ndarray | None = None,
    rotate=None,
) -> HashGroup:
    out: list[VariantHash] = []
    work = reduce_to_working_size(rgb) if work is None else work
    rotate = rotate or rotate_bilinear
    for v in variants:
        if v.primary:
            pixels = crop(rgb, v.box)
        elif v.angle:
            pixels = rotate(work, v.angle, v.box)
        else:
            pixels = crop(work, v.box)
        if min(pixels.shape[:2]) < pdq.MIN_HASHABLE_DIM:
            continue
        if v.dihedral:
            codes, structure = pdq.hash_rgb_dihedral_structure(pixels)
            names = [v.name if i == 0 else f"{v.name}/{n}" for i, n in enumerate(pdq.DIHEDRAL_NAMES)]
        else:
            code, structure = pdq.hash_rgb_structure(pixels)
            codes, names = code[None], [v.name]
        quality = pdq.quality_of(structure)
        if quality < min_quality:
            continue
        out.extend(VariantHash(n, c, quality, v.primary, structure) for n, c in zip(names, codes))
    return HashGroup(tuple(out))


# --- the strategy --------------------------------------------------------------------------


@dataclass(frozen=True)
class StructureBand:
    """Thresholds for pairs whose less structured side has at least ``floor`` structure.

    ``match``: the most any pair in the band may be apart (a full frame against a
    full frame keeps at least PDQ's 31); ``high``: at or below this a match is of
    "high" confidence. Both come from the false-match tail fits of
    ``benchmarks/false_matches.py``: ``match`` keeps the estimated false-match rate
    below 1e-6 per upload against a 10M-hash bank, ``high`` below 1e-9.
    """

    floor: int
    match: int
    high: int


@dataclass(frozen=True)
class Strategy:
    """Which variants a submission and an upload are hashed on, and the thresholds.

    A query hash and a bank hash match when their Hamming distance is at most
    ``primary_threshold`` if both are primary (the full frame, its dihedral
    turns), else at most ``secondary_threshold``; and never more than the
    ``match`` of the pair's *structure band* (``structure_bands``): distinct
    photos with little structure (dark, flat, one object on black) sit much
    closer to each other in PDQ space than busy ones, so the threshold a pair
    may use falls with the structure of its less structured side.
    """

    name: str
    bank: tuple[Variant, ...]
    query: tuple[Variant, ...]
    trim_query: bool = True
    trim_bank: bool = True
    primary_threshold: int = pdq.DEFAULT_THRESHOLD
    secondary_threshold: int = pdq.DEFAULT_THRESHOLD
    min_quality: int = pdq.MIN_QUALITY
    #: A trimmed box is used only if it removes at least this share of a side.
    min_trim_share: float = 0.02
    #: Structure bands from the most structured down (empty: thresholds as above for every
    #: pair); a pair falls in the first band whose floor its less structured side reaches.
    structure_bands: tuple[StructureBand, ...] = ()
    #: Queries only: how many framed photo boxes (:mod:`matcher.frames`) to look up,
    #: each with its mirror image.
    frame_boxes: int = 0

    def bank_group(self, rgb: np.ndarray) -> HashGroup:
        """Hashes to store for a submitted image (variants of quality < ``min_quality`` dropped).

        The trimmed frame is stored too when trimming removes something: an
        image whose own edge is a uniform band (a sky, a wall) loses that band
        when a border of the same colour is added and trimmed away again.
        """
        work = reduce_to_working_size(rgb)
        group = _hash_variants(rgb, self.bank, self.min_quality, work)
        return self._with_trim(group, work) if self.trim_bank else group

    def query_group(self, rgb: np.ndarray) -> HashGroup:
        """Hashes to look up for an upload."""
        work = reduce_to_working_size(rgb)
        group = _hash_variants(rgb, self.query, self.min_quality, work, rotate=rotate_fast)
        group = self._with_trim(group, work) if self.trim_query else group
        return self._with_frames(group, work) if self.frame_boxes else group

    def _with_frames(self, group: HashGroup, work: np.ndarray) -> HashGroup:
        """Add the photo boxes found inside a frame (:mod:`matcher.frames`) and their mirror images."""
        extra: list[VariantHash] = []
        for k, (box, _) in enumerate(frames.content_boxes(work, self.frame_boxes)):
            pixels = work[box[1] : box[3], box[0] : box[2]]
            if min(pixels.shape[:2]) < pdq.MIN_HASHABLE_DIM:
                continue
            codes, structure = pdq.hash_rgb_dihedral_structure(pixels)
            quality = pdq.quality_of(structure)
            if quality < self.min_quality:
                continue
            extra.append(VariantHash(f"box{k + 1}", codes[0], quality, False, structure))
            extra.append(VariantHash(f"box{k + 1}/flipy", codes[5], quality, False, structure))  # left-right mirror
        return HashGroup(group.hashes + tuple(extra)) if extra else group

    def _with_trim(self, group: HashGroup, work: np.ndarray) -> HashGroup:
        """Add the trimmed frame of the working copy, if trimming removes enough."""
        h, w = work.shape[:2]
        x0, y0, x1, y1 = trim_box(work)
        if max(x0 / w, y0 / h, (w - x1) / w, (h - y1) / h) < self.min_trim_share:
            return group
        code, structure = pdq.hash_rgb_structure(work[y0:y1, x0:x1])
        quality = pdq.quality_of(structure)
        if quality < self.min_quality:
            return group
        return HashGroup(group.hashes + (VariantHash("trim", code, quality, False, structure),))

    @property
    def widest_threshold(self) -> int:
        """Search radius that finds every pair any rule of this strategy accepts."""
        return max(self.primary_threshold, self.secondary_threshold)

    def band(self, structure: int) -> StructureBand | None:
        """The structure band of a pair whose less structured side has this structure."""
        for band in self.structure_bands:
            if structure >= band.floor:
                return band
        return None

    @property
    def tiles(self) -> frozenset[str]:
        """Names of the variants paired only with their namesake (:attr:`Variant.tile`)."""
        return frozenset(v.name for v in self.bank + self.query if v.tile)

    def pair_threshold(
        self, query_primary: bool, bank_variant: str, query_structure: int = UNBANDED, bank_structure: int = UNBANDED,
        query_variant: str | None = None,
    ) -> int:
        """Threshold for one query hash against one stored hash (its variant name, both structures).

        ``query_variant``: the query code's variant, where known; a tile pairs only with the same
        tile, so a stored tile never matches a code whose variant is unknown (a plain PDQ hash).
        """
        tiles = self.tiles
        if (bank_variant in tiles or query_variant in tiles) and query_variant != bank_variant:
            return -1
        both = query_primary and is_primary_variant(bank_variant)
        base = self.primary_threshold if both else self.secondary_threshold
        if not self.structure_bands:
            return base
        band = self.band(min(query_structure, bank_structure))
        cap = band.match if band else 0
        # A full frame against a full frame keeps PDQ's own standard, whatever the structure:
        # every PDQ matcher in the field reports those pairs (as "review" below a band's "high").
        return min(base, max(cap, pdq.DEFAULT_THRESHOLD) if both else cap)

    def confidence(self, distance: int, query_structure: int = UNBANDED, bank_structure: int = UNBANDED) -> str:
        """"high" within PDQ's standard threshold and the pair band's ``high``; else "review"."""
        high = pdq.DEFAULT_THRESHOLD
        if self.structure_bands:
            band = self.band(min(query_structure, bank_structure))
            if band is None:
                return "review"
            high = min(high, band.high)
        return "high" if distance <= high else "review"

    def thresholds(self, query: HashGroup, bank: HashGroup) -> np.ndarray:
        """(len(query), len(bank)) thresholds for every pair (-1: a pair that may not match)."""
        both = query.primary[:, None] & bank.primary[None, :]
        base = np.where(both, self.primary_threshold, self.secondary_threshold)
        if self.structure_bands:
            low = np.minimum(query.structures[:, None], bank.structures[None, :])
            cap = np.zeros(low.shape, dtype=np.int64)
            for band in reversed(self.structure_bands):  # the most structured band that applies wins
                cap[low >= band.floor] = band.match
            cap = np.where(both, np.maximum(cap, pdq.DEFAULT_THRESHOLD), cap)
            base = np.minimum(base, cap)
        tiles = self.tiles
        if tiles:
            qn = np.array([h.variant for h in query.hashes], dtype=object)
            bn = np.array([h.variant for h in bank.hashes], dtype=object)
            qt = np.array([n in tiles for n in qn], dtype=bool)
            bt = np.array([n in tiles for n in bn], dtype=bool)
            apart = (qt[:, None] | bt[None, :]) & (qn[:, None] != bn[None, :])
            base = np.where(apart, -1, base)
        return base


@dataclass(frozen=True)
class GroupMatch:
    """The closest qualifying pair between an upload's hashes and an image's group."""

    distance: int
    threshold: int
    query_variant: str
    bank_variant: str


def match_group(query: HashGroup, bank: HashGroup, strategy: Strategy | None = None) -> GroupMatch | None:
    """Does the upload match this image?  The pair with the most room under its threshold."""
    strategy = strategy or DEFAULT_STRATEGY
    if not len(query) or not len(bank):
        return None
    d = hamming_matrix(query.codes, bank.codes)
    t = strategy.thresholds(query, bank)
    slack = d - t
    i, j = np.unravel_index(int(np.argmin(slack)), slack.shape)
    if slack[i, j] > 0:
        return None
    return GroupMatch(int(d[i, j]), int(t[i, j]), query.hashes[i].variant, bank.hashes[j].variant)


def match_groups(
    query: HashGroup, bank: Sequence[HashGroup], strategy: Strategy | None = None
) -> list[tuple[int, GroupMatch]]:
    """Every image of ``bank`` (by position) that the upload matches, best first."""
    hits = [(k, m) for k, g in enumerate(bank) if (m := match_group(query, g, strategy))]
    return sorted(hits, key=lambda km: km[1].distance - km[1].threshold)


# --- the default ---------------------------------------------------------------------------

#: group-v6 (docs/matching.md; benchmarks/results/robustness_wild.md):
#: - bank: the full frame, one-side crops of 7.5%, corner crops of 6% and 10%,
#:   centred 95%, 90%, 84% and 76% crops, +-4 degree rotations cropped to their centred
#:   90%, the two-thirds crops (one side's and two sides' thirds removed), the four
#:   quadrants, and the trimmed frame when trimming removes something (<= 32 hashes, all
#:   plain crops or rotations: the browser computes them). The 84% and 76% crops
#:   (group-v5) are there for :mod:`matcher.registration`: a copy cropped on every side
#:   still holds their regions, which registration then finds inside it. The quadrants
#:   (group-v6) are tiles, compared only with the same quadrant of the upload: a copy
#:   under stickers often keeps one quadrant clean (on 513 photos, half the sticker
#:   copies the group missed), and pairing a tile only with itself adds 4 comparisons
#:   per (upload, image) to the ~675 the other variants make;
#: - query: the full frame in its 8 dihedral turns (one PDQ computation), its
#:   centred 90% and 80% crops, the two-thirds crops, +-3 degree rotations, the
#:   quadrants, the trimmed frame, and up to two photo boxes found inside a frame with
#:   their mirrors (<= 20 PDQ computations, <= 29 codes; 25 for most uploads).
#: From benchmarks/results/false_matches.md (4.67e9 comparisons between distinct images,
#: conservative tail fit), for 25 query codes against a 10M-hash bank: 52 is safe only
#: where both sides are busy; below a structure of 108 no threshold is, so only PDQ's own
#: full-frame rule (31) applies there, as a lead for review. Refitted on group-v6's 29
#: query codes (1.98e10 comparisons, 2026-12-04): the 162 band's limit came down from 43 to
#: 34, the largest the conservative fit keeps under 1e-6 per upload (recall: 0.974 either way).
STRUCTURE_BANDS = (
    StructureBand(208, match=52, high=31),
    StructureBand(162, match=34, high=29),
    StructureBand(108, match=29, high=6),
)

#: Two-thirds of the frame, without its left, right, top or bottom third: stickers,
#: emoji and meme text rarely cover all of the image, and one of these is often clean.
THIRDS = tuple(crop_side(s, 0.33) for s in "lrtb")
#: ... and two-thirds of each side from one corner: stickers in two neighbouring thirds.
CORNER_THIRDS = tuple(crop_corner(c, 0.33) for c in ("tl", "tr", "bl", "br"))

#: The four quarters of the frame, each paired only with itself (:attr:`Variant.tile`).
QUADRANTS = tuple(quadrant(c) for c in ("tl", "tr", "bl", "br"))

DEFAULT_STRATEGY = Strategy(
    name="group-v6",
    bank=(
        Variant("full", primary=True),
        *(crop_side(s, 0.075) for s in "lrtb"),
        *(crop_corner(c, 0.06) for c in ("tl", "tr", "bl", "br")),
        *(crop_corner(c, 0.10) for c in ("tl", "tr", "bl", "br")),
        centre(0.95),
        centre(0.90),
        centre(0.84),
        centre(0.76),
        centre(0.90, +4),
        centre(0.90, -4),
        *THIRDS,
        *CORNER_THIRDS,
        *QUADRANTS,
    ),
    query=(
        Variant("full", dihedral=True, primary=True),
        centre(0.90),
        centre(0.80),
        *THIRDS,
        *CORNER_THIRDS,
        # Between the bank's 0 and +-4 degrees: photographed screens and prints are tilted too.
        centre(0.85, +3),
        centre(0.85, -3),
        *QUADRANTS,
    ),
    primary_threshold=52,
    secondary_threshold=52,
    frame_boxes=2,
    structure_bands=STRUCTURE_BANDS,
)


def bank_group(rgb: np.ndarray, strategy: Strategy = DEFAULT_STRATEGY) -> HashGroup:
    """The hashes a submitted image is stored as (``ncii hash --group``)."""
    return strategy.bank_group(rgb)


def query_group(rgb: np.ndarray, strategy: Strategy = DEFAULT_STRATEGY) -> HashGroup:
    """The hashes an upload is looked up with (``ncii match --bank``)."""
    return strategy.query_group(rgb)
