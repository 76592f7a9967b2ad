"""Hash reputation: what reviewers at every platform said about a bank hash, and the suspension rule.

A bank is open to abuse: ordinary images submitted in bad faith, or adversarial collisions.
Every verdict a platform gives on a bank hash is counted here: a moderator's review decision,
and a platform's feedback through the exchange ("blocked" counts as NCII, "not blocked" as not
NCII, "pending review" not at all; a platform's latest feedback replaces its earlier one). When
``settings.suspend_after_platforms`` different platforms say "not NCII" (by a review decision
or by their current feedback), the hash is suspended from matching pending hotline review,
through the change log, so every index drops it. A suspension is never lifted here: only the
hotline reinstates (``service.bank.hotline``), and the count then starts again from that moment.

One module owns the rule so that every path that records a verdict applies it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import BankHash, ExchangeFeedback, HashReputation, ReviewDecision
from ..settings import Settings
from . import audit, changes

VERDICTS = ("ncii_remove", "not_ncii", "escalate")
#: What each exchange feedback verdict counts as (``pending_review``: a match awaits review, no opinion yet).
FEEDBACK_COUNTS_AS = {"blocked": "ncii_remove", "not_blocked": "not_ncii", "pending_review": None}
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
    """How many different platforms said "not NCII" about the hash: in a review decision, or as
    their current exchange feedback (one platform saying it both ways counts once).

    After hotline staff reinstate a hash (``since``), only verdicts given later count: the ones
    they overruled must not suspend it again at the next decision.
    """
    decided = [ReviewDecision.hash_id == hash_id, ReviewDecision.decision == "not_ncii"]
    fed_back = [ExchangeFeedback.hash_id == hash_id, ExchangeFeedback.verdict == "not_blocked"]
    if since is not None:
        decided.append(ReviewDecision.created_at > since)
        fed_back.append(ExchangeFeedback.updated_at > since)
    platforms = (
        select(ReviewDecision.platform_id).where(*decided)
        .union(select(ExchangeFeedback.platform_id).where(*fed_back))
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(platforms)) or 0


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
    return _recount(session, settings, bank_hash, verdict, None, now)


def record_feedback(
    session: Session, settings: Settings, bank_hash: BankHash, verdict: str, previous: str | None, now: datetime
) -> VerdictOutcome:
    """Count a platform's exchange feedback ``verdict`` in place of its ``previous`` one, and apply the rule.

    Same contract as ``record_verdict``: the bank hash is locked, the feedback row flushed.
    """
    if verdict not in FEEDBACK_COUNTS_AS or (previous is not None and previous not in FEEDBACK_COUNTS_AS):
        raise ValueError(f"unknown feedback {verdict!r} (previous {previous!r})")
    return _recount(
        session, settings, bank_hash, FEEDBACK_COUNTS_AS[verdict], FEEDBACK_COUNTS_AS.get(previous) if previous else None,
        now,
    )


def _recount(
    session: Session, settings: Settings, bank_hash: BankHash, counted: str | None, withdrawn: str | None,
    now: datetime,
) -> VerdictOutcome:
    reputation = of(session, bank_hash.id)
    if withdrawn is not None:
        column = _COUNT_COLUMN[withdrawn]
        setattr(reputation, column, max(0, (getattr(reputation, column) or 0) - 1))
    if counted is not None:
        column = _COUNT_COLUMN[counted]
        setattr(reputation, column, (getattr(reputation, column) or 0) + 1)
    reputation.not_ncii_platforms = not_ncii_platforms(session, bank_hash.id, reputation.cleared_at)
    reputation.updated_at = now

    suspended_now = False
    if (
        counted == "not_ncii"
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
