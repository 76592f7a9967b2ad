"""Moderator review: the queue of a platform's match events, decisions, and hash reputation.

A match is a lead, never a verdict. A platform's reviewers decide each of its match events
("NCII: remove", "not NCII", "escalate", always with a reason); a platform never sees nor
decides another platform's events. Every decision is audited and counted in the bank hash's
reputation; a hash that reviewers at ``settings.suspend_after_platforms`` different platforms
mark not NCII is suspended from matching (defence against bad-faith submissions of ordinary
images) and a ``remove`` change with reason ``suspended`` takes it out of every index.

Decisions are final, except an escalation: a later "NCII: remove" or "not NCII" on an
escalated event supersedes it (the escalation stays on record). Anything else on a decided
event is refused (``AlreadyDecided``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..db.models import (
    DECISIONS,
    REVIEW_STATUS_AFTER,
    BankHash,
    Case,
    HashReputation,
    MatchEvent,
    ReviewDecision,
)
from ..settings import Settings
from .. import webhooks
from . import audit, reputation

REVIEW_STATUSES = ("pending", "escalated", "removed", "not_ncii")


class ReviewError(Exception):
    pass


class EventNotFound(ReviewError):
    """No such match event for this platform (another platform's event looks exactly the same)."""


class AlreadyDecided(ReviewError):
    def __init__(self, review_status: str) -> None:
        super().__init__(review_status)
        self.review_status = review_status


@dataclass
class DecisionOutcome:
    decision: ReviewDecision
    event: MatchEvent
    hash_status: str
    reputation: HashReputation
    suspended_now: bool


def _locked(session: Session, query):
    """SELECT ... FOR UPDATE on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def decide(
    session: Session,
    settings: Settings,
    *,
    platform_id: int,
    decided_by: str,
    match_event_id: int,
    decision: str,
    reason: str,
) -> DecisionOutcome:
    """Record ``decision`` on the platform's match event, update reputation, apply the suspension rule."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    # Row locks in a fixed order (the event, then its hash) so concurrent decisions on the same
    # hash see each other's committed counts and never deadlock.
    event = _locked(
        session, select(MatchEvent).where(MatchEvent.id == match_event_id, MatchEvent.platform_id == platform_id)
    )
    if event is None:
        raise EventNotFound()
    if event.review_status != "pending" and not (event.review_status == "escalated" and decision != "escalate"):
        raise AlreadyDecided(event.review_status)
    bank_hash = _locked(session, select(BankHash).where(BankHash.id == event.hash_id))
    now = datetime.now(timezone.utc)

    supersedes = None
    if event.review_status == "escalated":
        supersedes = session.scalar(
            select(ReviewDecision.id)
            .where(ReviewDecision.match_event_id == event.id)
            .order_by(ReviewDecision.id.desc())
            .limit(1)
        )
    record = ReviewDecision(
        match_event_id=event.id,
        platform_id=platform_id,
        hash_id=event.hash_id,
        decided_by=decided_by[:64],
        decision=decision,
        reason=reason,
        supersedes_id=supersedes,
        created_at=now,
    )
    session.add(record)
    event.review_status = REVIEW_STATUS_AFTER[decision]
    session.flush()

    audit.record(
        session,
        "platform",
        str(platform_id),
        "review.decided",
        subject_type="match_event",
        subject_id=event.id,
        decision=decision,
        decision_id=record.id,
        decided_by=record.decided_by,
        hash_id=event.hash_id,
        supersedes=supersedes,
    )

    verdict = reputation.record_verdict(session, settings, bank_hash, decision, now)
    webhooks.on_decision(session, settings, event, record)
    session.flush()
    return DecisionOutcome(
        decision=record,
        event=event,
        hash_status=bank_hash.status,
        reputation=verdict.reputation,
        suspended_now=verdict.suspended_now,
    )


# ---------------------------------------------------------------------------------------- queue


@dataclass
class QueueEntry:
    match_event_id: int
    hash_id: int
    signal: str
    distance: int
    confidence: str | None
    variant: str
    quality: int | None
    hash_status: str
    case_status: str
    case_age_days: int
    review_status: str
    matched_at: datetime
    others: dict[str, int]


@dataclass
class QueueGroup:
    content_ref: str | None
    first_event_id: int
    matches: list[QueueEntry] = field(default_factory=list)


def _confidence(signal: str, distance: int) -> str | None:
    try:
        return "high" if distance <= get_signal(signal).threshold else "review"
    except MatcherError:
        return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def queue(
    session: Session,
    platform_id: int,
    *,
    status: str = "pending",
    max_distance: int | None = None,
    limit: int = 50,
    after: int = 0,
) -> tuple[list[QueueGroup], int | None]:
    """This platform's match events, grouped per ``content_ref`` (events without one stand alone).

    Groups come oldest first (by their first event's id); ``after`` is the previous page's
    cursor. Returns the groups and the next cursor (None at the end).
    """
    where = [MatchEvent.platform_id == platform_id]
    if status != "all":
        where.append(MatchEvent.review_status == status)
    if max_distance is not None:
        where.append(MatchEvent.distance <= max_distance)

    first_id = func.min(MatchEvent.id)
    heads = session.execute(
        select(first_id, MatchEvent.content_ref)
        .where(*where, MatchEvent.content_ref.is_not(None))
        .group_by(MatchEvent.content_ref)
        .having(first_id > after)
        .order_by(first_id)
        .limit(limit + 1)
    ).all()
    loose = session.execute(
        select(MatchEvent.id, MatchEvent.content_ref)
        .where(*where, MatchEvent.content_ref.is_(None), MatchEvent.id > after)
        .order_by(MatchEvent.id)
        .limit(limit + 1)
    ).all()
    merged = sorted([(h[0], h[1]) for h in heads] + [(r[0], None) for r in loose])
    page, more = merged[:limit], len(merged) > limit
    if not page:
        return [], None

    refs = [ref for _, ref in page if ref is not None]
    lone_ids = [first for first, ref in page if ref is None]
    members = []
    if refs:
        members.append(MatchEvent.content_ref.in_(refs))
    if lone_ids:
        members.append(MatchEvent.id.in_(lone_ids))
    rows = session.execute(
        select(MatchEvent, BankHash.quality, BankHash.variant, BankHash.status, Case.status, Case.created_at)
        .join(BankHash, BankHash.id == MatchEvent.hash_id)
        .join(Case, Case.id == MatchEvent.case_id)
        .where(*where, or_(*members))
        .order_by(MatchEvent.id)
    ).all()

    hash_ids = {row[0].hash_id for row in rows}
    others: dict[int, dict[str, int]] = defaultdict(lambda: {d: 0 for d in DECISIONS})
    if hash_ids:
        for hash_id, decision, n in session.execute(
            select(ReviewDecision.hash_id, ReviewDecision.decision, func.count())
            .where(ReviewDecision.hash_id.in_(hash_ids), ReviewDecision.platform_id != platform_id)
            .group_by(ReviewDecision.hash_id, ReviewDecision.decision)
        ).all():
            others[hash_id][decision] = n
        for hash_id, n in session.execute(
            select(ReviewDecision.hash_id, func.count(func.distinct(ReviewDecision.platform_id)))
            .where(
                ReviewDecision.hash_id.in_(hash_ids),
                ReviewDecision.platform_id != platform_id,
                ReviewDecision.decision == "not_ncii",
            )
            .group_by(ReviewDecision.hash_id)
        ).all():
            others[hash_id]["not_ncii_platforms"] = n

    now = datetime.now(timezone.utc)
    groups: dict[object, QueueGroup] = {}
    for first, ref in page:
        groups[ref if ref is not None else ("event", first)] = QueueGroup(content_ref=ref, first_event_id=first)
    for event, quality, variant, hash_status, case_status, case_created in rows:
        key = event.content_ref if event.content_ref is not None else ("event", event.id)
        group = groups.get(key)
        if group is None:
            continue
        feedback = dict(others[event.hash_id])
        feedback.setdefault("not_ncii_platforms", 0)
        group.matches.append(
            QueueEntry(
                match_event_id=event.id,
                hash_id=event.hash_id,
                signal=event.signal,
                distance=event.distance,
                confidence=_confidence(event.signal, event.distance),
                variant=variant,
                quality=quality,
                hash_status=hash_status,
                case_status=case_status,
                case_age_days=max(0, (now - _utc(case_created)).days),
                review_status=event.review_status,
                matched_at=_utc(event.created_at),
                others=feedback,
            )
        )
    ordered = [groups[k] for k in groups]
    return ordered, (page[-1][0] if more else None)
