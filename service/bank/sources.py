"""Hash sources: where bank hashes that no victim submitted here come from.

An imported hash list or a mirrored remote bank gets one synthetic case, so that its
hashes are ordinary bank hashes: the index, ``/v1/match``, match events, the review
queue and the suspension rule work on them unchanged. The synthetic case can never be
opened or withdrawn by anyone: its number is not a case number (``normalise_case_number``
refuses the colon) and its PIN hash is not an argon2 hash, so no PIN verifies.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.signals import get_signal

from ..db.models import BankHash, Case, CaseItem, HashSource

#: Not an argon2 hash: ``verify_secret`` answers False for every PIN.
NO_PIN = "!no-pin:hash-source"
_ITEM_POSITION = {"image": 0, "file": 1}


def find(session: Session, kind: str, name: str, *, lock: bool = False) -> HashSource | None:
    query = select(HashSource).where(HashSource.kind == kind, HashSource.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def get_or_create(
    session: Session, kind: str, name: str, *, url: str | None = None, dialect: str | None = None
) -> HashSource:
    """The source named ``name``, created with its synthetic case on first use."""
    source = find(session, kind, name, lock=True)
    if source is not None:
        return source
    case = Case(number=f"source:new:{secrets.token_hex(8)}", pin_hash=NO_PIN, status="active")
    session.add(case)
    session.flush()
    case.number = f"source:{case.id}"  # unique, and never a valid case number
    session.flush()
    source = HashSource(kind=kind, name=name, url=url, dialect=dialect, case_id=case.id)
    session.add(source)
    session.flush()
    return source


def item_for(session: Session, source: HashSource, signal: str) -> CaseItem:
    """The source's item for hashes of ``signal``'s kind (pictures or file digests)."""
    kind = get_signal(signal).source
    item = session.scalar(select(CaseItem).where(CaseItem.case_id == source.case_id, CaseItem.kind == kind))
    if item is None:
        item = CaseItem(case_id=source.case_id, position=_ITEM_POSITION[kind], kind=kind, status="active")
        session.add(item)
        session.flush()
    return item


def hash_ids_by_code(session: Session, item: CaseItem, signal: str, codes: list[bytes]) -> dict[bytes, BankHash]:
    """The item's bank hashes among ``codes`` (looked up in chunks the database accepts)."""
    found: dict[bytes, BankHash] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        rows = session.scalars(
            select(BankHash).where(BankHash.item_id == item.id, BankHash.signal == signal, BankHash.code.in_(chunk))
        )
        found.update((bytes(h.code), h) for h in rows)
    return found
