"""The StopNCII dialect: the same feed and feedback in the shapes StopNCII.org's hash API uses.

Why: existing clients (python-threatexchange's ``StopNCIIAPI``, and Meta's HMA on top of it)
can then sync from a self-hosted bank unchanged. Everything here is a translation of
``feed`` and ``feedback``; nothing reads or writes the bank another way.

What the translation decides (docs/exchange.md says it for platform engineers):

- StopNCII records are keyed by value (signal type + hash), not by our hash ids: each record
  aggregates every bank hash holding that value, and is the value's state *now* (a later
  record for the same value replaces an earlier one, as the client expects).
- Only the signals StopNCII names are exported: ``pdq`` as ``ImagePDQ``, ``md5`` as
  ``VideoMD5``. The native feed carries every signal.
- ``caseNumbers`` never holds a case number: its keys are ``hash-<bank hash id>`` (what
  platforms already see in match results), its values each hash's status.
- ``hashStatus`` is ``Active`` while any holder can match; otherwise ``Withdrawn`` (a victim
  withdrew) or ``Deleted`` (suspended or retired by the hotline). Clients must drop the value.
- ``CSPFeedbacks``: each platform's current verdict, newest of its exchange feedback and review
  decisions. Other platforms stay anonymous (``source`` empty, no tags); the caller's own entry
  carries its name and tags.
- Paging: ``nextPageToken`` is the native cursor; ``startTimestamp`` (seconds) starts at the
  first change made at that time or later; ``nextSetTimestamp`` is a safe resume time: the time
  of the page's last change less ``RESUME_MARGIN_SECONDS``, so replicas whose clocks differ by
  less than that never make a resuming client miss a change (it may see a few again).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..bank import audit, changes
from ..db.models import BankHash, Case, CaseItem, Platform, PlatformCase
from ..settings import Settings
from . import feed, feedback

#: Our signal -> StopNCII's signal type, and back.
SIGNAL_TYPES = {"pdq": "ImagePDQ", "md5": "VideoMD5"}
_SIGNALS = {v: k for k, v in SIGNAL_TYPES.items()}
#: StopNCII's CSP feedback values we take, and what we give back for ours.
FEEDBACK_VALUES = {"PendingReview": "pending_review", "Blocked": "blocked", "NotBlocked": "not_blocked"}
_FEEDBACK_NAMES = {v: k for k, v in FEEDBACK_VALUES.items()}
_HASH_STATUS = {"active": "Active", "withdrawn": "Withdrawn"}  # anything else (suspended, retired): Deleted

DEFAULT_PAGE_SIZE = 800  # the client's own default
LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds
RESUME_MARGIN_SECONDS = 5
#: Not an argon2 hash: no PIN opens a platform's case.
NO_PIN = "!no-pin:platform-case"


class Refused(Exception):
    """The request cannot be used; nothing was stored. ``problems`` names each item by index."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(f"{len(problems)} items refused")
        self.problems = problems


def signal_of(signal_type: str) -> str | None:
    """Our signal for a StopNCII signal type; the client sends ``str(enum)`` for submissions
    (``StopNCIISignalType.ImagePDQ``), so the class prefix is accepted too."""
    name = signal_type.rsplit(".", 1)[-1] if signal_type.startswith("StopNCIISignalType.") else signal_type
    return _SIGNALS.get(name)


def _status_name(hash_status: str, case_status: str) -> str:
    if hash_status == "active" and case_status == "received":
        return "Received"
    return _HASH_STATUS.get(hash_status, "Deleted")


def _aggregate(statuses: Sequence[str]) -> str:
    for name in ("Active", "Received", "Withdrawn"):
        if name in statuses:
            return name
    return "Deleted"


def _seconds(moment: datetime) -> int:
    return int(math.floor(moment.timestamp()))


# --------------------------------------------------------------------------------- FetchHashes


@dataclass
class Fetched:
    body: dict
    page: feed.Page


def fetch(
    session: Session, *, platform_id: int, start_timestamp: int, page_size: int, token: str | None
) -> Fetched:
    """One FetchHashes page. ``token`` (a native cursor) wins over ``start_timestamp`` when given."""
    if token:
        after = feed.decode_cursor(token)
    else:
        after = feed.position_at(session, datetime.fromtimestamp(start_timestamp, timezone.utc))
    page = feed.read_page(session, after, page_size)

    last_change: dict[tuple[str, bytes], feed.FeedRecord] = {}
    for r in page.records:
        if r.signal in SIGNAL_TYPES:
            last_change[(r.signal, r.code)] = r  # in seq order: the value's last change stays
    holders = feed.holders(session, last_change)
    by_value: dict[tuple[str, bytes], list[feed.ValueHolder]] = {}
    for h in holders:
        by_value.setdefault((h.signal, h.code), []).append(h)
    views = feedback.opinions(session, [h.hash_id for h in holders])
    own_name = session.scalar(select(Platform.name).where(Platform.id == platform_id)) or ""

    records = []
    for value, change in sorted(last_change.items(), key=lambda kv: kv[1].seq):
        signal, code = value
        members = by_value.get(value, [])
        statuses = {f"hash-{h.hash_id}": _status_name(h.status, h.case_status) for h in members}
        records.append(
            {
                "lastModtimestamp": _seconds(change.at),
                "signalType": SIGNAL_TYPES[signal],
                "hashValue": code.hex(),
                "hashStatus": _aggregate(list(statuses.values())),
                "caseNumbers": statuses,
                "CSPFeedbacks": _csp_feedbacks(members, views, platform_id, own_name),
            }
        )
    last_at = page.records[-1].at if page.records else feed.change_time(session, page.last)
    resume = start_timestamp if last_at is None else max(0, _seconds(last_at) - RESUME_MARGIN_SECONDS)
    body = {
        "count": len(records),
        "nextPageToken": feed.encode_cursor(page.last),
        "nextSetTimestamp": resume,
        "hasMoreRecords": page.has_more,
        "hashRecords": records,
    }
    return Fetched(body=body, page=page)


