"""Platforms: check uploads against the bank, by hash (a video by its frame hashes) or by
image (hashed in memory; video uploads are ``service.routers.match_video``'s).

Every match becomes a match event, the lead a moderator reviews; the answer
carries the case's status so a platform can act on withdrawn cases at once.
The database has the last word on status: a hash withdrawn a moment ago is
filtered out here even if this worker's index has not caught up yet.

PDQ is answered at the standard 31; the hash-group strategy's wider band (to 52)
is deferred to ``service.review_band`` unless the request or the deployment asks
for it in the answer (``review_band: "sync"``), because it costs ~10x the index time.
"""

from __future__ import annotations

import functools
import os

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from matcher.errors import MatcherError
from matcher.pdq import structure_agrees
from matcher.hash_value import parse_hex_codes
from matcher.hashing import hash_file
from matcher.signals import get_signal

from .. import matching, video_matching
from ..bank import videos
from ..second_look import second_look
from ..auth.api_keys import Caller
from ..bank_index import BankIndex
from ..deps import PLATFORM_KEY_ERRORS, get_index, get_settings, platform_with
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..review_band import ReviewBand
from ..preview_urls import PreviewUrl
from ..schemas import NUL_FREE, MatchRequest, MatchResponse, ReviewBandMode
from ..settings import Settings

router = APIRouter(prefix="/v1/match", tags=["match (platforms)"], responses=errors(*PLATFORM_KEY_ERRORS))

MATCHED = on(200, HotlineViewOfFirstMatch=link(
    "GET", "/v1/hotline/hashes/{hash_id}", "Hotline staff look at the bank hash the first query matched.",
    parameters={"path.hash_id": "$response.body#/results/0/matches/0/hash_id"}))


def _answer(results: list[dict], band: str) -> Response:
    """The answer ``MatchResponse`` documents, field for field, from plain dicts, serialised once.

    A batch's answer is mostly "checked, no match": building a pydantic model per query cost more
    than parsing the request (150 us per 100 queries, measured), and FastAPI would validate a
    returned model again; serialising dicts in Rust is as fast as dumping the models.
    """
    return Response(to_json({"results": results, "review_band": band}), media_type="application/json")


def _result(index: int, content_ref: str | None) -> dict:
    """A query's result before its search: checked, no matches (yet)."""
    return {"index": index, "content_ref": content_ref, "status": "checked", "code": None, "reason": None, "matches": []}


def _read_queries(body: MatchRequest) -> tuple[list[dict], list[matching.Query], list[video_matching.VideoQuery]]:
    """Per query its result (invalid, skipped, or checked and awaiting matches) and the codes to search."""
    results = [_result(i, q.content_ref) for i, q in enumerate(body.queries)]
    by_signal: dict[str, list[int]] = {}
    video_queries: list[video_matching.VideoQuery] = []
    for i, q in enumerate(body.queries):
        if q.signal == videos.SIGNAL or q.vpdq is not None:
            video = _read_video_query(i, q, results[i])
            if video is not None:
                video_queries.append(video)
        elif q.hash is None:
            results[i].update(status="invalid", code="hash_malformed", reason="the query gives no hash")
        else:
            by_signal.setdefault(q.signal, []).append(i)
    queries: list[matching.Query] = []
    for name, positions in by_signal.items():
        try:
            signal = get_signal(name)
        except MatcherError as error:
            for i in positions:
                results[i].update(status="invalid", code=error.code, reason=str(error))
            continue
        codes = parse_hex_codes([body.queries[i].hash for i in positions], signal.nbytes)
        for k, i in enumerate(positions):
            q = body.queries[i]
            if codes is not None:
                code = codes[k : k + 1]
            else:
                try:
                    code = signal.parse(q.hash, quality=q.quality).to_array()[None, :]
                except MatcherError as error:
                    results[i].update(status="invalid", code=error.code, reason=str(error))
                    continue
            if not signal.usable_quality(q.quality):
                results[i].update(status="skipped", code="quality_too_low",
                                  reason=f"quality {q.quality} is below {signal.min_quality}: too plain to match reliably")
                continue
            if q.structure is not None and (signal.name != "pdq" or not structure_agrees(q.structure, q.quality)):
                results[i].update(status="invalid", code="structure_inconsistent",
                                  reason="only PDQ hashes carry a structure, and their quality is it capped at 100")
                continue
            structure = matching.banding_structure(signal.name, q.quality, q.structure)
            queries.append(matching.Query(i, signal.name, code, q.content_ref, preview_url=q.preview_url,
                                          structures=(structure,)))
    queries.sort(key=lambda query: query.index)
    return results, queries, video_queries


