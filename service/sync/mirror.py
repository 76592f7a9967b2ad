"""Apply a page of remote records to the local bank, and advance the checkpoint with it.

The page's effects and the new checkpoint commit in one transaction, so a crash anywhere
leaves either both or neither: the next run fetches the same page again (nothing was
kept) or the following one (all was kept); no gap, no duplicate. Applying is also
idempotent on its own: a record only changes something when the remote hash's state
changes, so re-reading pages (a StopNCII pass restarted from its timestamp, a sync from
the start) adds nothing.

Each remote hash is a ``remote_hashes`` row (the remote's key, matchable or not) pointing
at an ordinary bank hash under the source's synthetic case. Remote hashes with the same
value share the local bank hash, which matches while any of them is matchable; only its
transitions go into the change log, which every index (and a running ``ncii serve`` on
this database) replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..bank import audit, changes, sources
from ..db.models import BankHash, HashSource, RemoteHash
from .remote import Page, RemoteRecord, SyncError

#: Local status of a bank hash that no remote hash keeps matchable, by the remote's last reason.
STATUS_AFTER_REMOVE = {"withdrawn": "withdrawn", "suspended": "suspended", "retired": "retired"}
#: Reasons kept as they are in the local change log; anything else is logged as "synced".
KNOWN_REASONS = {"submitted", "reinstated", "imported", "withdrawn", "suspended", "retired"}


class CheckpointMoved(SyncError):
    """Another sync of the same source committed first: fetch again from its checkpoint."""


@dataclass
class PageOutcome:
    records: int = 0
    added: int = 0  # local bank hashes that became matchable
    removed: int = 0  # local bank hashes that stopped matching
    unchanged: int = 0  # records that changed nothing (already in that state, or a remove of a hash never seen)
    skipped: int = 0  # records that cannot be used here: unknown signal, malformed hash


def remote_source(session: Session, dialect: str, url: str) -> HashSource:
    return sources.get_or_create(session, "remote", f"{dialect} {url}", url=url, dialect=dialect)


def save_checkpoint(session: Session, source: HashSource, checkpoint: str) -> None:
    """The last step of a page's transaction (tests inject a crash here)."""
    source.checkpoint = checkpoint
    source.synced_at = datetime.now(timezone.utc)


def apply_page(session: Session, source_id: int, fetched_from: str | None, page: Page) -> PageOutcome:
    """Apply ``page`` (fetched from checkpoint ``fetched_from``) and store its checkpoint, in the caller's transaction."""
    source = session.scalar(select(HashSource).where(HashSource.id == source_id).with_for_update())
    if source is None:
        raise SyncError(f"hash source {source_id} is gone")
    if (source.checkpoint or None) != (fetched_from or None):
        raise CheckpointMoved(f"source {source_id} moved on while this page was fetched")
    outcome = apply_records(session, source, page.records)
    outcome.skipped += page.unsupported
    outcome.records += page.unsupported
    moved = (source.checkpoint or "") != page.checkpoint
    save_checkpoint(session, source, page.checkpoint)
    if outcome.records or moved:
        audit.record(
            session, "system", "sync", "sync.page", subject_type="hash_source", subject_id=source.id,
            dialect=source.dialect, url=source.url, records=outcome.records, added=outcome.added,
            removed=outcome.removed, unchanged=outcome.unchanged, skipped=outcome.skipped,
            checkpoint=page.checkpoint[:200],
        )
    return outcome


def apply_records(session: Session, source: HashSource, records: Sequence[RemoteRecord]) -> PageOutcome:
    outcome = PageOutcome(records=len(records))
    latest: dict[str, tuple[RemoteRecord, bytes]] = {}  # the last record of each remote hash wins
    for record in records:
        try:
            code = get_signal(record.signal).parse(record.hash).code
        except MatcherError:
            outcome.skipped += 1
            continue
        if record.key in latest:
            outcome.unchanged += 1  # superseded within the page
        latest[record.key] = (record, code)
    mapped = _mappings(session, source.id, list(latest))
    touched: dict[int, str] = {}  # local bank hash id -> the reason of its last change
    now = datetime.now(timezone.utc)
    new: list[tuple[str, RemoteRecord, bytes]] = []
    for key, (record, code) in latest.items():
        mapping = mapped.get(key)
        if mapping is None:
            if record.matchable:
                new.append((key, record, code))
            else:
                outcome.unchanged += 1  # the remote removed a hash this side never had
            continue
        if mapping.active == record.matchable:
            outcome.unchanged += 1
            continue
        mapping.active, mapping.reason, mapping.updated_at = record.matchable, record.reason, now
        touched[mapping.hash_id] = record.reason
    local = _local_hashes(session, source, [(record, code) for _, record, code in new])
    if new:
        session.execute(insert(RemoteHash), [
            {"source_id": source.id, "remote_key": key, "hash_id": local[_local_key(record, code)], "active": True,
             "reason": record.reason, "updated_at": now}
            for key, record, code in new
        ])
    for _, record, code in new:
        touched[local[_local_key(record, code)]] = record.reason
    session.flush()
    _settle(session, source.id, touched, outcome)
    return outcome


