"""Per-thread scratch arrays for the search hot path.

Why: a search at radius 52 over 1M codes meets ~56k candidates, so its
temporaries (positions, row numbers, gathered codes, distances) are hundreds
of KB to ~2 MB each. Allocated afresh, such arrays come as new pages from the
kernel on every query, and on our hosts first touching fresh memory costs
~2.5 us per 4 KB page: allocating and filling 4.8 MB took 3 ms (measured),
more than the search itself. Reusing one growing buffer per name and thread
(filled with ``out=``) removes that cost. An array returned from here is valid
only until the same thread asks for the same name again: callers consume it
within one block search.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_local = threading.local()
# Larger requests get a fresh array, so a thread keeps at most a few MB (the
# service searches from a pool of up to 40 threads): one query at radius 52 and
# 1M codes needs ~1.8 MB of gathered codes, a block of 8 such queries 14 MB.
MAX_KEPT_BYTES = 4 << 20


def scratch(name: str, shape: int | tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """A C-contiguous, uninitialised array of ``shape`` and ``dtype``, reused across calls on this thread."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    return _from(pool, name, shape, dtype)


class ScratchSet:
    """Named buffers like ``scratch``'s, owned by one search rather than by a thread.

    For arrays that one step of a search writes on one thread and a later step
    reads on another (the batched kernel's): a pool thread's own scratch may be
    reused by another search in between. Borrow one with ``borrowed_scratch``.
    """

    def __init__(self) -> None:
        self._pool: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: int | tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        return _from(self._pool, name, shape, dtype)


_spare_sets: list[ScratchSet] = []
_spare_lock = threading.Lock()


@contextmanager
def borrowed_scratch(keep: int = 2) -> Iterator[ScratchSet]:
    """A ``ScratchSet`` for the duration of one search; at most ``keep`` are kept between searches.

    Few are kept (``HashIndex`` keeps one per core) because one such search at a time per
    core keeps the cores busy, so more sets gain nothing (and each holds several MB).
    """
    with _spare_lock:
        borrowed = _spare_sets.pop() if _spare_sets else ScratchSet()
    try:
        yield borrowed
    finally:
        with _spare_lock:
            if len(_spare_sets) < keep:
                _spare_sets.append(borrowed)


def _from(pool: dict[str, np.ndarray], name: str, shape: int | tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize  # not np.prod: ~5 us a call, a single query makes several
    if nbytes > MAX_KEPT_BYTES:
        return np.empty(shape, dtype=dtype)
    buf = pool.get(name)
    if buf is None or buf.nbytes < nbytes:
        grown = 2 * (0 if buf is None else buf.nbytes)
        buf = np.empty(max(nbytes, min(max(grown, 1 << 16), MAX_KEPT_BYTES)), dtype=np.uint8)
        pool[name] = buf
    return buf[:nbytes].view(dtype).reshape(shape)
