"""Counting wrong PINs and passwords exactly, without holding the database while argon2 runs.

A check (a case's PIN, a moderator's password) is three steps:

1. **reserve**, in a short write transaction with the row locked: refuse if the row is locked;
   otherwise count this attempt as a failure *now* (``failures = failures + 1``) and, if that
   count reaches the limit, lock the row. Unknown keys reserve nothing.
2. **verify** the secret with argon2 (0.1-0.3 s), outside any transaction: on SQLite no write
   lock is held, on PostgreSQL no row lock, so the rest of the bank keeps writing.
3. **settle**: a wrong secret is counted already; a right one takes back the failures counted up
   to and including its own reservation (``forgive``), in another short write transaction.

Counting before verifying is what keeps the lockout exact however many guesses arrive at once:
each verify runs only after its failure is committed, so the guess after the limit meets the
lock whether it comes a minute later or in the same millisecond, as it did when the whole check
was one transaction. The price: an attempt whose worker dies while verifying stays counted as
a failure, and while the limit-reaching attempt verifies, others wait for the lock it set even
if it turns out to be the right secret (it then lifts the lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..db.times import as_utc
from .passwords import lock_seconds


class Locked(Exception):
    """The row is locked for ``seconds`` more (rounded up)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass(frozen=True)
class Policy:
    """``allowed`` failures in a row, then a lock of ``first_seconds``, doubling up to ``max_seconds``."""

    allowed: int
    first_seconds: float
    max_seconds: float

    def lock_for(self, failures: int) -> float | None:
        return lock_seconds(failures, self.allowed, self.first_seconds, self.max_seconds)


@dataclass(frozen=True)
class Counter:
    """Where a table keeps its attempts: the key a caller names, the secret's hash, the count, the lock."""

    key: InstrumentedAttribute
    secret: InstrumentedAttribute
    failures: InstrumentedAttribute
    locked_until: InstrumentedAttribute

    @property
    def model(self) -> type:
        return self.key.class_


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt. ``row_id`` None: no such row (verify against the dummy hash)."""

    row_id: int | None
    stored_hash: str | None
    failures: int  # the count with this attempt in it
    locks_for: float | None  # the lock this attempt set (it stands if the secret is wrong)


NO_ROW = Attempt(None, None, 0, None)


def reserve(session: Session, counter: Counter, key: str | None, policy: Policy, now: datetime) -> Attempt:
    """Count an attempt on the row named ``key`` as a failure, before its secret is verified.

    Raises ``Locked`` (nothing counted) while the row is locked. The caller commits at once:
    the transaction is the row lock (PostgreSQL) or the database's write lock (SQLite).
    """
    if key is None:
        return NO_ROW
    model = counter.model
    # FOR NO KEY UPDATE on PostgreSQL (ignored by SQLite, whose transaction is BEGIN IMMEDIATE):
    # concurrent checks of this row wait here, rows that reference it (match events) do not.
    row = session.execute(
        select(model.id, counter.secret, counter.locked_until).where(counter.key == key).with_for_update(key_share=True)
    ).first()
    if row is None:
        return NO_ROW
    row_id, stored_hash, locked_until = row
    locked_until = as_utc(locked_until)
    if locked_until is not None and locked_until > now:
        raise Locked(int((locked_until - now).total_seconds()) + 1)
    failures = session.execute(
        update(model).where(model.id == row_id).values({counter.failures: counter.failures + 1}).returning(counter.failures)
    ).scalar_one()
    seconds = policy.lock_for(failures)
    if seconds is not None:
        session.execute(update(model).where(model.id == row_id).values({counter.locked_until: now + timedelta(seconds=seconds)}))
    return Attempt(row_id, stored_hash, failures, seconds)


def forgive(session: Session, counter: Counter, attempt: Attempt, policy: Policy) -> int:
    """A right secret: the failures counted up to and including ``attempt`` are taken back.

    Those counted after it (guesses made while it was being verified) still count, so the result
    is what the attempts would have left had they come one at a time, this one first among
    those concurrent with it. The lock goes if what is left is under the limit. Returns the count left.
    """
    model, failures = counter.model, counter.failures
    left = session.execute(
        update(model)
        .where(model.id == attempt.row_id)
        .values({failures: case((failures > attempt.failures, failures - attempt.failures), else_=0)})
        .returning(failures)
    ).scalar_one()
    if policy.lock_for(left) is None:
        session.execute(update(model).where(model.id == attempt.row_id).values({counter.locked_until: None}))
    return left



def clear(session: Session, counter: Counter, row_id: int) -> tuple[int, datetime | None]:
    """An operator's unlock: the count back to 0, no lock. Returns what there was: (count, lock).

    Attempts reserved before it and still verifying are wiped with the rest (a right one then
    has nothing left to take back). Nothing stops the next wrong guesses from locking the row
    again: this ends a lock, it does not stop whoever caused it.
    """
    model = counter.model
    failures, locked_until = session.execute(
        select(counter.failures, counter.locked_until).where(model.id == row_id).with_for_update(key_share=True)
    ).one()
    session.execute(update(model).where(model.id == row_id).values({counter.failures: 0, counter.locked_until: None}))
    return failures, as_utc(locked_until)
