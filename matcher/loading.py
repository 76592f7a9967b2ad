"""Turn untrusted image files into RGB pixels, or into one typed error.

Every hash starts here: a victim's photo on the hotline side, every upload on
a platform's side. Uploads are hostile or broken every day, so this is the one
module that lets a decoder see outside bytes, and it promises three things:

* The pixels are what a person sees: the first frame, EXIF orientation applied,
  transparency flattened onto white, 16-bit samples scaled (not clipped) to 8.
* Memory is bounded: the byte count is checked before the file is read in
  full, and the pixel count from the header is checked before decoding.
* Failure is one of the ``ImageError`` subclasses of :mod:`matcher.errors`,
  with a stable ``code`` and a message a non-expert can read. No decoder
  exception escapes raw, and no message quotes the file's bytes.

The contract, with its reasons, is written for humans in ``docs/loading.md``.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import warnings
from typing import BinaryIO, Union

import numpy as np
from PIL import ExifTags, Image, ImageFile, features

from matcher.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedImageFormatError,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageSource",
    "load_image",
    "load_rgb_array",
    "is_iso_picture",
    "read_source_bytes",
    "supported_formats",
]

# 64 Mi pixels (67.1 MP) covers the full-resolution modes of 48, 50 and 64 MP
# phone cameras (8000x6000, 8192x6144, 9248x6936) and stays under Pillow's own
# warning threshold (89.5 MP). Decoding costs about 8 bytes per pixel at peak
# (Pillow keeps RGB as 4 bytes a pixel, plus the array handed to the hasher),
# so about 0.5 GB at the limit. 108 and 200 MP photos are refused unless the
# caller raises the limit.
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

# A 64 MP JPEG or HEIC is 10-30 MB; 50 MiB leaves room without letting a
# single request pin an unbounded buffer.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

ImageSource = Union[
    str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray
]

# Pillow format names we let decode, and the name a person knows them by.
# Every other Pillow plugin stays out of reach of hostile bytes: fewer parsers,
# less attack surface (EPS, for example, would hand the file to Ghostscript).
_FORMAT_LABELS = {
    "JPEG": "JPEG",
    "MPO": "JPEG",  # phone JPEGs with a Multi-Picture segment
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "HEIF": "HEIC/HEIF",
    "AVIF": "AVIF",
}

_WHITE = (255, 255, 255)
_ARRAY_BAND_PIXELS = 1 << 20  # pixels copied at a time into load_rgb_array's result

# EXIF orientation value -> the transpose that shows the picture upright
# (the same table as PIL.ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet


def _heif_available() -> bool:
    """Register pillow-heif's opener once, on first use (the only global change)."""
    global _heif_state
    if _heif_state is None:
        with _heif_lock:
            if _heif_state is None:
                try:
                    import pillow_heif

                    pillow_heif.register_heif_opener()
                    _heif_state = True
                except Exception:  # not installed, or a broken native library
                    _heif_state = False
    return _heif_state


def supported_formats() -> tuple[str, ...]:
    """Pillow format names this install decodes (HEIF and AVIF depend on it)."""
    # MPO is not listed: Pillow reaches it through the JPEG opener.
    names = ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]
    if _heif_available():
        names.append("HEIF")
    if features.check("avif"):
        names.append("AVIF")
    return tuple(names)


# --------------------------------------------------------------------------
# Bytes


