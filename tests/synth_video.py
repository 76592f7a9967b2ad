"""Small videos made at test time with PyAV: no video file ships with the repository.

A "scene" is a slow pan and zoom over a picture (a camera moving over a still),
so that consecutive sampled frames differ as they do in real footage.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from .conftest import FIXTURES

PICTURES = FIXTURES / "pdq"


def picture(name: str = "bridge-1-original.jpg") -> Image.Image:
    return Image.open(PICTURES / name).convert("RGB")


def scene_frames(image: Image.Image, seconds: float, fps: float, size=(320, 240), start: float = 0.0):
    """RGB frames of a pan from the top left to the bottom right of ``image``, zooming in slightly."""
    width, height = size
    canvas = image.resize((int(width * 1.6), int(height * 1.6)))
    total = max(seconds + start, 1e-6)
    for k in range(int(round(seconds * fps))):
        t = (start + k / fps) / total if total else 0.0
        zoom = 1.0 - 0.15 * t
        w, h = int(canvas.width / 1.6 * zoom), int(canvas.height / 1.6 * zoom)
        x = int((canvas.width - w) * t)
        y = int((canvas.height - h) * t * 0.6)
        yield np.asarray(canvas.crop((x, y, x + w, y + h)).resize(size))


def encode(
    frames,
    target: str | Path | io.BytesIO | None = None,
    *,
    fps: float | Fraction = 30,
    size=(320, 240),
    codec: str = "libx264",
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    container_options: dict | None = None,
    mirror: bool = False,
) -> bytes | None:
    """Encode RGB frames; returns the bytes when no ``target`` path is given."""
    buffer = io.BytesIO() if target is None else target
    with av.open(buffer, "w", format=container, options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        if options:
            stream.options = options
        for rgb in frames:
            if mirror:
                rgb = np.ascontiguousarray(rgb[:, ::-1])
            if rgb.shape[1::-1] != tuple(size):
                rgb = np.asarray(Image.fromarray(rgb).resize(size))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue() if target is None else None


def scene(seconds: float = 10, fps: float = 30, size=(320, 240), name: str = "bridge-1-original.jpg", **kw) -> bytes:
    return encode(scene_frames(picture(name), seconds, fps, size), fps=fps, size=size, **kw)


def mirrored(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def audio_only() -> bytes:
    """An M4A-like MP4 with one AAC stream and no video."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        for k in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, k * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def blank_frame(size) -> np.ndarray:
    return np.zeros((size[1], size[0], 3), np.uint8)
