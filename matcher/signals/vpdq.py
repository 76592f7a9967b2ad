"""vPDQ as a signal type: a video's frames, each a PDQ hash matched at 31 bits, quality >= 50.

The per-frame numbers are PDQ's; when two whole videos match is the policy of
:mod:`matcher.video.comparison`, and how an upload is hashed to look it up that
of :mod:`matcher.video.query`. Computing it decodes the video, so PyAV is
imported only when a video is actually hashed.
"""

from __future__ import annotations

from .. import pdq
from .base import SignalType, register


def vpdq_from_video(source, **options):
    from ..video import hash_video

    return hash_video(source, **options)


def vpdq_query_from_video(source, **options):
    from ..video.query import hash_query_video

    return hash_query_video(source, **options)


VPDQ = register(
    SignalType(
        name="vpdq",
        bits=pdq.HASH_BITS,
        threshold=pdq.DEFAULT_THRESHOLD,
        source="video",
        description="Meta's vPDQ: PDQ of a video's frames, one a second (equal to the vpdq package)",
        compute_video=vpdq_from_video,
        compute_query_video=vpdq_query_from_video,
        min_quality=pdq.MIN_QUALITY,
    )
)
