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
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..db.models import (
    DECISIONS,
    REVIEW_STATUS_AFTER,
    BankHash,
    Case,
    ExchangeFeedback,
    HashReputation,
    MatchEvent,
    ReviewDecision,
)
from ..db.times import as_utc
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


# ---------------------------------------------------------------------------------------- bulk


#: Decisions that may be taken on many events at once. Never "remove": a takedown is decided
#: item by item, after looking at each one.
BULK_DECISIONS = ("not_ncii", "escalate")
BULK_MAX = 100


@dataclass
class BulkOutcome:
    match_event_id: int
    status: str  # decided, not_found, already_decided
    review_status: str | None
    decision_id: int | None = None


def decide_many(
    session: Session,
    settings: Settings,
    *,
    platform_id: int,
    decided_by: str,
    match_event_ids: list[int],
    decision: str,
    reason: str,
) -> list[BulkOutcome]:
    """The same decision and reason on several events, in one transaction; each event's outcome.

    Events already decided (by a colleague since the queue was loaded) or not this platform's
    are reported and skipped, not fatal: the rest of the batch still stands.
    """
    if decision not in BULK_DECISIONS:
        raise ValueError(f"{decision!r} cannot be decided in bulk")
    outcomes = []
    for event_id in dict.fromkeys(match_event_ids):
        try:
            done = decide(session, settings, platform_id=platform_id, decided_by=decided_by,
                          match_event_id=event_id, decision=decision, reason=reason)
        except EventNotFound:
            outcomes.append(BulkOutcome(event_id, "not_found", None))
        except AlreadyDecided as error:
            outcomes.append(BulkOutcome(event_id, "already_decided", error.review_status))
        else:
            outcomes.append(BulkOutcome(event_id, "decided", done.event.review_status, done.decision.id))
    return outcomes


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
    preview_url: str | None
    others: dict[str, int]
    #: A video match: the bank video, both shares and the matched time ranges (where to look).
    video: dict | None = None


@dataclass
class QueueGroup:
    platform_id: int
    content_ref: str | None
    first_event_id: int
    matches: list[QueueEntry] = field(default_factory=list)


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrows the queue to. ``platform_id`` None: every platform (hotline staff only)."""

    platform_id: int | None
    status: str = "pending"
    min_distance: int | None = None
    max_distance: int | None = None
    max_age_hours: int | None = None
    signal: str | None = None

    def where(self) -> list:
        where = []
        if self.platform_id is not None:
            where.append(MatchEvent.platform_id == self.platform_id)
        if self.status != "all":
            where.append(MatchEvent.review_status == self.status)
        if self.min_distance is not None:
            where.append(MatchEvent.distance >= self.min_distance)
        if self.max_distance is not None:
            where.append(MatchEvent.distance <= self.max_distance)
        if self.max_age_hours is not None:
            where.append(MatchEvent.created_at >= datetime.now(timezone.utc) - timedelta(hours=self.max_age_hours))
        if self.signal is not None:
            where.append(MatchEvent.signal == self.signal)
        return where


def _confidence(signal: str, distance: int) -> str | None:
    try:
        return "high" if distance <= get_signal(signal).threshold else "review"
    except MatcherError:
        return None


def _heads(session: Session, where: list, *, after: int = 0, before: int | None = None, limit: int) -> list[tuple[int, int, str | None]]:
    """Group heads (first event id, platform, content_ref) in id order; newest first when ``before`` is given."""
    first_id = func.min(MatchEvent.id)
    grouped = (
        select(first_id, MatchEvent.platform_id, MatchEvent.content_ref)
        .where(*where, MatchEvent.content_ref.is_not(None))
        .group_by(MatchEvent.platform_id, MatchEvent.content_ref)
    )
    loose = select(MatchEvent.id, MatchEvent.platform_id, MatchEvent.content_ref).where(*where, MatchEvent.content_ref.is_(None))
    if before is None:
        grouped = grouped.having(first_id > after).order_by(first_id).limit(limit)
        loose = loose.where(MatchEvent.id > after).order_by(MatchEvent.id).limit(limit)
    else:
        grouped = grouped.having(first_id < before).order_by(first_id.desc()).limit(limit)
        loose = loose.where(MatchEvent.id < before).order_by(MatchEvent.id.desc()).limit(limit)
    merged = [tuple(r) for r in session.execute(grouped).all()] + [tuple(r) for r in session.execute(loose).all()]
    merged.sort(reverse=before is not None)
    return merged[:limit]


def _groups(session: Session, where: list, page: list[tuple[int, int, str | None]]) -> list[QueueGroup]:
    """The page's groups with every matching member event, reputation counts and case details."""
    if not page:
        return []
    members = []
    for first, platform_id, ref in page:
        if ref is None:
            members.append(MatchEvent.id == first)
        else:
            members.append(and_(MatchEvent.platform_id == platform_id, MatchEvent.content_ref == ref))
    rows = session.execute(
        select(MatchEvent, BankHash.quality, BankHash.variant, BankHash.status, Case.status, Case.created_at)
        .join(BankHash, BankHash.id == MatchEvent.hash_id)
        .join(Case, Case.id == MatchEvent.case_id)
        .where(*where, or_(*members))
        .order_by(MatchEvent.id)
    ).all()

    # Per hash, per platform: decision counts (review decisions and exchange feedback); and who
    # said "not NCII". An event's "other platforms" are every platform but its own.
    hash_ids = {row[0].hash_id for row in rows}
    counts: dict[int, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: {d: 0 for d in DECISIONS}))
    if hash_ids:
        for hash_id, platform_id, decision, n in session.execute(
            select(ReviewDecision.hash_id, ReviewDecision.platform_id, ReviewDecision.decision, func.count())
            .where(ReviewDecision.hash_id.in_(hash_ids))
            .group_by(ReviewDecision.hash_id, ReviewDecision.platform_id, ReviewDecision.decision)
        ).all():
            counts[hash_id][platform_id][decision] = n
        # A platform's current exchange feedback counts as one verdict of the same kind
        # ("blocked" as NCII, "not blocked" as not NCII), as in the reputation.
        for hash_id, platform_id, verdict in session.execute(
            select(ExchangeFeedback.hash_id, ExchangeFeedback.platform_id, ExchangeFeedback.verdict)
            .where(ExchangeFeedback.hash_id.in_(hash_ids))
        ).all():
            decision = reputation.FEEDBACK_COUNTS_AS.get(verdict)
            if decision is not None:
                counts[hash_id][platform_id][decision] += 1

    def others(hash_id: int, own: int) -> dict[str, int]:
        out = {d: 0 for d in DECISIONS}
        said_not = 0
        for platform_id, by_decision in counts.get(hash_id, {}).items():
            if platform_id == own:
                continue
            for d, n in by_decision.items():
                out[d] += n
            said_not += 1 if by_decision["not_ncii"] else 0
        out["not_ncii_platforms"] = said_not
        return out

    now = datetime.now(timezone.utc)
    groups: dict[object, QueueGroup] = {}
    for first, platform_id, ref in page:
        key = (platform_id, ref) if ref is not None else ("event", first)
        groups[key] = QueueGroup(platform_id=platform_id, content_ref=ref, first_event_id=first)
    for event, quality, variant, hash_status, case_status, case_created in rows:
        key = (event.platform_id, event.content_ref) if event.content_ref is not None else ("event", event.id)
        group = groups.get(key)
        if group is None:
            continue
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
                case_age_days=max(0, (now - as_utc(case_created)).days),
                review_status=event.review_status,
                matched_at=as_utc(event.created_at),
                preview_url=event.preview_url,
                others=others(event.hash_id, event.platform_id),
                video=event.video,
            )
        )
    return list(groups.values())


