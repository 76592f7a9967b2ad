"""Recent index answers of this worker, for the uploads that come back again and again.

Why: NCII spreads as re-uploads of the same file (the brief's "classmates share it; within
hours it is everywhere"), so a platform checks the same PDQ hash many times within minutes.
A search at radius 31 costs ~0.1 ms of memory-bound index work (``docs/service.md``); a
repeated one costs a dictionary lookup here.

Correctness comes from the bank's generation, not from time: ``BankIndex`` bumps its
generation after every change it applies (a submission, a withdrawal, a suspension), and
an answer is only ever returned for the generation it was computed at. A search reads the
generation *before* it reads the index, so an answer computed while a change was being
applied is stored under the old generation and never served. Withdrawn hashes are also
filtered against the database before any answer leaves (``matching.resolve``).

Only hashes and bank ids are kept, in memory, bounded (``index_cache_entries``, least
recently used first out): never persisted, like the review band's backlog.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

Key = tuple[str, int, bytes]  # signal, radius, code
Answer = tuple[tuple[int, int], ...]  # (bank hash id, distance), nearest first


class SearchCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[int, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key, generation: int) -> Answer | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != generation:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Key, generation: int, answer: Answer) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = (generation, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