def _csp_feedbacks(
    members: Sequence[feed.ValueHolder], views: dict[int, list[feedback.Opinion]], platform_id: int, own_name: str
) -> list[dict]:
    """Each platform's newest verdict over every holder of the value; others stay anonymous."""
    newest: dict[int, feedback.Opinion] = {}
    for h in members:
        for opinion in views.get(h.hash_id, ()):
            known = newest.get(opinion.platform_id)
            if known is None or opinion.at >= known.at:
                newest[opinion.platform_id] = opinion
    out = []
    for pid, opinion in sorted(newest.items()):
        own = pid == platform_id
        out.append(
            {
                "feedbackValue": _FEEDBACK_NAMES[opinion.verdict],
                "tags": sorted(opinion.tags) if own else [],
                "source": own_name if own else "",
            }
        )
    return out


# ------------------------------------------------------------------------------ SubmitFeedback


@dataclass(frozen=True)
class ValueVerdict:
    signal: str
    code: bytes
    verdict: str
    tags: tuple[str, ...] = field(default=())


def _parse_value(index: int, hash_value: str, signal: str | None) -> tuple[str, bytes] | dict:
    """(signal, code) for a submitted value; SubmitFeedback names no signal, so the length decides."""
    text = hash_value.strip().lower()
    if signal is None:
        signal = next((s for s in SIGNAL_TYPES if len(text) * 4 == get_signal(s).bits), None)
        if signal is None:
            return {"index": index, "code": "hash_malformed", "reason": "not a PDQ (64 hex digits) or MD5 (32) value"}
    try:
        return signal, get_signal(signal).parse(text).code
    except MatcherError as error:
        return {"index": index, "code": error.code, "reason": str(error)}


def parse_feedbacks(items: Sequence[dict]) -> list[ValueVerdict]:
    """SubmitFeedback's ``hashFeedbacks`` (already shape-checked), or ``Refused``."""
    verdicts, problems = [], []
    for index, item in enumerate(items):
        parsed = _parse_value(index, item["hashValue"], None)
        if isinstance(parsed, dict):
            problems.append(parsed)
            continue
        verdict = FEEDBACK_VALUES.get(item["feedbackValue"])
        if verdict is None:
            problems.append(_unsupported(index))
            continue
        verdicts.append(ValueVerdict(parsed[0], parsed[1], verdict, tuple(dict.fromkeys(item["tags"]))))
    if problems:
        raise Refused(problems)
    return verdicts


def _unsupported(index: int) -> dict:
    return {
        "index": index,
        "code": "feedback_value_unsupported",
        "reason": f"feedbackValue must be one of {', '.join(FEEDBACK_VALUES)}",
    }


def give_feedback(
    session: Session, settings: Settings, *, platform_id: int, key_id: str, verdicts: Sequence[ValueVerdict]
) -> int:
    """Apply each value's verdict to every bank hash holding the value; returns how many hashes."""
    holders = feed.holders(session, [(v.signal, v.code) for v in verdicts])
    by_value: dict[tuple[str, bytes], list[feed.ValueHolder]] = {}
    for h in holders:
        by_value.setdefault((h.signal, h.code), []).append(h)
    missing = [
        {"index": i, "code": "hash_not_found", "reason": "no bank hash has this value"}
        for i, v in enumerate(verdicts)
        if (v.signal, v.code) not in by_value
    ]
    if missing:
        raise Refused(missing)
    per_hash = [
        feedback.Verdict(h.hash_id, h.signal, h.code, v.verdict, v.tags)
        for v in verdicts
        for h in by_value[(v.signal, v.code)]
    ]
    feedback.give(session, settings, platform_id=platform_id, key_id=key_id, verdicts=per_hash, dialect="stopncii")
    return len(per_hash)


# ------------------------------------------------------------------------------- SubmitHashes


@dataclass
class Submitted:
    added: int = 0
    existing: int = 0
    suspended: list[int] = field(default_factory=list)  # indexes of values the hotline took out


