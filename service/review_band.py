"""The review band, searched after the answer: PDQ matches beyond the standard threshold.

Why: the hash-group strategy finds edited copies (crops, small rotations, borders)
out to 52 bits, but an index answers radius 52 about ten times more slowly than
PDQ's standard 31 (docs/matching.md). Matches in the 32-52 band are "review"
leads, never grounds for automatic action, so a platform's upload check does not
need to wait for them: by default ``/v1/match`` answers at 31, and this worker
searches the same codes at 52 in the background and records any new match as a
match event, where the platform's moderators find it in their review queue
seconds later.

It is best-effort by design, and says so:
- The backlog is bounded (``review_band_queue`` codes per worker). When it is
  full, a request's band is dropped and its answer says ``review_band: "dropped"``
  (the platform can repeat the check with ``review_band: "sync"``); a metric counts drops.
- The band's thread runs at the lowest CPU priority (nice 19) and within a bounded
  share of one core (``review_band_cpu_share``), so the synchronous checks keep their
  throughput and latency however much band work is queued: under full load the band
  gets little CPU, its backlog fills, and further bands are dropped (and reported).
- The backlog lives in memory only: it holds the platform's query hashes, which
  the service never stores, so a restart loses what was pending (leads, not
  acknowledged data).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from . import matching, metrics
from .auth.api_keys import Caller
from .bank_index import BankIndex
from .settings import Settings

log = logging.getLogger("ncii.review_band")

#: Codes per band search: at most one of the index's query blocks at radius 52, so the
#: search runs on this thread and never queues behind (or delays) the synchronous
#: checks in the index's shared block pool.
BATCH_CODES = 8


@dataclass
class _Job:
    caller: Caller
    queries: list[matching.Query]
    query_kind: str
    codes: int


def _lowest_cpu_priority() -> None:
    """Run the calling thread at nice 19, so a busy worker's answers always come first.

    On Linux a thread is a task with its own nice value. Measured with 2 workers on 2 cores
    (benchmarks/service_load.py, single-hash requests): with the band at the same priority the
    deferred mode served about half the requests per second of the band-off mode; at nice 19
    it serves as many, and the band searches with what CPU is left (dropping, and saying so,
    when nothing is). Elsewhere this is a no-op and the CPU share alone bounds the band.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


class ReviewBand:
    """One per worker process: a bounded backlog of PDQ queries and the thread that works through it."""

    def __init__(
        self, index: BankIndex, readers: sessionmaker[Session], sessions: sessionmaker[Session], settings: Settings
    ) -> None:
        self._index = index
        self._readers = readers
        self._sessions = sessions
        self._settings = settings  # read at each use: a deployment's values, or a test's changes
        self._jobs: deque[_Job] = deque()
        self._backlog = 0  # codes queued
        self._busy = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ producers (request threads)

    def offer(self, caller: Caller, queries: list[matching.Query], query_kind: str) -> bool:
        """Queue the PDQ queries' band search; False when the backlog is full (the band is dropped)."""
        pdq = [q for q in queries if q.signal == "pdq"]
        codes = sum(q.codes.shape[0] for q in pdq)
        if not codes:
            return True
        with self._changed:
            if self._backlog + codes > self._settings.review_band_queue:
                metrics.REVIEW_BAND_CODES.labels("dropped").inc(codes)
                return False
            self._jobs.append(_Job(caller, pdq, query_kind, codes))
            self._backlog += codes
            self._changed.notify()
        metrics.REVIEW_BAND_CODES.labels("queued").inc(codes)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or being searched (tests, and a graceful shutdown)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    # ------------------------------------------------------------------ the worker thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ncii-review-band", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _next_job(self) -> _Job | None:
        with self._changed:
            while not self._jobs and not self._stop.is_set():
                self._changed.wait(0.5)
            if self._stop.is_set():
                return None
            self._busy = True
            return self._jobs.popleft()

    def _done(self, job: _Job) -> None:
        with self._changed:
            self._backlog -= job.codes
            self._busy = False
            self._changed.notify_all()

    def _run(self) -> None:
        _lowest_cpu_priority()
        while (job := self._next_job()) is not None:
            started = time.thread_time()
            try:
                self._search(job)
                metrics.REVIEW_BAND_CODES.labels("searched").inc(job.codes)
            except Exception:  # one failed job (a database blip) must not stop the band
                log.exception("review band search failed; %d codes skipped", job.codes)
                metrics.REVIEW_BAND_CODES.labels("failed").inc(job.codes)
            finally:
                self._done(job)
            # Hold the band to its share of one core: rest (share^-1 - 1) times the CPU time it used
            # (not the wall time: at nice 19 under load most of that is waiting for a core).
            busy, share = time.thread_time() - started, self._settings.review_band_cpu_share
            if share < 1.0:
                self._stop.wait(busy * (1.0 / share - 1.0))

    def _search(self, job: _Job) -> None:
        cap = self._settings.pdq_match_threshold
        wide, fast = matching.wide_radius(cap), matching.fast_radius(cap)
        # Every hit, the near ones included: a bank hash the answer already reported
        # (nearest distance <= fast) is dropped by ``beyond`` below, not recorded twice.
        hits = matching.find(job.queries, self._index, wide, codes_per_search=BATCH_CODES, threads=1)
        if not hits:
            return
        _, events = matching.resolve(
            hits, job.queries, self._readers, job.caller, job.query_kind, wide, beyond=fast
        )
        matching.record(self._sessions, events)
