"""What a signal type is, and the registry that makes new ones plug in.

After python-threatexchange's ``SignalType``: each type declares its size, its
default match threshold, what it is computed from (decoded pixels or the raw
file bytes) and how to compute it. Callers (the CLI, the service, the index)
only ever go through :func:`get_signal`, so adding a type touches no caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from ..errors import UnknownSignalError
from ..hash_value import Hash

#: What a type is computed from: decoded pixels, the raw file bytes, or a video's sampled frames.
Source = Literal["image", "file", "video"]


@dataclass(frozen=True)
class SignalType:
    """A kind of hash: a name, a bit length, a threshold and a way to compute it.

    ``threshold`` is the largest Hamming distance that still counts as a match
    (0 for exact digests). ``min_quality`` is set for types whose hashes carry
    a quality score; hashes below it are unusable for matching.
    """

    name: str
    bits: int
    threshold: int
    source: Source
    description: str
    compute_image: Callable[[Image.Image], Hash] | None = None
    compute_bytes: Callable[[bytes], Hash] | None = None
    min_quality: int | None = None
    #: Optional fast path from decoded (H, W, 3) uint8 pixels, skipping a PIL copy.
    compute_rgb: Callable[[np.ndarray], Hash] | None = None
    #: Video types: the file bytes (or path) in, a ``matcher.video.VideoHash`` out. ``bits``,
    #: ``threshold`` and ``min_quality`` then describe one frame's hash.
    compute_video: Callable[..., Any] | None = None
    #: Video types with a query-side rule: the file bytes (or path) in, the hashes an upload is
    #: looked up with out (``matcher.video.query.QueryVideo`` for vpdq); unset, a query is
    #: ``compute_video``'s hash with its turns.
    compute_query_video: Callable[..., Any] | None = None

    @property
    def nbytes(self) -> int:
        return self.bits // 8

    @property
    def exact(self) -> bool:
        return self.threshold == 0

    def parse(self, text: str, quality: int | None = None) -> Hash:
        """A :class:`Hash` from its hex form; raises ``HashFormatError`` with a reason."""
        return Hash.from_hex(self.name, text, bits=self.bits, quality=quality)

    def format(self, value: Hash) -> str:
        return value.hex

    def distance(self, a: Hash, b: Hash) -> int:
        return a - b

    def matches(self, a: Hash, b: Hash, threshold: int | None = None) -> bool:
        limit = self.threshold if threshold is None else threshold
        return self.distance(a, b) <= limit

    def usable(self, value: Hash) -> bool:
        """False for hashes too weak to match on (e.g. PDQ of a flat image)."""
        return self.usable_quality(value.quality)

    def usable_quality(self, quality: int | None) -> bool:
        """``usable`` for a hash known only by its quality (a batch parsed in one piece)."""
        return self.min_quality is None or quality is None or quality >= self.min_quality


_REGISTRY: dict[str, SignalType] = {}


def register(signal: SignalType) -> SignalType:
    """Add a signal type; names are unique and lower-case."""
    if signal.name != signal.name.lower() or not signal.name.isidentifier():
        raise ValueError(f"signal names are lower-case identifiers, not {signal.name!r}")
    if signal.name in _REGISTRY and _REGISTRY[signal.name] is not signal:
        raise ValueError(f"a signal type named {signal.name!r} is already registered")
    if signal.bits % 8:
        raise ValueError("signal bit lengths are whole bytes")
    computes = [signal.compute_image, signal.compute_bytes, signal.compute_video]
    if sum(c is not None for c in computes) != 1:
        raise ValueError("a signal type computes from an image, from bytes or from a video, exactly one")
    _REGISTRY[signal.name] = signal
    return signal


def get_signal(name: str) -> SignalType:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownSignalError(f"unknown signal type {name!r} (known: {known})") from None


def signal_names() -> list[str]:
    return list(_REGISTRY)


def all_signals() -> list[SignalType]:
    return list(_REGISTRY.values())
