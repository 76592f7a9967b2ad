"""Platforms: check a video upload, decoded and hashed in memory, against the bank's videos.

Apart from ``service.routers.match`` because a video costs what no picture does: seconds to
minutes of decoding and up to ``max_video_upload_bytes`` held while it lasts. So uploads wait
for one of a few decoders per worker (``video_decodes``), a bounded number wait at all
(``video_queue``), and the rest are refused at once rather than held in memory. The matching
itself is the same as for a video given by its frame hashes (``match.match_with_videos``).
"""

from __future__ import annotations

import hashlib
import time

import anyio
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from matcher.errors import MatcherError, VideoError
from matcher.video import VideoLimits
from matcher.video.comparison import CountedFrames
from matcher.video.query import QueryVideo, hash_query_video

from .. import matching, metrics, video_matching
from ..auth.api_keys import Caller
from ..deps import PLATFORM_KEY_ERRORS, get_settings, platform_with
from ..errors import BODY_ERRORS, ApiError, errors
from ..preview_urls import PreviewUrl
from ..schemas import NUL_FREE, MatchResponse
from ..settings import Settings
from .match import _result, match_with_videos

router = APIRouter(prefix="/v1/match", tags=["match (platforms)"], responses=errors(*PLATFORM_KEY_ERRORS))


#: Status of each video error: too big or too long is a size limit (413), the rest cannot be decoded (422).
_VIDEO_ERROR_STATUS = {"video_too_large": 413, "video_too_long": 413}


def _video_limiter(app) -> anyio.CapacityLimiter:
    limiter = getattr(app.state, "video_limiter", None)
    if limiter is None:
        limiter = app.state.video_limiter = anyio.CapacityLimiter(app.state.settings.video_decodes)
    return limiter


def _hash_upload(data: bytes, limits: VideoLimits) -> tuple[bytes, QueryVideo | None, MatcherError | None]:
    """MD5 of the bytes and the query hashes (``matcher.video.query``: 4 frames a second, padded-back
    variants, 8 turns), or the typed error."""
    md5 = hashlib.md5(data).digest()
    started = time.perf_counter()
    try:
        video = hash_query_video(data, limits=limits)
    except VideoError as error:
        metrics.VIDEO_UPLOADS.labels(error.code).inc()
        return md5, None, error
    finally:
        metrics.VIDEO_HASH_SECONDS.observe(time.perf_counter() - started)
    metrics.VIDEO_UPLOADS.labels("hashed").inc()
    return md5, video, None


@router.post("/video", response_model=MatchResponse,
             responses=errors(*BODY_ERRORS, "video_empty", "video_not_a_video", "video_no_video_stream", "video_unsupported_format", "video_corrupt",
                           "video_too_large", "video_too_long", "video_busy"))
async def match_video(
    request: Request,
    file: UploadFile = File(description="The video to check. Decoded and hashed in memory, then discarded."),
    content_ref: str | None = Form(None, max_length=256, pattern=NUL_FREE),
    preview_url: PreviewUrl | None = Form(
        None, description="As in /v1/match: the platform's link to the upload, for its moderators (never fetched)."
    ),
    caller: Caller = Depends(platform_with("match")),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Hash one video in memory (MD5 and vPDQ, each frame in its 8 turns) and check it: exact
    MD5 matches, and bank videos that share 80% of their frames with it both ways (docs/video.md).

    The bytes are held only while they are hashed, by at most ``video_decodes`` uploads at once
    per worker and ``video_queue`` waiting for them (more are refused at once: decoding takes
    seconds to minutes, and a queue without a bound would hold every waiting upload in memory);
    decoding stops at the first limit passed (bytes, pixels a frame, seconds, frames).
    """
    data = await file.read(settings.max_video_upload_bytes + 1)
    await file.close()
    if len(data) > settings.max_video_upload_bytes:
        raise ApiError(413, "payload_too_large", f"Videos up to {settings.max_video_upload_bytes} bytes are checked.")
    decoders = _video_limiter(request.app)
    if decoders.available_tokens == 0 and decoders.statistics().tasks_waiting >= settings.video_queue:
        del data
        metrics.VIDEO_UPLOADS.labels("busy").inc()
        raise ApiError(429, "video_busy", "Every video decoder of this worker is busy; try again shortly.",
                       headers={"Retry-After": "10"})
    limits = VideoLimits(
        max_bytes=settings.max_video_upload_bytes, max_pixels=settings.max_video_pixels,
        max_seconds=settings.max_video_seconds, max_sampled_frames=settings.max_video_frames,
    )
    md5, video, error = await anyio.to_thread.run_sync(_hash_upload, data, limits, limiter=decoders)
    del data  # the video's bytes go no further than this function
    if error is not None:
        raise ApiError(_VIDEO_ERROR_STATUS.get(error.code, 422), error.code, str(error))
    checked = _result(0, content_ref)
    queries = [matching.Query(0, "md5", np.frombuffer(md5, np.uint8)[None, :], content_ref, preview_url=preview_url)]
    frames = CountedFrames(video.vpdq)
    video_queries = []
    if len(frames):
        video_queries.append(video_matching.VideoQuery(0, frames, content_ref, preview_url, dense=video))
    else:
        checked.update(code="quality_too_low",
                       reason="no sampled frame has a PDQ quality of 50 or more; exact match (MD5) only")
    return await match_with_videos(request.app, [checked], queries, video_queries, caller, "off", "video")
