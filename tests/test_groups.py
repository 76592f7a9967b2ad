"""Hash groups: deterministic, edited copies match their group, strangers do not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from matcher import groups
from matcher.groups import DEFAULT_STRATEGY as S


def synthetic(seed: int, size: int = 256, shapes: int = 40) -> np.ndarray:
    """A gradient with seeded shapes: as much structure as a typical photo (PDQ structure
    ~250-450; a handful of shapes on a gradient is a low-structure picture, held to PDQ's
    own full-frame rule only, see ``test_low_structure_pairs_keep_only_the_full_frame_rule``)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x * 200, y * 180, (1 - x) * 120 + 60], axis=-1)
    im = Image.fromarray(base.astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(shapes):
        x0, y0 = rng.integers(0, size - 40, 2)
        w, h = rng.integers(12, 80, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = d.ellipse if rng.integers(2) else d.rectangle
        shape((int(x0), int(y0), int(x0 + w), int(y0 + h)), fill=colour)
    return np.asarray(im)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return synthetic(1)


@pytest.fixture(scope="module")
def bank(photo):
    return S.bank_group(photo)


def test_group_is_deterministic(photo):
    a, b = S.bank_group(photo), S.bank_group(photo.copy())
    assert [h.variant for h in a] == [h.variant for h in b]
    assert np.array_equal(a.codes, b.codes)
    assert [r["pdq"] for r in a.records()] == [h.hex for h in b]


def test_group_sizes(bank, photo):
    assert 1 <= len(bank) <= len(S.bank) + 1  # the variants, and the trimmed frame
    turns = 7 if any(v.dihedral for v in S.query) else 0
    assert len(S.query_group(photo)) <= len(S.query) + turns + 1 + 2 * S.frame_boxes  # + trim, + boxes and mirrors


def _pad(rgb, top, bottom, left, right, colour=(0, 0, 0)):
    h, w = rgb.shape[:2]
    out = np.empty((h + top + bottom, w + left + right, 3), np.uint8)
    out[:] = colour
    out[top : top + h, left : left + w] = rgb
    return out


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a,
        lambda a: a[:, ::-1],  # mirror
        lambda a: np.rot90(a),  # quarter turn
        lambda a: a[:, 20:],  # 8% off the left
        lambda a: a[15:, :-15],  # a corner crop of 6%
        lambda a: a[13:-13, 13:-13],  # centred 10% crop
        lambda a: _pad(a, 32, 32, 32, 32),  # black border, 25%
        lambda a: _pad(a, 40, 40, 0, 0, (255, 255, 255)),  # white letterbox
        lambda a: _pad(a, 50, 0, 0, 0, (250, 250, 250)),  # caption bar (no text)
    ],
    ids=["same", "mirror", "rot90", "crop_left", "crop_corner", "crop_centre", "border", "letterbox", "caption"],
)
def test_edited_copy_matches_its_group(photo, bank, edit):
    query = S.query_group(np.ascontiguousarray(edit(photo)))
    m = groups.match_group(query, bank, S)
    assert m is not None and m.distance <= m.threshold


def test_rotated_copy_matches(photo, bank):
    rotated = np.asarray(Image.fromarray(photo).rotate(4, resample=Image.Resampling.BICUBIC))
    assert groups.match_group(S.query_group(groups.crop(rotated, groups.centre(0.9).box)), bank, S)


def test_unrelated_image_does_not_match(bank):
    for seed in (2, 3, 4):
        assert groups.match_group(S.query_group(synthetic(seed)), bank, S) is None


def test_match_groups_finds_the_right_image(photo):
    bank = [S.bank_group(synthetic(s)) for s in (5, 6)] + [S.bank_group(photo)]
    hits = groups.match_groups(S.query_group(np.ascontiguousarray(photo[:, ::-1])), bank, S)
    assert [k for k, _ in hits] == [2]


def test_low_quality_variants_are_dropped():
    # Flat except for a textured band on the left: the full frame has structure,
    # the crops that keep the flat part only do not.
    flat = np.full((256, 256, 3), 128, np.uint8)
    flat[:, :24] = synthetic(7)[:, :24]
    strategy = groups.Strategy(
        "t", bank=(groups.Variant("full", primary=True), groups.Variant("flat", (0.5, 0.0, 1.0, 1.0))), query=()
    )
    names = [h.variant for h in strategy.bank_group(flat)]
    assert "flat" not in names
    assert all(h.quality >= strategy.min_quality for h in strategy.bank_group(flat))


def test_trim_box_solid_borders_and_caption(photo):
    h, w = photo.shape[:2]
    assert groups.trim_box(photo) == (0, 0, w, h)
    assert groups.trim_box(_pad(photo, 10, 20, 30, 40)) == (30, 10, 30 + w, 10 + h)
    captioned = _pad(photo, 60, 0, 0, 0, (255, 255, 255))
    captioned[20:40, 10:120] = 0  # the caption's "text"
    assert groups.trim_box(captioned) == (0, 60, w, 60 + h)


