"""The exchange feed: the change log, read as records a platform can mirror from a cursor.

Why the change log and not the hashes table: it is the one ordered, append-only history of
the bank. Its writers serialise (``service.bank.changes``), so ``seq`` order is commit order;
a reader that asks for ``seq > cursor`` in one statement therefore sees a gap-free prefix, and
resuming from the last ``seq`` it was given never skips nor repeats a change, however many
cases are submitted or withdrawn meanwhile.

Each record carries its change (``op``, ``reason``) and the hash's state *now* (status,
case status, feedback counts): a client applies ops in order, and the state helps it decide.
No case number, PIN or case id ever leaves through the feed; a bank hash is named by its id.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..bank import audit
from ..db.models import BankHash, Case, ChangeLog, HashReputation, VideoFrame
from ..db.times import as_utc

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000

# Versioned so the encoding can change without breaking a platform's stored cursor.
_CURSOR_PREFIX = "ncii-feed:1:"
_CURSOR_BODY = re.compile(r"^ncii-feed:1:(0|[1-9][0-9]{0,17})$")


class CursorInvalid(ValueError):
    """Not a cursor this API handed out."""


class CursorAhead(ValueError):
    """A well-formed cursor past the end of this bank's log: from another bank, or this bank was restored."""


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int:
    """The change-log position a cursor stands for (0, the beginning, for none)."""
    if text is None or text == "":
        return 0
    if len(text) > 64:
        raise CursorInvalid()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorInvalid() from None
    found = _CURSOR_BODY.match(raw)
    if found is None:
        raise CursorInvalid()
    return int(found.group(1))


@dataclass(frozen=True, slots=True)
class Feedback:
    """Verdicts on a hash over every platform: review decisions and exchange feedback together."""

    ncii: int = 0
    not_ncii: int = 0
    escalate: int = 0
    platforms_not_ncii: int = 0


_NO_FEEDBACK = Feedback()


@dataclass(slots=True)  # not frozen: a page builds 10,000 of them, and frozen __init__ costs 3x
class FeedRecord:
    seq: int
    hash_id: int
    signal: str
    code: bytes
    op: str
    reason: str
    status: str
    quality: int | None
    variant: str
    case_status: str
    feedback: Feedback
    at: datetime
    structure: int | None = None
    #: A video's frame code (signal vpdq): {"video_id", "frames": [{"frame", "time"}, ...]}, the video it
    #: belongs to and when it was sampled there, so a mirror can rebuild the video's timeline.
    video: dict | None = None

    @property
    def hash(self) -> str:
        return self.code.hex()


@dataclass(frozen=True)
class Page:
    records: list[FeedRecord]
    after: int  # the position the page started after
    last: int  # the position to resume after (``after`` when the page is empty)
    has_more: bool


def latest_seq(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(ChangeLog.seq), 0))) or 0


