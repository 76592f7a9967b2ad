"""Pieces shared by the benchmarks that read the photo sets (robustness, false_matches).

The photo sets are research-only data: they are read in place, never copied.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The 1,026-photo DEV set ("the bank" of the false-match benchmark).
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"
#: The 210-photo distractor set (faces, low-light photos).
DEFAULT_DISTRACTORS = REPO.parent / "shared" / "data" / "distractors"
RESULTS = REPO / "benchmarks" / "results"
CACHE_ROOT = Path.home() / ".cache" / "ncii-matcher"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

#: Bits set in each byte value, for Hamming distances of packed codes.
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def image_paths(directory: Path, limit: int | None = None) -> list[Path]:
    """The JPEG and PNG files of ``directory``, sorted by name (the first ``limit``)."""
    paths = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return paths[:limit] if limit else paths


def progress(k: int, n: int, started: float, what: str = "photos") -> None:
    """One self-overwriting line on stderr: k of n done, time elapsed and left."""
    el = time.time() - started
    print(f"\r{k}/{n} {what}, {el:.0f}s elapsed, ~{el / k * (n - k):.0f}s left", end="", file=sys.stderr)
