"""Hash many files on all cores, in order, with bounded memory.

Helpers at a hotline hash a victim's whole camera-roll export; a platform
back-fills millions of stored uploads. Both want every core busy, results in
input order (so output lines line up with input lines), and one bad file to
cost one error record, never the run. Work is handed out through a bounded
window, so a list of a million paths never becomes a million pending tasks.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice

from .hashing import DEFAULT_SIGNALS, FileHashes, hash_file


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _hash_chunk(paths: list[str], signals: tuple[str, ...], dihedral: bool, group: str | None) -> list[FileHashes]:
    return [hash_file(path, signals, dihedral=dihedral, group=group) for path in paths]


def hash_files(
    paths: Iterable[str | os.PathLike],
    signals: tuple[str, ...] = DEFAULT_SIGNALS,
    *,
    dihedral: bool = False,
    group: str | None = None,
    workers: int | None = None,
    chunk_size: int = 8,
) -> Iterator[FileHashes]:
    """Yield one :class:`FileHashes` per path, in input order.

    ``workers=1`` hashes in this process (no start-up cost, easy to debug), and so
    does a batch of one chunk or less; more use a process pool, since decoding and
    hashing hold the GIL in parts.
    """
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError("workers must be at least 1")
    items = (os.fspath(p) for p in paths)
    head = list(islice(items, chunk_size + 1))
    items = chain(head, items)
    # One chunk or less (``ncii hash PHOTO``): a pool would add its start-up and no parallelism.
    if workers == 1 or len(head) <= chunk_size:
        for path in items:
            yield hash_file(path, signals, dihedral=dihedral, group=group)
        return
    window = workers * 4
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[list[FileHashes]]] = deque()

        def submit_next() -> bool:
            chunk = list(islice(items, chunk_size))
            if chunk:
                pending.append(pool.submit(_hash_chunk, chunk, signals, dihedral, group))
            return bool(chunk)

        while len(pending) < window and submit_next():
            pass
        while pending:
            results = pending.popleft().result()
            submit_next()
            yield from results
