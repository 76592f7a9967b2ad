"""A second look at an image upload the lookup missed: registration on the bank pictures it came near.

``/v1/match/image`` holds the upload's pixels (in memory, for the length of the
request), so it can do what ``/v1/match`` cannot: :mod:`matcher.registration`
finds copies cropped on every side, tilted and cropped, or photographed at a
slant, which no stored hash meets. The candidates are the bank pictures one of
whose hashes comes within ``registration_radius`` (60) of one of the upload's
start regions (one index search); their whole groups are read from the database,
each is registered (at most ``matcher.registration.MAX_CANDIDATES``), and a
registered match is always of "review" confidence: a person looks before
anything is taken down.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher import registration
from matcher.groups import HashGroup, VariantHash, is_primary_variant, known_structure

from . import metrics
from .auth.api_keys import Caller
from .bank_index import BankIndex
from .db.models import BankHash, Case
from .schemas import MatchOut


def second_look(
    work: np.ndarray,
    index: BankIndex,
    readers: sessionmaker[Session],
    caller: Caller,
    radius: int,
    content_ref: str | None,
    preview_url: str | None,
) -> tuple[list[MatchOut], list[dict]]:
    """Registered matches for one upload's working copy, and their match events.

    Called only when the lookup matched no PDQ hash, so every picture near is a candidate.
    ``radius``: the index search radius for the start regions (at most the registration gate).
    """
    starts = registration.Starts.of(work)
    if not len(starts.codes):
        return [], []
    radius = min(radius, registration.GATE)
    nearest: dict[int, int] = {}
    for hits in index.search("pdq", starts.codes, radius, threads=1):
        for hit in hits:
            nearest[hit.hash_id] = min(hit.distance, nearest.get(hit.hash_id, 1 << 30))
    if not nearest:
        return [], []
    with readers() as session, session.begin():
        near = session.execute(
            select(BankHash.id, BankHash.item_id).where(BankHash.id.in_(nearest), BankHash.status == "active")
        ).all()
        by_item: dict[int, int] = {}
        for row in near:
            by_item[row.item_id] = min(nearest[row.id], by_item.get(row.item_id, 1 << 30))
        items = [item for _, item in sorted((d, i) for i, d in by_item.items())][: registration.MAX_CANDIDATES]
        rows = session.execute(
            select(
                BankHash.id, BankHash.item_id, BankHash.case_id, BankHash.code, BankHash.variant,
                BankHash.quality, BankHash.structure, Case.status,
            )
            .join(Case, Case.id == BankHash.case_id)
            .where(BankHash.item_id.in_(items), BankHash.signal == "pdq", BankHash.status == "active")
            .order_by(BankHash.id)
        ).all()
    per_item: dict[int, list] = defaultdict(list)
    for row in rows:
        per_item[row.item_id].append(row)
    matches: list[MatchOut] = []
    events: list[dict] = []
    for item in items:
        members = per_item.get(item, [])
        if not members:
            continue
        group = HashGroup(tuple(
            VariantHash(r.variant, np.frombuffer(r.code, dtype=np.uint8), r.quality or 0, is_primary_variant(r.variant),
                        known_structure(r.quality, r.structure))
            for r in members
        ))
        found = registration.register(work, group, starts=starts)
        if found is None:
            continue
        row = next(r for r in members if r.variant == found.bank_variant)
        matches.append(MatchOut(hash_id=row.id, signal="pdq", distance=found.distance, variant=row.variant,
                                case_status=row.status, confidence="review", registered=True))
        events.append({
            "platform_id": caller.platform_id, "hash_id": row.id, "case_id": row.case_id, "signal": "pdq",
            "distance": found.distance, "query_kind": "image", "content_ref": content_ref, "preview_url": preview_url,
        })
    if matches:
        metrics.MATCHES.labels("pdq").inc(len(matches))
    return matches, events
