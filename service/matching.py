"""Matching a platform's query hashes against the bank: search, then resolve against the database.

The HTTP router (``service.routers.match``) and the deferred review-band search
(``service.review_band``) share these steps, so a match means the same thing
whichever path found it. No web code here.

Two radii: a synchronous check answers at ``fast_radius`` (PDQ's standard 31
unless capped lower), the hash-group strategy's wider band (32-52, matches of
"review" confidence) is searched either in the same request or afterwards in the
background (``service.review_band``), because the wide band costs ~10x more index
time than the standard radius.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.groups import DEFAULT_STRATEGY, UNBANDED, known_structure
from matcher.signals import get_signal

from . import metrics
from .auth.api_keys import Caller
from .bank_index import BankIndex
from .db.engine import transaction
from .db.models import BankHash, Case, MatchEvent
from .schemas import MatchOut


@dataclass
class Query:
    index: int
    signal: str
    codes: np.ndarray  # (g, nbytes): one code, or an upload's query group
    content_ref: str | None
    primary: tuple[bool, ...] = (True,)  # per code: the full frame (or a turn of it)?
    preview_url: str | None = None  # the platform's link to the upload, for its moderators' browsers
    #: per code: its PDQ structure (given, or what its quality proves: matcher.groups.known_structure)
    structures: tuple[int, ...] | None = None
    #: per code: its variant, where the service hashed the upload itself (/v1/match/image); a
    #: stored tile (a quadrant) only matches the same tile of the upload, so never a bare hash
    variants: tuple[str, ...] | None = None

    def variant(self, member: int) -> str | None:
        return None if self.variants is None else self.variants[member]

    def structure(self, member: int) -> int:
        return UNBANDED if self.structures is None else self.structures[member]



def banding_structure(signal: str, quality: int | None, structure: int | None) -> int:
    """The structure a code is banded by: PDQ's own or what its quality proves; other signals have no bands."""
    return known_structure(quality, structure) if signal == "pdq" else UNBANDED


def wide_radius(cap: int | None) -> int:
    """PDQ's widest search: the hash-group strategy's threshold (52), or the deployment's cap."""
    widest = DEFAULT_STRATEGY.widest_threshold
    return widest if cap is None else min(widest, cap)


def fast_radius(cap: int | None) -> int:
    """PDQ's synchronous search when the review band is deferred: the standard threshold (31)."""
    return min(get_signal("pdq").threshold, wide_radius(cap))


def pair_limit(
    signal: str, query_primary: bool, bank_variant: str, pdq_radius: int,
    query_structure: int = UNBANDED, bank_structure: int = UNBANDED, query_variant: str | None = None,
) -> int:
    """The distance a (query code, bank hash) pair may be at: its strategy threshold (which falls
    with the structure of the pair's less structured side), within the search radius."""
    if signal != "pdq":
        return get_signal(signal).threshold
    return min(
        DEFAULT_STRATEGY.pair_threshold(query_primary, bank_variant, query_structure, bank_structure, query_variant),
        pdq_radius,
    )


def confidence(signal: str, distance: int, query_structure: int, bank_structure: int) -> str:
    """high: within the signal's standard threshold (for PDQ, and the pair's structure band's); review: beyond."""
    if signal == "pdq":
        return DEFAULT_STRATEGY.confidence(distance, query_structure, bank_structure)
    return "high" if distance <= get_signal(signal).threshold else "review"


#: query -> hash id -> (distance, primary, structure, variant) of each query code that came near
Hits = dict[int, dict[int, list[tuple[int, bool, int, str | None]]]]


def find(
    queries: list[Query], index: BankIndex, pdq_radius: int, *, codes_per_search: int | None = None,
    threads: int | None = None,
) -> Hits:
    """The index's candidates: per query index, per bank hash id, (distance, query code primary?) pairs.

    One index search per signal for all the request's codes (a batch of 100 is one search),
    or searches of at most ``codes_per_search`` codes (the review band keeps each search on
    its own thread that way). ``threads``: as in ``HashIndex.search`` (1 keeps the search in
    the calling thread).
    """
    # Every code of every query is searched at its signal's widest radius; each hit
    # keeps the distance and whether the query code was primary, to apply the
    # pair's own threshold once the stored hash's variant is known.
    hits_per_query: Hits = defaultdict(lambda: defaultdict(list))
    by_signal: dict[str, list[tuple[Query, int]]] = defaultdict(list)
    for q in queries:
        for member in range(q.codes.shape[0]):
            by_signal[q.signal].append((q, member))
    for signal, members in by_signal.items():
        radius = pdq_radius if signal == "pdq" else get_signal(signal).threshold
        step = codes_per_search or len(members)
        for start in range(0, len(members), step):
            part = members[start : start + step]
            found = index.search(signal, np.stack([q.codes[m] for q, m in part]), radius, threads=threads)
            for (q, m), hits in zip(part, found):
                for hit in hits:
                    hits_per_query[q.index][hit.hash_id].append((hit.distance, q.primary[m], q.structure(m), q.variant(m)))
    return hits_per_query


def resolve(
    hits_per_query: Hits,
    queries: list[Query],
    readers: sessionmaker[Session],
    caller: Caller,
    query_kind: str,
    pdq_radius: int,
    *,
    beyond: int = -1,
) -> tuple[dict[int, list[MatchOut]], list[dict]]:
    """Candidates to answers, and the match events to record.

    The database is read only when the index found something (to drop hashes
    withdrawn a moment ago), so a check that matches nothing, nearly every upload,
    costs no query. ``beyond``: keep only matches farther than this (the deferred
    review band skips what the synchronous check already answered).
    """
    hits_per_query = {
        q: {h: pairs for h, pairs in hits.items() if min(p[0] for p in pairs) > beyond}
        for q, hits in hits_per_query.items()
    } if beyond >= 0 else hits_per_query
    all_ids = {h for hits in hits_per_query.values() for h in hits}
    if not all_ids:
        return {}, []
    with readers() as session, session.begin():
        rows = session.execute(
            select(
                BankHash.id, BankHash.signal, BankHash.variant, BankHash.quality, BankHash.structure,
                BankHash.case_id, Case.status,
            )
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
            stored = banding_structure(row.signal, row.quality, row.structure)
            within = [
                (d, structure) for d, primary, structure, variant in pairs
                if d <= pair_limit(row.signal, primary, row.variant, pdq_radius, structure, stored, variant)
            ]
            if within:
                distance, structure = min(within, key=lambda t: t[0])
                accepted.append((distance, hash_id, row, structure, stored))
        for distance, hash_id, row, structure, stored in sorted(accepted, key=lambda t: (t[0], t[1])):
            matches.append(
                MatchOut(
                    hash_id=hash_id,
                    signal=row.signal,
                    distance=distance,
                    variant=row.variant,
                    case_status=row.status,
                    confidence=confidence(row.signal, distance, structure, stored),
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


def record(sessions: sessionmaker[Session], events: list[dict]) -> None:
    """Match events are committed before the platform gets its answer (the review queue must not miss one):
    one multi-row INSERT in one transaction, however many matches the request had."""
    if events:
        with transaction(sessions) as session:
            session.execute(insert(MatchEvent), events)


