"""Turn untrusted video files into sampled RGB frames, or into one typed error.

This is the video twin of :mod:`matcher.loading`: the one module that lets a
demuxer or a decoder see outside bytes, with the same three promises.

* The frames are the ones Meta's vPDQ hashes: every ``int(interval * fps)``-th
  decoded frame of the first video stream, converted to RGB24 with swscale's
  default (BT.601) matrix whatever the stream is tagged, so that our hashes
  equal the ``vpdq`` package's (docs/video.md says why 601).
* Memory and time are bounded: the byte count, the declared resolution and the
  declared duration are checked before anything is decoded, and the decoded
  frame count, the frames' clock and every frame's size again while decoding,
  so a file that lies in its header is stopped as soon as it passes a limit.
  Only one decoded frame is held at a time; nothing is written to disk.
* Failure is one of the ``VideoError`` subclasses of :mod:`matcher.errors`.

Hostile files are the normal case, so FFmpeg gets as little to work with as
possible: the container is sniffed from its first bytes and opened with that
demuxer only (an image, a playlist or a text file never reaches a demuxer
that would read it), paths are opened by Python and handed over as file
objects (so FFmpeg's URL protocols, ``concat:`` or ``http:``, never apply),
and only the codecs in :data:`DECODERS` are decoded.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np

from ..errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    UnsupportedVideoFormatError,
    VideoTooLargeError,
    VideoTooLongError,
)

VideoSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

#: Video codecs we decode (FFmpeg decoder names): what phones, browsers and
#: platforms produce, and their common predecessors. Anything else in a
#: container is refused rather than handed to one of FFmpeg's ~250 decoders.
DECODERS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4", "mpeg2video", "mpeg1video",
     "h263", "flv", "mjpeg", "theora", "prores"}
)

#: How much of the file FFmpeg may read to find the streams (bytes, microseconds).
_PROBE_OPTIONS = {"probesize": str(8 << 20), "analyzeduration": str(10_000_000)}
_HEAD = 4096


@dataclass(frozen=True)
class VideoLimits:
    """What one video may cost. The defaults admit a half-hour 4K phone video.

    A half hour of 1080p30 is ~54,000 decoded frames, about two minutes of one
    core; an hour-long file is refused from its header (or stopped at the half
    hour if the header lies). ``max_pixels`` is per frame: a 4096x4096 RGB
    frame is 48 MiB, the most this module holds at once.
    """

    max_bytes: int = 2 << 30
    max_pixels: int = 4096 * 4096
    max_seconds: float = 1800.0
    #: Decoded (not only sampled) frames: bounds the time a high frame rate costs.
    max_decoded_frames: int = 1800 * 120
    #: Sampled frames, i.e. frame hashes kept (a short interval on a long video).
    max_sampled_frames: int = 7200
    #: Decoder threads; 1 by default because batch hashing already uses every core.
    threads: int = 1


DEFAULT_LIMITS = VideoLimits()


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream, checked against the limits."""

    container: str
    codec: str
    width: int
    height: int
    frame_rate: float
    duration: float | None


@dataclass(frozen=True)
class SampledFrame:
    number: int  # decoded frame index, from 0
    time: float  # seconds, as vPDQ computes it: number / frame rate (float32)
    rgb: np.ndarray  # (H, W, 3) uint8


def sniff_container(head: bytes) -> str | None:
    """The FFmpeg demuxer for a file's first bytes, or ``None`` if it is no container we open."""
    from ..loading import is_iso_picture

    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") and not is_iso_picture(head):
        return "mov"  # MP4, MOV, 3GP, M4V (also M4A audio: refused later, no video stream)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # MKV and WebM
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    return None


