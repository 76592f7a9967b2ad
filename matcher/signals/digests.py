"""Exact digests of the file bytes: MD5 (what StopNCII exchanges for videos) and SHA-256.

They match only byte-identical files, so their threshold is 0; they apply to
any file, videos included, because they never decode it.
"""

from __future__ import annotations

import hashlib

from ..hash_value import Hash
from .base import SignalType, register


def md5_from_bytes(data: bytes) -> Hash:
    return Hash("md5", hashlib.md5(data, usedforsecurity=False).digest())


def sha256_from_bytes(data: bytes) -> Hash:
    return Hash("sha256", hashlib.sha256(data).digest())


MD5 = register(SignalType("md5", 128, 0, "file", "MD5 of the file bytes (exact)", compute_bytes=md5_from_bytes))
SHA256 = register(SignalType("sha256", 256, 0, "file", "SHA-256 of the file bytes (exact)", compute_bytes=sha256_from_bytes))
