"""Hotline review of suspended hashes: reinstate them, or retire them for good.

A suspension is automatic (reviewers at several platforms said "not NCII"); it may be a
bad-faith submission or reviewers who were wrong. Hotline staff, who can contact the victim's
helper, settle it:

- **reinstate**: the hash matches again (a change-log ``add``, reason ``reinstated``), and the
  "not NCII" verdicts given so far stop counting, so the very next one cannot re-suspend it;
- **retire**: the hash never matches again and stays out of every index; a change-log
  ``remove`` (reason ``retired``) is written only if it was still in the index (an active hash
  retired directly), since a suspended hash left the index at its suspension.

The reason is kept in ``hotline_actions``; the audit log records who did what to which hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import BankHash, Case, HashReputation, HotlineAction
from ..db.times import as_utc
from . import audit, changes, reputation


class HotlineError(Exception):
    pass


class HashNotFound(HotlineError):
    pass


class WrongHashStatus(HotlineError):
    """The action does not apply to a hash in this status (e.g. reinstating an active one)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


#: Which statuses each action applies to.
APPLIES_TO = {"reinstate": ("suspended",), "retire": ("suspended", "active")}


@dataclass
class SuspendedHash:
    hash_id: int
    signal: str
    variant: str
    quality: int | None
    case_status: str
    case_age_days: int
    suspended_at: datetime | None
    cleared_at: datetime | None
    ncii_remove: int
    not_ncii: int
    escalate: int
    not_ncii_platforms: int


@dataclass
class ActionOutcome:
    action: HotlineAction
    hash_status: str
    index_change: bool  # whether a change-log entry was written


def suspended(session: Session, *, limit: int = 50, after: int = 0) -> tuple[list[SuspendedHash], int | None]:
    """Suspended hashes with their reputation, by hash id (the cursor), and the next cursor."""
    rows = session.execute(
        select(BankHash, Case.status, Case.created_at, HashReputation)
        .join(Case, Case.id == BankHash.case_id)
        .outerjoin(HashReputation, HashReputation.hash_id == BankHash.id)
        .where(BankHash.status == "suspended", BankHash.id > after)
        .order_by(BankHash.id)
        .limit(limit + 1)
    ).all()
    out = [_summary(*row) for row in rows[:limit]]
    return out, (rows[limit - 1][0].id if len(rows) > limit else None)


def _summary(bank_hash: BankHash, case_status: str, case_created: datetime, rep: HashReputation | None) -> SuspendedHash:
    now = datetime.now(timezone.utc)
    return SuspendedHash(
        hash_id=bank_hash.id,
        signal=bank_hash.signal,
        variant=bank_hash.variant,
        quality=bank_hash.quality,
        case_status=case_status,
        case_age_days=max(0, (now - as_utc(case_created)).days),
        suspended_at=as_utc(rep.suspended_at) if rep else None,
        cleared_at=as_utc(rep.cleared_at) if rep else None,
        ncii_remove=rep.ncii_count if rep else 0,
        not_ncii=rep.not_ncii_count if rep else 0,
        escalate=rep.escalate_count if rep else 0,
        not_ncii_platforms=rep.not_ncii_platforms if rep else 0,
    )


@dataclass
class HashView:
    """One bank hash as hotline staff see it: status, reputation, and their own earlier actions."""

    hash: SuspendedHash
    status: str
    actions: list[HotlineAction]


def view(session: Session, hash_id: int) -> HashView:
    row = session.execute(
        select(BankHash, Case.status, Case.created_at, HashReputation)
        .join(Case, Case.id == BankHash.case_id)
        .outerjoin(HashReputation, HashReputation.hash_id == BankHash.id)
        .where(BankHash.id == hash_id)
    ).first()
    if row is None:
        raise HashNotFound()
    actions = session.scalars(
        select(HotlineAction).where(HotlineAction.hash_id == hash_id).order_by(HotlineAction.id)
    ).all()
    return HashView(hash=_summary(*row), status=row[0].status, actions=list(actions))


def _locked_hash(session: Session, hash_id: int) -> BankHash:
    query = select(BankHash).where(BankHash.id == hash_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    bank_hash = session.scalar(query)
    if bank_hash is None:
        raise HashNotFound()
    return bank_hash


def _act(session: Session, action: str, hash_id: int, moderator_id: int | None, reason: str) -> tuple[BankHash, HotlineAction, datetime]:
    bank_hash = _locked_hash(session, hash_id)
    if bank_hash.status not in APPLIES_TO[action]:
        raise WrongHashStatus(bank_hash.status)
    now = datetime.now(timezone.utc)
    record = HotlineAction(hash_id=hash_id, moderator_id=moderator_id, action=action, reason=reason, created_at=now)
    session.add(record)
    return bank_hash, record, now


def reinstate(session: Session, hash_id: int, *, moderator_id: int | None, reason: str) -> ActionOutcome:
    """A suspended hash matches again; earlier "not NCII" verdicts no longer count towards suspension."""
    bank_hash, record, now = _act(session, "reinstate", hash_id, moderator_id, reason)
    bank_hash.status = "active"
    reputation.clear(reputation.of(session, hash_id), now)
    changes.append(session, [(bank_hash.id, bank_hash.signal, "add")], reason="reinstated")
    session.flush()
    audit.record(session, "moderator", None if moderator_id is None else str(moderator_id), "hash.reinstated",
                 subject_type="bank_hash", subject_id=hash_id, hotline_action_id=record.id)
    return ActionOutcome(action=record, hash_status=bank_hash.status, index_change=True)


def retire(session: Session, hash_id: int, *, moderator_id: int | None, reason: str) -> ActionOutcome:
    """The hash never matches again (a suspended hash, or an active one hotline staff judge bad)."""
    bank_hash, record, _ = _act(session, "retire", hash_id, moderator_id, reason)
    was_indexed = bank_hash.status == "active"
    bank_hash.status = "retired"
    if was_indexed:
        changes.append(session, [(bank_hash.id, bank_hash.signal, "remove")], reason="retired")
    session.flush()
    audit.record(session, "moderator", None if moderator_id is None else str(moderator_id), "hash.retired",
                 subject_type="bank_hash", subject_id=hash_id, hotline_action_id=record.id, was_indexed=was_indexed)
    return ActionOutcome(action=record, hash_status=bank_hash.status, index_change=was_indexed)