class OpenVideo:
    """An opened, checked video: ``info``, then :meth:`sampled` frames. Use as a context manager."""

    def __init__(self, source: VideoSource, limits: VideoLimits = DEFAULT_LIMITS) -> None:
        import av  # imported here: PyAV loads FFmpeg, which images never need

        self.limits = limits
        self._file = _open_bytes(source, limits.max_bytes)
        try:
            head = self._file.read(_HEAD)
            self._file.seek(0)
            if not head:
                raise EmptyVideoError("The file is empty (0 bytes): there is no video in it.")
            container_format = sniff_container(head)
            if container_format is None:
                raise NotAVideoError(_not_a_video(head))
            try:
                self._container = av.open(self._file, mode="r", format=container_format, options=_PROBE_OPTIONS)
            except av.FFmpegError:
                raise CorruptVideoError(
                    "The video cannot be opened: the file is truncated or damaged (its index is missing or unreadable)."
                ) from None
            self._stream = _video_stream(self._container)
            self.info = self._check(container_format)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> OpenVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _check(self, container_format: str) -> VideoInfo:
        stream, limits = self._stream, self.limits
        context = stream.codec_context
        name = context.codec.name if context.codec is not None else ""
        if name not in DECODERS:
            raise UnsupportedVideoFormatError(
                f"The video is in a codec we do not decode ({name or 'unknown'}); "
                "re-encode it as H.264, HEVC, VP9 or AV1."
            )
        width, height = context.width, context.height
        if width <= 0 or height <= 0:
            raise CorruptVideoError("The video stream declares no picture size.")
        if width * height > limits.max_pixels:
            raise VideoTooLargeError(
                f"Frames of {width}x{height} pixels are over the limit of {limits.max_pixels:,} pixels a frame."
            )
        # As vPDQ: the average frame rate, else the stream's base rate.
        rate = stream.average_rate or stream.base_rate
        frame_rate = float(rate) if rate else 0.0
        if not frame_rate > 0:
            raise CorruptVideoError("The video stream declares no frame rate.")
        duration = _declared_duration(self._container, stream)
        if duration is not None and duration > limits.max_seconds:
            raise VideoTooLongError(
                f"The video is {duration:,.0f} s long; videos up to {limits.max_seconds:,.0f} s are hashed."
            )
        context.thread_count = max(1, limits.threads)
        return VideoInfo(container_format, name, width, height, frame_rate, duration)

    def sampled(self, interval: float = 1.0, per_interval: int = 1) -> Iterator[SampledFrame]:
        """Every ``int(interval * frame_rate)``-th decoded frame (each one if that is 0), as vPDQ samples.

        ``per_interval`` > 1 (queries only) also yields the frames evenly between those, at
        offsets ``round(j * step / per_interval)`` into each step: vPDQ's own frames stay
        among them, so a query sampled densely is a superset of the one Meta would hash.

        Raises ``VideoTooLongError`` as soon as the decoded frames pass a limit,
        ``CorruptVideoError`` if the stream cannot be decoded or ends well before
        the duration its container declares, ``EmptyVideoError`` if no frame decodes.
        """
        import av

        if not interval >= 0:
            raise ValueError("the sampling interval is a non-negative number of seconds")
        info, limits = self.info, self.limits
        step = max(1, int(interval * info.frame_rate))
        offsets = {round(j * step / max(1, per_interval)) for j in range(max(1, per_interval))}
        rate32 = np.float32(info.frame_rate)
        decoded = sampled = 0
        first_pts_time = last_time = None
        try:
            for packet in self._container.demux(self._stream):
                for frame in packet.decode():
                    number = decoded
                    decoded += 1
                    if decoded > limits.max_decoded_frames:
                        raise VideoTooLongError(
                            f"The video has more than {limits.max_decoded_frames:,} frames, the limit."
                        )
                    clock = frame.time
                    if clock is not None:
                        first_pts_time = clock if first_pts_time is None else first_pts_time
                        last_time = clock - first_pts_time
                    if max(number / info.frame_rate, last_time or 0.0) > limits.max_seconds:
                        raise VideoTooLongError(
                            f"The video runs past {limits.max_seconds:,.0f} s, the limit (its header said less)."
                        )
                    if frame.width * frame.height > limits.max_pixels:
                        raise VideoTooLargeError(
                            f"A frame of {frame.width}x{frame.height} pixels is over the limit of "
                            f"{limits.max_pixels:,} pixels a frame."
                        )
                    if number % step not in offsets:
                        continue
                    sampled += 1
                    if sampled > limits.max_sampled_frames:
                        raise VideoTooLongError(
                            f"More than {limits.max_sampled_frames:,} frames would be hashed, the limit; "
                            "sample less often."
                        )
                    # ITU601 whatever the tag: what swscale does when not told (and so vPDQ).
                    rgb = frame.to_ndarray(format="rgb24", src_colorspace="ITU601")
                    yield SampledFrame(number, float(np.float32(number) / rate32), rgb)
        except av.FFmpegError:
            raise CorruptVideoError("The video stream is damaged: a frame could not be decoded.") from None
        if decoded == 0:
            raise EmptyVideoError("The video has no frame that decodes (a zero-length or empty video).")
        declared = info.duration
        if declared is not None and declared > 2.0:
            reached = max(decoded / info.frame_rate, last_time or 0.0)
            if reached < 0.75 * declared:
                raise CorruptVideoError(
                    f"The video is truncated: {reached:.1f} s of the {declared:.1f} s its container declares decode."
                )


def _open_bytes(source: VideoSource, max_bytes: int) -> BinaryIO:
    """A seekable binary file over the source, its size checked against ``max_bytes`` first."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = memoryview(source).nbytes
        _check_size(size, max_bytes)
        return io.BytesIO(bytes(source) if not isinstance(source, bytes) else source)
    if isinstance(source, (str, os.PathLike)):
        handle = open(source, "rb")  # noqa: SIM115 (closed by OpenVideo)
        info = os.fstat(handle.fileno())
        if stat.S_ISREG(info.st_mode):
            try:
                _check_size(info.st_size, max_bytes)
            except VideoTooLargeError:
                handle.close()
                raise
            return handle
        data = handle.read(max_bytes + 1)  # a pipe or a device: bounded read
        handle.close()
        _check_size(len(data), max_bytes)
        return io.BytesIO(data)
    if callable(getattr(source, "read", None)):
        data = source.read(max_bytes + 1)  # read from its position; the caller's file stays open
        _check_size(len(data), max_bytes)
        return io.BytesIO(data)
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise VideoTooLargeError(f"The file is {size:,} bytes; videos up to {max_bytes:,} bytes are hashed.")


def _video_stream(container):
    """The first video stream that moves: cover art (an attached picture) is no video."""
    for stream in container.streams.video:
        if not stream.disposition & _ATTACHED_PIC:
            return stream
    kinds = sorted({s.type for s in container.streams})
    held = " and ".join(kinds) if kinds else "no stream at all"
    raise NoVideoStreamError(f"The file holds {held}: there is no moving picture to hash.")


_ATTACHED_PIC = 0x0400  # AV_DISPOSITION_ATTACHED_PIC


def _declared_duration(container, stream) -> float | None:
    """The longest duration the container or the stream declares, in seconds (None if neither does)."""
    candidates = []
    if container.duration:
        candidates.append(container.duration / 1_000_000)
    if stream.duration and stream.time_base:
        candidates.append(float(stream.duration * stream.time_base))
    return max(candidates) if candidates else None


def _not_a_video(head: bytes) -> str:
    from ..loading import is_iso_picture

    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:6] in (b"GIF87a", b"GIF89a") \
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or is_iso_picture(head):
        return "This is a picture, not a video: hash it as an image."
    return "This is not a video file we can read (MP4, MOV, MKV, WebM, AVI, FLV or MPEG-TS)."
