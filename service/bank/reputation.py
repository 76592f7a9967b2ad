"""Hash reputation: what reviewers at every platform said about a bank hash, and the suspension rule.

A bank is open to abuse: ordinary images submitted in bad faith, or adversarial collisions.
Every verdict a platform gives on a bank hash (a moderator's review decision, and later
feedback through the exchange) is counted here; when reviewers at
``settings.suspend_after_platforms`` different platforms say "not NCII", the hash is
suspended from matching pending hotline review, through the change log, so every index drops it.
When hotline staff reinstate it (``service.bank.hotline``), the count starts again from then.

One module owns the rule so that every path that records a verdict applies it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import BankHash, HashReputation, ReviewDecision
from ..settings import Settings
from . import audit, changes

VERDICTS = ("ncii_remove", "not_ncii", "escalate")
_COUNT_COLUMN = {"ncii_remove": "ncii_count", "not_ncii": "not_ncii_count", "escalate": "escalate_count"}


@dataclass
class VerdictOutcome:
    reputation: HashReputation
    suspended_now: bool


def of(session: Session, hash_id: int) -> HashReputation:
    """The hash's reputation row, created empty (and added to the session) when there is none yet."""
    reputation = session.get(HashReputation, hash_id)
    if reputation is None:
        reputation = HashReputation(
            hash_id=hash_id, ncii_count=0, not_ncii_count=0, escalate_count=0, not_ncii_platforms=0
        )
        session.add(reputation)
    return reputation


def not_ncii_platforms(session: Session, hash_id: int, since: datetime | None = None) -> int:
    """How many different platforms said "not NCII" about the hash (after ``since``, when given).

    After hotline staff reinstate a hash, only verdicts given later count: the ones they
    overruled must not suspend it again at the next decision.
    """
    where = [ReviewDecision.hash_id == hash_id, ReviewDecision.decision == "not_ncii"]
    if since is not None:
        where.append(ReviewDecision.created_at > since)
    return session.scalar(select(func.count(func.distinct(ReviewDecision.platform_id))).where(*where)) or 0


def clear(reputation: HashReputation, now: datetime) -> None:
    """Hotline staff overruled the "not NCII" verdicts so far: start the suspension count afresh."""
    reputation.cleared_at = now
    reputation.not_ncii_platforms = 0
    reputation.updated_at = now


def record_verdict(
    session: Session, settings: Settings, bank_hash: BankHash, verdict: str, now: datetime
) -> VerdictOutcome:
    """Count ``verdict`` (already stored by the caller) and apply the suspension rule.

    The caller holds the bank hash's row lock (concurrent verdicts on one hash must see each
    other's counts) and has flushed the verdict's own row.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    reputation = of(session, bank_hash.id)
    column = _COUNT_COLUMN[verdict]
    setattr(reputation, column, (getattr(reputation, column) or 0) + 1)
    reputation.not_ncii_platforms = not_ncii_platforms(session, bank_hash.id, reputation.cleared_at)
    reputation.updated_at = now

    suspended_now = False
    if (
        verdict == "not_ncii"
        and bank_hash.status == "active"
        and reputation.not_ncii_platforms >= settings.suspend_after_platforms
    ):
        bank_hash.status = "suspended"
        reputation.suspended_at = now
        changes.append(session, [(bank_hash.id, bank_hash.signal, "remove")], reason="suspended")
        audit.record(
            session,
            "system",
            None,
            "hash.suspended",
            subject_type="bank_hash",
            subject_id=bank_hash.id,
            not_ncii_platforms=reputation.not_ncii_platforms,
            threshold=settings.suspend_after_platforms,
        )
        suspended_now = True
    return VerdictOutcome(reputation=reputation, suspended_now=suspended_now)
