"""Victim cases: submit hash groups, look at the case, withdraw it.

Validation happens per item, so one unusable picture (a flat image whose PDQ
quality is too low to match safely) does not cost the victim the rest of the
submission: it is refused with a reason and the others are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.pdq import structure_agrees
from matcher.signals import get_signal

from ..db.models import BankHash, Case, CaseItem, MatchEvent
from ..settings import Settings
from ..auth.passwords import hash_secret
from . import audit, changes, videos
from .case_numbers import new_case_number, new_pin

ITEM_KINDS = ("image", "file", "video")
#: What each kind of item may hold in ``hashes``, by the signal's source (a video's frames come apart).
_HASH_SOURCES = {"image": "image", "file": "file", "video": "file"}


@dataclass
class HashIn:
    signal: str
    hash: str
    quality: int | None = None
    variant: str = "full"
    structure: int | None = None


@dataclass
class ItemIn:
    kind: str
    hashes: list[HashIn]
    frames: list[videos.FrameIn] | None = None  # a video's vPDQ frames


@dataclass
class ItemOutcome:
    """What happened to one submitted item (in request order)."""

    index: int
    status: str  # accepted, refused, duplicate
    reason: str | None = None
    code: str | None = None
    duplicate_of: int | None = None
    hashes_accepted: int = 0
    dropped: list[dict] = field(default_factory=list)


@dataclass
class Prepared:
    kind: str
    hashes: list[tuple[str, bytes, int | None, str, int | None]]  # signal, code, quality, variant, structure
    frames: videos.Frames | None = None  # a video's usable frames; their codes are among ``hashes``


def _prepare(index: int, item: ItemIn, max_frames: int) -> tuple[Prepared | None, ItemOutcome]:
    outcome = ItemOutcome(index=index, status="accepted")
    if item.kind not in ITEM_KINDS:
        return None, _refuse(outcome, "item_kind_unknown", f"kind must be one of {', '.join(ITEM_KINDS)}")
    frames = None
    if item.frames is not None:
        try:
            frames = videos.check_frames(item.frames, max_frames)
        except videos.FramesRefused as refused:
            return None, _refuse(outcome, refused.code, str(refused))
        if frames.unusable:
            outcome.dropped.append({"frames": frames.unusable, "code": "quality_too_low",
                                    "reason": f"{frames.unusable} frames have a PDQ quality below 50 and never match"})
    kept: dict[tuple[str, bytes], tuple[str, bytes, int | None, str, int | None]] = {}
    for position, h in enumerate(item.hashes):
        try:
            signal = get_signal(h.signal)
            value = signal.parse(h.hash, quality=h.quality)
        except MatcherError as error:
            outcome.dropped.append({"hash": position, "code": error.code, "reason": str(error)})
            continue
        if signal.source != _HASH_SOURCES[item.kind]:
            what = "a picture hash" if item.kind == "image" else "a file digest (a video's frames go in vpdq)"
            outcome.dropped.append({"hash": position, "code": "signal_wrong_kind", "reason": f"{signal.name} is not {what}"})
            continue
        if signal.min_quality is not None:
            if h.quality is None:
                outcome.dropped.append(
                    {"hash": position, "code": "quality_missing", "reason": f"{signal.name} hashes need their quality"}
                )
                continue
            if not signal.usable(value):
                outcome.dropped.append(
                    {
                        "hash": position,
                        "code": "quality_too_low",
                        "reason": f"{signal.name} quality {h.quality} is below {signal.min_quality}: "
                        "the picture is too plain to match reliably",
                    }
                )
                continue
        if h.structure is not None and (signal.min_quality is None or not structure_agrees(h.structure, h.quality)):
            outcome.dropped.append(
                {
                    "hash": position,
                    "code": "structure_inconsistent",
                    "reason": f"a {signal.name} hash's quality is its structure capped at 100"
                    if signal.min_quality is not None else f"{signal.name} hashes carry no structure",
                }
            )
            continue
        kept.setdefault((signal.name, value.code), (signal.name, value.code, h.quality, h.variant, h.structure))
    if frames is not None:
        for code, quality in frames.codes().items():
            kept.setdefault((videos.SIGNAL, code), (videos.SIGNAL, code, quality, "full", None))
    if not kept:
        first = outcome.dropped[0] if outcome.dropped else {"code": "item_empty", "reason": "no hashes given"}
        return None, _refuse(outcome, first["code"], first["reason"])
    outcome.hashes_accepted = len(kept)
    return Prepared(kind=item.kind, hashes=list(kept.values()), frames=frames), outcome


def _refuse(outcome: ItemOutcome, code: str, reason: str) -> ItemOutcome:
    outcome.status, outcome.code, outcome.reason = "refused", code, reason
    return outcome


@dataclass
class Submission:
    case: Case | None
    pin: str | None
    outcomes: list[ItemOutcome]


def validate_items(
    items: Sequence[ItemIn], max_frames: int = 7200
) -> tuple[list[tuple[int, Prepared]], list[ItemOutcome]]:
    """Check every item; collapse items whose hash sets are identical."""
    prepared: list[tuple[int, Prepared]] = []
    outcomes: list[ItemOutcome] = []
    seen: dict[frozenset, int] = {}
    for index, item in enumerate(items):
        ready, outcome = _prepare(index, item, max_frames)
        if ready is not None:
            key = frozenset((s, c) for s, c, *_ in ready.hashes)
            if key in seen:
                outcome.status, outcome.duplicate_of = "duplicate", seen[key]
                outcome.hashes_accepted = 0
            else:
                seen[key] = index
                prepared.append((index, ready))
        outcomes.append(outcome)
    return prepared, outcomes


def create_case(session: Session, settings: Settings, items: Sequence[ItemIn]) -> Submission:
    """Store a new case with its accepted items; nothing is stored if none is accepted."""
    prepared, outcomes = validate_items(items, settings.max_video_frames)
    if not prepared:
        return Submission(case=None, pin=None, outcomes=outcomes)
    pin = new_pin()
    case = Case(number=new_case_number(), pin_hash=hash_secret(settings, pin), status="active")
    session.add(case)
    session.flush()  # the case id
    items: list[tuple[CaseItem, Prepared]] = []
    for position, (_, ready) in enumerate(prepared):
        item = CaseItem(case_id=case.id, position=position, kind=ready.kind, status="active")
        session.add(item)
        items.append((item, ready))
    session.flush()  # item ids
    new_hashes = [
        BankHash(
            case_id=case.id, item_id=item.id, signal=signal, code=code, quality=quality, variant=variant[:64],
            structure=structure, status="active",
        )
        for item, ready in items
        for signal, code, quality, variant, structure in ready.hashes
    ]
    session.add_all(new_hashes)
    session.flush()  # hash ids: what every index stores
    for item, ready in items:
        if ready.frames is not None:
            ids = {h.code: h.id for h in new_hashes if h.item_id == item.id and h.signal == videos.SIGNAL}
            videos.store_frames(session, item.id, ready.frames, ids)
    changes.append(session, ((h.id, h.signal, "add") for h in new_hashes), reason="submitted")
    audit.record(
        session,
        "case",
        case.number,
        "case.created",
        subject_type="case",
        subject_id=case.number,
        items=len(prepared),
        hashes=len(new_hashes),
        refused=sum(o.status == "refused" for o in outcomes),
    )
    return Submission(case=case, pin=pin, outcomes=outcomes)


def withdraw_case(session: Session, case: Case) -> int:
    """Withdraw every active hash of the case; returns how many stop matching."""
    if case.status == "withdrawn":
        return 0
    now = datetime.now(timezone.utc)
    # Row-lock the case's hashes in id order before the UPDATE (PostgreSQL): exchange feedback
    # and review decisions lock hashes in id order too, while the UPDATE alone would lock them
    # in whatever order it scans them, and two writers taking the same rows in different
    # orders can deadlock (one of them would get a 500 and have to retry).
    owned = (
        select(BankHash.id, BankHash.signal, BankHash.status)
        .where(BankHash.case_id == case.id, BankHash.status.in_(("active", "suspended")))
        .order_by(BankHash.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        owned = owned.with_for_update()
    active = [(h.id, h.signal) for h in session.execute(owned) if h.status == "active"]
    session.execute(
        update(BankHash).where(BankHash.case_id == case.id, BankHash.status.in_(("active", "suspended"))).values(
            status="withdrawn"
        )
    )
    session.execute(update(CaseItem).where(CaseItem.case_id == case.id).values(status="withdrawn"))
    case.status, case.withdrawn_at, case.updated_at = "withdrawn", now, now
    changes.append(session, ((h, s, "remove") for h, s in active), reason="withdrawn")
    audit.record(session, "case", case.number, "case.withdrawn", subject_type="case", subject_id=case.number, hashes=len(active))
    return len(active)


@dataclass
class ItemStatus:
    position: int
    kind: str
    status: str
    hashes: int
    matches: int
    confirmed_removals: int


def case_status(session: Session, case: Case) -> list[ItemStatus]:
    hash_counts = dict(
        session.execute(
            select(BankHash.item_id, func.count()).where(BankHash.case_id == case.id).group_by(BankHash.item_id)
        ).all()
    )
    match_rows = session.execute(
        select(BankHash.item_id, MatchEvent.review_status, func.count())
        .join(BankHash, BankHash.id == MatchEvent.hash_id)
        .where(MatchEvent.case_id == case.id)
        .group_by(BankHash.item_id, MatchEvent.review_status)
    ).all()
    matches: dict[int, int] = {}
    removals: dict[int, int] = {}
    for item_id, review_status, count in match_rows:
        matches[item_id] = matches.get(item_id, 0) + count
        if review_status == "removed":
            removals[item_id] = removals.get(item_id, 0) + count
    return [
        ItemStatus(
            position=item.position,
            kind=item.kind,
            status=item.status,
            hashes=hash_counts.get(item.id, 0),
            matches=matches.get(item.id, 0),
            confirmed_removals=removals.get(item.id, 0),
        )
        for item in case.items
    ]
