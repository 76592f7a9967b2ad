"""Recent index answers of this worker, for the uploads that come back again and again.

Why: NCII spreads as re-uploads of the same file (the brief's "classmates share it; within
hours it is everywhere"), so a platform checks the same PDQ hash many times within minutes.
A search at radius 31 costs ~0.1 ms of memory-bound index work (``docs/service.md``); a
repeated one costs a dictionary lookup here.

Correctness comes from the bank's generation, not from time. ``BankIndex`` records each
change it applies (the codes added, the ids removed) in a bounded ``ChangeHistory`` and
then bumps its generation; an answer is stored with the generation it was computed at. A
search reads the generation *before* it reads the index, so an answer computed while a
change was being applied is stored under the old generation. Served at a later generation,
an answer is first brought up to date from the history: the query is compared with every
code added since (a popcount each) and the ids removed since are dropped, which gives
exactly what a fresh search would. When the history no longer reaches back that far, or
there is too much to replay, it is a miss and the index is searched. (Without the replay a
busy hotline bank, changing every second or so, would empty the cache as fast as it fills.)
Withdrawn hashes are also filtered against the database before any answer leaves
(``matching.resolve``).

Only hashes and bank ids are kept, in memory, bounded (``index_cache_entries`` answers, least
recently used first out, and the last ``HISTORY_CODES`` added codes): never persisted, like
the review band's backlog.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

Key = tuple[str, int, bytes]  # signal, radius, code
Answer = tuple[tuple[int, int], ...]  # (bank hash id, distance), nearest first, ties by id

#: Added codes the history keeps (~32 B each for PDQ), and at most this many changes are
#: replayed onto one answer before a fresh search is cheaper.
HISTORY_CODES = 200_000
HISTORY_RUNS = 4096
MAX_REPLAY_RUNS = 32
MAX_REPLAY_CODES = 50_000


@dataclass(frozen=True)
class Change:
    generation: int
    signal: str
    op: str  # "add" or "remove"
    ids: np.ndarray  # int64
    codes: np.ndarray | None  # (n, nbytes) uint8, for adds


class ChangeHistory:
    """The last changes applied to a worker's index, by generation (bounded)."""

    def __init__(self, max_codes: int = HISTORY_CODES, max_runs: int = HISTORY_RUNS) -> None:
        self._changes: deque[Change] = deque()
        self._codes = 0
        self._max_codes, self._max_runs = max_codes, max_runs
        self._forgotten = 0  # changes up to this generation are no longer held
        self._lock = threading.Lock()

    def record(self, generation: int, changes: list[Change]) -> None:
        """Everything one generation changed (call before publishing ``generation``)."""
        with self._lock:
            for change in changes:
                self._changes.append(change)
                self._codes += len(change.ids)
            while self._changes and (self._codes > self._max_codes or len(self._changes) > self._max_runs):
                old = self._changes.popleft()
                self._codes -= len(old.ids)
                self._forgotten = max(self._forgotten, old.generation)

    def since(self, after: int, upto: int, signal: str) -> list[Change] | None:
        """The changes of ``signal`` in generations ``(after, upto]``; None if some are no longer held
        or there are more than is worth replaying."""
        with self._lock:
            if after < self._forgotten:
                return None
            found = [c for c in self._changes if after < c.generation <= upto and c.signal == signal]
        if len(found) > MAX_REPLAY_RUNS or sum(len(c.ids) for c in found) > MAX_REPLAY_CODES:
            return None
        return found


def replay(answer: Answer, code: bytes, radius: int, changes: list[Change]) -> Answer:
    """``answer`` (for ``code`` at ``radius``) as it is after ``changes``, in order."""
    current = dict(answer)
    query = np.frombuffer(code, dtype=np.uint8)
    for change in changes:
        if change.op == "add":
            distances = np.bitwise_count(change.codes ^ query).sum(axis=1, dtype=np.int64)
            for i in np.flatnonzero(distances <= radius):
                current[int(change.ids[i])] = int(distances[i])
        else:
            for hash_id in change.ids.tolist():
                current.pop(hash_id, None)
    return tuple(sorted(current.items(), key=lambda item: (item[1], item[0])))


class SearchCache:
    def __init__(self, max_entries: int, history: ChangeHistory) -> None:
        self.max_entries = max_entries
        self.history = history
        self._entries: OrderedDict[Key, tuple[int, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key, generation: int) -> Answer | None:
        """The answer for ``key`` as of ``generation``, or None (search the index)."""
        if self.max_entries <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            return None
        stored_at, answer = entry
        if stored_at == generation:
            return answer
        if stored_at > generation:  # stored by a search that started later than this one
            return None
        signal, radius, code = key
        changes = self.history.since(stored_at, generation, signal)
        if changes is None:
            return None
        answer = replay(answer, code, radius, changes)
        self.put(key, generation, answer)
        return answer

    def put(self, key: Key, generation: int, answer: Answer) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > generation:
                return  # never overwrite a newer answer with an older one
            self._entries[key] = (generation, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
