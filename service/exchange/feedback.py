"""Platforms' feedback on bank hashes: pending review, blocked, not blocked.

Why it exists: a platform that matches locally (from the feed) has no match events here, so
its moderators' verdicts reach the bank this way. Each platform has one current verdict per
hash (the latest wins, so a retried or repeated request changes nothing), and every change
is counted in the hash's reputation, where "not blocked" from enough different platforms
suspends the hash (``service.bank.reputation``).

A batch is all or nothing: one unknown hash id, or an id whose signal and value do not match
the bank's (a client mirroring another bank, or a bug), refuses the whole request, so a
client never has to work out which half of its verdicts landed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bank import audit, reputation
from ..db.models import FEEDBACK_VERDICTS, BankHash, ExchangeFeedback, ReviewDecision
from ..db.times import as_utc
from ..settings import Settings


@dataclass(frozen=True)
class Verdict:
    """One verdict on one bank hash, its value given again as a safety check."""

    hash_id: int
    signal: str
    code: bytes
    verdict: str
    tags: tuple[str, ...] = ()


@dataclass
class Outcome:
    hash_id: int
    verdict: str
    previous: str | None
    changed: bool
    hash_status: str
    suspended_now: bool


class Refused(Exception):
    """Nothing was stored; ``problems`` says, per item (by index), why."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(f"{len(problems)} feedback items refused")
        self.problems = problems


def _locked_hashes(session: Session, hash_ids: Iterable[int]) -> dict[int, BankHash]:
    """The bank hashes, row-locked in id order (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serialises writers), so concurrent verdicts on a hash see each other and never deadlock."""
    wanted = sorted(set(hash_ids))
    found: dict[int, BankHash] = {}
    for start in range(0, len(wanted), 500):
        query = select(BankHash).where(BankHash.id.in_(wanted[start : start + 500])).order_by(BankHash.id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        found.update((h.id, h) for h in session.scalars(query))
    return found


def give(
    session: Session, settings: Settings, *, platform_id: int, key_id: str, verdicts: Sequence[Verdict], dialect: str
) -> list[Outcome]:
    """Store the platform's verdicts (in order; a later one on the same hash wins), count them, audit once."""
    for v in verdicts:
        if v.verdict not in FEEDBACK_VERDICTS:
            raise ValueError(f"unknown verdict {v.verdict!r}")
    hashes = _locked_hashes(session, (v.hash_id for v in verdicts))
    problems = []
    for index, v in enumerate(verdicts):
        bank_hash = hashes.get(v.hash_id)
        if bank_hash is None:
            problems.append({"index": index, "code": "hash_not_found", "reason": "no bank hash has this id"})
        elif bank_hash.signal != v.signal or bytes(bank_hash.code) != v.code:
            problems.append(
                {"index": index, "code": "hash_mismatch", "reason": "this bank hash has another signal or value"}
            )
    if problems:
        raise Refused(problems)

    current = {
        row.hash_id: row
        for row in session.scalars(
            select(ExchangeFeedback).where(
                ExchangeFeedback.platform_id == platform_id, ExchangeFeedback.hash_id.in_(list(hashes))
            )
        )
    }
    now = datetime.now(timezone.utc)
    outcomes: list[Outcome] = []
    for v in verdicts:
        bank_hash = hashes[v.hash_id]
        row = current.get(v.hash_id)
        previous = row.verdict if row is not None else None
        tags = list(v.tags)
        if row is None:
            row = current[v.hash_id] = ExchangeFeedback(
                platform_id=platform_id, hash_id=v.hash_id, verdict=v.verdict, tags=tags, created_at=now, updated_at=now
            )
            session.add(row)
        changed = previous != v.verdict or list(row.tags or []) != tags
        if changed:
            row.verdict, row.tags, row.updated_at = v.verdict, tags, now
        suspended_now = False
        if previous != v.verdict:
            session.flush()  # the rule counts this platform's current verdict from the table
            suspended_now = reputation.record_feedback(session, settings, bank_hash, v.verdict, previous, now).suspended_now
        outcomes.append(Outcome(v.hash_id, v.verdict, previous, changed, bank_hash.status, suspended_now))

    audit.record(
        session,
        "platform",
        str(platform_id),
        "exchange.feedback",
        subject_type="feedback",
        dialect=dialect,
        key_id=key_id,
        received=len(verdicts),
        changes=[[o.hash_id, o.previous, o.verdict] for o in outcomes if o.changed],
        suspended=[o.hash_id for o in outcomes if o.suspended_now],
    )
    session.flush()
    return outcomes


# ------------------------------------------------------------------------------ opinions


#: A review decision read as the exchange's verdict vocabulary.
_REVIEW_AS_FEEDBACK = {"ncii_remove": "blocked", "not_ncii": "not_blocked", "escalate": "pending_review"}


@dataclass(frozen=True)
class Opinion:
    """One platform's current verdict on a hash: its newest feedback or review decision."""

    platform_id: int
    verdict: str
    at: datetime  # UTC
    tags: tuple[str, ...] = field(default=())


def opinions(session: Session, hash_ids: Iterable[int]) -> dict[int, list[Opinion]]:
    """Per hash, each platform's current verdict (review decisions and exchange feedback; the newer wins)."""
    wanted = sorted(set(hash_ids))
    newest: dict[tuple[int, int], Opinion] = {}

    def keep(hash_id: int, opinion: Opinion) -> None:
        key = (hash_id, opinion.platform_id)
        known = newest.get(key)
        if known is None or opinion.at >= known.at:
            newest[key] = opinion

    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for hash_id, platform_id, decision, at in session.execute(
            select(ReviewDecision.hash_id, ReviewDecision.platform_id, ReviewDecision.decision, ReviewDecision.created_at)
            .where(ReviewDecision.hash_id.in_(chunk))
            .order_by(ReviewDecision.id)
        ):
            keep(hash_id, Opinion(platform_id, _REVIEW_AS_FEEDBACK[decision], as_utc(at)))
        for row in session.scalars(select(ExchangeFeedback).where(ExchangeFeedback.hash_id.in_(chunk))):
            keep(row.hash_id, Opinion(row.platform_id, row.verdict, as_utc(row.updated_at), tuple(row.tags or ())))
    by_hash: dict[int, list[Opinion]] = defaultdict(list)
    for (hash_id, _), opinion in sorted(newest.items()):
        by_hash[hash_id].append(opinion)
    return by_hash