def _read_video_query(i: int, q, result: dict) -> video_matching.VideoQuery | None:
    """A video given as its frame hashes; ``None`` (and the result says why) if it cannot be searched."""
    if q.signal != videos.SIGNAL or q.vpdq is None or q.hash is not None or q.structure is not None:
        result.update(status="invalid", code="hash_malformed",
                      reason="a video query is signal vpdq with its frames in vpdq, and no hash")
        return None
    try:
        frames = videos.check_frames(q.vpdq.frames, len(q.vpdq.frames))  # the request's own limit is checked
    except videos.FramesRefused as refused:
        result.update(status="invalid", code=refused.code, reason=str(refused))
        return None
    if not frames.usable:
        result.update(status="skipped", code="quality_too_low",
                      reason="no frame has a PDQ quality of 50 or more: too plain to match reliably")
        return None
    return video_matching.VideoQuery(i, frames.counted(), q.content_ref, q.preview_url)


#: Index searches running at once in one worker: as many as there are cores. The search is
#: compiled code that holds no GIL (a large batch is spread over the cores only when it runs
#: alone); more of them at once than cores only queue in the thread pool, holding threads the
#: database work needs.
SEARCH_THREADS = os.cpu_count() or 1


def _search_limiter(app) -> anyio.CapacityLimiter:
    limiter = getattr(app.state, "search_limiter", None)
    if limiter is None:
        limiter = app.state.search_limiter = anyio.CapacityLimiter(SEARCH_THREADS)
    return limiter


def _image_limiter(app) -> anyio.CapacityLimiter:
    """Decodes of ``/v1/match/image`` at once in this worker: each may hold ~0.5 GB at the pixel limit,
    so a burst of small, highly compressed uploads must not decode in every thread of the pool at once."""
    limiter = getattr(app.state, "image_limiter", None)
    if limiter is None:
        limiter = app.state.image_limiter = anyio.CapacityLimiter(app.state.settings.image_decodes)
    return limiter


def _plan_band(app, queries: list[matching.Query], caller: Caller, query_kind: str, mode: str | None) -> tuple[int, str]:
    """The PDQ radius to search now, and what happens to the review band (the answer's ``review_band``)."""
    settings: Settings = app.state.settings
    cap = settings.pdq_match_threshold
    wide, fast = matching.wide_radius(cap), matching.fast_radius(cap)
    mode = mode or settings.review_band
    if wide <= fast or mode == "off" or not any(q.signal == "pdq" for q in queries):
        return fast, "off"
    if mode == "sync":
        return wide, "included"
    band: ReviewBand = app.state.review_band
    return fast, "deferred" if band.offer(caller, queries, query_kind) else "dropped"


def _find_or_answer(
    queries: list[matching.Query], index: BankIndex, radius: int, results: list[dict], band: str,
    threads: int | None = None,
) -> matching.Hits | Response:
    """The search; when it finds nothing (nearly every upload) the answer too, in the same hop."""
    hits = matching.find(queries, index, radius, threads=threads)
    return hits if hits else _answer(results, band)


def _resolve_and_answer(
    app, hits: matching.Hits, queries: list[matching.Query], results: list[dict], band: str, caller: Caller,
    radius: int,
) -> Response:
    found, events = matching.resolve(hits, queries, app.state.readers, caller, "hash", radius)
    matching.record(app.state.sessions, events)
    for query_index, matches in found.items():
        results[query_index]["matches"] = [m.model_dump() for m in matches]
    return _answer(results, band)


