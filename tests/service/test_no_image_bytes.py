"""Invariant: no image bytes anywhere. Not in the database, not in files, not in logs."""

from __future__ import annotations

import io
import logging
import tempfile

import numpy as np
import pytest
from PIL import Image

from matcher.hashing import hash_file

from ..conftest import FIXTURES
from .helpers import catch_up, image_item, submit

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

JPEG_MARKERS = (b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\xff\xd8\xff\xdb")


def _big_jpeg() -> bytes:
    """A photo-sized JPEG over Starlette's 1 MiB spooling threshold."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(1100, 1100, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=97)
    assert out.tell() > 1024 * 1024
    return out.getvalue()


def _windows(data: bytes, size: int = 32) -> list[bytes]:
    # Any shared run of 64 bytes contains one of these aligned 32-byte chunks.
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


def _leaks(haystack: bytes, images: list[bytes]) -> list[str]:
    found = [marker.hex() for marker in JPEG_MARKERS if marker in haystack]
    for number, image in enumerate(images):
        hits = sum(1 for chunk in _windows(image) if len(set(chunk)) > 4 and chunk in haystack)
        if hits:
            found.append(f"image {number}: {hits} chunks")
    return found


def test_uploaded_images_leave_no_trace(client, platform, settings, caplog, capfd, monkeypatch):
    caplog.set_level(logging.DEBUG)
    spooled = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: spooled.append(1) or real(*a, **k))

    small = (FIXTURES / "pdq" / "rgb.jpeg").read_bytes()
    big = _big_jpeg()
    for image in (small, big):
        pdq = hash_file(image, ("pdq",)).hashes["pdq"]
        submit(client, image_item(str(pdq), quality=pdq.quality))
    catch_up(client.app)
    for image in (small, big, small[: len(small) // 2]):
        response = client.post(
            "/v1/match/image", files={"file": ("holiday.jpg", image, "image/jpeg")}, data={"content_ref": "c1"},
            headers=platform,
        )
        assert response.status_code in (200, 422), response.text
        assert response.status_code == 422 or response.json()["results"][0]["matches"]
    client.get("/metrics")
    client.app.state.index.write_snapshot()

    assert not spooled, "an upload was spooled to a temporary file"
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("ncii.sqlite3") for p in files)
    assert any(p.suffix == ".npz" for p in files)
    for path in files:
        assert not _leaks(path.read_bytes(), [small, big]), path
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records).encode("latin-1", "replace")
    out, err = capfd.readouterr()
    for text in (logged, out.encode("utf-8", "replace"), err.encode("utf-8", "replace")):
        assert not _leaks(text, [small, big])
    assert b"holiday.jpg" not in b"".join(p.read_bytes() for p in files)
