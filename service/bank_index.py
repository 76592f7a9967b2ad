"""Each worker's in-memory view of the bank, kept current from the change log.

The database is the truth; this is a derived, disposable cache. A worker
starts from an index snapshot on disk (if one exists and is not ahead of the
database) and replays the change log from the snapshot's ``seq``; without a
snapshot it rebuilds from ``bank_hashes``. A background thread then polls the
log every ``index_poll_seconds``, so a hash submitted or withdrawn through any
worker is matched (or not) by every worker within about a second.

Perceptual signals (PDQ, the 64-bit hashes) go into :class:`HashIndex`; exact
digests into a dictionary. Snapshots are written atomically (temp file and
rename) by whichever worker holds the snapshot lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.groups import DEFAULT_STRATEGY
from matcher.index import HashIndex, kernel
from matcher.signals import get_signal

from . import metrics
from .bank import changes
from .db.models import BankHash, ChangeLog
from .search_cache import Change, ChangeHistory, SearchCache
from .settings import Settings

log = logging.getLogger("ncii.index")

SNAPSHOT_FORMAT = 1


@dataclass
class Hit:
    hash_id: int
    distance: int


class BankIndex:
    """Search the bank's active hashes, per signal type, without touching the database."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self._factory = factory
        self._settings = settings
        self._lock = threading.Lock()  # serialises catch-up; searches don't take it
        self._perceptual: dict[str, HashIndex] = {}
        self._exact: dict[str, dict[bytes, set[int]]] = defaultdict(lambda: defaultdict(set))
        self._exact_code: dict[int, tuple[str, bytes]] = {}
        self.seq = 0
        # Bumped after every change applied to the index: the search cache's validity.
        self.generation = 0
        self._cache = SearchCache(settings.index_cache_entries, ChangeHistory())
        self.snapshot_seq = 0
        self.ready = False
        self.loaded_from = ""  # "snapshot" or "database": how this worker's index started
        self.load_seconds = 0.0
        self.last_poll_ok: float = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load (snapshot or rebuild), catch up, then follow the log in the background."""
        started = time.monotonic()
        kernel.warm_up()
        self.loaded_from = "snapshot"
        if not self._load_snapshot():
            self.loaded_from = "database"
            self._rebuild()
        self.catch_up()
        self.load_seconds = time.monotonic() - started
        self.ready = True
        log.info("index ready from the %s: %d hashes at seq %d in %.2fs", self.loaded_from, self.size(), self.seq,
                 self.load_seconds)
        # A snapshot, if one is due, is written by the follower: the worker serves meanwhile.
        self._thread = threading.Thread(target=self._follow, name="ncii-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow(self) -> None:
        try:
            self._maybe_snapshot()
        except Exception:
            log.exception("index snapshot failed")
        while not self._stop.wait(self._settings.index_poll_seconds):
            try:
                self.catch_up()
                self._maybe_snapshot()
            except Exception:  # a database blip must not kill the follower
                log.exception("index catch-up failed; retrying")

    # ------------------------------------------------------------------ reading the bank

    def _index_for(self, signal: str) -> HashIndex:
        index = self._perceptual.get(signal)
        if index is None:
            # Laid out for PDQ's widest search, the hash-group strategy's 52: 1.2-1.3x faster at 52 than
            # a layout tuned for 31, and as fast at 31 (benchmarks/results/index_radius.md, interleaved runs).
            radius = DEFAULT_STRATEGY.widest_threshold if signal == "pdq" else get_signal(signal).threshold
            index = HashIndex(get_signal(signal).bits, tuned_threshold=radius)
            self._perceptual[signal] = index
        return index

    def _rebuild(self) -> None:
        with self._factory() as session, session.begin():
            # One transaction: the rows and the seq are of the same moment.
            self.seq = changes.latest_seq(session)
            rows = session.execute(
                select(BankHash.id, BankHash.signal, BankHash.code).where(BankHash.status == "active")
            ).all()
        self._apply_adds(rows)
        log.info("index rebuilt from the database: %d hashes", len(rows))

    def catch_up(self) -> int:
        """Apply every change logged since the last one seen; returns how many."""
        with self._lock:
            applied = 0
            while True:
                with self._factory() as session:
                    batch = session.execute(
                        select(ChangeLog.seq, ChangeLog.hash_id, ChangeLog.signal, ChangeLog.op, BankHash.code)
                        .join(BankHash, BankHash.id == ChangeLog.hash_id, isouter=True)
                        .where(ChangeLog.seq > self.seq)
                        .order_by(ChangeLog.seq)
                        .limit(50_000)
                    ).all()
                if not batch:
                    break
                self._apply_changes(batch)
                self.seq = batch[-1].seq
                applied += len(batch)
            self.last_poll_ok = time.monotonic()
            return applied

    def _apply_changes(self, batch) -> None:
        # Runs of the same operation are applied together, in log order.
        run: list = []
        for row in batch:
            if run and run[-1].op != row.op:
                self._apply_run(run)
                run = []
            run.append(row)
        if run:
            self._apply_run(run)

    def _apply_run(self, run) -> None:
        if run[0].op == "add":
            applied = self._apply_adds([(r.hash_id, r.signal, r.code) for r in run if r.code is not None])
        else:
            applied = self._apply_removes([(r.hash_id, r.signal) for r in run])
        # After the index changed, and recorded before the new generation is published: an answer
        # computed before is never served again without these changes replayed onto it.
        generation = self.generation + 1
        self._cache.history.record(
            generation, [Change(generation, signal, run[0].op, ids, codes) for signal, ids, codes in applied]
        )
        self.generation = generation

    def _apply_adds(self, rows) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Returns what changed in the perceptual indexes: (signal, ids, codes)."""
        applied = []
        by_signal: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        for hash_id, signal, code in rows:
            by_signal[signal].append((hash_id, code))
        for signal, items in by_signal.items():
            if get_signal(signal).exact:
                table = self._exact[signal]
                for hash_id, code in items:
                    table[bytes(code)].add(hash_id)
                    self._exact_code[hash_id] = (signal, bytes(code))
                continue
            ids = np.fromiter((i for i, _ in items), dtype=np.int64, count=len(items))
            codes = np.frombuffer(b"".join(bytes(c) for _, c in items), dtype=np.uint8).reshape(len(items), -1)
            self._index_for(signal).add(ids, codes)
            applied.append((signal, ids, codes))
        return applied

    def _apply_removes(self, rows) -> list[tuple[str, np.ndarray, None]]:
        """Returns what changed in the perceptual indexes: (signal, ids, None)."""
        applied = []
        by_signal: dict[str, list[int]] = defaultdict(list)
        for hash_id, signal in rows:
            by_signal[signal].append(hash_id)
        for signal, ids in by_signal.items():
            if get_signal(signal).exact:
                for hash_id in ids:
                    known = self._exact_code.pop(hash_id, None)
                    if known is not None:
                        self._exact[known[0]][known[1]].discard(hash_id)
                continue
            if signal in self._perceptual:
                removed = np.asarray(ids, dtype=np.int64)
                self._perceptual[signal].remove(removed)
                applied.append((signal, removed, None))
        return applied

    # ------------------------------------------------------------------ searching

    def size(self) -> int:
        return sum(len(i) for i in self._perceptual.values()) + len(self._exact_code)

    def search(
        self, signal: str, codes: np.ndarray, threshold: int, *, threads: int | None = None, cache: bool = True
    ) -> list[list[Hit]]:
        """For each query code (n, nbytes) of ``signal``: the bank hashes within ``threshold``
        (``threads``: as in ``HashIndex.search``; ``cache=False``: neither read nor fill the search cache)."""
        if get_signal(signal).exact:
            table = self._exact.get(signal, {})
            return [[Hit(h, 0) for h in sorted(table.get(bytes(code), ()))] for code in codes]
        generation = self.generation  # before the index is read (service/search_cache.py)
        index = self._perceptual.get(signal)
        if index is None or len(codes) == 0:
            return [[] for _ in range(len(codes))]
        if not cache:
            return [[Hit(h, d) for h, d in zip(m.ids.tolist(), m.distances.tolist())]
                    for m in index.search(codes, threshold, threads=threads)]
        keys = [(signal, threshold, code.tobytes()) for code in codes]
        answers = [self._cache.get(key, generation) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is None]
        if missing:
            found = index.search(codes if len(missing) == len(codes) else codes[missing], threshold, threads=threads)
            for i, matches in zip(missing, found):
                answers[i] = tuple(zip(matches.ids.tolist(), matches.distances.tolist()))
                self._cache.put(keys[i], generation, answers[i])
        if len(missing) < len(codes):
            metrics.SEARCH_CACHE.labels("hit").inc(len(codes) - len(missing))
        if missing:
            metrics.SEARCH_CACHE.labels("miss").inc(len(missing))
        return [[Hit(h, d) for h, d in answer] for answer in answers]

    # ------------------------------------------------------------------ snapshots

    def _snapshot_meta_path(self) -> Path:
        return self._settings.snapshot_dir / "snapshot.json"

    def _load_snapshot(self) -> bool:
        meta_path = self._snapshot_meta_path()
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != SNAPSHOT_FORMAT:
                return False
            with self._factory() as session:
                latest = changes.latest_seq(session)
            if meta["seq"] > latest:
                log.warning("index snapshot is ahead of the database (restored backup?); rebuilding")
                return False
            indexes = {
                signal: HashIndex.load(self._settings.snapshot_dir / name, verify=False)
                for signal, name in meta["perceptual"].items()
            }
            exact = json.loads((self._settings.snapshot_dir / meta["exact"]).read_text())
        except FileNotFoundError:
            return False
        except Exception:
            log.exception("index snapshot unreadable; rebuilding from the database")
            return False
        self._perceptual = indexes
        for signal, entries in exact.items():
            for hash_id, hex_code in entries:
                self._exact[signal][bytes.fromhex(hex_code)].add(hash_id)
                self._exact_code[hash_id] = (signal, bytes.fromhex(hex_code))
        self.seq = self.snapshot_seq = meta["seq"]
        log.info("index snapshot loaded at seq %d", self.seq)
        return True

    def _maybe_snapshot(self) -> None:
        if self.seq - self.snapshot_seq < self._settings.snapshot_every_changes:
            return
        self.write_snapshot()

    def write_snapshot(self) -> bool:
        """Write this worker's index to disk, unless another worker is doing so."""
        folder = self._settings.snapshot_dir
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "snapshot.lock", "w") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            with self._lock:
                seq = self.seq
                names = {}
                for signal, index in self._perceptual.items():
                    name = f"{signal}-{seq}.npz"
                    index.save(folder / name)  # atomic (temp file and rename)
                    names[signal] = name
                exact = {
                    signal: [[i, c.hex()] for i, (s, c) in self._exact_code.items() if s == signal]
                    for signal in {s for s, _ in self._exact_code.values()}
                }
                exact_name = f"exact-{seq}.json"
                (folder / f".{exact_name}.tmp").write_text(json.dumps(exact))
                os.replace(folder / f".{exact_name}.tmp", folder / exact_name)
                meta = {"format": SNAPSHOT_FORMAT, "seq": seq, "perceptual": names, "exact": exact_name}
                (folder / ".snapshot.json.tmp").write_text(json.dumps(meta))
                os.replace(folder / ".snapshot.json.tmp", folder / "snapshot.json")
                self.snapshot_seq = seq
            for old in folder.iterdir():  # older snapshot files
                if old.name not in {*names.values(), exact_name, "snapshot.json", "snapshot.lock"}:
                    if not old.name.startswith("."):
                        old.unlink(missing_ok=True)
            return True
