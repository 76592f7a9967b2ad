"""Hashing speed: JPEG bytes to PDQ hash on one core, against the reference in the same run.

Platforms hash every upload, so throughput is cost. This measures, side by
side and interleaved round by round (the machine is shared and noisy, so only
same-run ratios mean anything):

* ``ncii``: ``matcher.hashing.pdq_hash(bytes)``, our whole path (safe loading
  with limits and EXIF orientation, then PDQ);
* ``ncii-core``: Pillow decode + ``matcher.pdq.hash_rgb``, the same decode the
  reference gets, to isolate the hasher;
* ``pdqhash``: Pillow decode + ``pdqhash.compute`` (Meta's C++ through its
  Python bindings), the baseline;
* ``imagehash-phash``: Pillow decode + ``imagehash.phash``, for scale;
* ``decode``: Pillow decode alone, the floor under every contender.

Two image sets: the photos in ``--images`` as they are (about 512 px long
side), and the same photos resampled in memory to 1024x768 and re-encoded as
JPEG (quality 90), the size the issue's figures are quoted at. Nothing is
written but the results. It also checks that our hashes equal the
reference's on the same decoded pixels.

Usage: python benchmarks/hashing.py --images ../shared/data/photos [--limit N] [--rounds R]
"""

from __future__ import annotations

import os

# One core, one BLAS thread: the comparison is per core. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from matcher import pdq
from matcher.hashing import pdq_hash

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "photos"
DEFAULT_OUT = REPO / "benchmarks" / "results"


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)


def contenders() -> dict[str, Callable[[bytes], object]]:
    return {
        "decode": decode,
        "ncii": lambda data: pdq_hash(data),
        "ncii-core": lambda data: pdq.hash_rgb(decode(data)),
        "pdqhash": lambda data: pdqhash.compute(decode(data)),
        "imagehash-phash": lambda data: imagehash.phash(Image.open(io.BytesIO(data))),
    }


def load_set(folder: Path, limit: int | None) -> list[bytes]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"})
    return [p.read_bytes() for p in files[:limit]]


def resampled(images: list[bytes], size: tuple[int, int]) -> list[bytes]:
    out = []
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
            out.append(buffer.getvalue())
    return out


def time_per_image(fn: Callable[[bytes], object], images: list[bytes]) -> float:
    start = time.perf_counter()
    for data in images:
        fn(data)
    return (time.perf_counter() - start) / len(images)


def measure(images: list[bytes], rounds: int) -> dict[str, dict[str, float]]:
    """Median per-image time of each contender over interleaved rounds, and ratios."""
    fns = contenders()
    for fn in fns.values():  # warm caches, operators, imports
        fn(images[0])
    samples: dict[str, list[float]] = {name: [] for name in fns}
    ratios: list[float] = []
    for _ in range(rounds):
        this_round = {name: time_per_image(fn, images) for name, fn in fns.items()}
        for name, value in this_round.items():
            samples[name].append(value)
        ratios.append(this_round["pdqhash"] / this_round["ncii"])
    result = {
        name: {
            "ms_per_image": statistics.median(values) * 1e3,
            "images_per_second": 1.0 / statistics.median(values),
        }
        for name, values in samples.items()
    }
    result["_ratio"] = {
        "ncii_vs_pdqhash_throughput": statistics.median(ratios),
        "min_over_rounds": min(ratios),
        "max_over_rounds": max(ratios),
        "ncii_core_vs_pdqhash_hashing_only": (
            (result["pdqhash"]["ms_per_image"] - result["decode"]["ms_per_image"])
            / max(result["ncii-core"]["ms_per_image"] - result["decode"]["ms_per_image"], 1e-9)
        ),
    }
    return result


def agreement(images: list[bytes]) -> dict[str, float]:
    """Our hash and quality vs the reference's, on the same decoded pixels."""
    distances, quality_equal = [], 0
    for data in images:
        rgb = decode(data)
        ours, quality = pdq.hash_rgb(rgb)
        bits, reference_quality = pdqhash.compute(rgb)
        distances.append(int(np.unpackbits(ours ^ np.packbits(bits.astype(np.uint8))).sum()))
        quality_equal += quality == reference_quality
    distances_arr = np.array(distances)
    return {
        "images": len(images),
        "identical_hashes": int((distances_arr == 0).sum()),
        "max_bit_difference": int(distances_arr.max()),
        "equal_quality": quality_equal,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Hashing speed (one core, JPEG bytes to hash)",
        "",
        f"Run {report['when']} on {report['machine']}; {report['rounds']} interleaved rounds, median.",
        "",
    ]
    for set_name, data in report["sets"].items():
        timing = data["timing"]
        ratio = timing["_ratio"]
        agree = data["agreement"]
        lines += [
            f"## {set_name} ({agree['images']} images)",
            "",
            "| contender | ms / image | images / s | vs pdqhash |",
            "|---|---:|---:|---:|",
        ]
        base = timing["pdqhash"]["ms_per_image"]
        for name, row in timing.items():
            if name.startswith("_"):
                continue
            lines.append(
                f"| {name} | {row['ms_per_image']:.2f} | {row['images_per_second']:.0f} | "
                f"{base / row['ms_per_image']:.2f}x |"
            )
        lines += [
            "",
            f"Throughput ncii / pdqhash: **{ratio['ncii_vs_pdqhash_throughput']:.2f}x** "
            f"(rounds: {ratio['min_over_rounds']:.2f}x to {ratio['max_over_rounds']:.2f}x); "
            f"hashing alone (decode subtracted): {ratio['ncii_core_vs_pdqhash_hashing_only']:.1f}x.",
            f"Same pixels, same hash: {agree['identical_hashes']}/{agree['images']} identical, "
            f"max {agree['max_bit_difference']} bits apart; equal quality {agree['equal_quality']}/{agree['images']}.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of JPEG photos")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--large-limit", type=int, default=200, help="photos resampled to 1024x768")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to (Linux)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    photos = load_set(args.images, args.limit)
    if not photos:
        print(f"no JPEG files in {args.images}", file=sys.stderr)
        return 2
    sets = {
        "photo set (as is, long side <= 512 px)": photos,
        "1024x768 JPEGs (photos resampled, quality 90)": resampled(photos[: args.large_limit], (1024, 768)),
    }
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, pinned to 1",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pdqhash": getattr(pdqhash, "__version__", "?"),
        "rounds": args.rounds,
        "sets": {},
    }
    for name, images in sets.items():
        print(f"measuring {name}: {len(images)} images", file=sys.stderr)
        report["sets"][name] = {"timing": measure(images, args.rounds), "agreement": agreement(images)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hashing.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "hashing.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