#: A request with at most this many codes is searched on the event loop itself: at PDQ's 31 one
#: code takes ~0.2 ms of compiled search that holds no GIL, less than the hop to a thread and back
#: costs in CPU and latency at a thousand requests a second (each worker is its own process,
#: so the other worker keeps serving meanwhile).
INLINE_CODES = 4


@router.post("", response_model=MatchResponse,
             responses={**MATCHED, **errors(*BODY_ERRORS, "match_too_many_queries", "match_too_many_frames")})
async def match_hashes(
    body: MatchRequest,
    request: Request,
    caller: Caller = Depends(platform_with("match")),
) -> Response:
    """Check up to ``max_match_queries`` hashes; each gets its own result, in order.

    Parsing and validation run on the event loop (microseconds a query). The index search
    (and, when nothing matched, the answer) runs on the loop for a request of a few codes,
    otherwise in one thread hop, limited to ``SEARCH_THREADS`` at once; only a request that
    matched something takes a hop to filter against the database and commit its match events.
    """
    settings: Settings = request.app.state.settings
    if len(body.queries) > settings.max_match_queries:
        raise ApiError(422, "match_too_many_queries", f"At most {settings.max_match_queries} queries per request.")
    frames = sum(len(q.vpdq.frames) for q in body.queries if q.vpdq is not None)
    if frames > settings.max_match_frames:
        raise ApiError(422, "match_too_many_frames", f"At most {settings.max_match_frames} video frame hashes per request.")
    results, queries, video_queries = _read_queries(body)
    app = request.app
    if video_queries:
        return await match_with_videos(app, results, queries, video_queries, caller, body.review_band, "hash")
    radius, band = _plan_band(app, queries, caller, "hash", body.review_band)
    if len(queries) <= INLINE_CODES and radius <= matching.fast_radius(settings.pdq_match_threshold):
        found = _find_or_answer(queries, app.state.index, radius, results, band)
    else:
        limiter = _search_limiter(app)
        # Spread over the cores only when this worker has nothing else searching: under load the
        # requests in flight already keep the cores busy, and the index's thread hand-offs would
        # cost CPU (5-15% of batch throughput, measured in process with concurrent callers).
        threads = 1 if limiter.borrowed_tokens else None
        found = await anyio.to_thread.run_sync(
            _find_or_answer, queries, app.state.index, radius, results, band, threads, limiter=limiter
        )
    if isinstance(found, Response):
        return found
    # Something matched: filter against the database and record the match events (I/O, in the pool).
    return await run_in_threadpool(_resolve_and_answer, app, found, queries, results, band, caller, radius)


async def match_with_videos(
    app, results: list[dict], queries: list[matching.Query], video_queries: list[video_matching.VideoQuery],
    caller: Caller, review_band: str | None, query_kind: str,
) -> Response:
    """A request with video queries: the frame codes and any other codes searched in one thread hop,
    then (only if something was hit) resolved against the database, events recorded, answered."""
    settings: Settings = app.state.settings
    radius, band = _plan_band(app, queries, caller, query_kind, review_band)
    policy = video_matching.policy_for(settings.pdq_match_threshold)
    limiter = _search_limiter(app)
    threads = 1 if limiter.borrowed_tokens else None

    def search():
        return (matching.find(queries, app.state.index, radius, threads=threads),
                video_matching.find(video_queries, app.state.index, policy, threads=threads))

    hits, video_hits = await anyio.to_thread.run_sync(search, limiter=limiter)
    if hits or video_hits:
        def resolve_and_record() -> None:
            found, events = matching.resolve(hits, queries, app.state.readers, caller, query_kind, radius)
            videos_found, video_events = video_matching.resolve(
                video_hits, video_queries, app.state.readers, caller, query_kind, policy
            )
            matching.record(app.state.sessions, events + video_events)
            for query_index, matches in found.items():
                results[query_index]["matches"] = [m.model_dump() for m in matches]
            for query_index, matches in videos_found.items():
                results[query_index]["matches"] = results[query_index]["matches"] + [m.model_dump() for m in matches]

        await run_in_threadpool(resolve_and_record)
    return _answer(results, band)