def read_source_bytes(source: ImageSource, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The file bytes of ``source``, at most ``max_bytes`` of them.

    These are exactly the bytes :func:`load_image` decodes, so md5/sha256 of the
    result and the perceptual hashes describe the same file: read once, then
    pass the bytes to both. A path is read from disk, a file object from its
    current position (it is not closed), ``bytes``-like objects are taken as
    the file contents (``bytes`` are never a path). Decoded pixels (a PIL image
    or a numpy array) have no file bytes, so they raise ``TypeError``: exact
    hashes need the original file.

    Raises EmptyImageError (zero bytes) and ImageTooLargeError (more than
    ``max_bytes``; a regular file's size is checked before reading). I/O
    errors on a path (missing file, permissions) propagate as ``OSError``:
    they say nothing about the picture.
    """
    if isinstance(source, (Image.Image, np.ndarray)):
        raise TypeError(
            "decoded pixels have no file bytes; md5/sha256 need the original file"
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_byte_count(memoryview(source).nbytes, max_bytes)
        data = source if isinstance(source, bytes) else bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode):
                _check_byte_count(info.st_size, max_bytes)
            data = _read_bounded(f, max_bytes)
    elif callable(getattr(source, "read", None)):
        data = _read_bounded(source, max_bytes)
    else:
        raise TypeError(
            "expected a path, bytes, a binary file object, a PIL image or a numpy "
            f"array, got {type(source).__name__}"
        )
    if not data:
        raise EmptyImageError("The file is empty (0 bytes): there is no picture in it.")
    return data


def _check_byte_count(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ImageTooLargeError(
            f"The file is too large: {_mib(size)} (the limit is {_mib(max_bytes)})."
        )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def _read_bounded(f: BinaryIO, max_bytes: int) -> bytes:
    # Read one byte past the limit: a stream whose size we cannot know in
    # advance (pipe, socket, upload) is refused without buffering all of it.
    limit = max_bytes + 1
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = f.read(limit - total)
        if chunk is None:  # non-blocking stream with nothing ready
            raise TypeError("the file object returned no data (non-blocking stream?)")
        if not isinstance(chunk, (bytes, bytearray)):
            raise TypeError("the file object must be opened in binary mode ('rb')")
        if not chunk:
            break
        chunks.append(bytes(chunk))
        total += len(chunk)
    if total > max_bytes:
        raise ImageTooLargeError(
            f"The file is too large: more than {_mib(max_bytes)} (the limit)."
        )
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# --------------------------------------------------------------------------
# Pixels


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    apply_exif: bool = True,
) -> Image.Image:
    """Decode ``source`` into a new, fully loaded image of mode ``"RGB"``.

    ``source`` is a path, file bytes (``bytes``/``bytearray``/``memoryview``),
    a binary file object, a ``PIL.Image.Image`` (its current frame; it is
    neither closed nor modified), or a uint8 numpy array of shape (H, W),
    (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises an :class:`~matcher.errors.ImageError` subclass on bad input (see
    ``docs/loading.md``) and ``TypeError`` when ``source`` is of a type we do
    not take: that is a programming error, not bad input.
    """
    image = _load(source, max_pixels, max_bytes, apply_exif)
    if isinstance(image, ImageFile.ImageFile):
        # The decoded file itself: hand out a plain image with no ties to it.
        with image:
            return image.copy()
    return image


def load_rgb_array(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    apply_exif: bool = True,
) -> np.ndarray:
    """Like :func:`load_image`, as a new writable (H, W, 3) uint8 C-contiguous array."""
    if isinstance(source, np.ndarray) and source.ndim == 3 and source.shape[2] == 3:
        _check_array(source, max_pixels)
        return np.array(source, dtype=np.uint8, order="C", copy=True)
    with _load(source, max_pixels, max_bytes, apply_exif) as image:
        # Copied band by band: np.asarray(image) would build the whole
        # picture as bytes (twice, transiently) next to Pillow's own copy.
        width, height = image.size
        array = np.empty((height, width, 3), dtype=np.uint8)
        rows = max(1, _ARRAY_BAND_PIXELS // width)
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            array[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))
    return array


def _load(
    source: ImageSource, max_pixels: int, max_bytes: int, apply_exif: bool
) -> Image.Image:
    """An RGB image that is ours to close: new, or the decoded file object itself."""
    if isinstance(source, np.ndarray):
        return _image_from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        with _quiet_pillow():
            return _finish(source, _label(source.format), max_pixels, apply_exif)
    data = read_source_bytes(source, max_bytes)
    return _decode(data, max_pixels, apply_exif)


class _quiet_pillow(warnings.catch_warnings):
    """Silence Pillow's warnings about hostile files for the duration of a decode.

    Our pixel limit is checked right after the header is read, so Pillow's
    DecompressionBombWarning (and its chatter about corrupt EXIF or MPO data)
    would only fill a server's log. Pillow's DecompressionBombError, for sizes
    over twice ``Image.MAX_IMAGE_PIXELS``, still fires and becomes
    ImageTooLargeError. Caveat: before Python 3.14 ``catch_warnings`` swaps a
    process-wide filter list, so concurrent threads may briefly see each
    other's filters; the only filters involved are these two.
    """

    def __enter__(self):
        result = super().__enter__()
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        return result


def _decode(data: bytes, max_pixels: int, apply_exif: bool) -> Image.Image:
    formats = supported_formats()
    with _quiet_pillow():
        try:
            image = Image.open(io.BytesIO(data), formats=formats)
        except Image.DecompressionBombError as exc:
            # Pillow's own ceiling (2 x Image.MAX_IMAGE_PIXELS), hit inside open().
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            size = f" ({int(claimed[1]) / 1e6:.1f} megapixels)" if claimed else ""
            raise ImageTooLargeError(
                f"The picture is too large{size}: its header claims more pixels "
                f"than we will decode (the limit is {max_pixels / 1e6:.1f} megapixels)."
            ) from exc
        except Exception as exc:  # UnidentifiedImageError, or a plugin choking
            raise _explain_unopenable(data, exc) from exc
        try:
            result = _finish(
                image, _label(image.format), max_pixels, apply_exif, owned=True
            )
        except BaseException:
            image.close()
            raise
        if result is not image:
            image.close()
        return result


def _label(pillow_format: str | None) -> str:
    """The format name a person knows ("" for in-memory pictures)."""
    return _FORMAT_LABELS.get(pillow_format or "", pillow_format or "")


def _the(label: str | None) -> str:
    return f"The {label} picture" if label else "The picture"


def _finish(
    image: Image.Image,
    label: str,
    max_pixels: int,
    apply_exif: bool,
    owned: bool = False,
) -> Image.Image:
    """Limit, decode, orient and convert an opened image (frame 0 for files).

    Returns a new image, or ``image`` itself when it is ``owned`` (decoded
    here) and already opaque RGB: a 64 MP picture costs 256 MB per copy.
    """
    _check_size(image.size, label, max_pixels)  # header only: nothing decoded yet
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{_the(label)} is too large: it has more pixels than we will decode."
        ) from exc
    except Exception as exc:
        if isinstance(exc, OSError) and "not available" in str(exc):
            # Pillow's "decoder X not available": a codec this install lacks.
            raise UnsupportedImageFormatError(
                f"{_the(label)} uses a compression we cannot decode. "
                "Convert it to JPEG or PNG and try again."
            ) from exc
        raise _corrupt(label) from exc
    # A GIF frame may lie outside the canvas its header declared.
    _check_size(image.size, label, max_pixels)
    # Orientation is read after load(): a PNG may keep its EXIF after the pixels.
    orientation = _orientation(image) if apply_exif else 1
    try:
        if owned and image.mode == "RGB" and not image.has_transparency_data:
            rgb = image
        else:
            rgb = _to_rgb(image)
        if orientation in _UPRIGHT:
            rgb = rgb.transpose(_UPRIGHT[orientation])
    except MemoryError as exc:
        raise ImageTooLargeError(
            f"{_the(label)} is too large to convert in the memory available."
        ) from exc
    except Exception as exc:
        raise _corrupt(label) from exc
    return rgb


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptImageError(
            f"{_the(label)} is damaged: it claims a size of {width} x {height} pixels."
        )
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{_the(label)} is too large: {width} x {height} pixels "
            f"({width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:.1f})."
        )


def _corrupt(label: str | None) -> CorruptImageError:
    return CorruptImageError(
        f"{_the(label)} is damaged or incomplete (for example a download that "
        "stopped early): we could not read its pixels."
    )


def _orientation(image: Image.Image) -> int:
    # Broken EXIF must not stop a picture from being hashed (otherwise mangling
    # the metadata would be a way to dodge matching): treat it as upright.
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """The RGB pixels a viewer shows; equal to ``.convert("RGB")`` for 8-bit opaque modes.

    Pillow's own conversion clips 16-bit and 32-bit samples at 255, which turns
    a 16-bit photo white; we scale instead (keep the high byte, as Pillow does
    for 16-bit RGB PNGs). ``I`` is read as 16-bit data (how 16-bit files reach
    that mode), ``F`` as 0.0-1.0 (the convention of floating-point images).
    """
    mode = image.mode
    if mode.startswith("I;16"):
        grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "I":
        grey = (np.clip(np.asarray(image), 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        grey = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.has_transparency_data:
        # Most viewers show a transparent picture on white; so does the photo
        # set the thresholds were measured on. Fully opaque pixels come out
        # unchanged, so an opaque RGBA file equals its .convert("RGB").
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", image.size, _WHITE)
        flat.paste(rgba, mask=rgba)
        return flat
    return image.convert("RGB")  # a copy even when already RGB


def _image_from_array(array: np.ndarray, max_pixels: int) -> Image.Image:
    _check_array(array, max_pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return _to_rgb(Image.fromarray(np.ascontiguousarray(array)))


def _check_array(array: np.ndarray, max_pixels: int) -> None:
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))
    if array.dtype != np.uint8 or not shape_ok:
        raise TypeError(
            "expected a uint8 array of shape (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, "
            f"got {array.dtype} {array.shape}"
        )
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise EmptyImageError(f"The picture has no pixels ({width} x {height}).")
    _check_size((width, height), "", max_pixels)


# --------------------------------------------------------------------------
# Why a file would not open: sniff its first bytes


def _explain_unopenable(data: bytes, exc: Exception) -> ImageError:
    kind, label = _sniff(data)
    if kind == "image":
        if label in {_FORMAT_LABELS[name] for name in supported_formats()}:
            return _corrupt(label)
        kind = "other image"  # e.g. HEIC without pillow-heif, AVIF without libavif
    if kind == "other image":
        return UnsupportedImageFormatError(
            f"The file is a picture in a format we cannot read ({label}). Supported: "
            f"{_supported_list()}. Convert it to JPEG or PNG and try again."
        )
    if kind == "not image":
        return NotAnImageError(f"The file is not a picture we can read (looks like {label}).")
    if not isinstance(exc, Image.UnidentifiedImageError):
        # A plugin recognised the header and then failed: a damaged file.
        return _corrupt(None)
    return NotAnImageError(
        "The file is not a picture we can read: its contents match no image format "
        f"we know. Supported: {_supported_list()}."
    )


def _supported_list() -> str:
    return ", ".join(dict.fromkeys(_FORMAT_LABELS[name] for name in supported_formats()))


# (prefix, kind, label). "image": formats we decode; "other image": pictures
# in formats we do not decode; "not image": other files, named in messages.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "image", "PNG"),
    (b"GIF87a", "image", "GIF"),
    (b"GIF89a", "image", "GIF"),
    (b"II*\x00", "image", "TIFF"),
    (b"MM\x00*", "image", "TIFF"),
    (b"II+\x00", "image", "TIFF"),  # BigTIFF
    (b"MM\x00+", "image", "TIFF"),
    (b"\xff\x0a", "other image", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "other image", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "other image", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "other image", "JPEG 2000"),
    (b"8BPS", "other image", "Photoshop PSD"),
    (b"\x00\x00\x01\x00", "other image", "ICO icon"),
    (b"%!PS", "other image", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "other image", "PostScript/EPS"),
    (b"qoif", "other image", "QOI"),
    (b"DDS ", "other image", "DirectDraw DDS"),
    (b"icns", "other image", "Apple ICNS icon"),
    (b"\x76\x2f\x31\x01", "other image", "OpenEXR"),
    (b"#?RADIANCE", "other image", "Radiance HDR"),
    (b"gimp xcf", "other image", "GIMP XCF"),
    (b"FUJIFILMCCD-RAW", "other image", "Fujifilm RAF raw"),
    (b"%PDF-", "not image", "a PDF document"),
    (b"PK\x03\x04", "not image", "a ZIP archive or an Office document"),
    (b"PK\x05\x06", "not image", "a ZIP archive"),
    (b"\x1f\x8b", "not image", "a gzip archive"),
    (b"BZh", "not image", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "not image", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "not image", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "not image", "a RAR archive"),
    (b"\x7fELF", "not image", "a program"),
    (b"MZ", "not image", "a Windows program"),
    (b"SQLite format 3\x00", "not image", "a database"),
    (b"\x1a\x45\xdf\xa3", "not image", "a video (WebM/MKV)"),
    (b"FLV", "not image", "a video (FLV)"),
    (b"\x00\x00\x01\xba", "not image", "a video (MPEG)"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "not image", "a video (WMV)"),
    (b"OggS", "not image", "an audio or video file (Ogg)"),
    (b"ID3", "not image", "an audio file (MP3)"),
    (b"fLaC", "not image", "an audio file (FLAC)"),
)

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm",
                b"hevs", b"mif1", b"msf1", b"mif2"}  # fmt: skip
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_TEXT_BYTES = frozenset(b"\t\n\r\f\b\x1b") | frozenset(range(0x20, 0x7F)) | frozenset(
    range(0x80, 0x100)
)


def _sniff(data: bytes) -> tuple[str, str]:
    """(kind, label) from the first bytes, for error messages only.

    Decoding never trusts this: Pillow decides what it can open. The table
    only turns a refusal into a useful message (a damaged PNG is not "not a
    picture"; a PDF or a video deserves to be named).
    """
    for prefix, kind, label in _MAGIC:
        if data.startswith(prefix):
            return kind, label
    head = data[:16]
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {
            b"WEBP": ("image", "WebP"),
            b"AVI ": ("not image", "a video (AVI)"),
            b"WAVE": ("not image", "an audio file (WAV)"),
        }.get(head[8:12], ("not image", "a RIFF media file"))
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(data)
    if head[:2] == b"BM" and len(head) >= 18:
        if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
            return "image", "BMP"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "other image", "Netpbm PBM/PGM/PPM"
    if data.endswith(b"TRUEVISION-XFILE.\x00"):
        return "other image", "TGA"
    return _sniff_text(data[:4096])


def is_iso_picture(head: bytes) -> bool:
    """True for ISO base media (an ``ftyp`` box) whose brands say HEIF or AVIF.

    Pass the first kilobyte: the compatible brands follow the major one.
    """
    return head[4:8] == b"ftyp" and _sniff_iso_media(head)[0] == "image"


def _sniff_iso_media(data: bytes) -> tuple[str, str]:
    # ISO base media (HEIF, AVIF, MP4, MOV): the ftyp box lists brands.
    size = int.from_bytes(data[0:4], "big")
    end = min(len(data), max(size, 16), 1024)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "image", "AVIF"
    if brands & _HEIF_BRANDS:
        return "image", "HEIC/HEIF"
    if b"crx " in brands:
        return "other image", "Canon CR3 raw"
    return "not image", "a video or audio file (MP4/MOV)"


def _sniff_text(head: bytes) -> tuple[str, str]:
    if not head or b"\x00" in head:
        return "unknown", ""
    if sum(byte in _TEXT_BYTES for byte in head) < 0.95 * len(head):
        return "unknown", ""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n").lower()
    if text.startswith("<") and "<svg" in text:
        return "other image", "SVG vector"
    if text.startswith(("<!doctype html", "<html")):
        return "not image", "a web page (HTML)"
    return "not image", "text"
