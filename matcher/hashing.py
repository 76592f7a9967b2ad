"""The front door: a file (or an image) in, its hashes out.

A file is read once, with a byte limit; its exact digests are taken from those
bytes and its perceptual hashes from the same bytes decoded once. Anything that
cannot be decoded becomes an error on the result, never an exception that
stops a batch, so one broken file in a folder of thousands costs one line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image

from . import loading
from .errors import (
    ImageError,
    MatcherError,
    UnreadableFileError,
)
from .hash_value import Hash
from .signals import get_signal
from .signals.pdq import pdq_dihedral_from_rgb, pdq_from_rgb

if TYPE_CHECKING:
    from .groups import HashGroup
    from .video import VideoHash, VideoLimits
    from .video.query import QueryVideo

#: What :func:`hash_file` computes unless asked otherwise (``vpdq`` for videos is asked for by name).
DEFAULT_SIGNALS: tuple[str, ...] = ("md5", "pdq")

#: Bytes read from a file to tell a video container from a picture.
_SNIFF_BYTES = 4096
_DIGEST_CHUNK = 4 << 20


@dataclass
class FileHashes:
    """Everything known about one input: its hashes, or why there are none."""

    path: str | None
    kind: str = "image"  # "image", "video" or "error"
    hashes: dict[str, Hash] = field(default_factory=dict)
    #: A video's vPDQ hash, when asked for (``"vpdq"`` among the signals).
    video: "VideoHash | None" = None
    #: A video hashed for lookup (``group="query"``): the query-side hashes (dense frames,
    #: padded-back variants), whose ``vpdq`` is ``video``. In memory only; never part of a record.
    query_video: "QueryVideo | None" = field(default=None, repr=False)
    dihedral: list[Hash] | None = None
    group: "HashGroup | None" = None
    group_strategy: str | None = None
    width: int | None = None
    height: int | None = None
    error: MatcherError | None = None
    #: The decoded image's working copy (long side <= 512), kept only when asked for
    #: (``keep_work``): a second look (:mod:`matcher.registration`) needs pixels. In
    #: memory only; never part of a record.
    work: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def quality(self) -> int | None:
        pdq = self.hashes.get("pdq")
        return pdq.quality if pdq is not None else None

    def to_record(self) -> dict[str, Any]:
        """A flat, JSON-ready record (the ``ncii hash`` line format)."""
        record: dict[str, Any] = {"path": self.path, "kind": self.kind}
        for name, value in self.hashes.items():
            record[name] = value.hex
        if "pdq" in self.hashes:
            record["quality"] = self.hashes["pdq"].quality
            record["structure"] = self.hashes["pdq"].structure
        if self.dihedral is not None:
            from .pdq import DIHEDRAL_NAMES

            record["pdq_dihedral"] = {n: h.hex for n, h in zip(DIHEDRAL_NAMES, self.dihedral)}
        if self.group is not None:
            record["group"] = {"strategy": self.group_strategy, "hashes": self.group.records()}
        if self.video is not None:
            record["vpdq"] = self.video.to_record()
        if self.width is not None:
            record["width"], record["height"] = self.width, self.height
        if self.error is not None:
            record["error"] = {"code": self.error.code, "message": str(self.error)}
        return record


def looks_like_video(head: bytes) -> bool:
    """A video container, judged from the file's first bytes (pass at least the first kilobyte).

    Sniffed, never taken from the file name: MP4/MOV/3GP (unless its brands say
    HEIF/AVIF), Matroska/WebM, AVI, FLV, MPEG-TS (:func:`matcher.video.sniff_container`).
    """
    from .video.decoding import sniff_container

    return sniff_container(head) is not None


def hash_image(image: loading.ImageSource, signals: tuple[str, ...] = ("pdq",)) -> dict[str, Hash]:
    """Perceptual hashes of an image given as a path, bytes, a PIL image or an array.

    Exact digests need the original file bytes: use :func:`hash_file` for those.
    """
    types = [get_signal(name) for name in signals]
    if any(t.source == "file" for t in types):
        raise ValueError("exact digests are computed from file bytes: use hash_file()")
    if any(t.source == "video" for t in types):
        raise ValueError("vpdq hashes videos: use hash_file() or matcher.video.hash_video()")
    return _image_hashes(loading.load_rgb_array(image), types)


def _image_hashes(rgb, types) -> dict[str, Hash]:
    """Each signal from the decoded pixels; a PIL image is made only if a signal needs one."""
    out: dict[str, Hash] = {}
    pil = None
    for t in types:
        if t.compute_rgb is not None:
            out[t.name] = t.compute_rgb(rgb)
        else:
            if pil is None:
                pil = Image.fromarray(rgb)
            out[t.name] = t.compute_image(pil)
    return out


def pdq_hash(image: loading.ImageSource) -> Hash:
    """The PDQ hash (with its quality) of an image: the one call most callers need."""
    return pdq_from_rgb(loading.load_rgb_array(image))


def pdq_dihedral(image: loading.ImageSource) -> list[Hash]:
    """The 8 dihedral PDQ hashes of an image, in :data:`matcher.pdq.DIHEDRAL_NAMES` order."""
    return pdq_dihedral_from_rgb(loading.load_rgb_array(image))


def hash_file(
    source: str | os.PathLike | bytes,
    signals: tuple[str, ...] = DEFAULT_SIGNALS,
    *,
    dihedral: bool = False,
    group: Literal["bank", "query"] | None = None,
    max_bytes: int = loading.DEFAULT_MAX_BYTES,
    max_pixels: int = loading.DEFAULT_MAX_PIXELS,
    keep_work: bool = False,
    video_limits: "VideoLimits | None" = None,
) -> FileHashes:
    """Hash one file; bad input ends up in ``result.error``, not as an exception.

    ``group="bank"`` adds the hash group a submitted picture is stored as,
    ``group="query"`` the hashes an upload is looked up with (:mod:`matcher.groups`).
    A video (sniffed from its first bytes) gets the exact digests asked for
    and, if ``"vpdq"`` is among ``signals``, its vPDQ hash, within ``video_limits``
    instead of the picture limits; a path is then streamed, never read whole.
    With ``group="query"`` a video is hashed for lookup, as pictures are: the
    query-side hashes in ``query_video`` (:mod:`matcher.video.query`: 4 frames
    a bank interval, padded back from crops and bars: 3-4x the time), its
    Meta frames with their turns in ``video``.
    """
    types = [get_signal(name) for name in signals]
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    result = FileHashes(path=path)
    wants_video = any(t.source in ("file", "video") for t in types)
    if path is not None and wants_video:
        try:
            with open(path, "rb") as handle:
                head = handle.read(_SNIFF_BYTES)
        except OSError as error:
            return _failed(result, _unreadable(path, error))
        if looks_like_video(head):
            return _hash_video(result, path, types, group, video_limits)
    try:
        data = loading.read_source_bytes(source, max_bytes)
    except ImageError as error:
        return _failed(result, error)
    except OSError as error:  # missing file, permission denied, a directory
        return _failed(result, _unreadable(path, error))
    if wants_video and looks_like_video(data[:_SNIFF_BYTES]):
        return _hash_video(result, data, types, group, video_limits)
    for t in types:
        if t.source == "file":
            result.hashes[t.name] = t.compute_bytes(data)
    needs_pixels = dihedral or group is not None or any(t.source == "image" for t in types)
    if not needs_pixels:
        return result
    try:
        rgb = loading.load_rgb_array(data, max_pixels=max_pixels, max_bytes=max_bytes)
    except ImageError as error:
        return _failed(result, error)
    result.height, result.width = rgb.shape[:2]
    result.hashes.update(_image_hashes(rgb, [t for t in types if t.source == "image"]))
    if dihedral:
        result.dihedral = pdq_dihedral_from_rgb(rgb)
    if group is not None:
        from .groups import DEFAULT_STRATEGY

        result.group_strategy = DEFAULT_STRATEGY.name
        result.group = DEFAULT_STRATEGY.bank_group(rgb) if group == "bank" else DEFAULT_STRATEGY.query_group(rgb)
    if keep_work:
        from .groups import reduce_to_working_size

        result.work = reduce_to_working_size(rgb)
    return result


def _hash_video(result: FileHashes, source: str | bytes, types, group, limits) -> FileHashes:
    """A video: its exact digests (streamed from a path) and, if asked, its vPDQ hash."""
    from .errors import VideoError
    from .video.decoding import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
    result.kind = "video"
    try:
        digests = [t for t in types if t.source == "file"]
        if digests:
            result.hashes.update(_digests(source, digests, limits.max_bytes))
        for t in types:
            if t.source == "video":
                if group == "query" and t.compute_query_video is not None:
                    result.query_video = t.compute_query_video(source, limits=limits)
                    result.video = result.query_video.vpdq  # hash_video(source, dihedral=True), frame for frame
                else:
                    result.video = t.compute_video(source, dihedral=group == "query", limits=limits)
                result.width, result.height = result.video.width, result.video.height
    except VideoError as error:
        return _failed(result, error)
    except OSError as error:
        return _failed(result, _unreadable(result.path, error))
    return result


def _digests(source: str | bytes, types, max_bytes: int) -> dict[str, Hash]:
    """Exact digests of a file's bytes; a path is read in chunks, so a large video is never held whole."""
    from .errors import VideoTooLargeError

    if not isinstance(source, bytes):
        size = os.path.getsize(source)
        if size > max_bytes:
            raise VideoTooLargeError(f"The file is {size:,} bytes; videos up to {max_bytes:,} bytes are hashed.")
        if any(t.name not in _DIGESTS for t in types):  # a plug-in digest: it needs the bytes whole
            with open(source, "rb") as handle:
                source = handle.read()
    if isinstance(source, bytes):
        return {t.name: t.compute_bytes(source) for t in types}
    running = {t.name: _DIGESTS[t.name]() for t in types}
    with open(source, "rb") as handle:
        while chunk := handle.read(_DIGEST_CHUNK):
            for digest in running.values():
                digest.update(chunk)
    return {name: Hash(name, digest.digest()) for name, digest in running.items()}


_DIGESTS = {"md5": lambda: hashlib.md5(usedforsecurity=False), "sha256": hashlib.sha256}


def _unreadable(path: str | None, error: OSError) -> UnreadableFileError:
    reason = error.strerror or type(error).__name__
    return UnreadableFileError(f"cannot read {Path(path).name if path else 'the input'}: {reason}")


def _failed(result: FileHashes, error: MatcherError) -> FileHashes:
    result.kind = "error"
    result.hashes.clear()
    result.error = error
    return result
