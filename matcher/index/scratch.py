"""Per-thread scratch arrays for the search hot path.

Why: ``_verify`` XORs ~56k gathered codes (radius 52, 1M codes) with the query
tiled to the same shape. Allocating that 1.8 MB tile afresh per query made the
verify step 2.5x slower on our hosts (glibc hands such sizes out as fresh pages
and trims them again), while reusing one buffer per thread costs nothing.
Arrays returned from here are only valid until the same thread asks for the
same name again: callers consume them within one block search.
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()
# Buffers above this many bytes are not kept (a huge batch should not pin memory per thread).
MAX_KEPT_BYTES = 64 << 20


def scratch(name: str, shape: int | tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` (uninitialised), reused across calls on this thread."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes > MAX_KEPT_BYTES:
        return np.empty(shape, dtype=dtype)
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    buf = pool.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(max(nbytes, 2 * (0 if buf is None else buf.nbytes), 4096), dtype=np.uint8)
        pool[name] = buf
    return buf[:nbytes].view(dtype).reshape(shape)


def tiled(name: str, row: np.ndarray, k: int) -> np.ndarray:
    """``(k, len(row))`` array of ``row`` repeated, filled by doubling copies (contiguous memcpy-like steps).

    Faster than a broadcast copy, which numpy runs as ``k`` inner loops of length ``len(row)``.
    """
    out = scratch(name, (k, len(row)), row.dtype)
    if k == 0:
        return out
    out[0] = row
    n = 1
    while n < k:
        step = min(n, k - n)
        out[n : n + step] = out[:step]
        n += step
    return out
