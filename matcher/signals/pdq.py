"""PDQ as a signal type: the industry's common hash, threshold 31, quality >= 50."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .. import pdq
from ..hash_value import Hash
from .base import SignalType, register


def _rgb(image: Image.Image) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def pdq_from_rgb(rgb: np.ndarray) -> Hash:
    code, structure = pdq.hash_rgb_structure(rgb)
    return Hash("pdq", bytes(code), pdq.quality_of(structure), structure)


def pdq_from_image(image: Image.Image) -> Hash:
    return pdq_from_rgb(_rgb(image))


def pdq_dihedral_from_rgb(rgb: np.ndarray) -> list[Hash]:
    """The 8 rotations and mirrors, in :data:`matcher.pdq.DIHEDRAL_NAMES` order."""
    codes, structure = pdq.hash_rgb_dihedral_structure(rgb)
    return [Hash("pdq", bytes(code), pdq.quality_of(structure), structure) for code in codes]


def pdq_dihedral_from_image(image: Image.Image) -> list[Hash]:
    return pdq_dihedral_from_rgb(_rgb(image))


PDQ = register(
    SignalType(
        name="pdq",
        bits=pdq.HASH_BITS,
        threshold=pdq.DEFAULT_THRESHOLD,
        source="image",
        description="Meta's PDQ, 256-bit perceptual hash (equal to the reference)",
        compute_image=pdq_from_image,
        compute_rgb=pdq_from_rgb,
        min_quality=pdq.MIN_QUALITY,
    )
)