def _mappings(session: Session, source_id: int, keys: list[str]) -> dict[str, RemoteHash]:
    found: dict[str, RemoteHash] = {}
    for start in range(0, len(keys), 500):
        rows = session.scalars(
            select(RemoteHash).where(RemoteHash.source_id == source_id, RemoteHash.remote_key.in_(keys[start : start + 500]))
        )
        found.update((m.remote_key, m) for m in rows)
    return found


def _local_key(record: RemoteRecord, code: bytes) -> tuple[str, bytes, str | None]:
    """Which local bank hash a remote value lands in: one per value and signal, and per video for frame codes."""
    return record.signal, code, None if record.video is None else record.video[0]


def _local_hashes(
    session: Session, source: HashSource, wanted: list[tuple[RemoteRecord, bytes]]
) -> dict[tuple[str, bytes, str | None], int]:
    """The ids of the source's bank hashes with these values; the missing ones are created, not yet
    matchable (``_settle`` decides), in one multi-row insert per signal (per video for frame codes,
    which also get their place in the video's timeline)."""
    ids: dict[tuple[str, bytes, str | None], int] = {}
    by_item: dict[tuple[str, str | None], dict[bytes, RemoteRecord]] = {}
    for record, code in wanted:
        signal, _, video = _local_key(record, code)
        by_item.setdefault((signal, video), {}).setdefault(code, record)
    for (signal, video), values in by_item.items():
        item = sources.item_for(session, source, signal) if video is None else sources.video_item_for(session, source, video)
        found = sources.ids_by_code(session, item, signal, list(values))
        ids.update(((signal, code, video), hash_id) for code, hash_id in found.items())
        missing = {code: record for code, record in values.items() if code not in found}
        created = sources.add_hashes(session, source, item, signal, [
            {"code": code, "quality": record.quality, "structure": record.structure, "variant": record.variant,
             "status": "pending"}
            for code, record in missing.items()
        ])
        ids.update(((signal, code, video), hash_id) for code, hash_id in created.items())
        if video is not None and created:
            sources.add_video_frames(session, item, [
                (created[code], number, time) for code, record in missing.items() for number, time in record.video[1]
            ])
    return ids


def _settle(session: Session, source_id: int, touched: dict[int, str], outcome: PageOutcome) -> None:
    """Give each touched bank hash the status its remote hashes call for; log the transitions."""
    if not touched:
        return
    ids = list(touched)
    live: set[int] = set()
    hashes: list = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        live.update(session.scalars(
            select(RemoteHash.hash_id).where(RemoteHash.source_id == source_id, RemoteHash.hash_id.in_(chunk),
                                             RemoteHash.active.is_(True)).distinct()
        ))
        hashes.extend(session.execute(
            select(BankHash.id, BankHash.signal, BankHash.status).where(BankHash.id.in_(chunk)).order_by(BankHash.id)
        ))
    new_status: dict[str, list[int]] = {}
    adds: dict[str, list[tuple[int, str, str]]] = {}
    removes: dict[str, list[tuple[int, str, str]]] = {}
    for hash_id, signal, status in hashes:
        reason = touched[hash_id]
        logged = reason if reason in KNOWN_REASONS else "synced"
        if hash_id in live and status != "active":
            new_status.setdefault("active", []).append(hash_id)
            adds.setdefault(logged, []).append((hash_id, signal, "add"))
            outcome.added += 1
        elif hash_id not in live and status in ("active", "pending"):
            new_status.setdefault(STATUS_AFTER_REMOVE.get(reason, "withdrawn"), []).append(hash_id)
            if status == "active":
                removes.setdefault(logged, []).append((hash_id, signal, "remove"))
                outcome.removed += 1
    for status, hash_ids in new_status.items():
        for start in range(0, len(hash_ids), 500):
            session.execute(
                update(BankHash).where(BankHash.id.in_(hash_ids[start : start + 500])).values(status=status),
                execution_options={"synchronize_session": False},
            )
    for reason, rows in removes.items():
        changes.append(session, rows, reason=reason)
    for reason, rows in adds.items():
        changes.append(session, rows, reason=reason)
