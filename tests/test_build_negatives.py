"""The hard-negative builder's core: normalisation, tiles and duplicate dropping."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import build_negatives as bn  # noqa: E402


def photo(seed: int, size=(640, 480)) -> Image.Image:
    """A structured stand-in for a photo: blurred noise, so PDQ quality is high."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(noise).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))


def test_normalise_flattens_alpha_downscales_and_skips_small():
    rgba = Image.new("RGBA", (1000, 600), (10, 20, 30, 0))
    out = bn.normalise(bn.to_rgb(rgba))
    assert out.mode == "RGB" and out.size == (512, 307)
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert bn.normalise(Image.new("RGB", (300, 200))).size == (300, 200)  # never upscaled
    assert bn.normalise(Image.new("RGB", (127, 400))) is None
    assert bn.normalise(Image.new("RGB", (2000, 300))) is None  # short side 77 after resizing


def test_exif_orientation_is_applied():
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    photo(1, (400, 200)).save(buf, "JPEG", exif=exif)
    assert bn.to_rgb(Image.open(io.BytesIO(buf.getvalue()))).size == (200, 400)


def test_tiles_only_from_large_photos():
    assert [name for name, _ in bn.tiles(Image.new("RGB", (600, 520)))] == ["r0c0", "r0c1", "r1c0", "r1c1"]
    assert all(t.size == (256, 256) for _, t in bn.tiles(Image.new("RGB", (600, 520))))
    assert list(bn.tiles(Image.new("RGB", (500, 800)))) == []


def test_parse_source():
    src = bn.parse_source("people.faces=/m/o+r/repo@abc:data/a/,data/b/#50")
    assert (src.category, src.tag, src.gitdir, src.commit, src.prefixes, src.limit, src.max_luma) == (
        "people", "faces", "/m/o+r/repo", "abc", ("data/a/", "data/b/"), 50, None)
    assert bn.parse_source("night.n=/g:d/^60").max_luma == 60
    assert bn.repo_name("/m/o+r/repo") == "o/r"


def test_build_drops_exact_near_low_quality_and_reference_duplicates(tmp_path: Path):
    repo = tmp_path / "owner+name"
    (repo / "img").mkdir(parents=True)
    (repo / "more").mkdir()
    photo(4).save(repo / "more" / "b.png")  # same file name as img/b.png, another folder
    a, b, ref = photo(1), photo(2), photo(3)
    a.save(repo / "img" / "a.png")
    a.save(repo / "img" / "a_copy.png")  # exact duplicate
    a.resize((600, 450), Image.LANCZOS).save(repo / "img" / "a_small.jpg", quality=80)  # near duplicate
    a.transpose(Image.FLIP_LEFT_RIGHT).save(repo / "img" / "a_mirror.png")  # a dihedral turn
    b.save(repo / "img" / "b.png")
    Image.new("RGB", (400, 300), (12, 12, 12)).save(repo / "img" / "flat.png")  # PDQ quality 0
    ref.save(repo / "img" / "ref.png")
    Image.new("RGB", (100, 100)).save(repo / "img" / "tiny.png")
    refs = tmp_path / "refs"
    refs.mkdir()
    ref.resize((512, 384), Image.LANCZOS).save(refs / "dev.jpg", quality=90)
    run = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "images")

    out = tmp_path / "out"
    src = bn.Source("people", "t", str(repo / ".git"), None, ("img/", "more/"))
    stats = bn.build(out, [src], {"text": 3}, seed=1, references=[str(refs)])

    rows = list(csv.DictReader(open(out / "manifest.csv")))
    kept = sorted(r["source"] for r in rows if r["category"] == "people")
    assert kept == ["img/a.png", "img/b.png", "more/b.png"]
    assert len(set(r["file"] for r in rows)) == len(rows) == len(list(out.glob("*.jpg")))
    drops = {d["rule"]: d["count"] for d in stats["drops"] if d["source"] == "people/t"}
    assert drops == {"exact_duplicate": 1, "near_kept": 2, "pdq_quality_below_50": 1,
                     "near_dev_or_distractor": 1, "too_small": 1}
    assert stats["low_quality_per_category"] == {"people": 1}
    assert rows[0]["source_repo"] == "owner/name" and len(rows[0]["commit"]) == 40
    for r in rows:
        img = Image.open(out / r["file"])
        assert img.format == "JPEG" and max(img.size) <= 512
        assert r["file"].startswith(f"{r['category']}__")
    assert json.loads((out / "stats.json").read_text())["total"] == len(rows)
    assert "| people | 3 |" in (out / "README.md").read_text()
