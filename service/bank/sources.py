"""Hash sources: where bank hashes that no victim submitted here come from.

An imported hash list or a mirrored remote bank gets one synthetic case, so that its
hashes are ordinary bank hashes: the index, ``/v1/match``, match events, the review
queue and the suspension rule work on them unchanged. The synthetic case can never be
opened or withdrawn by anyone: its number is not a case number (``normalise_case_number``
refuses the colon) and its PIN hash is not an argon2 hash, so no PIN verifies.
"""

from __future__ import annotations

import secrets

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from matcher.signals import get_signal

from ..db.models import BankHash, Case, CaseItem, HashSource, RemoteVideo, VideoFrame

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


def video_item_for(session: Session, source: HashSource, remote_video_id: str) -> CaseItem:
    """The source's item for one of the remote's videos (each video its own item, so its frames stay one video)."""
    item_id = session.scalar(select(RemoteVideo.item_id).where(
        RemoteVideo.source_id == source.id, RemoteVideo.remote_video_id == remote_video_id
    ))
    if item_id is not None:
        return session.get(CaseItem, item_id)
    position = session.scalar(select(func.coalesce(func.max(CaseItem.position), 1)).where(
        CaseItem.case_id == source.case_id
    ))
    item = CaseItem(case_id=source.case_id, position=max(position, 1) + 1, kind="video", status="active")
    session.add(item)
    session.flush()
    session.add(RemoteVideo(source_id=source.id, remote_video_id=remote_video_id, item_id=item.id))
    session.flush()
    return item


def add_video_frames(session: Session, item: CaseItem, frames: list[tuple[int, int, float]]) -> None:
    """Place (bank hash id, frame number, seconds) in the item's timeline, after what it holds already."""
    if not frames:
        return
    start = session.scalar(select(func.coalesce(func.max(VideoFrame.position), -1)).where(VideoFrame.item_id == item.id))
    session.execute(insert(VideoFrame), [
        {"item_id": item.id, "hash_id": hash_id, "position": start + 1 + k, "frame": number, "time": time}
        for k, (hash_id, number, time) in enumerate(frames)
    ])


def ids_by_code(session: Session, item: CaseItem, signal: str, codes: list[bytes]) -> dict[bytes, int]:
    """The ids of the item's bank hashes among ``codes`` (looked up in chunks the database accepts)."""
    found: dict[bytes, int] = {}
    for start in range(0, len(codes), 500):
        rows = session.execute(
            select(BankHash.code, BankHash.id).where(
                BankHash.item_id == item.id, BankHash.signal == signal, BankHash.code.in_(codes[start : start + 500])
            )
        )
        found.update((bytes(code), hash_id) for code, hash_id in rows)
    return found


def add_hashes(session: Session, source: HashSource, item: CaseItem, signal: str, rows: list[dict]) -> dict[bytes, int]:
    """Insert bank hashes (``code``, ``quality``, ``variant``, ``status``) into the item; their ids by code.

    A plain multi-row insert and one read back: SQLite cannot return ids of an executemany in
    order, and a row-at-a-time insert costs a round trip a hash.
    """
    if not rows:
        return {}
    session.execute(
        insert(BankHash),
        [{"case_id": source.case_id, "item_id": item.id, "signal": signal, **row} for row in rows],
    )
    return ids_by_code(session, item, signal, [row["code"] for row in rows])
