"""Edits "in the wild": the families people really use, every amount drawn at random.

The grid suite (:mod:`benchmarks.transforms`) applies fixed parameters (5% and
10% crops, 1-5 degree tilts, ...), and the group strategy's variants were
tuned between those grid points, so it cannot tell how the strategy
generalises.  Here each family is a function::

    family(image, rng, others) -> (edited image, params)

that draws every amount from ``rng`` (a ``numpy.random.Generator``) and
records what it drew in ``params``, a flat dict of numbers and strings, so the
report can bin recall by any parameter and an engineer can regenerate a miss.
``others(n)`` returns ``n`` other photos of the set (collages, and photographed
screens on a desk covered with another picture).

:func:`edit` seeds the generator from (photo name, family, draw index, seed),
so a copy is reproducible bit for bit and a new seed draws new parameters.
Every family names its *main* parameter in :data:`MAIN_PARAM`: the amount the
report splits into quartile bins to find the worst case.

Regenerate one edited copy (to look at a miss)::

    python -m benchmarks.wild_edits --show bsds500__100007.jpg story 0 --seed 0 --out x.png
"""

from __future__ import annotations

import argparse
import json
import math
import string
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

try:
    from benchmarks.transforms import encode, rotate_image
except ImportError:  # run as a script from benchmarks/
    from transforms import encode, rotate_image  # type: ignore

Others = Callable[[int], list[Image.Image]]
Family = Callable[[Image.Image, np.random.Generator, Others], tuple[Image.Image, dict]]

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def list_photos(folder: Path) -> list[Path]:
    """The images of a folder, sorted by name (the order the suites and ``--show`` agree on)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


# --- shared drawing helpers ------------------------------------------------------------

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
_WORDS = (
    "omg look who it is lol everyone has seen this now send it to the group wow no way "
    "throwback summer vibes night out guess who leaked baby dm me link in bio"
).split()


@lru_cache(maxsize=None)
def _font_files() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(regular, bold) TrueType fonts on this machine, DejaVu first; empty if none."""
    found = [p for d in _FONT_DIRS if Path(d).is_dir() for p in Path(d).rglob("*.ttf")]
    found.sort(key=lambda p: (not p.name.startswith("DejaVuSans"), p.name))
    text = [p for p in found if "emoji" not in p.name.lower()]
    bold = tuple(str(p) for p in text if "bold" in p.name.lower())
    regular = tuple(str(p) for p in text if "bold" not in p.name.lower())
    return regular or bold, bold or regular


@lru_cache(maxsize=None)
def _emoji_font() -> str | None:
    """A colour emoji font (CBDT, fixed size 109), if one is installed."""
    for d in _FONT_DIRS:
        if Path(d).is_dir():
            for p in Path(d).rglob("*.ttf"):
                if "emoji" in p.name.lower():
                    return str(p)
    return None


@lru_cache(maxsize=256)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    regular, bolds = _font_files()
    files = bolds if bold else regular
    size = max(6, int(size))
    if files:
        return ImageFont.truetype(files[0], size)
    return ImageFont.load_default(size=size)


def words(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(_WORDS, size=n))


def username(rng: np.random.Generator) -> str:
    letters = np.array(list(string.ascii_lowercase + "_" + string.digits))
    return "".join(rng.choice(letters, size=int(rng.integers(5, 13))))


def fit_font(draw: ImageDraw.ImageDraw, text: str, max_w: float, max_h: float, bold: bool = False):
    """The largest font (up to ``max_h`` tall) in which ``text`` fits ``max_w``."""
    size = max(6, int(max_h))
    f = font(size, bold)
    width = draw.textlength(text, font=f)
    if width > max_w:
        f = font(max(6, int(size * max_w / width)), bold)
    return f


