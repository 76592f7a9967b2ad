"""The edits people make to an image before re-posting it, as a seeded suite.

Each `Transform` has a family (what the results table groups by), a name that
carries its parameters, and a function ``(image, rng) -> image`` on RGB PIL
images.  Every random choice (which side to crop, a border colour, where a
caption goes, noise) comes from ``rng``, which the benchmark seeds from the
photo and the transform name, so a run is reproducible bit for bit.

Conventions for the geometric families, so that "10%" means one thing:

* crop ``c``: one side removes ``c`` of the width (or height) at one edge;
  two sides removes ``c`` of the width at one vertical edge and ``c`` of the
  height at one horizontal edge (a corner crop); centred removes ``c`` of each
  dimension, half at each edge.
* padding ``p``: the canvas grows by ``p`` of the padded dimension(s), split
  evenly between both edges; ``border`` pads both dimensions, ``letterbox``
  only the height, ``pillarbox`` only the width.  ``blurfill`` fills the
  padding with the image itself stretched to the canvas and blurred, as
  short-video apps do.
* rotation: ``fit`` rotates about the centre then crops the largest centred
  rectangle of the original aspect ratio that holds no fill; ``black`` keeps
  the size and fills the uncovered corners with black.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Fn = Callable[[Image.Image, np.random.Generator], Image.Image]


@dataclass(frozen=True)
class Transform:
    family: str
    name: str
    fn: Fn

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return self.fn(image, rng).convert("RGB")


# --- single edits -----------------------------------------------------------


def encode(im: Image.Image, fmt: str = "JPEG", **options) -> Image.Image:
    """Save ``im`` in ``fmt`` (JPEG, WEBP, PNG) and decode it again, as an upload would be."""
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def jpeg(quality: int) -> Fn:
    return lambda im, rng: encode(im, "JPEG", quality=quality)


def scale(factor: float) -> Fn:
    def f(im, rng):
        w, h = im.size
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return im.resize(size, Image.Resampling.BILINEAR if factor < 1 else Image.Resampling.BICUBIC)

    return f


def stretch(fx: float, fy: float) -> Fn:
    def f(im, rng):
        w, h = im.size
        return im.resize((round(w * fx), round(h * fy)), Image.Resampling.BICUBIC)

    return f


def crop_one_side(c: float) -> Fn:
    def f(im, rng):
        w, h = im.size
        side = int(rng.integers(4))
        dx, dy = round(w * c), round(h * c)
        box = [(dx, 0, w, h), (0, 0, w - dx, h), (0, dy, w, h), (0, 0, w, h - dy)][side]
        return im.crop(box)

    return f


def crop_two_sides(c: float) -> Fn:
    def f(im, rng):
        w, h = im.size
        dx, dy = round(w * c), round(h * c)
        left, top = bool(rng.integers(2)), bool(rng.integers(2))
        box = (dx if left else 0, dy if top else 0, w if left else w - dx, h if top else h - dy)
        return im.crop(box)

    return f


def crop_centre(c: float) -> Fn:
    def f(im, rng):
        w, h = im.size
        dx, dy = round(w * c / 2), round(h * c / 2)
        return im.crop((dx, dy, w - dx, h - dy))

    return f


def _colour(kind: str, rng) -> tuple[int, int, int]:
    if kind == "black":
        return (0, 0, 0)
    if kind == "white":
        return (255, 255, 255)
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def pad(p: float, colour: str = "black", axes: str = "xy") -> Fn:
    def f(im, rng):
        w, h = im.size
        W = round(w * (1 + p)) if "x" in axes else w
        H = round(h * (1 + p)) if "y" in axes else h
        if colour == "blur":
            canvas = im.resize((W, H), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(16))
        else:
            canvas = Image.new("RGB", (W, H), _colour(colour, rng))
        canvas.paste(im, ((W - w) // 2, (H - h) // 2))
        return canvas

    return f


def caption_bar(p: float) -> Fn:
    """A meme-style white bar with black text above the image."""

    def f(im, rng):
        w, h = im.size
        bar = round(h * p)
        canvas = Image.new("RGB", (w, h + bar), (255, 255, 255))
        canvas.paste(im, (0, bar))
        _draw_text(canvas, (w // 20, bar // 4), w, bar // 2, (0, 0, 0), rng)
        return canvas

    return f


_WORDS = "omg look who it is lol everyone has seen this now send it to the group".split()


def _draw_text(im, xy, w, size, fill, rng, stroke=0):
    text = " ".join(rng.choice(_WORDS, size=4))
    font = ImageFont.load_default(size=max(8, size))
    draw = ImageDraw.Draw(im)
    draw.text(xy, text, font=font, fill=fill, stroke_width=stroke, stroke_fill=(0, 0, 0))


def text_overlay(size: float) -> Fn:
    def f(im, rng):
        im = im.copy()
        w, h = im.size
        px = round(h * size)
        y = int(rng.integers(0, max(1, h - 2 * px)))
        _draw_text(im, (w // 20, y), w, px, (255, 255, 255), rng, stroke=max(1, px // 12))
        return im

    return f


def logo(size: float) -> Fn:
    """An opaque coloured badge with a letter in a random corner."""

    def f(im, rng):
        im = im.copy()
        w, h = im.size
        s = round(min(w, h) * size)
        corner = int(rng.integers(4))
        x = 8 if corner in (0, 2) else w - s - 8
        y = 8 if corner in (0, 1) else h - s - 8
        draw = ImageDraw.Draw(im)
        draw.rounded_rectangle((x, y, x + s, y + s), radius=s // 5, fill=_colour("rand", rng))
        draw.text((x + s // 4, y + s // 8), "N", font=ImageFont.load_default(size=int(s * 0.7)), fill=(255, 255, 255))
        return im

    return f


def rotate(deg: float, fit: bool) -> Fn:
    """Rotate by ``deg`` degrees, clockwise or counter-clockwise as ``rng`` says."""

    def f(im, rng):
        return rotate_image(im, deg if rng.integers(2) else -deg, fit)

    return f


def rotate_image(im: Image.Image, angle: float, fit: bool, fill=(0, 0, 0)) -> Image.Image:
    """Rotate counter-clockwise in a frame of the same size; ``fit`` crops away the fill.

    ``fit`` keeps the largest centred rectangle of the original aspect ratio
    that the rotation leaves free of ``fill``.
    """
    w, h = im.size
    out = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=fill)
    if not fit:
        return out
    t = math.radians(abs(angle))
    s = 1 / (math.cos(t) + max(w / h, h / w) * math.sin(t))
    cw, ch = math.floor(w * s), math.floor(h * s)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return out.crop((x0, y0, x0 + cw, y0 + ch))


def quarter(turns: int) -> Fn:
    op = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}[turns]
    return lambda im, rng: im.transpose(op)


def mirror(axis: str) -> Fn:
    op = Image.Transpose.FLIP_LEFT_RIGHT if axis == "x" else Image.Transpose.FLIP_TOP_BOTTOM
    return lambda im, rng: im.transpose(op)


def enhance(kind: str, factor: float) -> Fn:
    cls = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast, "saturation": ImageEnhance.Color}[kind]
    return lambda im, rng: cls(im).enhance(factor)


def gamma(g: float) -> Fn:
    lut = [round(255 * (i / 255) ** g) for i in range(256)] * 3
    return lambda im, rng: im.point(lut)


def greyscale() -> Fn:
    return lambda im, rng: ImageOps.grayscale(im).convert("RGB")


def blur(radius: float) -> Fn:
    return lambda im, rng: im.filter(ImageFilter.GaussianBlur(radius))


def sharpen() -> Fn:
    return lambda im, rng: im.filter(ImageFilter.UnsharpMask(radius=2, percent=200, threshold=2))


def noise(sigma: float) -> Fn:
    def f(im, rng):
        a = np.asarray(im, dtype=np.float32)
        a = a + rng.normal(0, sigma, size=a.shape)
        return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))

    return f


def chain(*fns: Fn) -> Fn:
    def f(im, rng):
        for fn in fns:
            im = fn(im, rng)
        return im

    return f


# --- the suite ----------------------------------------------------------------

# Families whose targets differ (see docs/matching.md): photometric edits and
# recompression, dihedral edits, and the geometric ones split by strength.
PHOTOMETRIC = {"jpeg", "scale", "photometric", "blur_sharpen_noise"}


def suite() -> list[Transform]:
    t: list[Transform] = []
    add = lambda fam, name, fn: t.append(Transform(fam, name, fn))  # noqa: E731
    for q in (20, 30, 50, 75, 95):
        add("jpeg", f"jpeg_q{q}", jpeg(q))
    for f in (0.25, 0.35, 0.5):
        add("scale", f"downscale_{round(f * 100)}", scale(f))
    for f in (1.5, 2.0):
        add("scale", f"upscale_{round(f * 100)}", scale(f))
    add("photometric", "brightness_0.6", enhance("brightness", 0.6))
    add("photometric", "brightness_1.4", enhance("brightness", 1.4))
    add("photometric", "contrast_0.6", enhance("contrast", 0.6))
    add("photometric", "contrast_1.5", enhance("contrast", 1.5))
    add("photometric", "gamma_0.5", gamma(0.5))
    add("photometric", "gamma_2.0", gamma(2.0))
    add("photometric", "saturation_0.3", enhance("saturation", 0.3))
    add("photometric", "saturation_2.0", enhance("saturation", 2.0))
    add("photometric", "greyscale", greyscale())
    add("blur_sharpen_noise", "blur_r1", blur(1))
    add("blur_sharpen_noise", "blur_r3", blur(3))
    add("blur_sharpen_noise", "sharpen", sharpen())
    add("blur_sharpen_noise", "noise_s10", noise(10))
    add("blur_sharpen_noise", "noise_s25", noise(25))
    add("dihedral", "mirror_x", mirror("x"))
    add("dihedral", "mirror_y", mirror("y"))
    for k in (1, 2, 3):
        add("dihedral", f"rot_{90 * k}", quarter(k))
    for c in (0.02, 0.05, 0.10):
        add("crop<=10", f"crop_one_{round(c * 100)}", crop_one_side(c))
        add("crop<=10", f"crop_two_{round(c * 100)}", crop_two_sides(c))
        add("crop<=10", f"crop_centre_{round(c * 100)}", crop_centre(c))
    for c in (0.15, 0.25):
        add("crop>10", f"crop_one_{round(c * 100)}", crop_one_side(c))
        add("crop>10", f"crop_two_{round(c * 100)}", crop_two_sides(c))
        add("crop>10", f"crop_centre_{round(c * 100)}", crop_centre(c))
    for p in (0.05, 0.10, 0.25):
        add("border<=25", f"border_black_{round(p * 100)}", pad(p, "black"))
    add("border<=25", "border_white_10", pad(0.10, "white"))
    add("border<=25", "border_colour_25", pad(0.25, "rand"))
    for p in (0.10, 0.25):
        add("border<=25", f"blurfill_{round(p * 100)}", pad(p, "blur"))
        add("border<=25", f"letterbox_{round(p * 100)}", pad(p, "black", "y"))
        add("border<=25", f"pillarbox_{round(p * 100)}", pad(p, "white", "x"))
    add("border<=25", "caption_bar_20", caption_bar(0.20))
    add("border>25", "border_black_40", pad(0.40, "black"))
    add("border>25", "blurfill_40", pad(0.40, "blur"))
    add("border>25", "letterbox_40", pad(0.40, "black", "y"))
    add("border>25", "pillarbox_40", pad(0.40, "rand", "x"))
    for d in (1, 2, 3, 5):
        add("rotate<=5", f"rotate_{d}_fit", rotate(d, True))
    for d in (2, 5):
        add("rotate<=5", f"rotate_{d}_black", rotate(d, False))
    for d in (7, 10):
        add("rotate>5", f"rotate_{d}_fit", rotate(d, True))
        add("rotate>5", f"rotate_{d}_black", rotate(d, False))
    add("overlay", "text_small", text_overlay(0.06))
    add("overlay", "text_large", text_overlay(0.12))
    add("overlay", "logo_10", logo(0.10))
    add("overlay", "logo_20", logo(0.20))
    add("stretch", "stretch_x_0.8", stretch(0.8, 1.0))
    add("stretch", "stretch_y_1.25", stretch(1.0, 1.25))
    add("combo", "crop5_jpeg50", chain(crop_one_side(0.05), jpeg(50)))
    add("combo", "mirror_crop5", chain(mirror("x"), crop_two_sides(0.05)))
    add("combo", "screenshot", chain(scale(0.5), pad(0.25, "black", "y"), jpeg(75)))
    add("combo", "blurfill25_text", chain(pad(0.25, "blur"), text_overlay(0.06)))
    add("combo", "rot3_crop5_bright", chain(rotate(3, True), crop_centre(0.05), enhance("brightness", 1.3)))
    add("combo", "caption_jpeg30", chain(caption_bar(0.2), jpeg(30)))
    add("combo", "border10_mirror_grey", chain(pad(0.10, "white"), mirror("x"), greyscale()))
    add("combo", "crop10_sat_jpeg", chain(crop_centre(0.10), enhance("saturation", 1.6), jpeg(60)))
    add("combo", "down35_sharpen_noise", chain(scale(0.35), sharpen(), noise(6)))
    return t
