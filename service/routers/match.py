"""Platforms: check uploads against the bank, by hash or by image (hashed in memory).

Every match becomes a match event, the lead a moderator reviews; the answer
carries the case's status so a platform can act on withdrawn cases at once.
The database has the last word on status: a hash withdrawn a moment ago is
filtered out here even if this worker's index has not caught up yet.

PDQ is answered at the standard 31; the hash-group strategy's wider band (to 52)
is deferred to ``service.review_band`` unless the request or the deployment asks
for it in the answer (``review_band: "sync"``), because it costs ~10x the index time.
"""

from __future__ import annotations

import os

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from matcher.errors import MatcherError
from matcher.hashing import hash_file
from matcher.signals import get_signal

from .. import matching
from ..auth.api_keys import Caller
from ..bank_index import BankIndex
from ..deps import get_index, get_settings, platform_with
from ..errors import ApiError
from ..review_band import ReviewBand
from ..schemas import MatchRequest, MatchResponse, QueryResult, ReviewBandMode
from ..settings import Settings

router = APIRouter(prefix="/v1/match", tags=["match (platforms)"])


def _answer(response: MatchResponse) -> Response:
    """Serialised once, straight from the model we built (FastAPI would validate it again first:
    for a batch of 1,000 queries that costs more than the search)."""
    return Response(response.model_dump_json(), media_type="application/json")


#: Index searches running at once in one worker: as many as there are cores. The search is
#: numpy that releases the GIL (and splits a large batch over the cores itself); more of them
#: at once than cores only queue in the thread pool, holding threads the database work needs.
SEARCH_THREADS = os.cpu_count() or 1


def _search_limiter(app) -> anyio.CapacityLimiter:
    limiter = getattr(app.state, "search_limiter", None)
    if limiter is None:
        limiter = app.state.search_limiter = anyio.CapacityLimiter(SEARCH_THREADS)
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
    queries: list[matching.Query], index: BankIndex, radius: int, response: MatchResponse
) -> matching.Hits | Response:
    """The search; when it finds nothing (nearly every upload) the answer too, in the same hop."""
    hits = matching.find(queries, index, radius)
    return hits if hits else _answer(response)


def _resolve_and_answer(
    app, hits: matching.Hits, queries: list[matching.Query], response: MatchResponse, caller: Caller, radius: int
) -> Response:
    found, events = matching.resolve(hits, queries, app.state.readers, caller, "hash", radius)
    matching.record(app.state.sessions, events)
    for query_index, matches in found.items():
        response.results[query_index].matches = matches
    return _answer(response)


@router.post("", response_model=MatchResponse)
async def match_hashes(
    body: MatchRequest,
    request: Request,
    caller: Caller = Depends(platform_with("match")),
) -> Response:
    """Check up to ``max_match_queries`` hashes; each gets its own result, in order.

    Parsing and validation run on the event loop (microseconds a query); the index
    search (and, when nothing matched, the answer) runs in one thread hop, limited to
    ``SEARCH_THREADS`` at once; only a request that matched something takes a second
    hop, to filter against the database and commit its match events.
    """
    settings: Settings = request.app.state.settings
    if len(body.queries) > settings.max_match_queries:
        raise ApiError(422, "match_too_many_queries", f"At most {settings.max_match_queries} queries per request.")
    results = [QueryResult(index=i, content_ref=q.content_ref, status="checked") for i, q in enumerate(body.queries)]
    queries: list[matching.Query] = []
    for i, q in enumerate(body.queries):
        try:
            signal = get_signal(q.signal)
            value = signal.parse(q.hash, quality=q.quality)
        except MatcherError as error:
            results[i].status, results[i].code, results[i].reason = "invalid", error.code, str(error)
            continue
        if not signal.usable(value):
            results[i].status, results[i].code = "skipped", "quality_too_low"
            results[i].reason = f"quality {q.quality} is below {signal.min_quality}: too plain to match reliably"
            continue
        queries.append(matching.Query(i, signal.name, value.to_array()[None, :], q.content_ref))
    app = request.app
    radius, band = _plan_band(app, queries, caller, "hash", body.review_band)
    response = MatchResponse(results=results, review_band=band)
    found = await anyio.to_thread.run_sync(
        _find_or_answer, queries, app.state.index, radius, response, limiter=_search_limiter(app)
    )
    if isinstance(found, Response):
        return found
    # Something matched: filter against the database and record the match events (I/O, in the pool).
    return await run_in_threadpool(_resolve_and_answer, app, found, queries, response, caller, radius)


@router.post("/image", response_model=MatchResponse)
async def match_image(
    request: Request,
    file: UploadFile = File(description="The upload to check. Hashed in memory and discarded."),
    content_ref: str | None = Form(None, max_length=256),
    review_band: ReviewBandMode | None = Form(None, description="As in /v1/match."),
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
    # Decoding and hashing take milliseconds of CPU: off the event loop.
    result = await run_in_threadpool(
        hash_file, data, ("md5", "pdq"), group="query", max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_upload_pixels,
    )
    del data  # the image bytes go no further than this function
    if result.error is not None:
        status = 413 if result.error.code == "image_too_large" else 422
        raise ApiError(status, result.error.code, str(result.error))
    queries = [matching.Query(0, "md5", result.hashes["md5"].to_array()[None, :], content_ref)]
    checked = QueryResult(index=0, content_ref=content_ref, status="checked")
    if result.kind == "image":
        pdq = result.hashes["pdq"]
        if get_signal("pdq").usable(pdq) and len(result.group):
            group = result.group
            queries.append(matching.Query(0, "pdq", group.codes, content_ref, tuple(bool(p) for p in group.primary)))
        else:
            checked.code = "quality_too_low"
            checked.reason = f"PDQ quality {pdq.quality} is too low for perceptual matching; exact match only"
    radius, band = _plan_band(request.app, queries, caller, "image", review_band)
    hits = await anyio.to_thread.run_sync(
        matching.find, queries, index, radius, limiter=_search_limiter(request.app)
    )
    found, events = await run_in_threadpool(
        matching.resolve, hits, queries, request.app.state.readers, caller, "image", radius
    )
    await run_in_threadpool(matching.record, request.app.state.sessions, events)
    checked.matches = found.get(0, [])
    return _answer(MatchResponse(results=[checked], review_band=band))
