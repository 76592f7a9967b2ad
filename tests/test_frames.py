"""The photo inside a frame: story re-shares, screenshots and caption bars are found and matched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from matcher import frames, groups
from matcher.groups import DEFAULT_STRATEGY as S
from tests.test_groups import synthetic


def _photo(seed: int = 11, w: int = 336, h: int = 256) -> Image.Image:
    """A photo-like picture: smooth noise with shapes, no straight full-length lines."""
    rng = np.random.default_rng(seed)
    noise = Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6))
    a = np.asarray(noise).astype(np.float64)
    a = (a - a.mean()) * (90 / max(a.std(), 1e-9)) + 128  # blurring flattened it: stretch the contrast back
    base = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(base)
    for _ in range(6):
        x, y = rng.integers(0, w - 30), rng.integers(0, h - 30)
        r = int(rng.integers(10, 40))
        d.ellipse((int(x), int(y), int(x) + r, int(y) + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    # The blur's edge handling leaves a faint line a few pixels in from each side: cut it off.
    return base.filter(ImageFilter.GaussianBlur(1)).crop((8, 8, w - 8, h - 8))


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default()


def _story(photo: Image.Image, top: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 9:16 story: the photo at 80% of the width over a blurred, stretched copy of itself."""
    W, H = 450, 800
    canvas = photo.resize((W, H)).filter(ImageFilter.GaussianBlur(20))
    iw = int(W * 0.8)
    ih = iw * photo.height // photo.width
    x = (W - iw) // 2
    canvas.paste(photo.resize((iw, ih), Image.Resampling.LANCZOS), (x, top))
    ImageDraw.Draw(canvas).text((x, top - 40), "@someone", fill=(255, 255, 255), font=_font(24))
    return canvas, (x, top, x + iw, top + ih)


def _screenshot(photo: Image.Image, dark: bool) -> Image.Image:
    W, H = 400, 860
    bg, fg = ((18, 18, 18), (230, 230, 230)) if dark else ((255, 255, 255), (20, 20, 20))
    c = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(c)
    d.text((12, 6), "12:41", fill=fg, font=_font(16))
    d.ellipse((12, 40, 52, 80), fill=(200, 120, 60))
    d.text((62, 50), "some.account", fill=fg, font=_font(18))
    ph = W * photo.height // photo.width
    c.paste(photo.resize((W, ph), Image.Resampling.LANCZOS), (0, 96))
    for k in range(3):
        d.ellipse((12 + 40 * k, 106 + ph, 42 + 40 * k, 136 + ph), outline=fg, width=3)
    d.text((12, 146 + ph), "liked by many people", fill=fg, font=_font(16))
    for k in range(5):
        d.rectangle((20 + 80 * k, H - 50, 50 + 80 * k, H - 20), outline=fg, width=3)
    return c


def _captioned(photo: Image.Image, bar: int) -> Image.Image:
    c = Image.new("RGB", (photo.width, photo.height + bar), (255, 255, 255))
    c.paste(photo, (0, bar))
    d = ImageDraw.Draw(c)
    d.text((8, 6), "WHEN YOU SEE IT", fill=(0, 0, 0), font=_font(bar // 3))
    d.text((8, 6 + bar // 2), "nobody asked", fill=(0, 0, 0), font=_font(bar // 3))
    return c


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return _photo()


@pytest.fixture(scope="module")
def bank(photo):
    return S.bank_group(np.asarray(photo))


def _matches(edited: Image.Image, bank) -> groups.GroupMatch | None:
    return groups.match_group(S.query_group(np.asarray(edited.convert("RGB"))), bank, S)


@pytest.mark.parametrize("top", [120, 300, 420])
def test_story_inset_is_found_to_a_few_pixels(photo, top):
    story, (x0, y0, x1, y1) = _story(photo, top)
    boxes = frames.content_boxes(np.asarray(story))
    assert boxes, "no box found in a story frame"
    bx0, by0, bx1, by1 = boxes[0][0]
    assert max(abs(bx0 - x0), abs(by0 - y0), abs(bx1 - x1), abs(by1 - y1)) <= 3


@pytest.mark.parametrize("top", [120, 300, 420])
def test_story_reshare_matches_and_its_mirror_too(photo, bank, top):
    story, _ = _story(photo, top)
    m = _matches(story, bank)
    assert m is not None and m.query_variant.startswith("box")
    mirrored = _matches(story.transpose(Image.Transpose.FLIP_LEFT_RIGHT), bank)
    assert mirrored is not None and mirrored.query_variant.endswith("/flipy")


@pytest.mark.parametrize("dark", [False, True])
def test_phone_screenshot_matches(photo, bank, dark):
    assert _matches(_screenshot(photo, dark), bank) is not None


def test_tall_caption_bar_with_big_text_matches(photo, bank):
    # Text this big stops the border trimming (most lines of the bar cross letters).
    assert _matches(_captioned(photo, 110), bank) is not None


def test_stickers_on_one_side_match_through_the_two_thirds_crops(photo, bank):
    stuck = photo.copy()
    d = ImageDraw.Draw(stuck)
    w, h = stuck.size
    d.ellipse((10, 20, 10 + w // 4, 20 + w // 4), fill=(250, 40, 160), outline=(255, 255, 255), width=3)
    d.rounded_rectangle((20, h - 90, 20 + w // 4, h - 20), radius=12, fill=(30, 200, 250), outline=(255, 255, 255))
    m = _matches(stuck, bank)
    assert m is not None


def test_an_unframed_photo_has_no_box(photo):
    assert frames.content_boxes(np.asarray(photo)) == []


def test_framed_copy_of_another_photo_does_not_match(bank):
    story, _ = _story(_photo(seed=99), 200)
    assert _matches(story, bank) is None
    assert _matches(Image.fromarray(synthetic(3)), bank) is None


def test_tiny_or_flat_uploads_give_no_box():
    assert frames.content_boxes(np.zeros((10, 10, 3), np.uint8)) == []
    assert frames.content_boxes(np.full((300, 200, 3), 77, np.uint8)) == []