def parse_submissions(records: Sequence[dict]) -> list[ValueVerdict]:
    """SubmitHashes' ``hashRecords`` (already shape-checked), or ``Refused``."""
    out, problems = [], []
    for index, record in enumerate(records):
        signal = signal_of(record["signalType"])
        if signal is None:
            problems.append(
                {"index": index, "code": "signal_unknown", "reason": f"signalType must be {' or '.join(_SIGNALS)}"}
            )
            continue
        parsed = _parse_value(index, record["hashValue"], signal)
        if isinstance(parsed, dict):
            problems.append(parsed)
            continue
        given = record["CSPFeedbacks"][:1]
        verdict = FEEDBACK_VALUES.get(given[0]["feedbackValue"]) if given else "blocked"
        if verdict is None:
            problems.append(_unsupported(index))
            continue
        out.append(ValueVerdict(signal, parsed[1], verdict, tuple(dict.fromkeys(given[0]["tags"])) if given else ()))
    if problems:
        raise Refused(problems)
    return out


def _platform_item(session: Session, platform_id: int, kind: str) -> CaseItem:
    """The platform's own case (created on first use) and its item for pictures or for files."""
    owner = session.scalar(select(PlatformCase).where(PlatformCase.platform_id == platform_id))
    if owner is None:
        case = Case(number=f"platform:new:{secrets.token_hex(8)}", pin_hash=NO_PIN, status="active")
        session.add(case)
        session.flush()
        case.number = f"platform:{platform_id}"  # unique, and never a valid case number
        owner = PlatformCase(platform_id=platform_id, case_id=case.id)
        session.add(owner)
        session.flush()
        audit.record(session, "platform", str(platform_id), "platform_case.created", subject_type="case",
                     subject_id=case.number)
    item = session.scalar(select(CaseItem).where(CaseItem.case_id == owner.case_id, CaseItem.kind == kind))
    if item is None:
        item = CaseItem(case_id=owner.case_id, position=0 if kind == "image" else 1, kind=kind, status="active")
        session.add(item)
        session.flush()
    return item


def submit_hashes(
    session: Session, settings: Settings, *, platform_id: int, key_id: str, values: Sequence[ValueVerdict]
) -> Submitted:
    """Add the platform's own hashes to the bank, and record its verdict on each.

    A value some bank hash already matches on is not added again (the verdict goes to the
    existing holders); a value the hotline suspended or retired is not brought back by a
    submission (reported in ``suspended``); anything else becomes a bank hash of the platform's
    case, matchable everywhere within the consistency window.
    """
    result = Submitted()
    if session.get_bind().dialect.name == "postgresql":
        # One platform's submissions queue on its row (SQLite's BEGIN IMMEDIATE already serialises
        # writers), so two at once neither create its case twice nor add the same value twice.
        session.execute(select(Platform.id).where(Platform.id == platform_id).with_for_update())
    holders = feed.holders(session, [(v.signal, v.code) for v in values])
    by_value: dict[tuple[str, bytes], list[feed.ValueHolder]] = {}
    for h in holders:
        by_value.setdefault((h.signal, h.code), []).append(h)
    new_hashes: list[BankHash] = []
    targets: list[tuple[ValueVerdict, list[tuple[int, str, bytes]]]] = []
    for index, v in enumerate(values):
        members = by_value.get((v.signal, v.code), [])
        if any(h.status in ("suspended", "retired") for h in members):
            result.suspended.append(index)
            continue
        live = [h for h in members if h.status == "active"]
        if live:
            result.existing += 1
            targets.append((v, [(h.hash_id, h.signal, h.code) for h in live]))
            continue
        item = _platform_item(session, platform_id, get_signal(v.signal).source)
        bank_hash = BankHash(case_id=item.case_id, item_id=item.id, signal=v.signal, code=v.code, quality=None,
                             variant="full", status="active")
        session.add(bank_hash)
        session.flush()
        by_value[(v.signal, v.code)] = [feed.ValueHolder(bank_hash.id, v.signal, v.code, "active", "active")]
        new_hashes.append(bank_hash)
        targets.append((v, [(bank_hash.id, v.signal, v.code)]))
        result.added += 1
    # Verdicts first: they lock their hashes' rows before any change-log lock is taken (a
    # suspension appends to the log), the order every other writer follows.
    verdicts = [feedback.Verdict(hid, s, c, v.verdict, v.tags) for v, members in targets for hid, s, c in members]
    if verdicts:
        feedback.give(session, settings, platform_id=platform_id, key_id=key_id, verdicts=verdicts, dialect="stopncii")
    changes.append(session, ((h.id, h.signal, "add") for h in new_hashes), reason="submitted")
    audit.record(
        session, "platform", str(platform_id), "exchange.hashes_submitted", subject_type="platform_case",
        subject_id=platform_id, key_id=key_id, received=len(values), added=[h.id for h in new_hashes],
        existing=result.existing, suspended=len(result.suspended),
    )
    return result
