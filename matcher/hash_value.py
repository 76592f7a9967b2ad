"""One value type for every hash this project handles.

Like imagehash's ``ImageHash``, a :class:`Hash` knows its own text form
(``str(h)``), how far it is from another (``h1 - h2``) and how to read itself
back (:meth:`Hash.from_hex`). It also carries its signal type's name, so that a
PDQ hash is never compared with a pHash by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import HashFormatError

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equally long byte strings."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths cannot be compared")
    x = np.bitwise_xor(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))
    return int(_POPCOUNT[x].sum(dtype=np.int64))


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances of packed codes: (n, nbytes) x (m, nbytes) -> (n, m) int32."""
    if a.shape[-1] % 8 == 0 and _BITWISE_COUNT is not None:
        # 64-bit words and numpy's popcount: ~5x the byte table's speed on 256-bit codes (a dense
        # video query is a thousand codes against every bank frame).
        a64 = np.ascontiguousarray(a, np.uint8).view(np.uint64)
        b64 = np.ascontiguousarray(b, np.uint8).view(np.uint64)
        return _BITWISE_COUNT(a64[:, None, :] ^ b64[None, :, :]).sum(axis=-1, dtype=np.int32)
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return _POPCOUNT[x].sum(axis=-1, dtype=np.int32)


_BITWISE_COUNT = getattr(np, "bitwise_count", None)  # numpy >= 2.0


def parse_hex_codes(texts: list[str], nbytes: int) -> np.ndarray | None:
    """Many hex codes of ``nbytes`` each in one ``bytes.fromhex``: (len(texts), nbytes), or ``None``
    if any is malformed (the caller then parses each alone, for its own reason).

    Parsing a batch code by code (~3 us each) cost more than its index search. The exact
    length refuses hex with whitespace inside, which ``fromhex`` would skip.
    """
    cleaned = [text.strip().lower() for text in texts]
    if any(len(text) != 2 * nbytes for text in cleaned):
        return None
    try:
        raw = bytes.fromhex("".join(cleaned))
    except ValueError:
        return None
    if len(raw) != nbytes * len(texts):
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), nbytes)


@dataclass(frozen=True, slots=True)
class Hash:
    """A hash value: its signal type, its bits (big-endian bytes), its quality and structure if any."""

    signal: str
    code: bytes
    quality: int | None = field(default=None, compare=False)
    #: PDQ: the gradient energy uncapped (quality is it capped at 100), which the matching
    #: policy bands thresholds by (docs/matching.md).
    structure: int | None = field(default=None, compare=False)

    @property
    def hex(self) -> str:
        return self.code.hex()

    @property
    def bits(self) -> int:
        return len(self.code) * 8

    def to_array(self) -> np.ndarray:
        """The code as a (nbytes,) uint8 array, the layout the index stores."""
        return np.frombuffer(self.code, dtype=np.uint8).copy()

    def __str__(self) -> str:
        return self.hex

    def __sub__(self, other: Hash) -> int:
        if not isinstance(other, Hash):
            return NotImplemented
        if other.signal != self.signal:
            raise ValueError(f"cannot compare a {self.signal} hash with a {other.signal} hash")
        return hamming(self.code, other.code)

    @classmethod
    def from_hex(cls, signal: str, text: str, *, bits: int, quality: int | None = None) -> Hash:
        """Parse a hex string of exactly ``bits / 4`` digits (case-insensitive, trimmed)."""
        if not isinstance(text, str):
            raise HashFormatError(f"a {signal} hash must be a hex string, not {type(text).__name__}")
        cleaned = text.strip().lower()
        if len(cleaned) != bits // 4:
            raise HashFormatError(
                f"a {signal} hash has {bits // 4} hex digits; this one has {len(cleaned)}"
            )
        try:
            code = bytes.fromhex(cleaned)
        except ValueError:
            code = b""
        if len(code) != bits // 8:  # fromhex also skips whitespace between digit pairs
            raise HashFormatError(f"a {signal} hash may only contain 0-9 and a-f")
        return cls(signal=signal, code=code, quality=quality)
