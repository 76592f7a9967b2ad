"""Registration: the second look finds copies the lookup misses, and only those."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pathlib import Path

from matcher import groups, loading, pdq, registration
from matcher.groups import DEFAULT_STRATEGY as S
from matcher.registration import Sampler, homography, register, register_near, variant_corners

from .test_groups import synthetic


FIXTURES = Path(__file__).parent / "fixtures" / "pdq"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A natural photo (Meta's PDQ test bridge): synthetic shapes on a gradient have too few
    of the smooth, large structures that registration follows."""
    return loading.load_rgb_array(FIXTURES / "bridge-1-original.jpg")


@pytest.fixture(scope="module")
def bank(photo):
    return S.bank_group(photo)


def crop_mirror(rgb: np.ndarray, l: float, r: float, t: float, b: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[round(t * h) : h - round(b * h), round(l * w) : w - round(r * w)][:, ::-1])


def keystone(rgb: np.ndarray, k: float) -> np.ndarray:
    """The top edge pulled in by ``k`` of the width on each side: a print photographed from below."""
    h, w = rgb.shape[:2]
    dst = np.array([[k * w, 0], [w - k * w, 0], [w, h], [0, h]], dtype=np.float64)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    hm = homography(dst, src)  # output point -> input point, as PIL wants it
    coeffs = (hm / hm[2, 2]).ravel()[:8]
    return np.asarray(Image.fromarray(rgb).transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC))


def test_buffer_hash_is_pdq_on_pdq_s_own_buffer(photo):
    code, structure = pdq.hash_rgb_structure(photo)
    again, structure_again = pdq.hash_buffer64(pdq._downsample(photo))
    assert bytes(again) == bytes(code) and structure_again == structure
    with pytest.raises(ValueError):
        pdq.hash_buffer64(np.zeros((32, 32)))


def test_homography_maps_the_four_points():
    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    dst = np.array([[10, 5], [90, 12], [100, 80], [3, 70]], dtype=np.float64)
    assert np.allclose(registration.apply(homography(src, dst), src), dst)


@pytest.mark.parametrize("variant", [groups.centre(0.9), groups.crop_side("l", 0.33), groups.centre(0.9, +4)])
def test_sampler_reproduces_the_bank_variants_within_a_few_bits(photo, variant):
    work = groups.reduce_to_working_size(photo)
    h, w = work.shape[:2]
    pixels = groups.rotate_bilinear(work, variant.angle, variant.box) if variant.angle else groups.crop(work, variant.box)
    expected, _ = pdq.hash_rgb_structure(pixels)
    got, _ = Sampler(work).hash(variant_corners(variant.box, variant.angle, w, h))
    assert registration._distance(expected, got) <= 12


@pytest.mark.parametrize(
    "edit",
    [
        lambda rgb: crop_mirror(rgb, 0.02, 0.12, 0.12, 0.03),
        lambda rgb: keystone(rgb, 0.08),
    ],
    ids=["crop-uneven-mirror", "keystone"],
)
def test_registration_finds_copies_the_lookup_misses(photo, bank, edit):
    copy = edit(photo)
    assert groups.match_group(S.query_group(copy), bank) is None  # the case registration is for
    found = register(groups.reduce_to_working_size(copy), bank)
    assert found is not None
    assert found.distance <= found.threshold <= registration.REGISTERED_BANDS[0].match


def test_registration_refuses_strangers(bank):
    strangers = [loading.load_rgb_array(FIXTURES / "rgb.jpeg")] + [
        np.asarray(Image.fromarray(synthetic(seed, size=256, shapes=60)).resize((384, 288))) for seed in (11, 12)
    ]
    for stranger in strangers:
        assert register(groups.reduce_to_working_size(stranger), bank) is None
        forced = register(groups.reduce_to_working_size(stranger), bank, gate=10**6, force=True,
                          bands=(groups.StructureBand(registration.MIN_STRUCTURE, 0, 0),))
        # The search brings a stranger no closer than far outside every registered band.
        assert forced is not None and forced.distance > 2 * registration.REGISTERED_BANDS[0].match


def test_a_crop_on_every_side_is_found_through_the_deep_centre_crops(photo, bank):
    """9-12% off every side: only the bank's centred 84% and 76% crops lie inside this copy."""
    copy = crop_mirror(photo, 0.11, 0.09, 0.10, 0.12)
    assert groups.match_group(S.query_group(copy), bank) is None
    found = register(groups.reduce_to_working_size(copy), bank)
    assert found is not None and found.bank_variant in ("centre76", "centre84")
    without = groups.HashGroup(tuple(h for h in bank.hashes if h.variant not in ("centre76", "centre84")))
    assert register(groups.reduce_to_working_size(copy), without) is None


def test_register_near_picks_the_right_picture_out_of_several(photo, bank):
    others = [S.bank_group(np.asarray(Image.fromarray(synthetic(s, size=256, shapes=60)).resize((384, 288)))) for s in (21, 22)]
    copy = crop_mirror(photo, 0.02, 0.12, 0.12, 0.03)
    found = register_near(copy, [others[0], bank, others[1]])
    assert [k for k, _ in found] == [1]
    assert register_near(copy, [others[0], bank, others[1]], skip={1}) == []
