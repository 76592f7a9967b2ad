"""Videos in the bank: a video item's frames checked, stored as frame codes, and read back.

A banked video is a case item of kind ``video``. Each distinct usable frame code is an
ordinary bank hash of signal ``vpdq`` (the index searches those, withdrawals and the change
log treat them like any hash), and ``video_frames`` keeps the timeline: which code each
sampled frame had, and when. Frames below PDQ's quality 50 are not kept: the vPDQ rule
never counts them (``matcher.video.comparison``), so they could only cost index space.

A video's *anchor* is its first frame code (the lowest bank hash id of the item): match
events name it, so review decisions, reputation and suspension act on one hash per video,
and a video whose anchor is not active does not match (``service.video_matching``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from matcher import pdq
from matcher.errors import MatcherError
from matcher.hash_value import parse_hex_codes
from matcher.signals import get_signal
from matcher.video.comparison import CountedFrames

from ..db.models import BankHash, VideoFrame

SIGNAL = "vpdq"


@dataclass(frozen=True)
class FrameIn:
    """A submitted frame: what :func:`check_frames` reads of one (``service.schemas.FrameIn`` has the same
    attributes and is passed as it is)."""

    pdq: str
    quality: int
    frame: int
    time: float


@dataclass(frozen=True)
class Frames:
    """A video's usable frames, checked: (code, quality, frame number, time) in time order."""

    usable: list[tuple[bytes, int, int, float]]
    unusable: int  # frames below quality 50, not kept

    def counted(self) -> CountedFrames:
        """The timeline as the vPDQ rule counts it: distinct codes, and each frame's code and time."""
        order: dict[bytes, int] = {}
        unique_of = np.fromiter((order.setdefault(code, len(order)) for code, *_ in self.usable), np.int64,
                                count=len(self.usable))
        codes = np.frombuffer(b"".join(order), np.uint8).reshape(-1, pdq.HASH_BYTES)
        times = np.fromiter((time for *_, time in self.usable), np.float64, count=len(self.usable))
        return CountedFrames.from_timeline(codes, unique_of, times)

    def codes(self) -> dict[bytes, int]:
        """Distinct codes with the best quality any frame gave them, in first-seen order."""
        best: dict[bytes, int] = {}
        for code, quality, _, _ in self.usable:
            best[code] = max(quality, best.get(code, 0))
        return best


class FramesRefused(ValueError):
    """The frames cannot be used; ``code`` is the error code the answer gives."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def check_frames(frames: Sequence[FrameIn], max_frames: int) -> Frames:
    """Parse and check a video's frames; raises ``FramesRefused`` for the whole video.

    One malformed frame refuses the video rather than dropping the frame: the timeline
    would be silently wrong, and a client that sends a broken hash has a bug to learn of.
    """
    if len(frames) > max_frames:
        raise FramesRefused("video_too_many_frames", f"a video has at most {max_frames} frame hashes")
    parsed = parse_hex_codes([frame.pdq for frame in frames], pdq.HASH_BYTES)
    if parsed is None:  # one of them is malformed: find it, for the reason
        signal = get_signal(SIGNAL)
        for number, frame in enumerate(frames):
            try:
                signal.parse(frame.pdq, quality=frame.quality)
            except MatcherError as error:
                raise FramesRefused(error.code, f"frame {number}: {error}") from None
        raise FramesRefused("hash_malformed", "a frame hash is not 64 hex digits")  # not reached
    usable: list[tuple[bytes, int, int, float]] = []
    unusable = 0
    for code, frame in zip((row.tobytes() for row in parsed), frames):
        if frame.quality < pdq.MIN_QUALITY:
            unusable += 1
            continue
        usable.append((code, frame.quality, frame.frame, frame.time))
    usable.sort(key=lambda f: f[3])  # time order, whatever order they came in
    return Frames(usable, unusable)


def store_frames(session: Session, item_id: int, frames: Frames, hash_ids: dict[bytes, int]) -> None:
    """The timeline rows of a video item whose frame codes are bank hashes ``hash_ids`` (by code)."""
    rows = [
        {"item_id": item_id, "hash_id": hash_ids[code], "position": position, "frame": number, "time": time}
        for position, (code, _, number, time) in enumerate(frames.usable)
    ]
    for start in range(0, len(rows), 1000):
        session.execute(insert(VideoFrame), rows[start : start + 1000])


@dataclass
class BankVideo:
    """A banked video as the vPDQ rule counts it, with the bank hash id of each distinct code."""

    item_id: int
    anchor: int  # the bank hash match events name
    hash_ids: np.ndarray  # (d,) ids of the distinct codes, in ``frames.codes`` order
    frames: CountedFrames
    #: Per distinct code, the structure the query-side rule bands it by: the stored one, else a
    #: quality below 100 (which is the structure), else -1 (only "100" known: the query's stands in).
    structures: np.ndarray

    def position_of(self) -> dict[int, int]:
        return {int(h): k for k, h in enumerate(self.hash_ids)}


def load(session: Session, item_ids: Iterable[int]) -> dict[int, BankVideo]:
    """The timelines of these video items, one query for all of them."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    rows = []
    for start in range(0, len(ids), 500):
        rows.extend(session.execute(
            select(VideoFrame.item_id, VideoFrame.hash_id, VideoFrame.time, BankHash.code, BankHash.quality,
                   BankHash.structure)
            .join(BankHash, BankHash.id == VideoFrame.hash_id)
            .where(VideoFrame.item_id.in_(ids[start : start + 500]))
            .order_by(VideoFrame.item_id, VideoFrame.time, VideoFrame.position)
        ).all())
    by_item: dict[int, list] = {}
    for row in rows:
        by_item.setdefault(row.item_id, []).append(row)
    videos: dict[int, BankVideo] = {}
    for item_id, frames in by_item.items():
        order: dict[int, int] = {}
        codes: list[bytes] = []
        structures: list[int] = []
        for row in frames:
            if row.hash_id not in order:
                order[row.hash_id] = len(order)
                codes.append(bytes(row.code))
                structures.append(_band_structure(row.quality, row.structure))
        unique_of = np.fromiter((order[r.hash_id] for r in frames), np.int64, count=len(frames))
        times = np.fromiter((r.time for r in frames), np.float64, count=len(frames))
        code_array = np.frombuffer(b"".join(codes), np.uint8).reshape(-1, pdq.HASH_BYTES)
        videos[item_id] = BankVideo(
            item_id, min(order), np.fromiter(order, np.int64, count=len(order)),
            CountedFrames.from_timeline(code_array, unique_of, times), np.array(structures, np.int64),
        )
    return videos


def _band_structure(quality: int | None, structure: int | None) -> int:
    if structure is not None:
        return int(structure)
    if quality is not None and quality < 100:
        return int(quality)
    return -1
