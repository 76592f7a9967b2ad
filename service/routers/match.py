"""Platforms: check uploads against the bank, by hash or by image (hashed in memory).

Every match becomes a match event, the lead a moderator reviews; the answer
carries the case's status so a platform can act on withdrawn cases at once.
The database has the last word on status: a hash withdrawn a moment ago is
filtered out here even if this worker's index has not caught up yet.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.groups import DEFAULT_STRATEGY
from matcher.hashing import hash_file
from matcher.signals import get_signal

from .. import metrics
from ..bank_index import BankIndex
from ..db.models import ApiKey, BankHash, Case, MatchEvent
from ..db.engine import transaction
from ..deps import ReadSession, get_index, get_settings, platform_with
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


def _search(
    queries: list[_Query], index: BankIndex, session: Session, key: ApiKey, query_kind: str, cap: int | None = None
) -> tuple[dict[int, list[MatchOut]], list[MatchEvent]]:
    """Matches per query index, and the match events to record (by the caller, in a write transaction)."""
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
    all_ids = {h for hits in hits_per_query.values() for h in hits}
    if not all_ids:
        return {}, []
    rows = session.execute(
        select(BankHash.id, BankHash.signal, BankHash.variant, BankHash.case_id, Case.status)
        .join(Case, Case.id == BankHash.case_id)
        .where(BankHash.id.in_(all_ids), BankHash.status == "active")
    ).all()
    live = {r.id: r for r in rows}
    out: dict[int, list[MatchOut]] = {}
    events: list[MatchEvent] = []
    refs = {q.index: q.content_ref for q in queries}
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
            metrics.MATCHES.labels(row.signal).inc()
            events.append(
                MatchEvent(
                    platform_id=key.platform_id,
                    hash_id=hash_id,
                    case_id=row.case_id,
                    signal=row.signal,
                    distance=distance,
                    query_kind=query_kind,
                    content_ref=refs[query_index],
                )
            )
        if matches:
            out[query_index] = matches
    return out, events


def _record(request: Request, events: list[MatchEvent]) -> None:
    """Match events are committed before the platform gets its answer (the review queue must not miss one)."""
    if events:
        with transaction(request.app.state.sessions) as session:
            session.add_all(events)


def _answer(response: MatchResponse) -> Response:
    """Serialised once, straight from the model we built (FastAPI would validate it again first:
    for a batch of 1,000 queries that costs more than the search)."""
    return Response(response.model_dump_json(), media_type="application/json")


@router.post("", response_model=MatchResponse)
def match_hashes(
    body: MatchRequest,
    session: ReadSession,
    request: Request,
    key: ApiKey = Depends(platform_with("match")),
    index: BankIndex = Depends(get_index),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Check up to ``max_match_queries`` hashes; each gets its own result, in order."""
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
        queries.append(_Query(i, signal.name, value.to_array()[None, :], q.content_ref))
    found, events = _search(queries, index, session, key, "hash", settings.pdq_match_threshold)
    _record(request, events)
    for query_index, matches in found.items():
        results[query_index].matches = matches
    return _answer(MatchResponse(results=results))


@router.post("/image", response_model=MatchResponse)
async def match_image(
    session: ReadSession,
    request: Request,
    file: UploadFile = File(description="The upload to check. Hashed in memory and discarded."),
    content_ref: str | None = Form(None, max_length=256),
    key: ApiKey = Depends(platform_with("match")),
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
    found, events = await run_in_threadpool(
        _search, queries, index, session, key, "image", settings.pdq_match_threshold
    )
    await run_in_threadpool(_record, request, events)
    checked.matches = found.get(0, [])
    return _answer(MatchResponse(results=[checked]))
