"""PDQ, Meta's 256-bit perceptual hash, equal to the reference and fast.

Every hotline and platform in this field exchanges PDQ hashes, so a hash that
differs from Meta's reference silently lowers recall for every partner. This
module reproduces the reference algorithm (ThreatExchange ``pdqhashing.cpp``,
as bound by the ``pdqhash`` package) step for step:

1. luma ``Y = 0.299 R + 0.587 G + 0.114 B``;
2. two passes of Jarosz box filters along rows and columns, window
   ``(n + 127) // 128`` per axis, with the reference's shrinking windows at the
   edges;
3. decimation to 64x64 by sampling at ``int((i + 0.5) * n / 64)``;
4. quality from the 64x64 gradients (and, uncapped, the *structure* the matching
   policy bands pairs by); a 16x16 DCT; one bit per coefficient
   above the (lower) median.

Steps 1-3 are linear and separable, so they collapse into two small matrices
``L`` (64 x H) and ``R`` (64 x W): the 64x64 buffer is ``L @ Y @ R.T``. Each
row of ``L`` only touches the ~2*(window) input rows around its sample point,
so we gather those rows (a few per output) and weight them, instead of running
four full-resolution passes of running sums as the reference does. That is
what makes this several times faster than the C++ reference on large images.

The reference accumulates its running sums in float32; we compute the same
linear map in float64. Where a coefficient sits within float32 rounding noise
of the median, one bit can differ: the conformance tests bound how often.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
#: Hamming distance at or below which two PDQ hashes are the same picture
#: (Meta's recommended operating point).
DEFAULT_THRESHOLD = 31
#: The largest structure (uncapped gradient energy) a 64x64 buffer can have: 2 * 63 * 64 * 100 // 90.
STRUCTURE_MAX = 8960
#: Below this quality a hash carries too little structure to match safely.
MIN_QUALITY = 50
#: The reference refuses to hash images thinner than this: all-zero hash, quality 0.
MIN_HASHABLE_DIM = 5

_LUMA = np.array([0.299, 0.587, 0.114])
_DOWNSAMPLED = 64
_DCT_SIZE = 16
#: Upper bound on the temporary float copy made while downsampling.
_WORK_BUDGET_BYTES = 16 << 20

#: Order of the dihedral variants, as in the reference (and pdqhash).
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)


def jarosz_window(length: int) -> int:
    """Full box-filter window the reference uses for an axis of ``length`` pixels."""
    return (length + 2 * _DOWNSAMPLED - 1) // (2 * _DOWNSAMPLED)


def _box_bounds(length: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Input span [lo, hi) averaged into each output of one reference box pass.

    The reference's four phases (grow, full, slide, shrink) amount to output
    ``o`` averaging inputs ``o - (window - half)`` .. ``o + half - 1``, clipped
    to the axis, with ``half = (window + 2) // 2``.
    """
    half = (window + 2) // 2
    out = np.arange(length)
    lo = np.maximum(out - (window - half), 0)
    hi = np.minimum(out + half, length)
    return lo, hi


@dataclass(frozen=True)
class _AxisOperator:
    """The blur-and-decimate map of one axis, stored banded.

    ``index[k, s]`` is the s-th input position contributing to output ``k`` and
    ``weight[k, s]`` its weight (zero-padded to a common band width).
    """

    index: np.ndarray  # (64, band) int64
    weight: np.ndarray  # (64, band) float64
    weight32: np.ndarray  # the same, float32, for the full-resolution product


@lru_cache(maxsize=256)
def _axis_operator(length: int) -> _AxisOperator:
    """Exact weights of two box passes followed by decimation along one axis.

    Built with a difference array: for each sampled output, its first-pass
    window's members each spread their weight over their own window.
    """
    if length < 1:
        raise ValueError("an image axis must have at least one pixel")
    window = jarosz_window(length)
    lo, hi = _box_bounds(length, window)
    count = (hi - lo).astype(np.float64)
    samples = ((np.arange(_DOWNSAMPLED) + 0.5) * length / _DOWNSAMPLED).astype(np.int64)

    rows = []
    for s in samples:
        # Second pass: output s averages first-pass outputs m in [lo[s], hi[s]).
        m = np.arange(lo[s], hi[s])
        w_m = 1.0 / count[s] / count[m]
        # First pass: first-pass output m averages inputs [lo[m], hi[m]).
        diff = np.zeros(length + 1)
        np.add.at(diff, lo[m], w_m)
        np.add.at(diff, hi[m], -w_m)
        rows.append(np.cumsum(diff[:-1]))
    dense = np.stack(rows)

    starts = np.array([lo[lo[s]] for s in samples])
    ends = np.array([hi[hi[s] - 1] for s in samples])
    band = int((ends - starts).max())
    index = starts[:, None] + np.arange(band)[None, :]
    valid = index < ends[:, None]
    index = np.where(valid, index, starts[:, None])
    weight = np.where(valid, np.take_along_axis(dense, np.minimum(index, length - 1), 1), 0.0)
    return _AxisOperator(index=index, weight=weight, weight32=weight.astype(np.float32))


