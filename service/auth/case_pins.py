"""A victim's case number and PIN: the check behind every status and withdrawal request.

Unknown numbers, malformed numbers, wrong PINs and no PIN get the same answer after the same
work (one argon2 verify, against a dummy hash when there is no case), so the answer does not
tell which case numbers exist. Wrong PINs lock the case for a growing delay; the counters live
on the ``cases`` row, so every worker and every restart shares them. The attempt is counted
before the PIN is verified and argon2 runs outside any transaction (``lockout``): a PIN check
holds no database lock while it verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..bank import audit
from ..bank.case_numbers import normalise_case_number
from ..db.engine import transaction
from ..db.models import Case
from ..settings import Settings
from . import lockout
from .passwords import verify_secret

PINS = lockout.Counter(key=Case.number, secret=Case.pin_hash, failures=Case.failed_pin_attempts,
                       locked_until=Case.locked_until)


def policy(settings: Settings) -> lockout.Policy:
    return lockout.Policy(settings.pin_max_attempts, settings.pin_lock_seconds, settings.pin_lock_max_seconds)


def check(sessions: sessionmaker[Session], settings: Settings, number: str | None, pin: str) -> Case | None:
    """The case if ``pin`` is its PIN, else None; raises ``lockout.Locked`` while the case is locked.

    ``number`` is normalised already (None: not a case number). Every failure is committed
    before this returns, so an error answer cannot lose it.
    """
    rules = policy(settings)
    with transaction(sessions) as session:
        attempt = lockout.reserve(session, PINS, number, rules, datetime.now(timezone.utc))
    if verify_secret(settings, attempt.stored_hash, pin):
        with transaction(sessions) as session:
            lockout.forgive(session, PINS, attempt, rules)
            return session.get(Case, attempt.row_id)
    if attempt.locks_for is not None:
        with transaction(sessions) as session:
            audit.record(session, "system", None, "case.locked", subject_type="case", subject_id=number,
                         failed_attempts=attempt.failures, seconds=attempt.locks_for)
    return None


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Unlocked:
    case_number: str
    failed_attempts: int  # the count that was cleared
    locked_until: datetime | None  # the lock that was lifted (None: the case was not locked)


def unlock(session: Session, number: str, *, actor_type: audit.Actor, actor_id: str | None) -> Unlocked:
    """Clear a case's wrong-PIN count and lift its lock (hotline staff or an operator, for a victim
    locked out by someone else's guesses); audited as ``case.unlocked``. Raises ``CaseNotFound``
    for anything that is not a victim's case (a typo, or a synthetic case that holds imports).
    No free text is taken: the audit log keeps opaque ids and counts only."""
    normalised = normalise_case_number(number)
    case_id = None if normalised is None else session.scalar(select(Case.id).where(Case.number == normalised))
    if case_id is None:
        raise CaseNotFound(number)
    failures, locked_until = lockout.clear(session, PINS, case_id)
    now = datetime.now(timezone.utc)
    was_locked = locked_until if locked_until is not None and locked_until > now else None
    audit.record(session, actor_type, actor_id, "case.unlocked", subject_type="case", subject_id=normalised,
                 failed_attempts=failures, was_locked=was_locked is not None)
    return Unlocked(normalised, failures, was_locked)