def rand_colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``im`` scaled to cover ``size`` (aspect kept) and centre-cropped to it."""
    W, H = size
    w, h = im.size
    s = max(W / w, H / h)
    big = im.resize((max(W, math.ceil(w * s)), max(H, math.ceil(h * s))), Image.Resampling.BILINEAR)
    x, y = (big.width - W) // 2, (big.height - H) // 2
    return big.crop((x, y, x + W, y + H))


def save_as(im: Image.Image, rng: np.random.Generator, qualities: tuple[int, int], params: dict, png: float = 0.0):
    """Encode as an app would (JPEG of a random quality, PNG with probability ``png``)."""
    if rng.random() < png:
        params["format"] = "png"
        return encode(im, "PNG")
    q = int(rng.integers(qualities[0], qualities[1] + 1))
    params.update(format="jpeg", quality=q)
    return encode(im, "JPEG", quality=q)


def _u(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


# --- families ------------------------------------------------------------------------------


def story(im, rng, others):
    """A story re-share: the photo inset on a 9:16 canvas filled with its own blurred copy."""
    w, h = im.size
    W = 720 if rng.random() < 0.5 else int(np.clip(w, 360, 1080))
    H = round(W * 16 / 9)
    p: dict = {"canvas_w": W}
    p["fill"] = "cover" if rng.random() < 0.6 else "stretch"
    bg = cover(im, (W, H)) if p["fill"] == "cover" else im.resize((W, H), Image.Resampling.BILINEAR)
    p["blur"] = round(_u(rng, 6, 40) * W / 720, 2)
    bg = bg.filter(ImageFilter.GaussianBlur(p["blur"]))
    p["darken"] = round(_u(rng, 0, 0.4), 3) if rng.random() < 0.5 else 0.0
    if p["darken"]:
        bg = ImageEnhance.Brightness(bg).enhance(1 - p["darken"])
    iw = round(W * _u(rng, 0.55, 1.0))
    ih = round(iw * h / w)
    if ih > 0.85 * H:
        ih = int(0.85 * H)
        iw = round(ih * w / h)
    p["inset_share"] = round(iw / W, 4)
    p["inset_height_share"] = round(ih / H, 4)
    inset = im.resize((iw, ih), Image.Resampling.LANCZOS)
    x = (W - iw) // 2
    p["y_offset"] = round(_u(rng, -0.15, 0.15), 4)
    y = int(np.clip((H - ih) / 2 + p["y_offset"] * H, 0, H - ih))
    draw = ImageDraw.Draw(bg)
    p["frame_px"] = int(rng.integers(1, 13)) if rng.random() < 0.4 else 0
    if p["frame_px"]:
        p["frame_colour"] = "white" if rng.random() < 0.5 else "dark"
        f = p["frame_px"]
        draw.rectangle((x - f, y - f, x + iw + f - 1, y + ih + f - 1), fill=(255, 255, 255) if p["frame_colour"] == "white" else (20, 20, 20))
    p["decor"] = str(rng.choice(["none", "rounded", "shadow"], p=[0.5, 0.25, 0.25]))
    mask = None
    if p["decor"] == "rounded":
        mask = Image.new("L", (iw, ih), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, iw - 1, ih - 1), radius=round(_u(rng, 0.02, 0.08) * iw), fill=255)
    elif p["decor"] == "shadow":
        shadow = Image.new("L", (W, H), 0)
        off = round(_u(rng, 0.005, 0.02) * W)
        ImageDraw.Draw(shadow).rectangle((x + off, y + off, x + iw + off, y + ih + off), fill=160)
        shadow = shadow.filter(ImageFilter.GaussianBlur(max(2, 2 * off)))
        bg.paste(Image.new("RGB", (W, H), (0, 0, 0)), (0, 0), shadow)
    bg.paste(inset, (x, y), mask)
    p["text"] = str(rng.choice(["none", "above", "below"], p=[0.5, 0.25, 0.25]))
    if p["text"] != "none":
        th = round(_u(rng, 0.022, 0.04) * H)
        line = "@" + username(rng) + (" " + words(rng, int(rng.integers(1, 4))) if rng.random() < 0.5 else "")
        f = fit_font(draw, line, 0.9 * W, th, bold=True)
        ty = max(0, y - th - round(0.02 * H)) if p["text"] == "above" else min(H - th, y + ih + round(0.02 * H))
        ImageDraw.Draw(bg).text((round(0.05 * W), ty), line, font=f, fill=(255, 255, 255))
    return save_as(bg, rng, (60, 90), p), p


def _icon(draw, rng, box, colour):
    """A small outlined icon: a circle, a square, a heart-ish pair of circles or a triangle."""
    x0, y0, x1, y1 = box
    kind = int(rng.integers(4))
    wd = max(1, round((x1 - x0) / 10))
    if kind == 0:
        draw.ellipse(box, outline=colour, width=wd)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=(x1 - x0) // 4, outline=colour, width=wd)
    elif kind == 2:
        draw.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], outline=colour, width=wd)
    else:
        draw.rectangle((x0, (y0 + y1) / 2 - wd, x1, (y0 + y1) / 2 + wd), fill=colour)
        draw.rectangle(((x0 + x1) / 2 - wd, y0, (x0 + x1) / 2 + wd, y1), fill=colour)


def screenshot(im, rng, others):
    """A phone screenshot of a social app showing the photo between its bars."""
    w, h = im.size
    W = int(rng.integers(600, 1081))
    p: dict = {"screen_w": W, "aspect": str(rng.choice(["9:19.5", "9:16"]))}
    H = round(W * (19.5 if p["aspect"] == "9:19.5" else 16) / 9)
    p["theme"] = "light" if rng.random() < 0.5 else "dark"
    bg = (255, 255, 255) if p["theme"] == "light" else (0, 0, 0) if rng.random() < 0.5 else (int(rng.integers(16, 40)),) * 3
    fg = (20, 20, 20) if p["theme"] == "light" else (235, 235, 235)
    canvas = Image.new("RGB", (W, H), bg)
    draw = ImageDraw.Draw(canvas)
    status = round(_u(rng, 0.025, 0.05) * H)
    header = round(_u(rng, 0.05, 0.10) * H)
    bottom = round(_u(rng, 0.05, 0.10) * H)
    p.update(status_share=round(status / H, 4), header_share=round(header / H, 4), bottom_share=round(bottom / H, 4))
    clock = f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    draw.text((round(0.06 * W), status * 0.2), clock, font=font(status * 0.6, bold=True), fill=fg)
    for k in range(3):  # signal, wifi, battery
        s = status * 0.45
        x = W - round(0.06 * W) - (k + 1) * s * 1.6
        draw.rounded_rectangle((x, status * 0.3, x + s * 1.3, status * 0.3 + s), radius=2, fill=fg)
    av = header * 0.6
    draw.ellipse((0.04 * W, status + header * 0.2, 0.04 * W + av, status + header * 0.2 + av), fill=rand_colour(rng, 60, 230))
    draw.text((0.06 * W + av, status + header * 0.3), username(rng), font=font(header * 0.35, bold=True), fill=fg)
    for k in range(5):
        s = bottom * 0.4
        cx = W * (k + 0.5) / 5
        _icon(draw, rng, (cx - s / 2, H - bottom * 0.7, cx + s / 2, H - bottom * 0.7 + s), fg)
    p["photo_w_share"] = 1.0 if rng.random() < 0.5 else round(_u(rng, 0.85, 1.0), 4)
    pw = round(W * p["photo_w_share"])
    ph = round(pw * h / w)
    p["like_row"] = bool(rng.random() < 0.5)
    row = round(_u(rng, 0.06, 0.10) * H) if p["like_row"] else 0
    room = H - status - header - bottom - row
    if ph > room:
        ph, pw = room, round(room * w / h)
    top = status + header + round(_u(rng, 0, 1) * (room - ph))
    x = (W - pw) // 2
    canvas.paste(im.resize((pw, ph), Image.Resampling.LANCZOS), (x, top))
    if row:
        s = row * 0.35
        for k in range(3):
            _icon(draw, rng, (0.04 * W + k * s * 1.6, top + ph + row * 0.1, 0.04 * W + k * s * 1.6 + s, top + ph + row * 0.1 + s), fg)
        line = f"liked by {username(rng)} and {int(rng.integers(2, 9999))} others"
        draw.text((0.04 * W, top + ph + row * 0.55), line, font=font(row * 0.25), fill=fg)
    p["photo_share"] = round(pw * ph / (W * H), 4)
    return save_as(canvas, rng, (70, 95), p, png=0.3), p


def caption(im, rng, others):
    """Meme captions: a solid bar with text above/below the photo, or text drawn on it."""
    w, h = im.size
    p: dict = {"mode": "bar" if rng.random() < 0.5 else "overlay", "where": str(rng.choice(["top", "bottom", "both"]))}
    sides = ["top", "bottom"] if p["where"] == "both" else [p["where"]]
    if p["mode"] == "bar":
        kind = str(rng.choice(["white", "black", "colour"]))
        colour = {"white": (255, 255, 255), "black": (0, 0, 0)}.get(kind) or rand_colour(rng)
        ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        p["bar_colour"] = kind
        total = _u(rng, 0.08, 0.40)
        split = _u(rng, 0.3, 0.7) if len(sides) == 2 else 1.0
        bars = {"top": round(total * h * split), "bottom": round(total * h * (1 - split))} if len(sides) == 2 else {sides[0]: round(total * h)}
        top, bot = bars.get("top", 0), bars.get("bottom", 0)
        out = Image.new("RGB", (w, h + top + bot), colour)
        out.paste(im, (0, top))
        draw = ImageDraw.Draw(out)
        p["lines"] = int(rng.integers(1, 4))
        for side, bh in bars.items():
            y0 = 0 if side == "top" else top + h
            lh = bh / p["lines"]
            for k in range(p["lines"]):
                text = words(rng, int(rng.integers(2, 6)))
                f = fit_font(draw, text, 0.92 * w, lh * 0.7)
                tw = draw.textlength(text, font=f)
                draw.text(((w - tw) / 2, y0 + k * lh + lh * 0.15), text, font=f, fill=ink)
        p["caption_share"] = round((top + bot) / h, 4)
    else:
        out = im.copy()
        draw = ImageDraw.Draw(out)
        band = _u(rng, 0.08, 0.20)
        for side in sides:
            text = words(rng, int(rng.integers(2, 6))).upper()
            f = fit_font(draw, text, 0.94 * w, band * h * 0.8, bold=True)
            tw = draw.textlength(text, font=f)
            y = 0.02 * h if side == "top" else h - band * h
            draw.text(((w - tw) / 2, y), text, font=f, fill=(255, 255, 255), stroke_width=max(1, round(f.size / 14)), stroke_fill=(0, 0, 0))
        p["caption_share"] = round(band * len(sides), 4)
    return save_as(out, rng, (60, 90), p), p


def _star(cx, cy, r):
    return [(cx + (r if k % 2 == 0 else 0.45 * r) * math.sin(k * math.pi / 5), cy - (r if k % 2 == 0 else 0.45 * r) * math.cos(k * math.pi / 5)) for k in range(10)]


def _heart(cx, cy, r):
    t = np.linspace(0, 2 * np.pi, 60)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return [(cx + r * a / 17, cy - r * b / 17) for a, b in zip(x, y)]


def stickers(im, rng, others):
    """1-6 stickers (shapes, or emoji if a colour emoji font exists) covering 3-20% of the photo."""
    w, h = im.size
    n = int(rng.integers(1, 7))
    p: dict = {"count": n, "target_share": round(_u(rng, 0.03, 0.20), 4)}
    shares = rng.dirichlet(np.ones(n)) * p["target_share"]
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    covered = np.zeros((h, w), bool)
    emoji = _emoji_font()
    kinds = ["circle", "star", "heart", "badge"] + (["emoji"] * 2 if emoji else [])
    alphas = []
    for share in shares:
        kind = str(rng.choice(kinds))
        fill_factor = {"circle": math.pi / 4, "star": 0.35, "heart": 0.55, "badge": 0.9, "emoji": 0.7}[kind]
        side = int(min(0.95 * min(w, h), max(6, math.sqrt(share * w * h / fill_factor))))
        alpha = 255 if rng.random() < 0.7 else int(rng.integers(120, 230))
        alphas.append(alpha)
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        one = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        d = ImageDraw.Draw(one)
        colour = rand_colour(rng) + (alpha,)
        r = side / 2
        if kind == "circle":
            d.ellipse((0, 0, side - 1, side - 1), fill=colour)
        elif kind == "star":
            d.polygon(_star(r, r, r), fill=colour)
        elif kind == "heart":
            d.polygon(_heart(r, r * 1.05, r), fill=colour)
        elif kind == "badge":
            d.rounded_rectangle((0, side * 0.15, side - 1, side * 0.85), radius=side // 6, fill=colour, outline=(255, 255, 255, alpha), width=max(2, side // 20))
        else:
            glyph = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
            ImageDraw.Draw(glyph).text((0, 0), chr(int(rng.choice([0x1F602, 0x1F525, 0x2764, 0x1F60D, 0x1F440, 0x1F4AF]))), font=ImageFont.truetype(emoji, 109), embedded_color=True)
            one = glyph.resize((side, side), Image.Resampling.LANCZOS)
            if alpha < 255:
                one.putalpha(one.getchannel("A").point(lambda v: v * alpha // 255))
        layer.alpha_composite(one, (x, y))
        covered[y : y + side, x : x + side] |= np.asarray(one.getchannel("A")) > 0
    p["covered_share"] = round(float(covered.mean()), 4)
    p["semi_transparent"] = int(sum(a < 255 for a in alphas))
    out = Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")
    return save_as(out, rng, (70, 95), p), p


def perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> list[float]:
    """The 8 coefficients PIL's PERSPECTIVE transform wants: output point ``dst[i]`` samples input ``src[i]``.

    PIL maps an output pixel (x, y) to ((a x + b y + c) / (g x + h y + 1),
    (d x + e y + f) / (g x + h y + 1)) in the input; four point pairs give 8
    linear equations.
    """
    A, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return np.linalg.solve(np.array(A, float), np.array(b, float)).tolist()


def perspective(im, rng, others):
    """A screen or print photographed at a slant: keystone warp on a background, camera capture."""
    w, h = im.size
    p: dict = {"keystone": round(_u(rng, 0.04, 0.20), 4), "edge": str(rng.choice(["top", "bottom", "left", "right"]))}
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)  # tl, tr, br, bl
    k = p["keystone"] / 2
    if p["edge"] == "top":
        quad[0, 0] += k * w; quad[1, 0] -= k * w  # noqa: E702
    elif p["edge"] == "bottom":
        quad[3, 0] += k * w; quad[2, 0] -= k * w  # noqa: E702
    elif p["edge"] == "left":
        quad[0, 1] += k * h; quad[3, 1] -= k * h  # noqa: E702
    else:
        quad[1, 1] += k * h; quad[2, 1] -= k * h  # noqa: E702
    p["shear"] = round(_u(rng, -0.04, 0.04), 4)
    quad[:, 0] += p["shear"] * (quad[:, 1] - h / 2)
    p["rotation"] = round(_u(rng, -4, 4), 3)
    t = math.radians(p["rotation"])
    c = quad.mean(axis=0)
    quad = (quad - c) @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]]) + c
    p["margin"] = round(_u(rng, 0, 0.12), 4)
    mx, my = p["margin"] * w, p["margin"] * h
    quad -= quad.min(axis=0) - [mx, my]
    W, H = (np.ceil(quad.max(axis=0) + [mx, my])).astype(int)
    p["background"] = str(rng.choice(["desk", "noise", "photo"]))
    if p["background"] == "desk":
        bg = Image.new("RGB", (W, H), rand_colour(rng, 15, 90))
    elif p["background"] == "noise":
        base = np.array(rand_colour(rng, 20, 160), np.float32)
        tex = base + rng.normal(0, 40, size=(H, W, 1)).astype(np.float32) * rng.uniform(0.5, 1, 3).astype(np.float32)
        bg = Image.fromarray(np.clip(tex, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(_u(rng, 1, 6)))
    else:
        bg = cover(others(1)[0], (W, H))
    coeffs = perspective_coeffs(quad, np.array([[0, 0], [w, 0], [w, h], [0, h]], float))
    warped = im.transform((W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    mask = Image.new("L", (w, h), 255).transform((W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
    bg.paste(warped, (0, 0), mask)
    p["crop"] = str(rng.choice(["tight", "loose", "inside"]))
    if p["crop"] == "tight":
        box = (*quad.min(axis=0), *quad.max(axis=0))
    elif p["crop"] == "loose":
        box = (0, 0, W, H)
    else:  # inside the quad: the axis-aligned box between its corners, shrunk by up to 5%
        x0, x1 = max(quad[0, 0], quad[3, 0]), min(quad[1, 0], quad[2, 0])
        y0, y1 = max(quad[0, 1], quad[1, 1]), min(quad[2, 1], quad[3, 1])
        p["inside"] = round(_u(rng, 0, 0.05), 4)
        dx, dy = p["inside"] * (x1 - x0), p["inside"] * (y1 - y0)
        box = (x0 + dx, y0 + dy, x1 - dx, y1 - dy)
    out = bg.crop(tuple(int(round(v)) for v in box))
    # Camera capture.
    p["blur"] = round(_u(rng, 0, 1.5), 3)
    if p["blur"] > 0.05:
        out = out.filter(ImageFilter.GaussianBlur(p["blur"]))
    p["brightness"] = round(_u(rng, 0.8, 1.2), 3)
    p["gamma"] = round(_u(rng, 0.8, 1.25), 3)
    p["cast"] = round(_u(rng, 0, 0.08), 4)
    p["noise"] = round(_u(rng, 0, 6), 3)
    gains = 1 + rng.uniform(-p["cast"], p["cast"], 3)
    a = np.asarray(out, np.float32) / 255
    a = (np.clip(a * p["brightness"], 0, 1) ** p["gamma"]) * 255 * gains
    a = a + rng.normal(0, p["noise"], size=a.shape)
    out = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    return save_as(out, rng, (60, 90), p), p


def filters(im, rng, others):
    """Instagram-like filters: a random combination of colour edits, each of a random strength."""
    p: dict = {}
    steps = [s for s in ("brightness", "contrast", "saturation", "tint", "vignette", "fade", "balance") if rng.random() < 0.5]
    if not steps:
        steps = [str(rng.choice(["brightness", "contrast", "saturation", "tint", "vignette", "fade", "balance"]))]
    out = im
    for s in steps:
        if s in ("brightness", "contrast", "saturation"):
            lo, hi = {"brightness": (0.7, 1.3), "contrast": (0.6, 1.5), "saturation": (0.0, 1.8)}[s]
            p[s] = round(_u(rng, lo, hi), 3)
            cls = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast, "saturation": ImageEnhance.Color}[s]
            out = cls(out).enhance(p[s])
            continue
        a = np.asarray(out, np.float32)
        if s == "tint":
            p["tint"] = round(_u(rng, 0, 0.25), 3)
            a = a * (1 - p["tint"]) + np.array(rand_colour(rng), np.float32) * p["tint"]
        elif s == "vignette":
            p["vignette"] = round(_u(rng, 0, 0.6), 3)
            hh, ww = a.shape[:2]
            yy, xx = np.mgrid[0:hh, 0:ww]
            r2 = ((xx - ww / 2) / (ww / 2)) ** 2 + ((yy - hh / 2) / (hh / 2)) ** 2
            a = a * (1 - p["vignette"] * np.clip(r2 / 2, 0, 1) ** 1.5)[..., None]
        elif s == "fade":
            p["fade"] = round(_u(rng, 0, 0.25), 3)
            a = 255 * p["fade"] + a * (1 - p["fade"])
        else:
            p["balance"] = round(_u(rng, -0.12, 0.12), 3)  # > 0 warm, < 0 cool
            a = a * np.array([1 + p["balance"], 1, 1 - p["balance"]], np.float32)
        out = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    p["steps"] = "+".join(steps)
    p["change"] = round(float(np.abs(np.asarray(out, np.float32) - np.asarray(im, np.float32)).mean()), 2)
    return out, p


def recompression(im, rng, others):
    """Messenger recompression: downscaled to a random long side, JPEG (or WebP), once or twice."""
    p: dict = {"passes": 2 if rng.random() < 0.35 else 1}
    out = im
    qualities = []
    for k in range(p["passes"]):
        long_side = min(max(out.size), int(rng.integers(320, 1281)))
        s = long_side / max(out.size)
        out = out.resize((max(1, round(out.width * s)), max(1, round(out.height * s))), Image.Resampling.LANCZOS if rng.random() < 0.5 else Image.Resampling.BILINEAR)
        fmt = "WEBP" if rng.random() < 0.25 else "JPEG"
        q = int(rng.integers(25, 86))
        out = encode(out, fmt, quality=q)
        qualities.append(q)
        p[f"long_side_{k}"], p[f"format_{k}"], p[f"quality_{k}"] = long_side, fmt.lower(), q
    p["quality"] = min(qualities)
    p["scale"] = round(max(out.size) / max(im.size), 4)
    return out, p


def crop_mirror(im, rng, others):
    """A random crop of 0-12% on each side, then a horizontal mirror."""
    w, h = im.size
    l, r, t, b = (round(_u(rng, 0, 0.12), 4) for _ in range(4))
    out = im.crop((round(l * w), round(t * h), w - round(r * w), h - round(b * h))).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    p = {"left": l, "right": r, "top": t, "bottom": b, "crop_max": max(l, r, t, b)}
    p["crop_area"] = round(1 - out.width * out.height / (w * h), 4)
    return out, p


def tilt_crop(im, rng, others):
    """A small tilt (0.5-7 degrees either way), cropped to fit or kept with a fill, then cropped a bit."""
    angle = _u(rng, 0.5, 7) * (1 if rng.random() < 0.5 else -1)
    p: dict = {"angle": round(angle, 3), "abs_angle": round(abs(angle), 3), "mode": str(rng.choice(["fit", "black", "white"]))}
    out = rotate_image(im, angle, p["mode"] == "fit", (255, 255, 255) if p["mode"] == "white" else (0, 0, 0))
    w, h = out.size
    l, r, t, b = (round(_u(rng, 0, 0.08), 4) for _ in range(4))
    p.update(extra_left=l, extra_right=r, extra_top=t, extra_bottom=b, extra_max=max(l, r, t, b))
    return out.crop((round(l * w), round(t * h), w - round(r * w), h - round(b * h))), p


def watermark(im, rng, others):
    """A text watermark (a username or a site), translucent, at one place or tiled diagonally."""
    w, h = im.size
    text = "@" + username(rng) if rng.random() < 0.5 else str(rng.choice(["leakz", "hotpics", "xshare", "tubeclips", "nudesdump"])) + "." + str(rng.choice(["com", "net", "tv"]))
    p: dict = {"size_share": round(_u(rng, 0.03, 0.10), 4), "opacity": round(_u(rng, 0.3, 0.9), 3), "layout": "tiled" if rng.random() < 0.35 else "single"}
    ink = (255, 255, 255) if rng.random() < 0.7 else (0, 0, 0)
    f = font(p["size_share"] * h, bold=True)
    alpha = int(255 * p["opacity"])
    if p["layout"] == "single":
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        tw = d.textlength(text, font=f)
        x, y = _u(rng, 0, max(1, w - tw)), _u(rng, 0, max(1, h - p["size_share"] * h * 1.2))
        d.text((x, y), text, font=f, fill=ink + (alpha,))
    else:
        p["tile_angle"] = round(_u(rng, 20, 45), 2)
        side = int(math.hypot(w, h)) + 2
        big = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        d = ImageDraw.Draw(big)
        tw, th = d.textlength(text + "   ", font=f), p["size_share"] * h * 2.5
        for row, y in enumerate(np.arange(0, side, th)):
            for x in np.arange(-(row % 2) * tw / 2, side, tw):
                d.text((x, y), text, font=f, fill=ink + (alpha,))
        big = big.rotate(p["tile_angle"], resample=Image.Resampling.BICUBIC)
        layer = big.crop(((side - w) // 2, (side - h) // 2, (side - w) // 2 + w, (side - h) // 2 + h))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB"), p


def gamma_noise(im, rng, others):
    """A gamma change and sensor-like noise (Gaussian, or signal-dependent), then JPEG."""
    p: dict = {"gamma": round(_u(rng, 0.55, 1.8), 3), "sigma": round(_u(rng, 2, 14), 3), "noise": "gaussian" if rng.random() < 0.7 else "poisson"}
    a = 255 * (np.asarray(im, np.float32) / 255) ** p["gamma"]
    scale = 1.0 if p["noise"] == "gaussian" else np.sqrt(np.maximum(a, 1) / 128)
    a = a + rng.normal(0, p["sigma"], size=a.shape) * scale
    out = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    return save_as(out, rng, (70, 95), p), p


def collage(im, rng, others):
    """The photo in one cell of a 2-4 photo collage (random grid, cell sizes and gaps)."""
    p: dict = {"grid": str(rng.choice(["2x1", "1x2", "2x2", "3x1"]))}
    cols, rows = (int(v) for v in p["grid"].split("x"))
    n = cols * rows
    cell = int(rng.integers(n))
    photos = others(n - 1)
    photos.insert(cell, im)
    base = max(im.size) * _u(rng, 0.6, 1.0)
    widths = np.round(rng.uniform(0.7, 1.3, cols) * base).astype(int)
    heights = np.round(rng.uniform(0.7, 1.3, rows) * base * im.height / im.width).astype(int)
    gap = int(rng.integers(0, 21))
    p.update(cell=cell, gap=gap, fit=str(rng.choice(["cover", "contain"])))
    W, H = int(widths.sum() + gap * (cols + 1)), int(heights.sum() + gap * (rows + 1))
    out = Image.new("RGB", (W, H), (255, 255, 255) if rng.random() < 0.6 else (0, 0, 0))
    for k, ph in enumerate(photos):
        c, r = k % cols, k // cols
        x, y = gap + int(widths[:c].sum()) + gap * c, gap + int(heights[:r].sum()) + gap * r
        cw, ch = int(widths[c]), int(heights[r])
        if p["fit"] == "cover":
            tile = cover(ph, (cw, ch))
            out.paste(tile, (x, y))
        else:
            s = min(cw / ph.width, ch / ph.height)
            tile = ph.resize((max(1, round(ph.width * s)), max(1, round(ph.height * s))), Image.Resampling.LANCZOS)
            out.paste(tile, (x + (cw - tile.width) // 2, y + (ch - tile.height) // 2))
        if k == cell:
            p["cell_share"] = round(tile.width * tile.height / (W * H), 4)
            s = max(cw / ph.width, ch / ph.height) if p["fit"] == "cover" else 0
            p["photo_cropped"] = round(1 - cw * ch / (ph.width * s * ph.height * s), 4) if s else 0.0
    return save_as(out, rng, (70, 92), p), p


#: Every family, in report order; ``collage`` is the stretch goal (not in the core mean).
FAMILIES: dict[str, Family] = {
    "story": story,
    "screenshot": screenshot,
    "caption": caption,
    "stickers": stickers,
    "perspective": perspective,
    "filters": filters,
    "recompression": recompression,
    "crop_mirror": crop_mirror,
    "tilt_crop": tilt_crop,
    "watermark": watermark,
    "gamma_noise": gamma_noise,
    "collage": collage,
}
CORE = [f for f in FAMILIES if f != "collage"]

#: The amount each family's worst case is binned by (quartiles over the copies drawn).
MAIN_PARAM = {
    "story": "inset_share",
    "screenshot": "photo_share",
    "caption": "caption_share",
    "stickers": "covered_share",
    "perspective": "keystone",
    "filters": "change",
    "recompression": "quality",
    "crop_mirror": "crop_max",
    "tilt_crop": "abs_angle",
    "watermark": "opacity",
    "gamma_noise": "sigma",
    "collage": "cell_share",
}


# --- seeded application -------------------------------------------------------------------


def rng_for(photo: str, family: str, draw: int, seed: int, purpose: str = "edit") -> np.random.Generator:
    """The generator of one edited copy, from its photo, family, draw index and the run's seed."""
    return np.random.default_rng([zlib.crc32(f"{purpose}|{photo}|{family}|{draw}".encode()), seed])


