"""Fuzz target: ``matcher.loading`` on file bytes, with its default limits.

Every accepted format is reachable (the seeds hold a tiny JPEG, PNG, GIF, WebP, BMP, TIFF,
HEIC and AVIF); bytes may become pixels or one ``ImageError`` (docs/loading.md, "Errors"),
nothing else. The pixels come back as an (H, W, 3) uint8 array within the pixel limit.
Memory and time per input are bounded by libFuzzer (``-rss_limit_mb``, ``-timeout``).
"""

from __future__ import annotations

import numpy as np

from matcher.errors import ImageError
from matcher.loading import DEFAULT_MAX_PIXELS, load_rgb_array, read_source_bytes

from . import Finding

ALLOWED = (ImageError,)
INSTRUMENT = ("matcher", "PIL", "pillow_heif")


def one_input(data: bytes) -> None:
    try:
        raw = read_source_bytes(data)
        pixels = load_rgb_array(raw, apply_exif=bool(len(data) & 1))
    except ALLOWED:
        return
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or not pixels.flags.c_contiguous:
        raise Finding(f"load_rgb_array gave {pixels.dtype} {pixels.shape}")
    if not 0 < pixels.shape[0] * pixels.shape[1] <= DEFAULT_MAX_PIXELS:
        raise Finding(f"load_rgb_array gave {pixels.shape[:2]} pixels, outside 1..max_pixels")
