"""The change log: the ordered stream of bank changes every index replays.

Invariant: ``seq`` order is commit order. On PostgreSQL, sequence numbers are
handed out at insert time but become visible at commit, so two concurrent
writers could commit 11 before 10 and a reader that saw 11 would skip 10
forever. Writers therefore take an exclusive lock on the table before their
first insert (held to commit); readers are not blocked. SQLite serialises
writers already (``BEGIN IMMEDIATE``). Bank writes are rare (case submissions,
withdrawals, reviews), so the serialisation costs nothing that matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ..db.models import ChangeLog


def lock_for_append(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(ChangeLog.__table__.select().limit(0))  # make sure a transaction is open
        session.connection().exec_driver_sql("LOCK TABLE change_log IN EXCLUSIVE MODE")


def append(session: Session, changes: Iterable[tuple[int, str, str]], reason: str) -> int:
    """Log (hash_id, signal, op) changes in the caller's transaction; returns how many."""
    rows = [{"hash_id": h, "signal": s, "op": op, "reason": reason} for h, s, op in changes]
    if not rows:
        return 0
    lock_for_append(session)
    session.execute(insert(ChangeLog), rows)
    return len(rows)


def latest_seq(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(ChangeLog.seq), 0))) or 0


def read_since(session: Session, after: int, limit: int = 50_000) -> Sequence[ChangeLog]:
    return session.scalars(select(ChangeLog).where(ChangeLog.seq > after).order_by(ChangeLog.seq).limit(limit)).all()
