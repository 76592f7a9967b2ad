"""imagehash's 64-bit hashes as secondary signal types.

Their thresholds are conventional operating points for 64-bit hashes (about
the same fraction of bits as PDQ's 31 of 256 for pHash); the robustness
benchmark measures them against PDQ on the same edits.
"""

from __future__ import annotations

from collections.abc import Callable

import imagehash
import numpy as np
from PIL import Image

from ..hash_value import Hash
from .base import SignalType, register


def _wrap(name: str, algorithm: Callable[[Image.Image], imagehash.ImageHash]) -> Callable[[Image.Image], Hash]:
    def compute(image: Image.Image) -> Hash:
        bits = np.asarray(algorithm(image).hash, dtype=bool).reshape(-1)
        return Hash(name, np.packbits(bits).tobytes())

    compute.__name__ = f"{name}_from_image"
    return compute


PHASH = register(SignalType("phash", 64, 8, "image", "imagehash pHash (DCT), 64-bit", _wrap("phash", imagehash.phash)))
DHASH = register(SignalType("dhash", 64, 8, "image", "imagehash dHash (gradients), 64-bit", _wrap("dhash", imagehash.dhash)))
WHASH = register(SignalType("whash", 64, 8, "image", "imagehash wHash (Haar wavelet), 64-bit", _wrap("whash", imagehash.whash)))
AHASH = register(SignalType("ahash", 64, 6, "image", "imagehash aHash (mean), 64-bit", _wrap("ahash", imagehash.average_hash)))
