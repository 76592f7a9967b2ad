"""Looking an upload up against Meta-compatible vPDQ banks with more than Meta's frames.

A bank video is Meta's vPDQ (a frame a second, one PDQ each) and must stay so:
partners exchange it and the victim's browser computes it. The upload is
another matter: the platform holds its pixels and may hash it as much as it
likes, as the picture side does (:mod:`matcher.groups`). Whole-frame PDQ at
Meta's instants misses three kinds of copy (docs/video.md, "Measured"):

* **Phase.** A copy trimmed by a fraction of a second, or re-timed, is sampled
  between the bank's frames; on a pan those frames are 40+ bits apart. So the
  query is sampled :attr:`QueryOptions.per_interval` times per bank interval
  (4: every bank frame has a query frame within an eighth of a second), Meta's
  own frames among them.
* **Crops and bars.** A 5% crop or an opaque caption bar moves PDQ past 31
  bits. Each query frame is also hashed *padded back*: the frame reflected
  outwards to the size it had before a 5% crop (centred and towards each
  corner), and the frame with its solid borders or caption bars trimmed
  (:func:`matcher.groups.trim_box`) and the trimmed-away band refilled (by
  reflection, by the edge line, by the mean colour). The scale and position then agree with the bank frame again;
  only the refilled margin differs.
* **Thresholds.** Each pair is held to the picture strategy's structure-banded
  threshold (:data:`matcher.groups.STRUCTURE_BANDS`: up to 52 bits where both
  sides are busy, PDQ's 31 for a full frame against a full frame otherwise,
  nothing for a padded variant of a flat frame). A bank that carries quality
  only (Meta's format: capped at 100) gives no structure above 100: the
  query frame's own structure stands for it, since a true pair is the same
  picture; the false matches this could add are measured in the benchmark.

**Shares, a superset of Meta's rule.** The query's *units* are Meta's: its
distinct usable frames at the bank's interval (the frames Meta would hash). A
unit is matched when any query frame of its interval (or of another interval
whose Meta frame has the same code), in any variant, meets a bank frame; a bank
frame is matched when any query frame meets it. Every pair Meta's rule accepts
is accepted here (same frames, threshold >= 31), so both shares are at least
Meta's and a video Meta matches is matched; the 80%/80% policy is unchanged.

Cost: about 7 PDQ computations per query frame (10 on frames with a bar), 4 frames a second (Meta's: one
a second); decoding every frame, which both pay, is most of the time at 1 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import groups, pdq
from ..hash_value import Hash
from .comparison import DEFAULT_POLICY, CountedFrames, VideoMatch, VpdqPolicy, best_match, frame_pairs, match_from_pairs
from .decoding import DEFAULT_LIMITS, OpenVideo, VideoLimits, VideoSource
from .vpdq import _FLIPY, DEFAULT_INTERVAL, FrameHash, VideoHash

#: A crop of this share of each dimension is what :data:`UNCROP_MARGINS` undo.
UNCROP_SHARE = 0.05
#: (left, top) shares of the padding; the right and bottom get the rest of UNCROP_SHARE.
#: Centred and towards each corner: a crop is rarely even (the benchmark draws the split
#: at random), and a quarter of the margin off costs ~10 bits where a whole margin costs 30.
UNCROP_MARGINS = {
    "uncrop": (0.025, 0.025),
    "uncrop_tl": (0.04, 0.04),
    "uncrop_tr": (0.01, 0.04),
    "uncrop_bl": (0.04, 0.01),
    "uncrop_br": (0.01, 0.01),
}


#: The orientations the padded-back variants are looked up in; the full frame is tried in all 8.
PADDED_ORIENTATIONS = ("original", "flipy")


@dataclass(frozen=True)
class QueryOptions:
    """How densely and how many ways an upload is hashed (the defaults are what was measured)."""

    per_interval: int = 4
    uncrop: bool = True
    untrim: bool = True
    bands: tuple[groups.StructureBand, ...] = groups.STRUCTURE_BANDS
    #: A trimmed box is refilled only if trimming removes at least this share of a side.
    min_trim_share: float = 0.02


DEFAULT_OPTIONS = QueryOptions()


@dataclass(frozen=True)
class QueryVideo:
    """An upload hashed for lookup: Meta's vPDQ of it, and every query code with what it stands for.

    Row ``k`` of the code arrays is one variant of one sampled frame: ``codes[k]`` its 8 turns
    (:data:`matcher.pdq.DIHEDRAL_NAMES` order), ``structures[k]``, ``primary[k]`` (the full
    frame), ``variants[k]``, and ``units[k]``: which distinct usable Meta frame its interval
    belongs to (-1: that interval's Meta frame is unusable; the row still counts for the bank).
    """

    vpdq: VideoHash  # Meta's frames, with their turns: what an ordinary query would be
    codes: np.ndarray  # (rows, 8, 32) uint8
    structures: np.ndarray  # (rows,) int64
    primary: np.ndarray  # (rows,) bool
    variants: tuple[str, ...]
    units: np.ndarray  # (rows,) int64
    times: np.ndarray  # (rows,) seconds
    options: QueryOptions = DEFAULT_OPTIONS

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, orientation: str) -> np.ndarray:
        """The rows looked up in ``orientation``: all of them as uploaded and mirrored (the turn
        re-uploads take), only the full frames in the 6 rotations (a rotated *and* cropped copy
        is rare; its padded variants would triple the codes and the false-match risk)."""
        if orientation in PADDED_ORIENTATIONS:
            return np.arange(len(self.codes))
        return np.flatnonzero(self.primary)

    def turned(self, orientation: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, their codes in ``orientation``), the codes contiguous for a search."""
        rows = self.rows(orientation)
        return rows, np.ascontiguousarray(self.codes[rows, pdq.DIHEDRAL_NAMES.index(orientation)])

    @property
    def frames_hashed(self) -> int:
        return len(set(self.times.tolist()))


def _padded(rgb: np.ndarray, left: float, top: float, right: float, bottom: float) -> np.ndarray:
    """``rgb`` reflected outwards so that it fills (1 - left - right) x (1 - top - bottom) of the result."""
    h, w = rgb.shape[:2]
    full_w, full_h = w / (1 - left - right), h / (1 - top - bottom)
    l, r = round(full_w * left), round(full_w * right)
    t, b = round(full_h * top), round(full_h * bottom)
    return np.pad(rgb, ((t, b), (l, r), (0, 0)), mode="reflect")


def frame_variants(rgb: np.ndarray, options: QueryOptions = DEFAULT_OPTIONS) -> list[tuple[str, np.ndarray]]:
    """The padded-back variants of one frame (the full frame is hashed apart, at full size)."""
    work = groups.reduce_to_working_size(rgb)
    out: list[tuple[str, np.ndarray]] = []
    if options.uncrop:
        for name, (left, top) in UNCROP_MARGINS.items():
            out.append((name, _padded(work, left, top, UNCROP_SHARE - left, UNCROP_SHARE - top)))
    if options.untrim:
        h, w = work.shape[:2]
        x0, y0, x1, y1 = groups.trim_box(work)
        if max(x0 / w, y0 / h, (w - x1) / w, (h - y1) / h) >= options.min_trim_share:
            inner = work[y0:y1, x0:x1]
            if min(inner.shape[:2]) >= 2:  # reflection needs two lines
                margins = ((y0, h - y1), (x0, w - x1), (0, 0))
                # No one fill is best: reflection keeps a pan's texture, the edge line's colour
                # suits a sky, the mean adds least to the DCT's coefficients (a 15% bar: each is
                # nearest on some frames, 10-20 bits apart).
                out.append(("untrim", np.pad(inner, margins, mode="reflect")))
                out.append(("untrim_edge", np.pad(inner, margins, mode="edge")))
                mean = np.rint(inner.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
                filled = np.empty_like(work)
                filled[:] = mean
                filled[y0:y1, x0:x1] = inner
                out.append(("untrim_mean", filled))
    return out


def hash_query_video(
    source: VideoSource,
    *,
    interval: float = DEFAULT_INTERVAL,
    options: QueryOptions = DEFAULT_OPTIONS,
    limits: VideoLimits = DEFAULT_LIMITS,
) -> QueryVideo:
    """Hash an upload for lookup (:class:`QueryVideo`); its ``vpdq`` equals ``hash_video(..., dihedral=True)``."""
    meta_frames: list[FrameHash] = []
    meta_turns: list[np.ndarray] = []
    rows_codes: list[np.ndarray] = []
    rows_structure: list[int] = []
    rows_primary: list[bool] = []
    rows_variant: list[str] = []
    rows_window: list[int] = []
    rows_time: list[float] = []
    limits = _dense_limits(limits, options.per_interval)
    with OpenVideo(source, limits) as video:
        info = video.info
        step = max(1, int(interval * info.frame_rate))
        for sampled in video.sampled(interval, options.per_interval):
            window = sampled.number // step
            codes, structure = pdq.hash_rgb_dihedral_structure(sampled.rgb)
            # The mirror from the mirrored pixels, as hash_video(dihedral=True) does.
            codes[_FLIPY] = pdq.hash_rgb_structure(sampled.rgb[:, ::-1])[0]
            if sampled.number % step == 0:
                value = Hash("pdq", bytes(codes[0]), pdq.quality_of(structure), structure)
                meta_frames.append(FrameHash(value, sampled.number, sampled.time))
                meta_turns.append(codes)
            found = [("full", codes, structure, True)]
            for name, pixels in frame_variants(sampled.rgb, options):
                if min(pixels.shape[:2]) < pdq.MIN_HASHABLE_DIM:
                    continue
                turned, s = pdq.hash_rgb_dihedral_structure(np.ascontiguousarray(pixels))
                found.append((name, turned, s, False))
            for name, turned, s, primary in found:
                if pdq.quality_of(s) < pdq.MIN_QUALITY:
                    continue
                rows_codes.append(turned)
                rows_structure.append(int(s))
                rows_primary.append(primary)
                rows_variant.append(name)
                rows_window.append(window)
                rows_time.append(sampled.time)
    vpdq_hash = VideoHash(
        tuple(meta_frames), interval=interval, frame_rate=info.frame_rate, width=info.width,
        height=info.height, duration=info.duration,
        dihedral=np.stack(meta_turns) if meta_turns else None,
    )
    return QueryVideo(
        vpdq_hash,
        np.stack(rows_codes) if rows_codes else np.zeros((0, 8, pdq.HASH_BYTES), np.uint8),
        np.array(rows_structure, np.int64),
        np.array(rows_primary, bool),
        tuple(rows_variant),
        _units_of(vpdq_hash, np.array(rows_window, np.int64), step),
        np.array(rows_time, np.float64),
        options,
    )


def _dense_limits(limits: VideoLimits, per_interval: int) -> VideoLimits:
    """The sampled-frame limit is Meta's frames; dense sampling may take ``per_interval`` times as many."""
    from dataclasses import replace

    return replace(limits, max_sampled_frames=limits.max_sampled_frames * max(1, per_interval))


def _units_of(video: VideoHash, windows: np.ndarray, step: int) -> np.ndarray:
    """Per row, the distinct usable Meta frame (``CountedFrames`` index) of its interval, or -1."""
    counted = CountedFrames(video)
    usable = np.flatnonzero(video.qualities >= pdq.MIN_QUALITY)
    unit_of_window = {}
    for position, frame_index in enumerate(usable):
        unit_of_window[video.frames[frame_index].frame // step] = int(counted.unique_of[position])
    return np.array([unit_of_window.get(int(w), -1) for w in windows], np.int64)


def bank_structures(bank: VideoHash, counted: CountedFrames | None = None) -> np.ndarray:
    """Per distinct usable bank code, the structure to band it by; -1 where only "100" is known."""
    counted = counted or CountedFrames(bank)
    usable = [f for f in bank.frames if f.quality >= pdq.MIN_QUALITY]
    out = np.full(len(counted), -1, np.int64)
    for position, frame in enumerate(usable):
        unit = counted.unique_of[position]
        if frame.hash.structure is not None:
            out[unit] = frame.hash.structure
        elif frame.quality < 100:
            out[unit] = frame.quality  # below the cap, quality is the structure
    return out


def pair_thresholds(
    query_structure: np.ndarray, query_primary: np.ndarray, bank_structure: np.ndarray,
    bands: tuple[groups.StructureBand, ...] = groups.STRUCTURE_BANDS,
) -> np.ndarray:
    """Each pair's threshold: the picture strategy's, bank frames being full frames.

    A bank structure of -1 (quality 100 from a Meta record) takes the query's. A full query
    frame keeps PDQ's 31 whatever the structure (Meta's own rule), a padded one gets its band's
    ``match`` or nothing.
    """
    low = np.where(bank_structure < 0, query_structure, np.minimum(query_structure, bank_structure))
    cap = np.zeros(low.shape, np.int64)
    for band in reversed(bands):
        cap[low >= band.floor] = band.match
    return np.where(query_primary, np.maximum(cap, pdq.DEFAULT_THRESHOLD), cap)


def widest_threshold(bands: tuple[groups.StructureBand, ...] = groups.STRUCTURE_BANDS) -> int:
    return max([pdq.DEFAULT_THRESHOLD, *(b.match for b in bands)])


def compare_query(
    query: QueryVideo, bank: VideoHash, policy: VpdqPolicy = DEFAULT_POLICY,
    counted: CountedFrames | None = None, structures: np.ndarray | None = None,
) -> VideoMatch:
    """Compare an upload hashed by :func:`hash_query_video` with one bank video, by brute force."""
    units = CountedFrames(query.vpdq, policy.min_quality)
    b = counted or CountedFrames(bank, policy.min_quality)
    bs = bank_structures(bank, b) if structures is None else structures
    results = []
    for orientation in policy.orientations:
        if orientation != "original" and query.vpdq.dihedral is None:
            continue
        rows, codes = query.turned(orientation)
        qi, bi, d = frame_pairs(codes, b.codes, widest_threshold(query.options.bands))
        results.append(match_rows(query, units, b, bs, rows[qi], bi, d, orientation, policy))
    return best_match(results) or match_from_pairs(units, b, *(np.zeros(0, np.int64),) * 3, "original", policy)


def match_rows(
    query: QueryVideo, units: CountedFrames, bank: CountedFrames, bank_structure: np.ndarray,
    rows: np.ndarray, bank_index: np.ndarray, distances: np.ndarray, orientation: str, policy: VpdqPolicy,
) -> VideoMatch:
    """The rule for candidate pairs (query row, distinct bank code, distance) of one orientation."""
    t = pair_thresholds(query.structures[rows], query.primary[rows], bank_structure[bank_index], query.options.bands)
    keep = distances <= t
    return match_from_pairs(units, bank, query.units[rows[keep]], bank_index[keep], distances[keep], orientation, policy)
