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


def iter_hash_list(lines: Iterable[str], signal: str = "pdq") -> Iterator[ListEntry | LineError]:
    """Each hash line of a list as an entry, or an error with its line number (1-based); streams."""
    kind = get_signal(signal)
    started = False
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text or (not started and HEADER.match(text)):  # blank, comment, a header before any hash
            continue
        started = True
        try:
            yield _parse_line(kind, number, text)
        except ValueError as error:
            yield LineError(number, str(error))


@dataclass
class ListCheck:
    """A whole list read once, nothing kept but what the admin is told: the import reads it again."""

    hashes: int = 0  # good lines
    errors: list[LineError] = field(default_factory=list)  # the first MAX_ERRORS_KEPT
    error_count: int = 0
    digest: str = ""  # SHA-256 of the text, for the audit row


def check_hash_list(lines: Iterable[str], signal: str = "pdq") -> ListCheck:
    check = ListCheck()
    digest = hashlib.sha256()

    def hashed(source: Iterable[str]) -> Iterator[str]:
        for line in source:
            digest.update(line.encode("utf-8", "replace"))
            yield line

    for found in iter_hash_list(hashed(lines), signal):
        if isinstance(found, LineError):
            check.error_count += 1
            if len(check.errors) < MAX_ERRORS_KEPT:
                check.errors.append(found)
        else:
            check.hashes += 1
    check.digest = digest.hexdigest()
    return check


@dataclass
class ParsedList:
    entries: list[ListEntry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    repeated: int = 0  # lines whose hash an earlier line had


def parse_hash_list(lines: Iterable[str], signal: str = "pdq") -> ParsedList:
    """A small list in memory, repeats dropped (imports stream with ``iter_hash_list`` instead)."""
    parsed = ParsedList()
    seen: set[bytes] = set()
    for found in iter_hash_list(lines, signal):
        if isinstance(found, LineError):
            parsed.errors.append(found)
        elif found.code in seen:
            parsed.repeated += 1
        else:
            seen.add(found.code)
            parsed.entries.append(found)
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


IMPORT_CHUNK = 5000


def import_entries(
    session: Session, entries: Iterable[ListEntry], *, source_name: str, signal: str, actor_id: str | None,
    file_digest: str, skipped_lines: int = 0,
) -> ImportOutcome:
    """Add the hashes the source does not hold yet, log them for the indexes, audit the import.

    In the caller's transaction: all of it commits, or none. A hash the source already holds,
    whatever its status (a hash suspended by reviewers stays suspended), is not added again,
    nor is a value repeated in the list. Entries are taken in chunks, so a list of millions
    never sits in memory.
    """
    source = sources.get_or_create(session, "import", source_name)
    item = sources.item_for(session, source, signal)
    added = present = 0
    for chunk in _chunks(entries, IMPORT_CHUNK):
        unique = {e.code: e for e in reversed(chunk)}  # a repeated value keeps its first line
        known = sources.ids_by_code(session, item, signal, list(unique))
        created = sources.add_hashes(session, source, item, signal, [
            {"code": e.code, "quality": e.quality, "variant": "full", "status": "active"}
            for code, e in unique.items() if code not in known
        ])
        changes.append(session, ((i, signal, "add") for i in sorted(created.values())), reason="imported")
        added += len(created)
        present += len(chunk) - len(created)
    audit.record(
        session, "admin", actor_id, "bank.imported", subject_type="hash_source", subject_id=source.id,
        source=source_name, signal=signal, added=added, already_present=present, skipped_lines=skipped_lines,
        file_sha256=file_digest,
    )
    return ImportOutcome(source_id=source.id, added=added, already_present=present)


def _chunks(entries: Iterable[ListEntry], size: int) -> Iterator[list[ListEntry]]:
    chunk: list[ListEntry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
