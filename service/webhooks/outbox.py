"""The delivery outbox: queued in the decision's transaction, claimed by workers, settled.

Queueing writes a row in the same transaction as the decision, so a committed "NCII: remove"
always has its delivery and a rolled-back one never does; no message broker needed.

Claims are leases: a worker marks due rows ``claimed_until = now + lease`` and commits before
it sends anything. On PostgreSQL the claim is ``SELECT ... FOR UPDATE SKIP LOCKED``, so
workers and replicas take disjoint rows without waiting on each other; SQLite serialises
writers anyway (``BEGIN IMMEDIATE``). A worker killed mid-delivery leaves a lease that runs
out, and the row is retried by whoever polls next: delivery is at least once, and the
receiver deduplicates on the delivery id.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from .. import metrics
from ..bank import audit
from ..db.models import MatchEvent, Platform, ReviewDecision, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..db.times import as_utc
from ..settings import Settings
from . import delivery

log = logging.getLogger("ncii.webhooks")

#: Which decisions notify the platform. Only a removal asks the platform to act: "not NCII"
#: leaves the content up and an escalation is still inside the platform's own review, so
#: neither is a takedown; a receiver never has to tell kinds of event apart to be safe.
NOTIFYING_DECISIONS = {"ncii_remove": "ncii_remove"}


def iso(moment: datetime | None) -> str | None:
    moment = as_utc(moment)
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def new_public_id() -> str:
    return "whd_" + secrets.token_hex(12)


def payload_for(public_id: str, event_type: str, event: MatchEvent, decision: ReviewDecision) -> dict:
    """What the platform needs to find and remove its content, nothing more.

    No reason text (a moderator's free words may name or describe a person), no moderator
    login, no case number: the platform has its own decision record by ``decision_id``.
    """
    return {
        "event_id": public_id,
        "type": event_type,
        "decision_id": decision.id,
        "match_event_id": event.id,
        "content_ref": event.content_ref,
        "hash_id": event.hash_id,
        "signal": event.signal,
        "distance": event.distance,
        "decided_at": iso(decision.created_at),
    }


def enqueue(session: Session, event: MatchEvent, decision: ReviewDecision) -> WebhookDelivery | None:
    """Queue the platform's webhook for ``decision`` in the caller's transaction (None: nothing to send)."""
    event_type = NOTIFYING_DECISIONS.get(decision.decision)
    if event_type is None:
        return None
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.platform_id == decision.platform_id))
    if endpoint is None or not endpoint.enabled:
        return None
    if decision.id is None:
        session.flush()
    public_id = new_public_id()
    row = WebhookDelivery(
        public_id=public_id,
        platform_id=decision.platform_id,
        decision_id=decision.id,
        event_type=event_type,
        payload=payload_for(public_id, event_type, event, decision),
        status="pending",
        attempts=0,
        next_attempt_at=datetime.now(timezone.utc),
    )
    session.add(row)
    return row


# ------------------------------------------------------------------------------ claiming


@dataclass(frozen=True)
class Claim:
    """A claimed delivery, detached from any session: what the sending thread needs."""

    delivery_id: int
    public_id: str
    platform_id: int
    payload: dict
    attempts: int
    url: str | None  # None: no endpoint, disabled, or the platform is revoked
    secret_version: int
    previous_secret_until: datetime | None = None  # a rotation's grace period (signing.signing_secrets)


def lease_seconds(settings: Settings) -> float:
    """Never shorter than an attempt can last, or a slow receiver would get the same webhook twice."""
    return max(settings.webhook_lease_seconds, delivery.attempt_deadline(settings) + 1)


def _due(now: datetime):
    return (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
    )


def any_due(readers: sessionmaker[Session]) -> bool:
    """A cheap read-only look, so idle polls never take SQLite's write lock."""
    with readers() as session, session.begin():
        return session.scalar(select(WebhookDelivery.id).where(*_due(datetime.now(timezone.utc))).limit(1)) is not None


def claim_due(sessions: sessionmaker[Session], settings: Settings, worker_id: str, limit: int) -> list[Claim]:
    with sessions() as session, session.begin():
        now = datetime.now(timezone.utc)
        query = select(WebhookDelivery).where(*_due(now)).order_by(WebhookDelivery.next_attempt_at).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        if not rows:
            return []
        until = now + timedelta(seconds=lease_seconds(settings))
        endpoints = {
            e.platform_id: (e, status)
            for e, status in session.execute(
                select(WebhookEndpoint, Platform.status)
                .join(Platform, Platform.id == WebhookEndpoint.platform_id)
                .where(WebhookEndpoint.platform_id.in_({r.platform_id for r in rows}))
            ).all()
        }
        claims = []
        for row in rows:
            row.claimed_until, row.claimed_by = until, worker_id
            endpoint, platform_status = endpoints.get(row.platform_id, (None, None))
            live = endpoint is not None and endpoint.enabled and platform_status == "active"
            claims.append(
                Claim(
                    delivery_id=row.id,
                    public_id=row.public_id,
                    platform_id=row.platform_id,
                    payload=dict(row.payload),
                    attempts=row.attempts,
                    url=endpoint.url if live else None,
                    secret_version=endpoint.secret_version if endpoint is not None else 0,
                    previous_secret_until=endpoint.previous_secret_until if endpoint is not None else None,
                )
            )
        return claims


# ------------------------------------------------------------------------------ settling


def settle(
    sessions: sessionmaker[Session], settings: Settings, worker_id: str, claim: Claim, result: delivery.AttemptResult
) -> str:
    """Record the attempt and move the delivery on; returns the attempt's outcome.

    Outcomes: ``succeeded``, ``retry`` (due again later), ``failed`` (permanent), ``gave_up``
    (the last allowed attempt failed). If the lease was lost meanwhile (another worker took
    the row after it ran out), the attempt is still recorded but the row is left to its owner.
    """
    with sessions() as session, session.begin():
        query = select(WebhookDelivery).where(WebhookDelivery.id == claim.delivery_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalar(query)
        number = (session.scalar(select(func.count()).where(WebhookAttempt.delivery_id == row.id)) or 0) + 1
        now = datetime.now(timezone.utc)
        attempts = claim.attempts + 1
        outcome, retry_in = result.kind, None
        if outcome == delivery.RETRY:
            if attempts >= settings.webhook_max_attempts:
                outcome = "gave_up"
            else:
                retry_in = delivery.backoff_seconds(settings, attempts, result.retry_after)
        session.add(
            WebhookAttempt(
                delivery_id=row.id,
                number=number,
                started_at=result.started_at,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error=result.error,
                outcome=outcome,
                retry_in_seconds=retry_in,
                response_snippet=result.snippet,
            )
        )
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
        if row.claimed_by != worker_id or row.status != "pending":
            log.warning("webhook delivery %s: lease lost before the attempt was recorded", row.public_id)
            return outcome
        row.attempts = attempts
        row.last_status_code, row.last_error = result.status_code, result.error
        row.claimed_until = row.claimed_by = None
        if outcome == delivery.RETRY:
            row.next_attempt_at = now + timedelta(seconds=retry_in)
            return outcome
        row.status = "succeeded" if outcome == delivery.SUCCEEDED else "failed"
        row.completed_at = now
        metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
        audit.record(
            session,
            "system",
            None,
            "webhook.delivered" if outcome == delivery.SUCCEEDED else "webhook.failed",
            subject_type="webhook_delivery",
            subject_id=row.public_id,
            platform_id=row.platform_id,
            decision_id=row.decision_id,
            outcome=outcome,
            attempts=number,
            status_code=result.status_code,
            error=result.error,
        )
        log.info("webhook delivery %s for platform %d: %s after %d attempt(s)", row.public_id, row.platform_id,
                 outcome, number)
        return outcome


# ------------------------------------------------------------------------------ the platform's view


class DeliveryNotFound(Exception):
    pass


class NotRedeliverable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find(session: Session, platform_id: int, public_id: str) -> WebhookDelivery:
    """This platform's delivery; another platform's looks exactly like a missing one."""
    row = session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.public_id == public_id, WebhookDelivery.platform_id == platform_id)
    )
    if row is None:
        raise DeliveryNotFound()
    return row


