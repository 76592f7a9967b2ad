"""Safe image loading: every format, orientation, alpha, modes, and every typed error.

Images are generated in memory; the reference mode files come from the shared
data folder when it is present.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features

from matcher import loading
from matcher.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    MatcherError,
    NotAnImageError,
    UnsupportedImageFormatError,
)
from matcher.loading import load_image, load_rgb_array, read_source_bytes


def gradient(width: int = 48, height: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 5, y * 7, (x + y) * 3], -1).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def mean_abs_diff(a, b) -> float:
    return float(np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).mean())


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny (invalid) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- formats

LOSSLESS = [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})]
LOSSY = [("JPEG", {"quality": 95}), ("WEBP", {"quality": 95})]


@pytest.mark.parametrize("fmt,params", LOSSLESS)
def test_lossless_formats_decode_exactly(fmt, params):
    pixels = gradient()
    loaded = load_image(encode(Image.fromarray(pixels), fmt, **params))
    assert loaded.mode == "RGB"
    assert np.array_equal(np.asarray(loaded), pixels)


@pytest.mark.parametrize("fmt,params", LOSSY)
def test_lossy_formats_decode(fmt, params):
    pixels = gradient()
    loaded = load_image(encode(Image.fromarray(pixels), fmt, **params))
    assert loaded.mode == "RGB" and loaded.size == (48, 32)
    assert mean_abs_diff(loaded, pixels) < 4


def test_gif_decodes_first_frame():
    red = Image.new("RGB", (16, 8), (255, 0, 0))
    blue = Image.new("RGB", (16, 8), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=50)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert np.all(np.asarray(load_image(data)) == (255, 0, 0))


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "PNG", "MPO"])
def test_multi_frame_files_give_the_first_frame(fmt):
    red = Image.new("RGB", (16, 8), (250, 0, 0))
    blue = Image.new("RGB", (16, 8), (0, 0, 250))
    data = encode(red, fmt, save_all=True, append_images=[blue])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert mean_abs_diff(load_image(data), red) < 3


def test_heif_decodes():
    if "HEIF" not in loading.supported_formats():
        pytest.skip("pillow-heif is not installed")
    pixels = gradient()
    data = encode(Image.fromarray(pixels), "HEIF", quality=90)
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (48, 32)
    assert mean_abs_diff(loaded, pixels) < 4
    # Some phones write "mif1" as the major brand; Pillow's AVIF opener looks
    # at those first and must hand them on to pillow-heif.
    assert mean_abs_diff(load_image(data[:8] + b"mif1" + data[12:]), pixels) < 4


def test_avif_decodes_when_pillow_supports_it():
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    pixels = gradient()
    loaded = load_image(encode(Image.fromarray(pixels), "AVIF", quality=90))
    assert loaded.mode == "RGB" and loaded.size == (48, 32)
    assert mean_abs_diff(loaded, pixels) < 4


# ---------------------------------------------------------------- sources


def test_every_source_type_gives_the_same_pixels(tmp_path):
    pixels = gradient()
    data = encode(Image.fromarray(pixels), "PNG")
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    file_object = io.BytesIO(b"xx" + data)
    file_object.seek(2)  # read from the current position
    sources = [str(path), path, data, bytearray(data), memoryview(data), file_object]
    sources += [Image.open(io.BytesIO(data)), pixels]
    for source in sources:
        array = load_rgb_array(source)
        assert array.dtype == np.uint8 and array.shape == (32, 48, 3)
        assert array.flags.c_contiguous and array.flags.writeable
        assert np.array_equal(array, pixels), type(source)


def test_arrays_grey_and_rgba():
    grey = gradient()[:, :, 0]
    assert np.array_equal(load_rgb_array(grey), np.stack([grey] * 3, -1))
    assert np.array_equal(load_rgb_array(grey[:, :, None]), np.stack([grey] * 3, -1))
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    assert load_rgb_array(rgba)[0, 0].tolist() == [10, 20, 30]
    assert load_rgb_array(rgba)[1, 1].tolist() == [255, 255, 255]


def test_array_input_is_copied():
    pixels = gradient()
    out = load_rgb_array(pixels)
    out[:] = 0
    assert pixels.any()


def test_pil_input_is_not_closed_or_changed():
    source = Image.new("RGBA", (4, 4), (1, 2, 3, 0))
    out = load_image(source)
    assert out is not source and out.mode == "RGB"
    assert source.mode == "RGBA" and source.getpixel((0, 0)) == (1, 2, 3, 0)


def test_read_source_bytes_is_what_gets_decoded(tmp_path):
    data = encode(Image.fromarray(gradient()), "JPEG")
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    read = read_source_bytes(path)
    assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()
    assert np.array_equal(load_rgb_array(read), load_rgb_array(path))
    with pytest.raises(TypeError, match="file bytes"):
        read_source_bytes(Image.open(io.BytesIO(data)))
    with pytest.raises(TypeError, match="file bytes"):
        read_source_bytes(gradient())


@pytest.mark.parametrize("bad", [42, None, 3.5, ["a.png"], np.zeros((4, 4), np.float32),
                                 np.zeros((4, 4, 2), np.uint8), np.zeros(4, np.uint8)])  # fmt: skip
def test_wrong_argument_types_are_type_errors(bad):
    # A programming error, not bad input: deliberately not a MatcherError, so
    # a service answers 500 rather than blaming the uploader.
    with pytest.raises(TypeError):
        load_image(bad)


def test_text_mode_file_is_a_type_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello")
    with open(path) as text_file, pytest.raises(TypeError, match="binary"):
        load_image(text_file)


def test_missing_path_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")


# ---------------------------------------------------------------- orientation


def orientation_exif(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def asymmetric() -> np.ndarray:
    pixels = np.full((20, 40, 3), 30, np.uint8)
    pixels[:8, :12] = (230, 40, 40)  # a red block in the top-left corner
    return pixels


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_6_is_applied(fmt):
    pixels = asymmetric()
    data = encode(Image.fromarray(pixels), fmt, exif=orientation_exif(6), quality=95)
    loaded = load_rgb_array(data)
    # 6 = "rotate 90 degrees clockwise to view": stored 40x20 shows as 20x40,
    # and the red corner moves to the top right.
    assert loaded.shape == (40, 20, 3)
    assert mean_abs_diff(loaded, np.rot90(pixels, k=-1)) < 3
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert np.array_equal(loaded, np.asarray(expected))
    assert load_rgb_array(data, apply_exif=False).shape == (20, 40, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(orientation):
    data = encode(Image.fromarray(asymmetric()), "PNG", exif=orientation_exif(orientation))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert np.array_equal(load_rgb_array(data), np.asarray(expected))


@pytest.mark.parametrize("exif", [b"Exif\x00\x00garbage!", b"Exif\x00\x00MM\x00*\x00\x00\xff\xff"])
def test_broken_exif_is_ignored_not_fatal(exif):
    pixels = asymmetric()
    data = encode(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)
    assert mean_abs_diff(load_rgb_array(data), pixels) < 3


# ---------------------------------------------------------------- modes and alpha


def test_alpha_is_flattened_onto_white():
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (200, 0, 0, 0)  # invisible red
    rgba[0, 1] = (0, 0, 0, 128)  # half-transparent black
    rgba[0, 2] = (0, 90, 0, 255)  # opaque green
    for fmt in ["PNG", "WEBP", "TIFF"]:
        params = {"lossless": True} if fmt == "WEBP" else {}
        out = load_rgb_array(encode(Image.fromarray(rgba), fmt, **params))
        assert out[0, 0].tolist() == [255, 255, 255], fmt
        assert all(abs(v - 127) <= 1 for v in out[0, 1]), fmt
        assert out[0, 2].tolist() == [0, 90, 0], fmt


def test_la_and_palette_transparency_are_flattened_onto_white():
    la = Image.new("LA", (2, 1), (40, 0))
    assert load_rgb_array(encode(la, "PNG"))[0, 0].tolist() == [255, 255, 255]
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([200, 10, 10, 10, 200, 10])
    palette.putpixel((1, 0), 1)
    out = load_rgb_array(encode(palette, "GIF", transparency=0))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [10, 200, 10]
    grey_key = Image.new("L", (2, 1), 7)  # tRNS: grey 7 is transparent
    assert load_rgb_array(encode(grey_key, "PNG", transparency=7))[0, 0].tolist() == [255] * 3


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", "LAB"])
def test_opaque_modes_equal_convert_rgb(mode):
    source = Image.fromarray(gradient()).convert(mode)
    assert np.array_equal(load_rgb_array(source), np.asarray(source.convert("RGB")))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_is_scaled_not_clipped(fmt):
    values = np.array([[0, 255, 256, 32768, 65280, 65535]], np.uint16)
    data = encode(Image.fromarray(values), fmt)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    assert load_rgb_array(data)[0, :, 0].tolist() == [0, 0, 1, 128, 255, 255]


def test_32_bit_int_and_float_modes():
    ints = Image.fromarray(np.array([[-5, 0, 256, 65535, 10**6]], np.int32))
    assert load_rgb_array(ints)[0, :, 0].tolist() == [0, 0, 1, 255, 255]
    floats = Image.fromarray(np.array([[-1.0, 0.0, 0.5, 1.0, 7.0, np.nan]], np.float32))
    assert load_rgb_array(floats)[0, :, 0].tolist() == [0, 0, 128, 255, 255, 0]


def test_reference_mode_files_equal_pillow(shared_data: Path):
    # The reference conformance vectors were computed on PIL's .convert("RGB")
    # (opaque files) and without EXIF orientation; none of these files has an
    # orientation tag or a non-opaque alpha, so all three must agree.
    folder = shared_data / "pdq-reference" / "data" / "misc-images"
    files = sorted((folder / "modes").iterdir()) + sorted(folder.glob("*.*"))
    assert len(files) >= 14
    for path in files:
        with Image.open(path) as reference:
            expected = np.asarray(reference.convert("RGB"))
        assert np.array_equal(load_rgb_array(path), expected), path.name


# ---------------------------------------------------------------- errors


def jpeg_bytes() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    return encode(Image.fromarray(noise), "JPEG", quality=90)


def png_bytes() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    return encode(Image.fromarray(noise), "PNG")


HOSTILE = {
    "zero bytes": (b"", EmptyImageError, "empty"),
    "random bytes": (np.random.default_rng(1).bytes(4096), NotAnImageError, "not a picture"),
    "text": (b"my password is hunter2\n" * 20, NotAnImageError, "text"),
    "html": (b"<!DOCTYPE html><html><body>hi</body></html>", NotAnImageError, "web page"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", NotAnImageError, "PDF"),
    "zip": (b"PK\x03\x04" + bytes(40), NotAnImageError, "ZIP"),
    "mp4": (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(40), NotAnImageError,
            "video"),
    "jpeg xl": (b"\xff\x0a\xfa\x7f\x01\x90" + bytes(40), UnsupportedImageFormatError, "JPEG XL"),
    "svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            UnsupportedImageFormatError, "SVG"),
    "psd": (b"8BPS\x00\x01" + bytes(40), UnsupportedImageFormatError, "Photoshop"),
    "truncated jpeg": (jpeg_bytes()[:1500], CorruptImageError, "JPEG picture is damaged"),
    "truncated png": (png_bytes()[:3000], CorruptImageError, "PNG picture is damaged"),
    "png header only": (png_bytes()[:20], CorruptImageError, "PNG picture is damaged"),
    "jpeg marker only": (b"\xff\xd8\xff\xe0" + bytes(12), CorruptImageError, "JPEG"),
    "png of zero width": (png_with_header(0, 10), CorruptImageError, "damaged"),
    "png bomb": (png_with_header(100_000, 100_000), ImageTooLargeError, "10000.0 megapixels"),
}  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_raises_one_typed_error(name):
    data, error, phrase = HOSTILE[name]
    with pytest.raises(error) as caught:
        load_image(data)
    assert isinstance(caught.value, ImageError) and isinstance(caught.value, MatcherError)
    assert caught.value.code == error.code
    assert phrase.lower() in str(caught.value).lower()
    assert "hunter2" not in str(caught.value)


def test_error_codes_are_stable():
    assert {cls.code for cls in [EmptyImageError, NotAnImageError, UnsupportedImageFormatError,
                                 CorruptImageError, ImageTooLargeError]} == {
        "image_empty", "image_not_an_image", "image_unsupported_format", "image_corrupt",
        "image_too_large"}  # fmt: skip


def test_bomb_is_refused_from_the_header_before_decoding(monkeypatch):
    decoded = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: decoded.append(self) or original(self)
    )
    # 100 MP: above Pillow's warning threshold, below its error threshold.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError, match="10000 x 10000"):
            load_image(png_with_header(10_000, 10_000))
        # Beyond Pillow's hard ceiling even a caller's huge limit is refused.
        with pytest.raises(ImageTooLargeError):
            load_image(png_with_header(100_000, 100_000), max_pixels=10**12)
    assert decoded == []
    assert seen == []  # no DecompressionBombWarning printed


def test_pixel_limit_is_inclusive():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert load_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_pixels=9_999)
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=9_999)


def test_byte_limit_for_every_source(tmp_path):
    data = png_bytes()
    path = tmp_path / "big.png"
    path.write_bytes(data)
    limit = len(data) - 1
    for source in [data, bytearray(data), memoryview(data), str(path), io.BytesIO(data)]:
        with pytest.raises(ImageTooLargeError, match="too large"):
            load_image(source, max_bytes=limit)
    stream = io.BytesIO(data)
    with pytest.raises(ImageTooLargeError):
        read_source_bytes(stream, max_bytes=limit)
    assert stream.tell() == limit + 1  # read one byte past the limit, not all of it
    assert load_image(data, max_bytes=len(data)).size == (64, 64)


def test_empty_array_and_empty_file(tmp_path):
    with pytest.raises(EmptyImageError):
        load_image(np.zeros((0, 5, 3), np.uint8))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(EmptyImageError):
        load_image(tmp_path / "empty.jpg")


def test_unsupported_when_a_decoder_is_missing(monkeypatch):
    heif = Image.new("RGB", (8, 8))
    if "HEIF" not in loading.supported_formats():
        pytest.skip("pillow-heif is not installed")
    data = encode(heif, "HEIF")
    monkeypatch.setattr(loading, "supported_formats", lambda: ("JPEG", "PNG"))
    with pytest.raises(UnsupportedImageFormatError, match="HEIC"):
        load_image(data)


def mutations(data: bytes, seed: int, count: int):
    rng = random.Random(seed)
    for i in range(count):
        mutated = bytearray(data)
        if i % 4 == 0:
            mutated = mutated[: rng.randrange(1, len(mutated))]
        else:
            for _ in range(rng.randint(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        yield bytes(mutated)


FUZZ_FORMATS = [("JPEG", {}), ("PNG", {}), ("GIF", {}), ("BMP", {}), ("TIFF", {}),
                ("TIFF", {"compression": "tiff_lzw"}), ("WEBP", {}), ("HEIF", {}),
                ("AVIF", {})]  # fmt: skip


@pytest.mark.parametrize("fmt,params", FUZZ_FORMATS)
def test_damaged_files_never_escape_raw(fmt, params):
    if fmt in ("HEIF", "AVIF") and fmt not in loading.supported_formats():
        pytest.skip(f"{fmt} is not supported by this install")
    exif = orientation_exif(6)
    data = encode(Image.fromarray(gradient(24, 16)), fmt, exif=exif, **params)
    for mutated in mutations(data, seed=len(data), count=150):
        try:
            out = load_image(mutated, max_pixels=1_000_000)
        except ImageError:
            continue
        assert out.mode == "RGB"


def test_no_global_pillow_state_changes():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for data, _, _ in HOSTILE.values():
        with pytest.raises(ImageError):
            load_image(data)
    load_image(png_bytes())
    after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    assert before == after


def test_array_is_copied_band_by_band(monkeypatch):
    monkeypatch.setattr(loading, "_ARRAY_BAND_PIXELS", 100)  # 2 rows at a time
    pixels = gradient()
    for source in [encode(Image.fromarray(pixels), "PNG"), Image.fromarray(pixels)]:
        assert np.array_equal(load_rgb_array(source), pixels)


def test_load_image_returns_a_plain_image_with_no_file_attached():
    out = load_image(encode(Image.fromarray(gradient()), "PNG"))
    assert type(out) is Image.Image and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), gradient())


def test_tiff_and_heif_are_always_upright():
    # Pillow 13 orients TIFF while decoding, and libheif applies HEIF's own
    # rotation (pillow-heif turns the EXIF tag into it): apply_exif=False
    # cannot undo either. Documented in docs/loading.md.
    pixels = asymmetric()
    tiff = encode(Image.fromarray(pixels), "TIFF", exif=orientation_exif(6))
    assert load_rgb_array(tiff, apply_exif=False).shape == (40, 20, 3)
    assert np.array_equal(load_rgb_array(tiff), np.rot90(pixels, k=-1))
    if "HEIF" in loading.supported_formats():
        heif = encode(Image.fromarray(pixels), "HEIF", exif=orientation_exif(6), quality=95)
        assert load_rgb_array(heif).shape == (40, 20, 3)
        assert load_rgb_array(heif, apply_exif=False).shape == (40, 20, 3)
