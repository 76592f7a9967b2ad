"""Platforms: check uploads against the bank, by hash or by image (hashed in memory).

Every match becomes a match event, the lead a moderator reviews; the answer
carries the case's status so a platform can act on withdrawn cases at once.
The database has the last word on status: a hash withdrawn a moment ago is
filtered out here even if this worker's index has not caught up yet.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

import anyio
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import MatcherError
from matcher.groups import DEFAULT_STRATEGY
from matcher.hashing import hash_file
from matcher.signals import get_signal

from .. import metrics
from ..bank_index import BankIndex
from ..auth.api_keys import Caller
from ..db.models import BankHash, Case, MatchEvent
from ..db.engine import transaction
from ..deps import get_index, get_settings, platform_with
from ..errors import ApiError
from ..schemas import MatchOut, MatchRequest, MatchResponse, QueryResult
from ..settings import Settings

router = APIRouter(prefix="/v1/match", tags=["match (platforms)"])


@dataclass
class _Query:
    index: int
    signal: str
    codes: np.ndarray  # (g, nbytes): one code, or an upload's query group
    content_ref: str | None
    primary: tuple[bool, ...] = (True,)  # per code: the full frame (or a turn of it)?
    preview_url: str | None = None


def _radius(signal: str, cap: int | None) -> int:
    """PDQ is searched at the hash-group strategy's widest threshold (or the deployment's cap)."""
    if signal != "pdq":
        return get_signal(signal).threshold
    widest = DEFAULT_STRATEGY.widest_threshold
    return widest if cap is None else min(widest, cap)


def _limit(signal: str, query_primary: bool, bank_variant: str, cap: int | None) -> int:
    if signal != "pdq":
        return get_signal(signal).threshold
    limit = DEFAULT_STRATEGY.pair_threshold(query_primary, bank_variant)
    return limit if cap is None else min(limit, cap)


Hits = dict[int, dict[int, list[tuple[int, bool]]]]


def _find(queries: list[_Query], index: BankIndex, cap: int | None) -> Hits:
    """The index's candidates: per query index, per bank hash id, (distance, query code primary?) pairs.

    One index search per signal for all the request's codes (a batch of 100 is one search).
    """
    # Every code of every query is searched at its signal's widest radius; each hit
    # keeps the distance and whether the query code was primary, to apply the
    # pair's own threshold once the stored hash's variant is known.
    hits_per_query: dict[int, dict[int, list[tuple[int, bool]]]] = defaultdict(lambda: defaultdict(list))
    by_signal: dict[str, list[tuple[_Query, int]]] = defaultdict(list)
    for q in queries:
        for member in range(q.codes.shape[0]):
            by_signal[q.signal].append((q, member))
    for signal, members in by_signal.items():
        codes = np.stack([q.codes[m] for q, m in members])
        found = index.search(signal, codes, _radius(signal, cap))
        for (q, m), hits in zip(members, found):
            for hit in hits:
                hits_per_query[q.index][hit.hash_id].append((hit.distance, q.primary[m]))
    return hits_per_query


def _resolve(
    hits_per_query: Hits, queries: list[_Query], readers: sessionmaker[Session], caller: Caller, query_kind: str,
    cap: int | None,
) -> tuple[dict[int, list[MatchOut]], list[dict]]:
    """Candidates to answers: the database is read only when the index found something (to drop
    hashes withdrawn a moment ago), so a check that matches nothing, nearly every upload, costs no query."""
    all_ids = {h for hits in hits_per_query.values() for h in hits}
    if not all_ids:
        return {}, []
    with readers() as session, session.begin():
        rows = session.execute(
            select(BankHash.id, BankHash.signal, BankHash.variant, BankHash.case_id, Case.status)
            .join(Case, Case.id == BankHash.case_id)
            .where(BankHash.id.in_(all_ids), BankHash.status == "active")
        ).all()
    live = {r.id: r for r in rows}
    out: dict[int, list[MatchOut]] = {}
    events: list[dict] = []
    per_signal: dict[str, int] = defaultdict(int)
    refs = {q.index: q.content_ref for q in queries}
    previews = {q.index: q.preview_url for q in queries}
    for query_index, hits in hits_per_query.items():
        matches = []
        accepted: list[tuple[int, int, object]] = []
        for hash_id, pairs in hits.items():
            row = live.get(hash_id)
            if row is None:
                continue
            within = [d for d, primary in pairs if d <= _limit(row.signal, primary, row.variant, cap)]
            if within:
                accepted.append((min(within), hash_id, row))
        for distance, hash_id, row in sorted(accepted, key=lambda t: (t[0], t[1])):
            matches.append(
                MatchOut(
                    hash_id=hash_id,
                    signal=row.signal,
                    distance=distance,
                    variant=row.variant,
                    case_status=row.status,
                    confidence="high" if distance <= get_signal(row.signal).threshold else "review",
                )
            )
            per_signal[row.signal] += 1
            events.append(
                {
                    "platform_id": caller.platform_id,
                    "hash_id": hash_id,
                    "case_id": row.case_id,
                    "signal": row.signal,
                    "distance": distance,
                    "query_kind": query_kind,
                    "content_ref": refs[query_index],
                    "preview_url": previews[query_index],
                }
            )
        if matches:
            out[query_index] = matches
    for signal, count in per_signal.items():
        metrics.MATCHES.labels(signal).inc(count)
    return out, events


def _record(sessions: sessionmaker[Session], events: list[dict]) -> None:
    """Match events are committed before the platform gets its answer (the review queue must not miss one):
    one multi-row INSERT in one transaction, however many matches the request had."""
    if events:
        with transaction(sessions) as session:
            session.execute(insert(MatchEvent), events)


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


def _find_or_answer(
    queries: list[_Query], index: BankIndex, cap: int | None, results: list[QueryResult]
) -> Hits | Response:
    """The search; when it finds nothing (nearly every upload) the answer too, in the same hop."""
    hits = _find(queries, index, cap)
    return hits if hits else _answer(MatchResponse(results=results))


def _resolve_and_answer(
    app, hits: Hits, queries: list[_Query], results: list[QueryResult], caller: Caller, cap: int | None
) -> Response:
    found, events = _resolve(hits, queries, app.state.readers, caller, "hash", cap)
    _record(app.state.sessions, events)
    for query_index, matches in found.items():
        results[query_index].matches = matches
    return _answer(MatchResponse(results=results))


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
    queries: list[_Query] = []
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
        queries.append(_Query(i, signal.name, value.to_array()[None, :], q.content_ref, preview_url=q.preview_url))
    app, cap = request.app, settings.pdq_match_threshold
    found = await anyio.to_thread.run_sync(
        _find_or_answer, queries, app.state.index, cap, results, limiter=_search_limiter(app)
    )
    if isinstance(found, Response):
        return found
    # Something matched: filter against the database and record the match events (I/O, in the pool).
    return await run_in_threadpool(_resolve_and_answer, app, found, queries, results, caller, cap)


@router.post("/image", response_model=MatchResponse)
async def match_image(
    request: Request,
    file: UploadFile = File(description="The upload to check. Hashed in memory and discarded."),
    content_ref: str | None = Form(None, max_length=256),
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
    queries = [_Query(0, "md5", result.hashes["md5"].to_array()[None, :], content_ref)]
    checked = QueryResult(index=0, content_ref=content_ref, status="checked")
    if result.kind == "image":
        pdq = result.hashes["pdq"]
        if get_signal("pdq").usable(pdq) and len(result.group):
            group = result.group
            queries.append(_Query(0, "pdq", group.codes, content_ref, tuple(bool(p) for p in group.primary)))
        else:
            checked.code = "quality_too_low"
            checked.reason = f"PDQ quality {pdq.quality} is too low for perceptual matching; exact match only"
    hits = await anyio.to_thread.run_sync(
        _find, queries, index, settings.pdq_match_threshold, limiter=_search_limiter(request.app)
    )
    found, events = await run_in_threadpool(
        _resolve, hits, queries, request.app.state.readers, caller, "image", settings.pdq_match_threshold
    )
    await run_in_threadpool(_record, request.app.state.sessions, events)
    checked.matches = found.get(0, [])
    return _answer(MatchResponse(results=[checked]))