def attempts_of(session: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(
        session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number))
    )


def page(
    session: Session, platform_id: int, *, status: str | None, limit: int, before: int | None
) -> tuple[list[WebhookDelivery], int | None]:
    """Newest first; ``before`` is the previous page's cursor. Returns rows and the next cursor."""
    query = select(WebhookDelivery).where(WebhookDelivery.platform_id == platform_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def redeliver(session: Session, platform_id: int, public_id: str, actor_id: str) -> WebhookDelivery:
    """Put a failed delivery back in the queue: a new round of attempts, the same delivery id."""
    query = select(WebhookDelivery).where(WebhookDelivery.public_id == public_id, WebhookDelivery.platform_id == platform_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise DeliveryNotFound()
    if row.status != "failed":
        raise NotRedeliverable(f"only a failed delivery can be redelivered (this one is {row.status})")
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.platform_id == platform_id))
    if endpoint is None or not endpoint.enabled:
        raise NotRedeliverable("the webhook is disabled; enable it first")
    row.status, row.attempts, row.completed_at = "pending", 0, None
    row.next_attempt_at = datetime.now(timezone.utc)
    row.claimed_until = row.claimed_by = None
    audit.record(session, "platform", actor_id, "webhook.redelivery_requested", subject_type="webhook_delivery",
                 subject_id=row.public_id, platform_id=platform_id, decision_id=row.decision_id)
    return row