@router.post("/image", response_model=MatchResponse, responses=errors(*BODY_ERRORS, "image_empty", "image_not_an_image", "image_unsupported_format", "image_corrupt", "image_too_large"))
async def match_image(
    request: Request,
    file: UploadFile = File(description="The upload to check. Hashed in memory and discarded."),
    content_ref: str | None = Form(None, max_length=256, pattern=NUL_FREE),
    review_band: ReviewBandMode | None = Form(None, description="As in /v1/match."),
    preview_url: PreviewUrl | None = Form(
        None, description="As in /v1/match: the platform's link to the upload, for its moderators (never fetched)."
    ),
    caller: Caller = Depends(platform_with("match")),
    index: BankIndex = Depends(get_index),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Hash one image in memory and check it: MD5, and the hash-group strategy's query hashes
    (the full frame in its 8 rotations and mirrors, centred crops, the frame with borders trimmed)."""
    data = await file.read(settings.max_upload_bytes + 1)
    await file.close()
    if len(data) > settings.max_upload_bytes:
        raise ApiError(413, "payload_too_large", f"Images up to {settings.max_upload_bytes} bytes are checked.")
    # Decoding and hashing take milliseconds of CPU: off the event loop, ``image_decodes`` at a time.
    result = await anyio.to_thread.run_sync(
        functools.partial(hash_file, data, ("md5", "pdq"), group="query", max_bytes=settings.max_upload_bytes,
                          max_pixels=settings.max_upload_pixels, keep_work=settings.registration),
        limiter=_image_limiter(request.app),
    )
    del data  # the image bytes go no further than this function
    if result.error is not None:
        status = 413 if result.error.code == "image_too_large" else 422
        raise ApiError(status, result.error.code, str(result.error))
    queries = [matching.Query(0, "md5", result.hashes["md5"].to_array()[None, :], content_ref, preview_url=preview_url)]
    checked = _result(0, content_ref)
    if result.kind == "image":
        pdq = result.hashes["pdq"]
        if get_signal("pdq").usable(pdq) and len(result.group):
            group = result.group
            queries.append(
                matching.Query(0, "pdq", group.codes, content_ref, tuple(bool(p) for p in group.primary), preview_url,
                               tuple(int(s) for s in group.structures), tuple(h.variant for h in group.hashes))
            )
        else:
            checked.update(code="quality_too_low",
                           reason=f"PDQ quality {pdq.quality} is too low for perceptual matching; exact match only")
    elif result.kind == "video":
        # Recognised by its bytes whatever it is called: a video sent as a picture is still a video.
        checked.update(code="video_exact_only",
                       reason="this is a video: matched here by MD5 only; /v1/match/video matches its frames")
    radius, band = _plan_band(request.app, queries, caller, "image", review_band)
    hits = await anyio.to_thread.run_sync(
        matching.find, queries, index, radius, limiter=_search_limiter(request.app)
    )
    found, events = await run_in_threadpool(
        matching.resolve, hits, queries, request.app.state.readers, caller, "image", radius
    )
    matches = found.get(0, [])
    perceptual = any(q.signal == "pdq" for q in queries)
    if result.work is not None and perceptual and not any(m.signal == "pdq" for m in matches):
        # The lookup missed: a second look at the pixels (service.second_look), then they are dropped.
        registered, more = await anyio.to_thread.run_sync(
            second_look, result.work, index, request.app.state.readers, caller, settings.registration_radius,
            content_ref, preview_url, limiter=_search_limiter(request.app),
        )
        matches, events = matches + registered, events + more
    result.work = None
    await run_in_threadpool(matching.record, request.app.state.sessions, events)
    checked["matches"] = [m.model_dump() for m in matches]
    return _answer([checked], band)
