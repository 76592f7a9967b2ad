"""The front door: files in, hash records out; bad files become error records."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from matcher.batch import hash_files
from matcher.hashing import hash_file, hash_image, pdq_dihedral, pdq_hash

from .conftest import FIXTURES

PHOTO = FIXTURES / "pdq" / "bridge-1-original.jpg"
PHOTO_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_pdq_hash_accepts_every_kind_of_source() -> None:
    data = PHOTO.read_bytes()
    pil = Image.open(PHOTO)
    array = np.asarray(pil.convert("RGB"))
    for source in (PHOTO, str(PHOTO), data, io.BytesIO(data), pil, array):
        value = pdq_hash(source)
        assert value.hex == PHOTO_PDQ and value.quality == 100


def test_pdq_dihedral_has_eight_variants_starting_with_the_original() -> None:
    variants = pdq_dihedral(PHOTO)
    assert len(variants) == 8 and variants[0].hex == PHOTO_PDQ


def test_hash_file_reads_once_and_reports_everything() -> None:
    result = hash_file(PHOTO, ("md5", "sha256", "pdq", "phash"), dihedral=True)
    data = PHOTO.read_bytes()
    assert result.ok and result.kind == "image"
    assert result.hashes["md5"].hex == hashlib.md5(data).hexdigest()
    assert result.hashes["sha256"].hex == hashlib.sha256(data).hexdigest()
    assert result.hashes["pdq"].hex == PHOTO_PDQ and result.quality == 100
    assert (result.width, result.height) == (1600, 1004)
    record = result.to_record()
    assert record["pdq_dihedral"]["original"] == PHOTO_PDQ and len(record["pdq_dihedral"]) == 8


def test_hash_image_refuses_exact_digests_without_file_bytes() -> None:
    import pytest

    with pytest.raises(ValueError):
        hash_image(PHOTO, ("md5",))
    assert hash_image(PHOTO, ("pdq", "dhash"))["pdq"].hex == PHOTO_PDQ


def test_bad_files_become_error_records(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "cut.jpg").write_bytes(PHOTO.read_bytes()[:5000])
    expected = {
        "empty.jpg": "image_empty",
        "notes.txt": "image_not_an_image",
        "cut.jpg": "image_corrupt",
        "missing.jpg": "file_unreadable",
    }
    for name, code in expected.items():
        result = hash_file(tmp_path / name)
        assert not result.ok and result.kind == "error" and result.hashes == {}
        record = result.to_record()
        assert record["error"]["code"] == code, name
        assert "\\x" not in record["error"]["message"]


def test_a_video_gets_its_exact_digest_only(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(200))
    result = hash_file(video)
    assert result.ok and result.kind == "video"
    assert set(result.hashes) == {"md5"}
    assert result.hashes["md5"].hex == hashlib.md5(video.read_bytes()).hexdigest()


def test_batch_keeps_order_and_survives_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    paths = [PHOTO, tmp_path / "bad.png", FIXTURES / "pdq" / "wee.jpg"] * 3
    for workers in (1, 2):
        results = list(hash_files(paths, ("pdq",), workers=workers, chunk_size=2))
        assert [r.path for r in results] == [str(p) for p in paths]
        assert [r.ok for r in results] == [True, False, True] * 3


def test_iso_media_is_a_video_unless_its_brands_say_heif_or_avif() -> None:
    from matcher.hashing import looks_like_video

    assert looks_like_video(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
    assert looks_like_video(b"\x1a\x45\xdf\xa3" + bytes(20))  # WebM
    assert not looks_like_video(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    assert not looks_like_video(b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf")  # HEIC, brand in the list
    assert not looks_like_video(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf")