def read_page(session: Session, after: int, limit: int = DEFAULT_LIMIT) -> Page:
    """The changes after position ``after``, oldest first, at most ``limit``.

    One statement reads the rows and everything each record says about its hash, so the page
    is one consistent snapshot. A cursor past the end of the log raises ``CursorAhead``
    rather than waiting forever for positions this bank already used for nothing.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")
    rows = session.execute(
        select(
            ChangeLog.seq,
            ChangeLog.hash_id,
            ChangeLog.signal,
            ChangeLog.op,
            ChangeLog.reason,
            ChangeLog.at,
            BankHash.code,
            BankHash.status,
            BankHash.quality,
            BankHash.variant,
            Case.status,
            HashReputation.ncii_count,
            HashReputation.not_ncii_count,
            HashReputation.escalate_count,
            HashReputation.not_ncii_platforms,
            BankHash.structure,
        )
        .join(BankHash, BankHash.id == ChangeLog.hash_id)
        .join(Case, Case.id == BankHash.case_id)
        .outerjoin(HashReputation, HashReputation.hash_id == ChangeLog.hash_id)
        .where(ChangeLog.seq > after)
        .order_by(ChangeLog.seq)
        .limit(limit + 1)
    ).all()
    if not rows and after > latest_seq(session):
        raise CursorAhead()
    more = len(rows) > limit
    records = [
        FeedRecord(
            seq=r[0],
            hash_id=r[1],
            signal=r[2],
            op=r[3],
            reason=r[4],
            at=as_utc(r[5]),
            code=bytes(r[6]),
            status=r[7],
            quality=r[8],
            variant=r[9],
            case_status=r[10],
            feedback=_NO_FEEDBACK if r[11] is None else Feedback(r[11], r[12], r[13], r[14]),
            structure=r[15],
        )
        for r in rows[:limit]
    ]
    _attach_videos(session, records)
    return Page(records=records, after=after, last=records[-1].seq if records else after, has_more=more)


def _attach_videos(session: Session, records: list[FeedRecord]) -> None:
    """Give each frame-code record its video and sampled times: one query, and only for pages with videos."""
    wanted = sorted({r.hash_id for r in records if r.signal == "vpdq"})
    if not wanted:
        return
    found: dict[int, dict] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(VideoFrame.hash_id, VideoFrame.item_id, VideoFrame.frame, VideoFrame.time)
            .where(VideoFrame.hash_id.in_(wanted[start : start + 500]))
            .order_by(VideoFrame.hash_id, VideoFrame.time, VideoFrame.position)
        ).all()
        for hash_id, item_id, frame, time in rows:
            video = found.setdefault(hash_id, {"video_id": item_id, "frames": []})
            video["frames"].append({"frame": frame, "time": round(time, 3)})
    for record in records:
        if record.signal == "vpdq":
            record.video = found.get(record.hash_id)


def position_at(session: Session, moment: datetime) -> int:
    """The position to read after so that every change made at ``moment`` or later is included.

    Changes are timestamped after their writer took the log's lock, so time order follows
    ``seq`` order on one clock; readers that resume from a time keep a margin for clocks that
    differ between replicas (see ``service.exchange.stopncii``).
    """
    first = session.scalar(
        select(ChangeLog.seq).where(ChangeLog.at >= moment).order_by(ChangeLog.at, ChangeLog.seq).limit(1)
    )
    return latest_seq(session) if first is None else first - 1


def change_time(session: Session, seq: int) -> datetime | None:
    """When the change at position ``seq`` was made (None if no change has that position)."""
    at = session.scalar(select(ChangeLog.at).where(ChangeLog.seq == seq))
    return None if at is None else as_utc(at)


@dataclass(frozen=True)
class ValueHolder:
    """One bank hash with a given value (several cases can hold the same picture)."""

    hash_id: int
    signal: str
    code: bytes
    status: str
    case_status: str


def holders(session: Session, values: Iterable[tuple[str, bytes]]) -> list[ValueHolder]:
    """Every bank hash whose (signal, value) is among ``values``: a value-keyed dialect's aggregate."""
    wanted = sorted(set(values))
    found: list[ValueHolder] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        by_signal: dict[str, list[bytes]] = {}
        for signal, code in chunk:
            by_signal.setdefault(signal, []).append(code)
        rows = session.execute(
            select(BankHash.id, BankHash.signal, BankHash.code, BankHash.status, Case.status)
            .join(Case, Case.id == BankHash.case_id)
            .where(or_(*(and_(BankHash.signal == s, BankHash.code.in_(codes)) for s, codes in by_signal.items())))
            .order_by(BankHash.id)
        ).all()
        found.extend(ValueHolder(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows)
    return found


def record_read(session: Session, platform_id: int, key_id: str, dialect: str, page: Page) -> None:
    """One audit row per feed request (not per record): who read which range, and how much."""
    audit.record(
        session,
        "platform",
        str(platform_id),
        "exchange.read",
        subject_type="feed",
        dialect=dialect,
        key_id=key_id,
        after_seq=page.after,
        last_seq=page.last,
        records=len(page.records),
    )