def _load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def edit(path: Path, family: str, draw: int, seed: int, pool: list[Path], image: Image.Image | None = None) -> tuple[Image.Image, dict]:
    """The ``draw``-th random edit of ``family`` of the photo at ``path``; ``pool``: the photo set."""
    im = _load(path) if image is None else image
    pick = rng_for(path.name, family, draw, seed, "others")
    candidates = [p for p in pool if p.name != path.name] or [path]

    def others(n: int) -> list[Image.Image]:
        return [_load(candidates[int(i)]) for i in pick.integers(0, len(candidates), size=n)]

    out, params = FAMILIES[family](im, rng_for(path.name, family, draw, seed), others)
    return out.convert("RGB"), params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write one wild edit of a photo to a PNG (to look at a miss).")
    ap.add_argument("--show", nargs=3, metavar=("PHOTO", "FAMILY", "DRAW"), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "photos")
    ap.add_argument("--out", type=Path, default=Path("wild_edit.png"))
    a = ap.parse_args(argv)
    photo, family, draw = a.show
    pool = list_photos(a.images)
    path = a.images / photo
    out, params = edit(path, family, int(draw), a.seed, pool)
    out.save(a.out)
    print(json.dumps({"photo": photo, "family": family, "draw": int(draw), "seed": a.seed, "size": out.size, **params}))


if __name__ == "__main__":
    main()