def _downsample(rgb: np.ndarray) -> np.ndarray:
    """The reference's 64x64 luma buffer: luma, Jarosz-blur, decimate, in one go."""
    height, width = rgb.shape[:2]
    rows = _axis_operator(height)
    # Rows first: gather the few input rows each output row needs (uint8, cheap),
    # then weight them. (64, band, W*3) -> (64, W*3).
    flat = rgb.reshape(height, width * 3)
    reduced = np.empty((_DOWNSAMPLED, width * 3), dtype=np.float32)
    band = rows.index.shape[1]
    # float32 here (a BLAS batched product) costs a third of float64; its rounding
    # is of the same size as the reference's own float32 running sums. Work in
    # slices of output rows so the float copy stays small on huge photos.
    step = max(1, min(_DOWNSAMPLED, _WORK_BUDGET_BYTES // (band * width * 3 * 4)))
    for start in range(0, _DOWNSAMPLED, step):
        part = slice(start, start + step)
        picked = np.take(flat, rows.index[part].ravel(), axis=0)  # np.take: faster than fancy indexing
        gathered = picked.reshape(-1, band, width * 3).astype(np.float32)  # (step, band, 3W)
        reduced[part] = np.matmul(rows.weight32[part, None, :], gathered)[:, 0, :]
    # Columns, with the luma weights folded in: each output column reads its band
    # of interleaved R, G, B values. (64, 3W) -> (64, 64), in float64.
    index3, weight3 = _colour_operator(width)
    picked = np.take(reduced, index3.ravel(), axis=1).reshape(_DOWNSAMPLED, _DOWNSAMPLED, -1)
    return np.einsum("rkj,kj->rk", picked.astype(np.float64), weight3)


@lru_cache(maxsize=256)
def _colour_operator(width: int) -> tuple[np.ndarray, np.ndarray]:
    """The column operator over interleaved RGB, luma coefficients included."""
    cols = _axis_operator(width)
    index3 = (cols.index[:, :, None] * 3 + np.arange(3)).reshape(_DOWNSAMPLED, -1)
    weight3 = (cols.weight[:, :, None] * _LUMA).reshape(_DOWNSAMPLED, -1)
    return index3, weight3


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    i = np.arange(1, _DCT_SIZE + 1)[:, None]
    j = np.arange(_DOWNSAMPLED)[None, :]
    scale = np.sqrt(2.0 / _DOWNSAMPLED)
    return scale * np.cos((np.pi / 2 / _DOWNSAMPLED) * i * (2 * j + 1))


def _structure(buffer64: np.ndarray) -> int:
    """Gradient energy of the 64x64 buffer, with the reference's float32 truncations, uncapped.

    The reference's quality is this capped at 100, and nearly every photo
    reaches the cap; uncapped, it tells a busy photo (several hundred) from a
    dark, flat or one-object-on-black one (below ~100), which is what decides
    how close two *different* pictures' hashes come (docs/matching.md).
    """
    b = buffer64.astype(np.float32)
    vertical = ((b[:-1, :] - b[1:, :]) * np.float32(100)) / np.float32(255)
    horizontal = ((b[:, :-1] - b[:, 1:]) * np.float32(100)) / np.float32(255)
    total = int(np.abs(np.trunc(vertical)).sum() + np.abs(np.trunc(horizontal)).sum())
    return total // 90


def quality_of(structure: int) -> int:
    """PDQ's quality (0-100) from the uncapped structure value."""
    return min(structure, 100)


def structure_agrees(structure: int | None, quality: int | None) -> bool:
    """Whether a structure someone sends could be this hash's: PDQ can make it, and the
    quality (when given) is it capped at 100. No structure always agrees."""
    if structure is None:
        return True
    return 0 <= structure <= STRUCTURE_MAX and (quality is None or quality_of(structure) == quality)


def _bits_from_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """Packed 32-byte hash: bit k (k = 16*i + j) set where coefficient > median.

    The reference's Torben median of 256 values is the lower median (the 128th
    smallest). Bit 255 is the most significant bit of the first byte, so
    ``bytes(code).hex()`` is the conventional 64-hex PDQ string.
    """
    flat = coeffs.reshape(-1, HASH_BITS)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    bits = (flat > median)[:, ::-1]
    return np.packbits(bits, axis=1)


def _dihedral_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """The 8 dihedral variants of a 16x16 DCT block, without re-hashing pixels.

    Mirroring an axis negates the odd-frequency coefficients of that axis (our
    DCT rows start at frequency 1, so index 0 is odd); a transpose swaps axes.
    """
    sign = np.where(np.arange(_DCT_SIZE) % 2 == 0, -1.0, 1.0)
    mirror_rows = coeffs * sign[:, None]  # top <-> bottom
    mirror_cols = coeffs * sign[None, :]  # left <-> right
    both = mirror_rows * sign[None, :]
    # Named and ordered as the reference names them ("flipx" mirrors across
    # the x axis, i.e. top to bottom); checked against pdqhash.compute_dihedral.
    return np.stack(
        [
            coeffs,  # original
            mirror_cols.T,  # rotate 90
            both,  # rotate 180
            mirror_rows.T,  # rotate 270
            mirror_rows,  # flip x
            mirror_cols,  # flip y
            coeffs.T,  # flip +1 (transpose)
            both.T,  # flip -1 (anti-transpose)
        ]
    )


def _coefficients(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The 16x16 DCT block and the structure (uncapped quality) of decoded pixels."""
    rgb = _as_rgb_array(rgb)
    if min(rgb.shape[:2]) < MIN_HASHABLE_DIM:
        # As the reference: no hash (all zeros: no coefficient above the median) and
        # quality 0, which every caller must treat as unusable.
        return np.zeros((_DCT_SIZE, _DCT_SIZE)), 0
    buffer64 = _downsample(rgb)
    structure = _structure(buffer64)
    dct = _dct_matrix()
    coeffs = dct @ buffer64 @ dct.T
    return coeffs, structure


def luma(rgb: np.ndarray) -> np.ndarray:
    """The reference's luma plane (float32) of decoded pixels, for callers that sample it themselves."""
    return (_as_rgb_array(rgb).astype(np.float32) @ _LUMA.astype(np.float32)).astype(np.float32)


def hash_buffer64(buffer64: np.ndarray, with_structure: bool = True) -> tuple[np.ndarray, int]:
    """PDQ's last steps (DCT, bits above the median, structure) on a 64x64 luma buffer.

    For :mod:`matcher.registration`, which samples the buffer itself along any
    quadrilateral of an upload: the steps after the reference's blur-and-decimate
    are the same, so its codes compare with every stored PDQ code. Without
    ``with_structure`` the structure is returned as -1 (a search needs only codes).
    """
    buffer64 = np.asarray(buffer64, dtype=np.float64)
    if buffer64.shape != (_DOWNSAMPLED, _DOWNSAMPLED):
        raise ValueError("a PDQ buffer is 64x64")
    dct = _dct_matrix()
    code = _bits_from_coefficients(dct @ buffer64 @ dct.T)[0]
    return code, _structure(buffer64) if with_structure else -1


def _as_rgb_array(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise TypeError("PDQ hashes an (H, W, 3) uint8 RGB array; use matcher.loading to decode files")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError("cannot hash an empty image")
    return np.ascontiguousarray(rgb)


def hash_rgb(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ of decoded pixels: a (32,) uint8 code (MSB-first) and the quality 0-100."""
    code, structure = hash_rgb_structure(rgb)
    return code, quality_of(structure)


def hash_rgb_dihedral(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8 dihedral PDQ codes (8, 32) of decoded pixels, in :data:`DIHEDRAL_NAMES` order."""
    codes, structure = hash_rgb_dihedral_structure(rgb)
    return codes, quality_of(structure)


def hash_rgb_structure(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """As :func:`hash_rgb`, with the uncapped structure value instead of the quality."""
    coeffs, structure = _coefficients(rgb)
    return _bits_from_coefficients(coeffs)[0], structure


def hash_rgb_dihedral_structure(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """As :func:`hash_rgb_dihedral`, with the uncapped structure value instead of the quality."""
    coeffs, structure = _coefficients(rgb)
    return _bits_from_coefficients(_dihedral_coefficients(coeffs)), structure
