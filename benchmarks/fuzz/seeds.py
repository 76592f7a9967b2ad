"""Write the committed seed corpus: ``python -m benchmarks.fuzz.seeds``.

Every seed is made here, from nothing: tiny pictures drawn with Pillow (no photo, no file from
a dataset or a package), hash batches, match bodies, real cursors, signed webhooks and feed
pages as our own server writes them. Seeds are small so that the fuzzer mutates structure,
not pixels.
"""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from matcher.loading import _heif_available, supported_formats
from service.exchange.feed import encode_cursor
from service.webhooks import signing

from . import CORPUS
from .webhook_signature import NOW, SECRET

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def _picture(mode: str, size=(12, 8)) -> Image.Image:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    rgb = np.stack([x * 20, y * 30, (x + y) * 10], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        image.putalpha(Image.fromarray((x * 21).astype(np.uint8), "L"))
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def images() -> dict[str, bytes]:
    out = {}

    def save(name, image, fmt, **options):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        out[name] = buffer.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    save("jpeg.jpg", _picture("RGB"), "JPEG", quality=50)
    save("jpeg-exif-progressive.jpg", _picture("RGB"), "JPEG", quality=30, progressive=True, exif=exif.tobytes())
    save("jpeg-grey.jpg", _picture("L"), "JPEG", quality=30)
    save("jpeg-cmyk.jpg", _picture("CMYK"), "JPEG", quality=30)
    save("png-rgba.png", _picture("RGBA"), "PNG")
    save("png-palette.png", _picture("P"), "PNG", transparency=0)
    save("png-16bit.png", Image.fromarray((np.arange(96, dtype=np.uint16).reshape(8, 12) * 600)), "PNG")
    frames = [_picture("RGB").convert("P"), _picture("RGB").rotate(90).convert("P")]
    save("gif-animated.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0)
    save("apng.png", _picture("RGB"), "PNG", save_all=True, append_images=[_picture("RGB").rotate(180)])
    save("webp-lossy.webp", _picture("RGB"), "WEBP", quality=20)
    save("webp-lossless-alpha.webp", _picture("RGBA"), "WEBP", lossless=True)
    save("bmp.bmp", _picture("P"), "BMP")
    save("tiff-deflate.tif", _picture("RGB"), "TIFF", compression="tiff_adobe_deflate")
    save("tiff-exif.tif", _picture("L"), "TIFF", exif=exif.tobytes())
    formats = supported_formats()
    if "HEIF" in formats and _heif_available():
        save("heic.heic", _picture("RGB", (16, 16)), "HEIF", quality=10)
    if "AVIF" in formats:
        save("avif.avif", _picture("RGB", (16, 16)), "AVIF", quality=10)
    return out


def hex_batches() -> dict[str, bytes]:
    return {  # first byte: the width (see hex_batch.WIDTHS), then one code a line
        "pdq-three": bytes([1]) + "\n".join([PDQ, PDQ.upper(), f"  {PDQ[::-1]} "]).encode(),
        "md5-two": bytes([0]) + "\n".join([MD5, MD5[::-1]]).encode(),
        "pdq-one-bad": bytes([1]) + "\n".join([PDQ, PDQ[:-1] + "g"]).encode(),
        "phash": bytes([2]) + b"ffd8a0c0e0f0f8fc",
    }


def match_bodies() -> dict[str, bytes]:
    frames = [{"pdq": PDQ, "quality": 100, "frame": 15 * t, "time": t / 2} for t in range(3)]
    bodies = {
        "pdq-md5": {"queries": [{"signal": "pdq", "hash": PDQ, "quality": 100, "structure": 412, "content_ref": "u/1"},
                                {"signal": "md5", "hash": MD5}]},
        "review-band": {"queries": [{"signal": "pdq", "hash": PDQ, "quality": 40}], "review_band": "sync"},
        "invalid": {"queries": [{"signal": "pdq", "hash": "xyz"}, {"signal": "nope", "hash": MD5},
                                {"signal": "pdq"}, {"signal": "md5", "hash": MD5, "structure": 3}]},
        "video": {"queries": [{"signal": "vpdq", "vpdq": {"frames": frames}, "content_ref": "v/1"}]},
    }
    return {name: json.dumps(body).encode() for name, body in bodies.items()}


def cursors() -> dict[str, bytes]:
    return {"start": encode_cursor(0).encode(), "middle": encode_cursor(12345).encode(),
            "largest": encode_cursor(10**18 - 1).encode(), "empty": b""}


def webhooks() -> dict[str, bytes]:
    body = json.dumps({"event": "decision", "decision": "ncii_remove", "content_ref": "u/1"}).encode()
    headers = signing.signed_headers([SECRET, "whsec_" + "B" * 43], "delivery-1", body, now=NOW)
    seed = headers[signing.HEADER_TIMESTAMP].encode() + b"\x00" + headers[signing.HEADER_SIGNATURE].encode()
    return {"signed": seed + b"\x00" + body, "stale": b"1\x00" + seed.split(b"\x00")[1] + b"\x00" + body}


def native_pages() -> dict[str, bytes]:
    records = [
        {"seq": 1, "op": "add", "signal": "pdq", "hash_id": 7, "hash": PDQ, "quality": 100, "structure": 412,
         "reason": "submitted", "variant": "full"},
        {"seq": 2, "op": "remove", "signal": "md5", "hash_id": 8, "hash": MD5, "reason": "withdrawn"},
        {"seq": 3, "op": "add", "signal": "vpdq", "hash_id": 9, "hash": PDQ, "quality": 90,
         "video": {"video_id": 4, "frames": [{"frame": 0, "time": 0.0}, {"frame": 30, "time": 1.0}]}},
        {"seq": 4, "op": "add", "signal": "tmk", "hash_id": 10, "hash": "00"},
    ]
    pages = {
        "page": {"records": records, "next_cursor": encode_cursor(4), "has_more": True},
        "end": {"records": [], "next_cursor": None, "has_more": False},
    }
    out = {name: b"\x00" + json.dumps(body).encode() for name, body in pages.items()}
    out["error-401"] = b"\x06" + json.dumps({"error": {"code": "unauthorized", "message": "no"}}).encode()
    return out


def stopncii_pages() -> dict[str, bytes]:
    records = [{"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": "Active"},
               {"signalType": "VideoMD5", "hashValue": MD5.upper(), "hashStatus": "Withdrawn"},
               {"signalType": "Other", "hashValue": "00", "hashStatus": "Deleted"}]
    pages = {
        "more": {"hashRecords": records, "hasMoreRecords": True, "nextPageToken": "tok-1"},
        "last": {"hashRecords": records[:1], "hasMoreRecords": False, "nextSetTimestamp": 1_700_000_000},
    }
    out = {name: b"\x00" + json.dumps(body).encode() for name, body in pages.items()}
    out["stale-token-400"] = b"\x05" + b'{"message": "bad token"}'
    return out


def main() -> None:
    for target, seeds in {
        "loader": images(), "hex_batch": hex_batches(), "match_body": match_bodies(), "feed_cursor": cursors(),
        "webhook_signature": webhooks(), "sync_native": native_pages(), "sync_stopncii": stopncii_pages(),
    }.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values())):,} bytes")


if __name__ == "__main__":
    main()