def test_rotation_is_exact_for_zero_and_crops_like_the_full_frame(photo):
    assert np.array_equal(groups.rotate_bilinear(photo, 0.0), photo)
    box = groups.centre(0.9).box
    assert np.array_equal(groups.rotate_bilinear(photo, 3.0, box), groups.crop(groups.rotate_bilinear(photo, 3.0), box))


def test_reduce_for_rotation_averages_blocks():
    a = np.zeros((1030, 20, 3), np.uint8)
    a[1::2] = 255
    r = groups.reduce_to_working_size(a)
    assert r.shape == (515, 10, 3) and int(r.max()) == 128


def test_records_round_trip(bank, photo):
    back = groups.HashGroup.from_records(bank.records())
    assert np.array_equal(back.codes, bank.codes) and list(back.primary) == list(bank.primary)
    assert groups.match_group(groups.query_group(photo), back) is not None


def test_low_structure_pairs_keep_only_the_full_frame_rule():
    plain = synthetic(1, shapes=6)
    bank = S.bank_group(plain)
    assert all(h.structure is not None and h.structure < S.structure_bands[-1].floor for h in bank if h.primary)
    cropped = S.query_group(np.ascontiguousarray(plain[:, 20:]))
    m = groups.match_group(cropped, bank, S)
    assert m is None or (m.query_variant.startswith("full") and m.bank_variant.startswith("full") and m.distance <= 31)
    same = groups.match_group(S.query_group(plain), bank, S)
    assert same is not None and same.distance == 0 and same.threshold == 31
    assert S.confidence(0, bank.hashes[0].structure, 10**6) == "review"  # never "high" below the lowest band


def test_structure_bands_hold_busier_pairs_to_wider_thresholds():
    widest = max(b.match for b in S.structure_bands)
    assert S.pair_threshold(False, "crop_l7.5", 10**6, 10**6) == widest
    assert [S.pair_threshold(False, "crop_l7.5", b.floor, 10**6) for b in S.structure_bands] == [
        b.match for b in S.structure_bands
    ]
    assert S.pair_threshold(False, "crop_l7.5", 10, 10**6) == 0
    assert S.pair_threshold(True, "full", 10, 10**6) == 31  # PDQ's own rule stands
    assert S.confidence(31, 10**6, 10**6) == "high" and S.confidence(32, 10**6, 10**6) == "review"


def test_records_without_structure_are_banded_by_their_quality():
    assert groups.known_structure(77, None) == 77
    assert groups.known_structure(100, None) == 100  # "at least 100": the cautious reading
    assert groups.known_structure(100, 480) == 480


def test_a_tile_pairs_only_with_the_same_tile():
    band = S.structure_bands[0].match
    assert S.pair_threshold(False, "quad_tl", 10**6, 10**6, "quad_tl") == band
    assert S.pair_threshold(False, "quad_tl", 10**6, 10**6, "quad_br") == -1
    assert S.pair_threshold(False, "quad_tl", 10**6, 10**6, "full") == -1
    assert S.pair_threshold(False, "full", 10**6, 10**6, "quad_tl") == -1
    assert S.pair_threshold(True, "quad_tl", 10**6, 10**6) == -1  # a bare hash (variant unknown)
    assert S.pair_threshold(False, "crop_l7.5", 10**6, 10**6) == band  # other variants as before


def test_thresholds_keep_tiles_to_their_namesakes(photo, bank):
    query = S.query_group(photo)
    t = S.thresholds(query, bank)
    for i, q in enumerate(query.hashes):
        for j, b in enumerate(bank.hashes):
            if q.variant in S.tiles or b.variant in S.tiles:
                assert (t[i, j] >= 0) == (q.variant == b.variant), (q.variant, b.variant)


def test_a_copy_under_stickers_matches_through_its_clean_quadrant(photo, bank):
    # Opaque discs over three quadrants (~40% of the frame): every other variant is covered.
    covered = Image.fromarray(photo).copy()
    d = ImageDraw.Draw(covered)
    for cx, cy, colour in ((64, 64, (255, 220, 0)), (192, 64, (255, 40, 120)), (64, 192, (40, 200, 255))):
        d.ellipse((cx - 58, cy - 58, cx + 58, cy + 58), fill=colour)
    query = S.query_group(np.asarray(covered))
    m = groups.match_group(query, bank, S)
    assert m is not None and m.query_variant == m.bank_variant == "quad_br"
    without = groups.Strategy(**{**S.__dict__, "bank": tuple(v for v in S.bank if not v.tile),
                                 "query": tuple(v for v in S.query if not v.tile)})
    assert groups.match_group(without.query_group(np.asarray(covered)), without.bank_group(photo), without) is None
