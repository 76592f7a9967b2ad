"""Videos: vPDQ hashing (equal to Meta's) and comparison, with no service running.

``hash_video(path_or_bytes)`` gives a :class:`VideoHash` (a frame a second, each
a PDQ hash with its frame number and time); ``compare_videos(query, bank)``
gives a :class:`VideoMatch` (the share of frames matched each way, the time
ranges). The rules, the limits and the measurements are in docs/video.md.
"""

from .comparison import DEFAULT_POLICY, META_POLICY, VideoMatch, VpdqPolicy, compare_videos
from .decoding import DEFAULT_LIMITS, VideoLimits, sniff_container
from .vpdq import DEFAULT_INTERVAL, FrameHash, VideoHash, hash_video

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_LIMITS",
    "DEFAULT_POLICY",
    "META_POLICY",
    "FrameHash",
    "VideoHash",
    "VideoLimits",
    "VideoMatch",
    "VpdqPolicy",
    "compare_videos",
    "hash_video",
    "sniff_container",
]