def queue(
    session: Session,
    platform_id: int | None,
    *,
    status: str = "pending",
    max_distance: int | None = None,
    limit: int = 50,
    after: int = 0,
    min_distance: int | None = None,
    max_age_hours: int | None = None,
    signal: str | None = None,
) -> tuple[list[QueueGroup], int | None]:
    """Match events grouped per platform and ``content_ref`` (events without one stand alone).

    ``platform_id`` None lists every platform's events (hotline staff). Groups come oldest
    first (by their first event's id); ``after`` is the previous page's cursor. Returns the
    groups and the next cursor (None at the end).
    """
    flt = QueueFilter(platform_id, status, min_distance, max_distance, max_age_hours, signal)
    where = flt.where()
    page = _heads(session, where, after=after, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return _groups(session, where, page), (page[-1][0] if more and page else None)


@dataclass
class ItemView:
    group: QueueGroup
    previous_event_id: int | None  # the neighbouring groups in the filtered queue
    next_event_id: int | None


def item(session: Session, match_event_id: int, flt: QueueFilter) -> ItemView:
    """The group (same platform and ``content_ref``) holding the event, whatever its members'
    status, and its neighbours in the queue as ``flt`` filters it.

    Raises EventNotFound for another platform's event exactly as for a missing one.
    """
    where = [MatchEvent.id == match_event_id]
    if flt.platform_id is not None:
        where.append(MatchEvent.platform_id == flt.platform_id)
    event = session.scalar(select(MatchEvent).where(*where))
    if event is None:
        raise EventNotFound()
    if event.content_ref is None:
        head = (event.id, event.platform_id, None)
    else:
        first = session.scalar(
            select(func.min(MatchEvent.id)).where(
                MatchEvent.platform_id == event.platform_id, MatchEvent.content_ref == event.content_ref
            )
        )
        head = (first, event.platform_id, event.content_ref)
    (group,) = _groups(session, [], [head])
    queue_where = flt.where()
    after = _heads(session, queue_where, after=head[0], limit=1)
    before = _heads(session, queue_where, before=head[0], limit=1)
    return ItemView(
        group=group,
        previous_event_id=before[0][0] if before else None,
        next_event_id=after[0][0] if after else None,
    )
