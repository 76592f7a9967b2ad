"""The signal registry and the Hash value type."""

from __future__ import annotations

import hashlib

import imagehash
import pytest
from PIL import Image

from matcher.errors import HashFormatError, UnknownSignalError
from matcher.hash_value import Hash
from matcher.signals import SignalType, all_signals, get_signal, register, signal_names

from .conftest import FIXTURES

PHOTO = FIXTURES / "pdq" / "bridge-1-original.jpg"


def test_builtin_signal_types_and_their_properties() -> None:
    assert {"pdq", "phash", "dhash", "whash", "ahash", "md5", "sha256"} <= set(signal_names())
    pdq = get_signal("pdq")
    assert (pdq.bits, pdq.threshold, pdq.min_quality, pdq.source) == (256, 31, 50, "image")
    assert get_signal("md5").bits == 128 and get_signal("md5").exact
    assert get_signal("sha256").bits == 256 and get_signal("sha256").source == "file"
    for name in ("phash", "dhash", "whash", "ahash"):
        assert get_signal(name).bits == 64 and not get_signal(name).exact


def test_unknown_signal_is_a_typed_error() -> None:
    with pytest.raises(UnknownSignalError, match="known: "):
        get_signal("nope")


@pytest.mark.parametrize(
    "text, reason",
    [("abc", "64 hex digits"), ("z" * 64, "0-9 and a-f"), ("0" * 63 + " ", "64 hex digits"), ("", "64 hex digits")],
)
def test_parse_refuses_malformed_hex_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(HashFormatError, match=reason):
        get_signal("pdq").parse(text)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(HashFormatError):
        get_signal("md5").parse(12345)  # type: ignore[arg-type]


def test_parse_format_round_trip_normalises_case_and_space() -> None:
    text = "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22"
    value = get_signal("pdq").parse(f"  {text}\n", quality=90)
    assert str(value) == text.lower() and value.quality == 90 and value.bits == 256


def test_distance_is_hamming_and_refuses_mixed_types() -> None:
    a = Hash("pdq", bytes(32))
    b = Hash("pdq", bytes([0xFF]) + bytes(30) + bytes([0x01]))
    assert a - b == b - a == 9
    assert get_signal("pdq").matches(a, b) and not get_signal("pdq").matches(a, b, threshold=8)
    with pytest.raises(ValueError):
        _ = a - Hash("phash", bytes(8))


def test_quality_decides_usability() -> None:
    pdq = get_signal("pdq")
    assert pdq.usable(Hash("pdq", bytes(32), 50)) and not pdq.usable(Hash("pdq", bytes(32), 49))


def test_imagehash_signals_equal_the_imagehash_library() -> None:
    image = Image.open(PHOTO)
    for name, algorithm in [("phash", imagehash.phash), ("dhash", imagehash.dhash), ("whash", imagehash.whash), ("ahash", imagehash.average_hash)]:
        assert str(get_signal(name).compute_image(image)) == str(algorithm(image))


def test_digests_equal_hashlib() -> None:
    data = PHOTO.read_bytes()
    assert str(get_signal("md5").compute_bytes(data)) == hashlib.md5(data).hexdigest()
    assert str(get_signal("sha256").compute_bytes(data)) == hashlib.sha256(data).hexdigest()


def test_a_new_signal_type_plugs_in() -> None:
    def first_bytes(data: bytes) -> Hash:
        return Hash("head8", data[:1].ljust(1, b"\0"))

    from matcher.signals import base

    custom = register(SignalType("head8", 8, 0, "file", "first byte (test)", compute_bytes=first_bytes))
    try:
        assert get_signal("head8") is custom and custom in all_signals()
        with pytest.raises(ValueError):
            register(SignalType("head8", 8, 0, "file", "clash", compute_bytes=first_bytes))
        with pytest.raises(ValueError):
            register(SignalType("Bad-Name", 8, 0, "file", "bad", compute_bytes=first_bytes))
    finally:
        base._REGISTRY.pop("head8", None)
