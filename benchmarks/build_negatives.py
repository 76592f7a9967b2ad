"""Build the hard-negative image set: >= 10,000 distinct images that must NOT match.

Why: false matches (two different photos whose PDQ hashes come close) are what a
takedown matcher must not produce, and the dev photos (1,026) and distractors
(210) are too few to measure a rate of 1 in 10,000. An evaluation found the
false matches among dark, low-structure photos (bright objects on black), so
this set leans on the hard cases: faces, indoor scenes, night photos, text
screenshots, flat and dark frames and tiles of large photos.

Real photos are read from git mirrors of public repositories at a recorded
commit; text screens and flat/dark frames are generated from --seed. Every
image is normalised like the dev set (EXIF transpose, RGB on white, skip short
side < 128, LANCZOS to long side <= 512, JPEG 90) and kept only if it is
distinct: no exact duplicate (md5 of decoded pixels), PDQ quality >= 50, and
none of its 8 dihedral PDQ codes within 40 bits of an image already kept, of a
dev photo or of a distractor. The same mirrors, sources and seed give the same
set. The images stay outside the repo; see docs/negatives.md.

    python benchmarks/build_negatives.py --out /work/data/hardneg
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from matcher import pdq

MAX_SIDE, MIN_SIDE, QUALITY, MIN_PDQ_QUALITY, NEAR_BITS, TILE = 512, 128, 90, 50, 40, 256
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
REFERENCES = ("/work/shared/data/photos", "/work/shared/data/distractors")


@dataclass
class Source:
    category: str  # "tiles" cuts each large photo into 256 px squares
    tag: str
    gitdir: str
    commit: str | None
    prefixes: tuple[str, ...]
    limit: int | None = None  # a seeded sample of this many files
    max_luma: float | None = None  # keep only photos this dark (mean luminance 0-255), e.g. night frames


# (category, tag, mirror, commit, path prefixes, limit[, max_luma]); mirrors under --mirrors.
SOURCES = [
    ("people", "facemask", "chandrikadeb7+Face-Mask-Detection", "7e500749401bad4bb338790fbdb89b58e41ef2d9", ("dataset/",), None),
    ("people", "observations", "prajnasb+observations", "cdcf4501bf7fdec7ac8a4ee245e343b187fa53c7", ("experiements/data/",), None),
    ("people", "facexpr", "muxspace+facial_expressions", "5fb9c13afac07c55eae8d25eb6b50af344ad60c9", ("images/",), 6000),
    ("indoor", "grocery", "marcusklasson+GroceryStoreDataset", "fc80ba90f803d79d0383df52c5a4ac5de99ff6fc", ("dataset/train/", "dataset/test/", "dataset/val/"), None),
    ("night", "amos", "amitrajitbose+day-night-image-classifier", "d1e773b70def295f4b43de3d0248c5d2c6d66fb3", ("day_night_images/training/night/", "day_night_images/test/night/"), None),
    ("night", "nuimages", "mcitir+day-night-image-classifier-for-nuImages-dataset", "32238a21b94a45be127cf69f60880c7165d8b542", ("dataset/",), None, 60),
    ("tiles", "amos", "amitrajitbose+day-night-image-classifier", "d1e773b70def295f4b43de3d0248c5d2c6d66fb3", ("day_night_images/training/day/", "day_night_images/test/day/"), None),
    ("tiles", "facemask", "chandrikadeb7+Face-Mask-Detection", "7e500749401bad4bb338790fbdb89b58e41ef2d9", ("dataset/",), None),
    ("tiles", "observations", "prajnasb+observations", "cdcf4501bf7fdec7ac8a4ee245e343b187fa53c7", ("experiements/data/",), None),
    ("tiles", "nuimages", "mcitir+day-night-image-classifier-for-nuImages-dataset", "32238a21b94a45be127cf69f60880c7165d8b542", ("dataset/",), None),
]


def parse_source(text: str) -> Source:
    """CATEGORY.TAG=GITDIR[@COMMIT]:PREFIX[,PREFIX...][#LIMIT][^MAXLUMA]"""
    text, _, max_luma = text.partition("^")
    name, _, rest = text.partition("=")
    category, _, tag = name.partition(".")
    where, _, prefixes = rest.partition(":")
    prefixes, _, limit = prefixes.partition("#")
    gitdir, _, commit = where.partition("@")
    if not (category and tag and gitdir and prefixes):
        raise argparse.ArgumentTypeError(f"bad --source {text!r}")
    return Source(category, tag, gitdir, commit or None, tuple(prefixes.split(",")),
                  int(limit) if limit else None, float(max_luma) if max_luma else None)


def repo_name(gitdir: str) -> str:
    """owner/name from a fetch mirror path (/work/.mirror/owner+name/repo)."""
    parts = Path(gitdir).resolve().parts
    name = next((p for p in reversed(parts) if "+" in p), parts[-1])
    return name.replace("+", "/", 1)


# ---------------------------------------------------------------- normalisation


def to_rgb(img: Image.Image) -> Image.Image:
    """EXIF transpose, then RGB with any alpha flattened on white."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def normalise(img: Image.Image) -> Image.Image | None:
    """RGB image -> at most 512 px on the long side (LANCZOS, never up); None if too small."""
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        return None
    scale = MAX_SIDE / max(w, h)
    if scale < 1:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return img if min(img.size) >= MIN_SIDE else None


def encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY, optimize=True)
    return buf.getvalue()


def tiles(img: Image.Image, size: int = TILE):
    """Non-overlapping size x size squares of a grid centred on the image."""
    w, h = img.size
    if min(w, h) < 2 * size:  # only large photos: a tile must be a part, not the whole
        return
    cols, rows = w // size, h // size
    x0, y0 = (w - cols * size) // 2, (h - rows * size) // 2
    for r in range(rows):
        for c in range(cols):
            box = (x0 + c * size, y0 + r * size, x0 + (c + 1) * size, y0 + (r + 1) * size)
            yield f"r{r}c{c}", img.crop(box)


# ---------------------------------------------------------------- git sources


def git_images(src: Source, seed: int):
    """(path, bytes, commit) for the source's image files, sorted or sampled."""
    commit = src.commit or subprocess.run(
        ["git", "--git-dir", src.gitdir, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    listing = subprocess.run(
        ["git", "--git-dir", src.gitdir, "ls-tree", "-r", commit, "--", *src.prefixes],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    files = sorted((line.split("\t", 1)[1], line.split()[2]) for line in listing if line.lower().endswith(IMAGE_EXTS))
    if src.limit and len(files) > src.limit:
        rng = np.random.default_rng([seed, int(hashlib.md5(src.tag.encode()).hexdigest()[:8], 16)])
        files = sorted(files[i] for i in rng.choice(len(files), src.limit, replace=False))
    cat = subprocess.Popen(["git", "--git-dir", src.gitdir, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for path, sha in files:
            cat.stdin.write(sha.encode() + b"\n")
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if header[-1] == b"missing":  # the mirror lacks blobs of 4 MiB and more
                yield path, None, commit
                continue
            data = cat.stdout.read(int(header[2]))
            cat.stdout.read(1)
            yield path, data, commit
    finally:
        cat.stdin.close()
        cat.wait()


# ---------------------------------------------------------------- generators

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "st", "er", "an", "ing", "ou"]
SCREEN_SIZES = [(720, 1280), (1080, 1920), (1280, 720), (1920, 1080), (800, 1000), (1024, 768), (600, 800), (412, 732)]


def fonts() -> list[str]:
    return sorted(str(p) for p in Path("/usr/share/fonts").rglob("*.ttf"))


def words(rng: np.random.Generator, n: int) -> str:
    out = []
    for _ in range(n):
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.integers(1, 4)))
        if rng.random() < 0.08:
            w = str(rng.integers(0, 10000))
        out.append(w.capitalize() if rng.random() < 0.1 else w)
    return " ".join(out) + rng.choice([".", ".", ",", "?", "!", ""])


def colour(rng, lo, hi):
    return tuple(int(x) for x in rng.integers(lo, hi, 3))


def text_screen(rng: np.random.Generator, font_files: list[str]):
    w, h = SCREEN_SIZES[rng.integers(len(SCREEN_SIZES))]
    dark = bool(rng.random() < 0.5)
    bg, fg = (colour(rng, 0, 45), colour(rng, 190, 256)) if dark else (colour(rng, 225, 256), colour(rng, 0, 70))
    layout = str(rng.choice(["page", "chat", "terminal", "list"]))
    font_file = font_files[rng.integers(len(font_files))]
    if layout == "terminal":
        mono = [f for f in font_files if "Mono" in f] or font_files
        font_file = mono[rng.integers(len(mono))]
    size = int(rng.integers(12, 44) * max(w, h) / 1280)
    font = ImageFont.truetype(font_file, max(size, 9))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    accent = colour(rng, 40, 230)
    line_h = int(font.size * rng.uniform(1.2, 1.8))
    y = int(rng.integers(0, 3) * line_h)
    if rng.random() < 0.6:  # an app bar
        bar = int(line_h * rng.uniform(1.5, 3))
        d.rectangle((0, 0, w, bar), fill=accent)
        d.text((line_h // 2, bar // 4), words(rng, 3), font=font, fill=(255, 255, 255))
        y = bar + line_h // 2
    left = int(rng.integers(4, max(5, w // 10)))
    while y < h - line_h:
        if layout == "chat":
            mine = bool(rng.random() < 0.5)
            n_lines = int(rng.integers(1, 4))
            bw = int(w * rng.uniform(0.35, 0.75))
            x = w - bw - left if mine else left
            fill = accent if mine else tuple(min(255, c + (30 if dark else -20)) for c in bg)
            d.rounded_rectangle((x, y, x + bw, y + n_lines * line_h + line_h // 2), radius=line_h // 2, fill=fill)
            for k in range(n_lines):
                d.text((x + line_h // 3, y + line_h // 4 + k * line_h), words(rng, int(bw / font.size / 2.5) + 1), font=font, fill=fg)
            y += (n_lines + 1) * line_h
        elif layout == "list":
            d.ellipse((left, y, left + line_h * 1.5, y + line_h * 1.5), fill=colour(rng, 30, 230))
            d.text((left + 2 * line_h, y), words(rng, 4), font=font, fill=fg)
            d.text((left + 2 * line_h, y + line_h), words(rng, int(w / font.size / 2)), font=font, fill=tuple((a + b) // 2 for a, b in zip(fg, bg)))
            y += int(2.6 * line_h)
            d.line((left, y - line_h // 3, w - left, y - line_h // 3), fill=tuple((2 * a + b) // 3 for a, b in zip(bg, fg)))
        else:  # page or terminal: paragraphs of ragged lines
            for _ in range(int(rng.integers(2, 9))):
                if y >= h - line_h:
                    break
                d.text((left, y), words(rng, max(1, int((w - 2 * left) / font.size / 3.2 * rng.uniform(0.5, 1)))), font=font, fill=fg)
                y += line_h
            y += line_h
    return img, f"text;layout={layout};size={w}x{h};dark={int(dark)};font={Path(font_file).name};pt={font.size}"


def flat_dark(rng: np.random.Generator):
    w, h = [(512, 512), (512, 384), (384, 512), (512, 288), (288, 512), (480, 320)][rng.integers(6)]
    kind = str(rng.choice(["blobs", "stars", "gradient", "vignette", "noise", "object"]))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array(colour(rng, 0, 14), np.float32)
    img = np.broadcast_to(base, (h, w, 3)).copy()
    if kind in ("blobs", "stars"):
        n = int(rng.integers(1, 8) if kind == "blobs" else rng.integers(20, 300))
        for _ in range(n):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(3, 30) if kind == "blobs" else rng.uniform(0.5, 2.5)
            x0, x1, y0, y1 = max(0, int(cx - 4 * r)), min(w, int(cx + 4 * r) + 1), max(0, int(cy - 4 * r)), min(h, int(cy + 4 * r) + 1)
            sx, sy = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
            glow = np.exp(-((sx - cx) ** 2 + (sy - cy) ** 2) / (2 * r * r))[..., None]
            img[y0:y1, x0:x1] += glow * np.array(colour(rng, 120, 256), np.float32)
    elif kind == "gradient":
        a, b = np.array(colour(rng, 0, 256), np.float32), np.array(colour(rng, 0, 256), np.float32)
        if rng.random() < 0.5:
            t = math.radians(rng.uniform(0, 360))
            f = (xx * math.cos(t) + yy * math.sin(t))
        else:
            f = np.hypot(xx - rng.uniform(0, w), yy - rng.uniform(0, h))
        f = ((f - f.min()) / (np.ptp(f) + 1e-6))[..., None]
        img = a + (b - a) * f
    elif kind == "vignette":
        centre = np.array(colour(rng, 20, 200), np.float32)
        r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)[..., None] * rng.uniform(1.2, 2.5)
        img = centre * np.clip(1 - r, 0, 1) ** rng.uniform(0.5, 2)
    elif kind == "noise":
        sigma = float(rng.uniform(1, 25))
        field = np.asarray(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(sigma)), np.float32)
        field = (field - field.mean()) / (field.std() + 1e-6)
        mean = np.array(colour(rng, 0, 200), np.float32)
        img = mean + field[..., None] * rng.uniform(1, 10)
    else:  # a bright object on black
        cx, cy, rx, ry = rng.uniform(w * 0.2, w * 0.8), rng.uniform(h * 0.2, h * 0.8), rng.uniform(8, w / 4), rng.uniform(8, h / 4)
        inside = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1)[..., None]
        img = np.where(inside, np.array(colour(rng, 100, 256), np.float32), img)
        img = np.asarray(Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0, 6))), np.float32)
    img = img + rng.normal(0, rng.uniform(0, 3), img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), f"flat_dark;kind={kind};size={w}x{h}"


# ---------------------------------------------------------------- the set


class Dedupe:
    """Exact (md5 of pixels) and near (any dihedral PDQ within NEAR_BITS) duplicate filter."""

    def __init__(self):
        self.md5s: set[str] = set()
        self.index = faiss.IndexBinaryFlat(256)
        self.n_refs = 0

    def add_reference(self, codes: np.ndarray):
        self.index.add(np.ascontiguousarray(codes[:1]))
        self.n_refs += 1

    def near(self, codes: np.ndarray) -> int | None:
        """Id of an indexed code within NEAR_BITS of any of the 8 codes (ids < n_refs are references)."""
        if self.index.ntotal == 0:
            return None
        lims, _, ids = self.index.range_search(np.ascontiguousarray(codes), NEAR_BITS + 1)
        return int(ids.min()) if lims[-1] else None


def hash_jpeg(data: bytes):
    codes, quality = pdq.hash_rgb_dihedral(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    return codes, quality


def candidates(sources: list[Source], synthetic: dict[str, int], seed: int):
    """(category, tag, repo, commit, where, RGB image) in a fixed order."""
    for src in sources:
        repo = repo_name(src.gitdir)
        # stems are paths below the prefixes' common folder (train/ and test/ may hold the same name)
        common = os.path.commonpath([p if p.endswith("/") else os.path.dirname(p) or "." for p in src.prefixes])
        common = "" if common in ("", ".") else common + "/"
        for path, data, commit in git_images(src, seed):
            try:
                img = to_rgb(Image.open(io.BytesIO(data)))
            except Exception:
                yield src.category, src.tag, repo, commit, path, "missing_in_mirror" if data is None else "undecodable"
                continue
            if src.max_luma is not None and np.asarray(img.convert("L")).mean() > src.max_luma:
                yield src.category, src.tag, repo, commit, path, "brighter_than_max_luma"
                continue
            stem = Path(path).with_suffix("").as_posix().removeprefix(common)
            if src.category == "tiles":
                for name, tile in tiles(img):
                    yield src.category, src.tag, repo, commit, f"{path}#{name}", (f"{stem}_{name}", img.size, tile)
            else:
                yield src.category, src.tag, repo, commit, path, (stem, img.size, img)
    font_files = fonts()
    for kind, count in synthetic.items():
        for i in range(count):
            rng = np.random.default_rng([seed, int(hashlib.md5(kind.encode()).hexdigest()[:8], 16), i])
            img, params = text_screen(rng, font_files) if kind == "text" else flat_dark(rng)
            yield kind, "synth", "", "", f"{params};seed={seed};i={i}", (f"{i:05d}", img.size, img)


def build(out: Path, sources, synthetic, seed, references) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*__*__*.jpg")) + [out / "manifest.csv"]:
        old.unlink(missing_ok=True)
    dd = Dedupe()
    for ref in references:
        for p in sorted(Path(ref).glob("*.jpg")):
            dd.add_reference(hash_jpeg(p.read_bytes())[0])
    drops = collections.Counter()
    low_q = collections.Counter()
    rows, qualities, names = [], collections.defaultdict(list), collections.Counter()
    per_source = collections.Counter()
    for category, tag, repo, commit, where, item in candidates(sources, synthetic, seed):
        key = f"{category}/{tag}"
        if isinstance(item, str):
            drops[(key, item)] += 1
            continue
        stem, orig_size, img = item
        digest = hashlib.md5(img.tobytes() + str(img.size).encode()).hexdigest()
        if digest in dd.md5s:
            drops[(key, "exact_duplicate")] += 1
            continue
        dd.md5s.add(digest)
        small = normalise(img)
        if small is None:
            drops[(key, "too_small")] += 1
            continue
        data = encode(small)
        codes, quality = hash_jpeg(data)
        if quality < MIN_PDQ_QUALITY:
            drops[(key, "pdq_quality_below_50")] += 1
            low_q[category] += 1
            continue
        hit = dd.near(codes)
        if hit is not None:
            drops[(key, "near_dev_or_distractor" if hit < dd.n_refs else "near_kept")] += 1
            continue
        dd.index.add(np.ascontiguousarray(codes[:1]))
        name = f"{category}__{tag}__{stem.replace('/', '-').replace(' ', '_')}.jpg"
        names[name] += 1
        if names[name] > 1:  # two paths that map to one name (e.g. "a b" and "a_b"): number the later
            name = name.removesuffix(".jpg") + f"_{names[name]}.jpg"
        (out / name).write_bytes(data)
        per_source[(category, tag, repo, commit)] += 1
        qualities[category].append(quality)
        rows.append({
            "file": name, "category": category, "source_repo": repo, "commit": commit, "source": where,
            "orig_width": orig_size[0], "orig_height": orig_size[1], "width": small.size[0], "height": small.size[1],
            "pdq_hex": codes[0].tobytes().hex(), "pdq_quality": quality,
        })
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    stats = {
        "total": len(rows),
        "per_category": dict(collections.Counter(r["category"] for r in rows)),
        "per_source": [{"category": c, "tag": t, "repo": r, "commit": m, "kept": n} for (c, t, r, m), n in per_source.items()],
        "drops": [{"source": k, "rule": rule, "count": n} for (k, rule), n in sorted(drops.items())],
        "low_quality_per_category": dict(low_q),
        "pdq_quality": {c: {"min": min(q), "median": statistics.median(q)} for c, q in qualities.items()},
        "references": dd.n_refs, "seed": seed, "synthetic": synthetic,
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=1))
    write_readme(out, stats)
    return stats


def write_readme(out: Path, stats: dict):
    lines = [
        "# Hard-negative set for PDQ false-match evaluation", "",
        f"{stats['total']} distinct images that should match nothing: built by `benchmarks/build_negatives.py` "
        "(ncii-matcher; see its docs/negatives.md). Research-only evaluation data; do not redistribute. "
        "`manifest.csv` has one row per file: file, category, source_repo, commit, source (path, path#tile, "
        "or generator parameters), original and output size, pdq_hex, pdq_quality.", "",
        "## Counts per category", "", "| category | kept | PDQ quality min | median | dropped for quality < 50 |", "|---|---|---|---|---|",
    ]
    for c, n in sorted(stats["per_category"].items()):
        q = stats["pdq_quality"][c]
        lines.append(f"| {c} | {n} | {q['min']} | {q['median']} | {stats['low_quality_per_category'].get(c, 0)} |")
    lines += ["", "## Sources", "", "| category | tag | repo @ commit | kept |", "|---|---|---|---|"]
    for s in stats["per_source"]:
        where = f"{s['repo']} @ {s['commit']}" if s["repo"] else f"generated (seed {stats['seed']})"
        lines.append(f"| {s['category']} | {s['tag']} | {where} | {s['kept']} |")
    lines += ["", "## Dropped", "", "| source | rule | count |", "|---|---|---|"]
    lines += [f"| {d['source']} | {d['rule']} | {d['count']} |" for d in stats["drops"]]
    lines += [
        "", "## Normalisation", "",
        "Pillow: EXIF transpose, RGB (alpha flattened on white), skip short side < 128 px (before and after "
        "resizing), LANCZOS downscale so the long side is <= 512 (never upscaled), JPEG quality 90, optimize=True. "
        "Tiles: non-overlapping 256 x 256 squares on a centred grid, only from photos whose short side is >= 512. "
        "Kept only if: no exact duplicate (md5 of decoded pixels), PDQ quality >= 50, and none of its 8 dihedral "
        f"PDQ codes within {NEAR_BITS} bits of an image already kept or of the {stats['references']} dev photos and "
        "distractors. PDQ is matcher.pdq on the saved JPEG.", "",
        "## Licence notes", "",
        "Third-party photos from public research repositories (face-mask and facial-expression datasets, the "
        "Grocery Store dataset, AMOS webcam frames from a day/night classifier exercise); the owners keep their "
        "rights. Text screens and flat/dark frames are generated (DejaVu fonts). Internal evaluation only.",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mirrors", default="/work/.mirror", help="where the default SOURCES' git mirrors are")
    ap.add_argument("--source", type=parse_source, action="append",
                    help="CATEGORY.TAG=GITDIR[@COMMIT]:PREFIX[,PREFIX...][#LIMIT]; replaces the built-in table")
    ap.add_argument("--synthetic", action="append", default=[], metavar="KIND=N", help="text=N, flat_dark=N")
    ap.add_argument("--reference", action="append", help="folders of JPEGs the set must stay 40 bits away from")
    ap.add_argument("--seed", type=int, default=20261203)
    args = ap.parse_args(argv)
    sources = args.source or [Source(c, t, f"{args.mirrors}/{m}/repo", *rest) for c, t, m, *rest in SOURCES]
    synthetic = {k: int(v) for k, v in (s.split("=") for s in args.synthetic)} if args.synthetic else {"text": 2500, "flat_dark": 4000}
    unknown = set(synthetic) - {"text", "flat_dark"}
    if unknown:
        ap.error(f"unknown synthetic kinds {sorted(unknown)}")
    stats = build(args.out, sources, synthetic, args.seed, args.reference or list(REFERENCES))
    json.dump({k: stats[k] for k in ("total", "per_category", "pdq_quality")}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
