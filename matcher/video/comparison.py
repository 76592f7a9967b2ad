"""Comparing two vPDQ hashes the way Meta's matchers do, plus what a reviewer needs.

vPDQ treats a video as a bag of frames: a query frame *matches* if some bank
frame is within 31 bits of it, and two videos match when enough of the
query's frames match **and** enough of the bank video's do (python-
threatexchange's brute matcher, the rule HMA runs). Both shares are counted
over distinct frame hashes of quality >= 50, so a still scene held for a
minute counts once and a black title card not at all.

Meta's C++ ``matchTwoHashBrute`` tests ``distance < tolerance`` while its
README and python-threatexchange test ``<=``; we follow the latter, so 31
means 31 bits still match.

Two things are ours: the query may be tried in each of its 8 rotations and
mirrors (the whole video turned, one orientation at a time: a mirrored
re-upload is mirrored in every frame), and the answer names the time ranges
that matched on both sides, so a moderator can go straight to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import pdq
from ..hash_value import hamming_matrix
from .vpdq import VideoHash

#: Bytes of (query chunk x bank frames x 32) a distance block may take.
_BLOCK_BYTES = 32 << 20


@dataclass(frozen=True)
class VpdqPolicy:
    """When two videos match. Meta's defaults, with the bank share raised from 0 to 80%.

    ``bank_share`` 0 (python-threatexchange's default) would let a 3-second clip
    of a banked video match it, but would also let any long upload that happens
    to contain a few banked frames match; 80% both ways asks for most of the
    same video, which is what a takedown needs (docs/video.md has the numbers).
    ``orientations`` are the query turns tried, in :data:`matcher.pdq.DIHEDRAL_NAMES`;
    a query hashed without ``dihedral=True`` is tried as it is only.
    """

    distance: int = pdq.DEFAULT_THRESHOLD
    min_quality: int = pdq.MIN_QUALITY
    query_share: float = 0.8
    bank_share: float = 0.8
    orientations: tuple[str, ...] = pdq.DIHEDRAL_NAMES


DEFAULT_POLICY = VpdqPolicy()
#: Meta's own operating point, for comparison in the benchmark.
META_POLICY = VpdqPolicy(bank_share=0.0, orientations=("original",))


@dataclass(frozen=True)
class VideoMatch:
    """How a query video compares with a bank video, in its best orientation."""

    matched: bool
    query_share: float  # distinct usable query frames matched / all of them
    bank_share: float
    orientation: str
    query_frames: int  # distinct usable frames counted on each side
    bank_frames: int
    distance: int | None  # median, over matched query frames, of the nearest bank frame's distance
    query_ranges: tuple[tuple[float, float], ...]  # seconds, first and last matched frame of each run
    bank_ranges: tuple[tuple[float, float], ...]

    def to_record(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "query_share": round(self.query_share, 4),
            "bank_share": round(self.bank_share, 4),
            "orientation": self.orientation,
            "query_frames": self.query_frames,
            "bank_frames": self.bank_frames,
            "distance": self.distance,
            "query_ranges": [[round(a, 3), round(b, 3)] for a, b in self.query_ranges],
            "bank_ranges": [[round(a, 3), round(b, 3)] for a, b in self.bank_ranges],
        }


class CountedFrames:
    """One video's frames as the rule counts them: usable (quality) and deduplicated.

    ``codes`` are the distinct usable codes; ``unique_of`` maps each usable
    frame (in time order, ``times``) to its distinct code. Built once per bank
    video by an index, once per query.
    """

    def __init__(self, video: VideoHash, min_quality: int = pdq.MIN_QUALITY) -> None:
        usable = np.flatnonzero(video.qualities >= min_quality)
        self.times = video.times[usable]
        self.interval = video.interval
        codes = video.codes[usable]
        if len(usable):
            self.codes, first, self.unique_of = np.unique(codes, axis=0, return_index=True, return_inverse=True)
            self.unique_of = self.unique_of.reshape(-1)
        else:
            self.codes, first, self.unique_of = codes, np.zeros(0, np.int64), np.zeros(0, np.int64)
        # The query's turns, for the distinct frames (turns of equal frames are equal).
        self.turns = video.dihedral[usable][first] if video.dihedral is not None and len(usable) else None

    @classmethod
    def from_timeline(cls, codes: np.ndarray, unique_of: np.ndarray, times: np.ndarray) -> CountedFrames:
        """A video already stored as the rule counts it: distinct usable ``codes`` (d, 32) and, per
        usable frame in time order, the index of its code and its time (how a bank keeps a video,
        so that an index need not rebuild a ``VideoHash`` to compare against it)."""
        counted = cls.__new__(cls)
        counted.codes = np.asarray(codes, np.uint8).reshape(-1, pdq.HASH_BYTES)
        counted.unique_of = np.asarray(unique_of, np.int64)
        counted.times = np.asarray(times, np.float64)
        counted.interval = None
        counted.turns = None
        return counted

    def __len__(self) -> int:
        return len(self.codes)

    def turned(self, orientation: str) -> np.ndarray | None:
        """The distinct codes turned by ``orientation``, or ``None`` if the video has no turns."""
        if orientation == "original":
            return self.codes
        if self.turns is None:
            return None
        return np.ascontiguousarray(self.turns[:, pdq.DIHEDRAL_NAMES.index(orientation)])


def compare_videos(query: VideoHash, bank: VideoHash, policy: VpdqPolicy = DEFAULT_POLICY) -> VideoMatch:
    """Compare two videos by brute force (fine for a few thousand frames a side)."""
    q = CountedFrames(query, policy.min_quality)
    b = CountedFrames(bank, policy.min_quality)
    results = []
    for orientation in policy.orientations:
        codes = q.turned(orientation)
        if codes is None:
            continue
        pairs = frame_pairs(codes, b.codes, policy.distance)
        results.append(match_from_pairs(q, b, *pairs, orientation, policy))
    return best_match(results) or match_from_pairs(q, b, *_no_pairs(), "original", policy)


def frame_pairs(query_codes: np.ndarray, bank_codes: np.ndarray, distance: int) -> tuple[np.ndarray, ...]:
    """(query index, bank index, distance) of every pair within ``distance``, computed in blocks."""
    qs, bs, ds = [], [], []
    if len(query_codes) and len(bank_codes):
        step = max(1, _BLOCK_BYTES // (len(bank_codes) * pdq.HASH_BYTES))
        for start in range(0, len(query_codes), step):
            block = hamming_matrix(query_codes[start : start + step], bank_codes)
            qi, bi = np.nonzero(block <= distance)
            qs.append(qi + start)
            bs.append(bi)
            ds.append(block[qi, bi])
    if not qs:
        return _no_pairs()
    return np.concatenate(qs), np.concatenate(bs), np.concatenate(ds)


def _no_pairs() -> tuple[np.ndarray, ...]:
    empty = np.zeros(0, np.int64)
    return empty, empty, empty


def match_from_pairs(
    query: CountedFrames,
    bank: CountedFrames,
    query_index: np.ndarray,
    bank_index: np.ndarray,
    distances: np.ndarray,
    orientation: str,
    policy: VpdqPolicy,
) -> VideoMatch:
    """The rule applied to the matching pairs of distinct frames of one orientation.

    A ``query_index`` of -1 is a pair that counts for the bank side only (a dense query frame
    whose interval has no usable frame of Meta's; :mod:`matcher.video.query`).
    """
    query_hit = np.zeros(len(query), bool)
    bank_hit = np.zeros(len(bank), bool)
    bank_hit[bank_index] = True
    counted = query_index >= 0
    query_index, distances = query_index[counted], distances[counted]
    query_hit[query_index] = True
    query_share = float(query_hit.mean()) if len(query) else 0.0
    bank_share = float(bank_hit.mean()) if len(bank) else 0.0
    distance = None
    if len(distances):
        nearest = np.full(len(query), np.iinfo(np.int32).max, np.int64)
        np.minimum.at(nearest, query_index, distances)
        distance = int(np.median(nearest[query_hit]))
    matched = bool(len(query) and len(bank) and query_share >= policy.query_share and bank_share >= policy.bank_share)
    return VideoMatch(
        matched,
        query_share,
        bank_share,
        orientation,
        len(query),
        len(bank),
        distance,
        _runs(query.times, query_hit[query.unique_of]),
        _runs(bank.times, bank_hit[bank.unique_of]),
    )


def best_match(results: Iterable[VideoMatch]) -> VideoMatch | None:
    """The orientation to report: a match before a miss, then the larger of the smaller shares."""
    return max(results, key=lambda m: (m.matched, min(m.query_share, m.bank_share), m.query_share), default=None)


def _runs(times: np.ndarray, hit: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Runs of consecutive matched frames, as (first time, last time)."""
    ranges: list[tuple[float, float]] = []
    start = None
    for k, flag in enumerate(hit):
        if flag and start is None:
            start = k
        if start is not None and (not flag or k == len(hit) - 1):
            end = k if flag else k - 1
            ranges.append((float(times[start]), float(times[end])))
            start = None
    return tuple(ranges)
