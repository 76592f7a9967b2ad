"""Plain hash lists in and out of the bank, for hotline admins (``ncii bank import/export``).

The format is what other hotlines and tools exchange: one hex hash a line, optionally
``hash,quality``; ``#`` starts a comment; blank lines are ignored. An import is all or
nothing unless the admin asks to skip bad lines, so a half-read file never leaves a bank
that nobody can reason about. Imported hashes join the bank under the import's source
(``service.bank.sources``) and reach every index through the change log. An export is
hash values (and qualities) only, sorted by value: no ids, no cases, no dates, nothing
that tells whose pictures they were or when they came.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..db.models import BankHash
from . import audit, changes, sources

HEADER = re.compile(r"^\s*hash\s*(,\s*quality\s*)?$", re.IGNORECASE)
MAX_ERRORS_KEPT = 1000


@dataclass(frozen=True)
class ListEntry:
    line: int
    code: bytes
    quality: int | None


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass
class ParsedList:
    entries: list[ListEntry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0  # all of them; ``errors`` keeps the first MAX_ERRORS_KEPT
    repeated: int = 0  # lines whose hash an earlier line had
    digest: str = ""  # SHA-256 of the text read, for the audit row


def parse_hash_list(lines: Iterable[str], signal: str = "pdq") -> ParsedList:
    """Read a hash list; every unusable line is an error with its line number (1-based)."""
    kind = get_signal(signal)
    parsed = ParsedList()
    seen: set[bytes] = set()
    digest = hashlib.sha256()
    for number, raw in enumerate(lines, start=1):
        digest.update(raw.encode("utf-8", "replace"))
        text = raw.split("#", 1)[0].strip()
        if not text or (HEADER.match(text) and not parsed.entries and not parsed.error_count):  # blank, comment, header
            continue
        try:
            entry = _parse_line(kind, number, text)
        except ValueError as error:
            parsed.error_count += 1
            if len(parsed.errors) < MAX_ERRORS_KEPT:
                parsed.errors.append(LineError(number, str(error)))
            continue
        if entry.code in seen:
            parsed.repeated += 1
            continue
        seen.add(entry.code)
        parsed.entries.append(entry)
    parsed.digest = digest.hexdigest()
    return parsed


def _parse_line(kind, number: int, text: str) -> ListEntry:
    fields = [f.strip() for f in text.split(",")]
    if len(fields) > 2:
        raise ValueError("expected a hash, or hash,quality")
    quality: int | None = None
    if len(fields) == 2:
        if not re.fullmatch(r"\d{1,3}", fields[1]) or int(fields[1]) > 100:
            raise ValueError(f"quality must be a whole number from 0 to 100, not {fields[1][:20]!r}")
        quality = int(fields[1])
        if kind.min_quality is None:
            raise ValueError(f"{kind.name} hashes carry no quality")
    try:
        value = kind.parse(fields[0], quality=quality)
    except MatcherError as error:
        raise ValueError(str(error)) from None
    if not kind.usable(value):
        raise ValueError(f"quality {quality} is below {kind.min_quality}: too plain a picture to match reliably")
    return ListEntry(number, value.code, quality)


@dataclass
class ImportOutcome:
    source_id: int
    added: int
    already_present: int


def import_entries(
    session: Session, entries: Sequence[ListEntry], *, source_name: str, signal: str, actor_id: str | None,
    file_digest: str, skipped_lines: int = 0,
) -> ImportOutcome:
    """Add the hashes the source does not hold yet, log them for the indexes, audit the import.

    In the caller's transaction: all of it commits, or none. A hash the source already holds,
    whatever its status (a hash suspended by reviewers stays suspended), is not added again.
    """
    source = sources.get_or_create(session, "import", source_name)
    item = sources.item_for(session, source, signal)
    present = sources.ids_by_code(session, item, signal, [e.code for e in entries])
    new = [e for e in entries if e.code not in present]
    created = sources.add_hashes(session, source, item, signal, [
        {"code": e.code, "quality": e.quality, "variant": "full", "status": "active"} for e in new
    ])
    ids = sorted(created.values())
    changes.append(session, ((i, signal, "add") for i in ids), reason="imported")
    audit.record(
        session, "admin", actor_id, "bank.imported", subject_type="hash_source", subject_id=source.id,
        source=source_name, signal=signal, added=len(ids), already_present=len(entries) - len(new),
        skipped_lines=skipped_lines, file_sha256=file_digest,
    )
    return ImportOutcome(source_id=source.id, added=len(ids), already_present=len(entries) - len(new))


EXPORT_STATUSES = ("active", "withdrawn", "suspended", "retired")


def export_rows(session: Session, *, signal: str, statuses: Sequence[str]) -> Iterator[tuple[str, int | None]]:
    """(hex, best quality) per distinct hash value with one of ``statuses``, sorted by value."""
    query = (
        select(BankHash.code, func.max(BankHash.quality))
        .where(BankHash.signal == signal, BankHash.status.in_(list(statuses)))
        .group_by(BankHash.code)
        .order_by(BankHash.code)
        .execution_options(yield_per=5000)
    )
    for code, quality in session.execute(query):
        yield bytes(code).hex(), quality


def record_export(session: Session, *, actor_id: str | None, signal: str, statuses: Sequence[str], count: int) -> None:
    audit.record(session, "admin", actor_id, "bank.exported", subject_type="bank", signal=signal,
                 statuses=list(statuses), hashes=count)
