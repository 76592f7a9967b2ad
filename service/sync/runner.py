"""One sync run: fetch pages from the source's checkpoint and apply them until the remote has no more.

Each page is its own transaction (see ``mirror``), so a run stopped anywhere, by Ctrl-C
between pages or by ``kill -9`` mid-page, resumes from the last committed page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from ..db.engine import transaction
from ..db.models import HashSource
from . import mirror
from .remote import RemoteBank, RemoteProtocolError


@dataclass
class RunSummary:
    pages: int = 0
    records: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    checkpoint: str | None = None
    stopped: bool = False  # asked to stop before the remote ran out of pages

    def take(self, outcome: mirror.PageOutcome) -> None:
        self.pages += 1
        self.records += outcome.records
        self.added += outcome.added
        self.removed += outcome.removed
        self.unchanged += outcome.unchanged
        self.skipped += outcome.skipped


def prepare_source(sessions: sessionmaker[Session], remote: RemoteBank, *, from_start: bool = False) -> int:
    """The id of the local source that mirrors ``remote`` (created on first sync)."""
    with transaction(sessions) as session:
        source = mirror.remote_source(session, remote.dialect, remote.url)
        if from_start and source.checkpoint is not None:
            source.checkpoint = None  # re-reading is safe: applying is idempotent
        return source.id


def run_once(
    sessions: sessionmaker[Session],
    remote: RemoteBank,
    source_id: int,
    *,
    stop: threading.Event | None = None,
    on_page: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    stop = stop or threading.Event()
    summary = RunSummary()
    while True:
        with sessions() as session:
            checkpoint = session.get(HashSource, source_id).checkpoint
        summary.checkpoint = checkpoint
        if stop.is_set():
            summary.stopped = True
            return summary
        page = remote.fetch(checkpoint)
        try:
            with transaction(sessions) as session:
                outcome = mirror.apply_page(session, source_id, checkpoint, page)
        except mirror.CheckpointMoved:
            # Another sync of this source applied a page first: it made progress, so go on from
            # its checkpoint. Never an error: however often it wins, the two finish together
            # (a cap on lost races made the slower of two syncs fail under load).
            continue
        summary.take(outcome)
        summary.checkpoint = page.checkpoint
        if on_page is not None:
            on_page(summary)
        if not page.has_more:
            return summary
        if page.checkpoint == (checkpoint or ""):
            raise RemoteProtocolError(f"{remote.url}: the remote says it has more records but its cursor did not move")
