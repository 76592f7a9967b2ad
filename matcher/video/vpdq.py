"""vPDQ: a video as the PDQ hashes of frames sampled at a fixed interval.

Meta's vPDQ is what Hasher-Matcher-Actioner and python-threatexchange exchange
for videos, so a frame hash that differs from theirs lowers every partner's
recall. Our frames are Meta's frames (:mod:`matcher.video.decoding` samples and
converts them as the ``vpdq`` package does) and each is hashed with our PDQ,
which equals Meta's bit for bit: the tests hold the whole hash to the package.

As in Meta's implementation every sampled frame is kept, whatever its
quality: quality only decides, at comparison time, which frames count
(:mod:`matcher.video.comparison`), so a black opening title costs nothing and
a hash carries the whole timeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import pdq
from ..errors import HashFormatError
from ..hash_value import Hash
from .decoding import DEFAULT_LIMITS, OpenVideo, VideoLimits, VideoSource

#: Seconds between sampled frames, Meta's default.
DEFAULT_INTERVAL = 1.0
_FLIPY = pdq.DIHEDRAL_NAMES.index("flipy")  # left-right mirror


@dataclass(frozen=True, slots=True)
class FrameHash:
    """One sampled frame: its PDQ hash (quality and structure on it), frame number and time."""

    hash: Hash
    frame: int
    time: float

    @property
    def quality(self) -> int:
        return self.hash.quality or 0

    def to_record(self) -> dict[str, Any]:
        return {"pdq": self.hash.hex, "quality": self.quality, "frame": self.frame, "time": round(self.time, 3)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FrameHash:
        quality = int(record["quality"])
        if not 0 <= quality <= 100:
            raise HashFormatError(f"a frame's quality is 0-100, not {quality}")
        value = Hash.from_hex("pdq", record["pdq"], bits=pdq.HASH_BITS, quality=quality)
        return cls(value, int(record["frame"]), float(record["time"]))


@dataclass(frozen=True)
class VideoHash:
    """A video's vPDQ hash: its sampled frames in order, and how they were sampled.

    ``dihedral`` is set on a query (``hash_video(..., dihedral=True)``): each
    frame's 8 rotated and mirrored codes, (frames, 8, 32), in
    :data:`matcher.pdq.DIHEDRAL_NAMES` order. It is never serialised: a bank
    holds the frames as they are, as Meta's does.
    """

    frames: tuple[FrameHash, ...]
    interval: float = DEFAULT_INTERVAL
    frame_rate: float | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    dihedral: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def codes(self) -> np.ndarray:
        """The frames' codes, (frames, 32) uint8, the layout the index stores."""
        if not self.frames:
            return np.zeros((0, pdq.HASH_BYTES), np.uint8)
        return np.frombuffer(b"".join(f.hash.code for f in self.frames), np.uint8).reshape(-1, pdq.HASH_BYTES)

    @property
    def qualities(self) -> np.ndarray:
        return np.array([f.quality for f in self.frames], dtype=np.int32)

    @property
    def times(self) -> np.ndarray:
        return np.array([f.time for f in self.frames], dtype=np.float64)

    def to_record(self) -> dict[str, Any]:
        """The ``vpdq`` field of an ``ncii hash`` line."""
        record: dict[str, Any] = {"interval": self.interval}
        if self.frame_rate is not None:
            record["frame_rate"] = round(self.frame_rate, 6)
        if self.duration is not None:
            record["duration"] = round(self.duration, 3)
        record["frames"] = [f.to_record() for f in self.frames]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> VideoHash:
        """Read the ``vpdq`` field back; raises ``HashFormatError`` (or KeyError/TypeError/ValueError)."""
        frames = tuple(FrameHash.from_record(f) for f in record["frames"])
        return cls(
            frames,
            interval=float(record.get("interval", DEFAULT_INTERVAL)),
            frame_rate=record.get("frame_rate"),
            duration=record.get("duration"),
        )

    def to_threatexchange(self) -> str:
        """python-threatexchange's vPDQ signal string: a JSON list of ``"hex,quality,seconds"``."""
        return json.dumps([f"{f.hash.hex},{f.quality},{f.time:.3f}" for f in self.frames])

    @classmethod
    def from_threatexchange(cls, text: str) -> VideoHash:
        """Read python-threatexchange's (and HMA's) string form; frame numbers are not in it."""
        frames = []
        for position, item in enumerate(json.loads(text)):
            hex_part, quality, seconds = str(item).split(",")
            frames.append(FrameHash.from_record({"pdq": hex_part, "quality": quality, "frame": position, "time": seconds}))
        return cls(tuple(frames))


def hash_video(
    source: VideoSource,
    *,
    interval: float = DEFAULT_INTERVAL,
    dihedral: bool = False,
    limits: VideoLimits = DEFAULT_LIMITS,
) -> VideoHash:
    """The vPDQ hash of a video given as a path, bytes or a binary file object.

    Decodes in memory, one frame at a time; raises a ``VideoError`` subclass
    (:mod:`matcher.errors`) on anything it cannot hash within ``limits``.
    ``dihedral=True`` also keeps each frame's 8 rotations and mirrors, which a
    query needs to find a mirrored copy (they cost one DCT transform a frame).
    """
    frames: list[FrameHash] = []
    turns: list[np.ndarray] = []
    with OpenVideo(source, limits) as video:
        info = video.info
        for sampled in video.sampled(interval):
            if dihedral:
                codes, structure = pdq.hash_rgb_dihedral_structure(sampled.rgb)
                code = codes[0]
                # The mirror, the turn re-uploads take most, from the mirrored pixels: the
                # coefficient trick is exact only where PDQ's decimation is symmetric, and
                # small frames (under ~320 px) lose up to a third of their mirrored matches.
                codes[_FLIPY] = pdq.hash_rgb_structure(sampled.rgb[:, ::-1])[0]
                turns.append(codes)
            else:
                code, structure = pdq.hash_rgb_structure(sampled.rgb)
            value = Hash("pdq", bytes(code), pdq.quality_of(structure), structure)
            frames.append(FrameHash(value, sampled.number, sampled.time))
    return VideoHash(
        tuple(frames),
        interval=interval,
        frame_rate=info.frame_rate,
        width=info.width,
        height=info.height,
        duration=info.duration,
        dihedral=np.stack(turns) if dihedral and turns else None,
    )
