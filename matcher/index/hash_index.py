"""``HashIndex``: exact range search over a bank of binary hashes, updatable while it serves.

Why: a platform checks every upload against millions of banked hashes, and a
missed match leaves a victim's image up. FAISS's exact options are either a
full scan (``IndexBinaryFlat``: about 10 ms per query at 10M codes) or large
(``IndexBinaryMultiHash`` with flips: 277 bytes per code). This index returns
exactly the stored codes within the threshold, in well under a millisecond at
10M codes, in about 120 bytes per 256-bit code (resident memory).

How:
- Rows ``[0, n_indexed)`` are covered by multi-index-hashing tables
  (``tables.py``): a provably complete candidate set, verified by popcount.
- Rows ``[n_indexed, n_rows)`` are the *tail*: recent adds, searched by a
  FAISS ``IndexBinaryFlat`` (exact). When the tail passes ``tail_limit`` it is
  merged into the tables in one pass (no rebuild), by default on a background
  thread. Banks up to ``tail_limit`` codes are therefore plain FAISS flat scans.
- Removes clear a row's ``alive`` flag; dead rows are never returned and are
  dropped when the index compacts (at a merge once a quarter of rows are dead,
  or on ``compact()``).
- Ids: ``add`` with an id already present *replaces* its code (upsert), so a
  change log can be replayed idempotently; within one call the last
  occurrence of an id wins. Removing an unknown id is a no-op.

Concurrency: one writer at a time (a lock), any number of readers. Writers
publish a new immutable snapshot; a search works on the snapshot it started
with, so it never sees half an update. (``alive`` is the one array changed in
place: a search racing a remove may or may not return the removed id.)
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from matcher.index import kernel
from matcher.index.layout import plan_layout
from matcher.index.scratch import scratch
from matcher.index.tables import SubstringTables

# Recent adds kept out of the tables: a flat scan of this many codes costs tens of microseconds.
DEFAULT_TAIL_LIMIT = 32_768
# Memory the substring tables may use per code (row numbers plus bucket offsets), in bytes:
# with 32 B of code, 8 B id, 1 B alive flag and 12 B of id map, a 256-bit bank stays under 128 B.
TABLE_BYTES_PER_CODE = 70.0
# Queries verified together: bounds the temporary arrays of a large batch, and
# blocks are the unit of work spread over threads.
QUERY_BLOCK = 64
# ...and at most about this many expected candidate rows per block: at radius 52
# (~56k candidates a query at 1M codes) a block of 64 queries gathered ~115 MB of
# codes at once and ran 35% slower than blocks of 8 (measured, 1M codes, one thread).
CANDIDATE_BLOCK = 500_000
# The compiled batched path (kernel.search_batch) runs in chunks of at most about this many
# expected candidates (8 bytes each, in buffers that stay within scratch.MAX_KEPT_BYTES
# with headroom, so they are kept between batches)...
BATCH_CANDIDATES = 450_000
# ...when a chunk's candidates are at least this share of the indexed rows: it streams
# through all the codes, so it pays only when the batch meets many of them (measured at
# 1M codes: 100 queries at radius 31, a share of 0.36, 1.15-1.3x less CPU than the
# blocks; 32 queries, 0.12, 1.2x more; 8 at radius 52, 0.45 as two chunks of 0.23, more).
BATCH_MIN_SHARE = 0.3


class Matches(NamedTuple):
    """Stored ids within the threshold of one query, nearest first (ties by id)."""

    ids: np.ndarray  # int64
    distances: np.ndarray  # int32


@dataclass(frozen=True)
class _Snapshot:
    words: np.ndarray  # (capacity, bits/64) uint64, little-endian: the codes
    ids: np.ndarray  # (capacity,) int64
    alive: np.ndarray  # (capacity,) bool; cleared in place by remove()
    n_rows: int
    tables: SubstringTables | None  # covers rows [0, n_indexed)
    id_keys: np.ndarray  # sorted ids of indexed rows (live at the last merge)
    id_rows: np.ndarray  # their rows, int32
    tail: faiss.IndexBinaryFlat  # rows [n_indexed, n_rows)
    planned_for: int  # bank size the table layout was chosen for

    @property
    def n_indexed(self) -> int:
        return 0 if self.tables is None else self.tables.n_rows


class HashIndex:
    """Exact Hamming range search over ``bits``-bit codes (uint8 arrays of shape ``(n, bits/8)``)."""

    def __init__(
        self,
        bits: int = 256,
        *,
        tuned_threshold: int | None = None,
        tail_limit: int = DEFAULT_TAIL_LIMIT,
        background_merges: bool = True,
    ):
        """``tuned_threshold`` is the threshold the layout is optimised for (any works, exactly).

        With ``background_merges`` a full tail is merged into the tables by a
        background thread, so ``add`` never waits for a merge (about a second
        at 10M hashes); rebuilds (first build, compaction, doubling) still run
        in the caller.
        """
        if bits <= 0 or bits % 64:
            raise ValueError("bits must be a positive multiple of 64")
        self.bits = bits
        self.tuned_threshold = tuned_threshold if tuned_threshold is not None else round(bits * 31 / 256)
        self.tail_limit = tail_limit
        self.background_merges = background_merges
        self._lock = threading.Lock()
        self._dead = 0
        self._merger: threading.Thread | None = None
        self._state = self._empty_snapshot()

    # ------------------------------------------------------------------ public API

    def __len__(self) -> int:
        return self._state.n_rows - self._dead

    def __repr__(self) -> str:
        return f"HashIndex(bits={self.bits}, size={len(self)})"

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Add codes under int64 ids; an id already present gets the new code."""
        ids = self._check_ids(ids)
        words = self._check_codes(codes, ndim=2)
        if len(ids) != len(words):
            raise ValueError(f"{len(ids)} ids for {len(words)} codes")
        if len(ids) == 0:
            return
        if not bool(np.all(ids[1:] > ids[:-1])):  # cheap test first: bulk loads come sorted
            # Last occurrence of a repeated id wins, as if added one by one.
            _, last = np.unique(ids[::-1], return_index=True)
            if len(last) < len(ids):
                keep = np.sort(len(ids) - 1 - last)
                ids, words = ids[keep], words[keep]
        with self._lock:
            st = self._state
            replaced = self._live_rows(st, ids)
            st.alive[replaced] = False
            self._dead += len(replaced)
            st = self._with_tail(self._append(st, ids, words))
            if st.n_rows - st.n_indexed > self.tail_limit and self._merger is None:
                if self.background_merges and not self._rebuild_due(st):
                    self._merge_in_background(st)
                else:
                    st = self._absorb_tail(st)
            self._state = st

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (unknown ids are ignored); returns how many were present."""
        ids = self._check_ids(ids)
        with self._lock:
            st = self._state
            rows = np.unique(self._live_rows(st, ids))
            st.alive[rows] = False
            self._dead += len(rows)
            return len(rows)

    def compact(self) -> None:
        """Drop removed rows and re-plan the tables for the current size (a full rebuild)."""
        self.wait_for_merge()
        with self._lock:
            self._state = self._rebuild(self._state)

    def wait_for_merge(self) -> None:
        """Return once no background merge is running (for tests, benchmarks, orderly shutdown)."""
        merger = self._merger
        if merger is not None:
            merger.join()

    def search(self, codes: np.ndarray, threshold: int, *, threads: int | None = None) -> list[Matches]:
        """For each query, every stored id within ``threshold`` (inclusive) and its distance.

        ``codes`` is ``(nq, bits/8)`` uint8, or ``(nq, g, bits/8)`` for groups of
        ``g`` codes per query (e.g. the 8 dihedral variants of a PDQ hash): a
        stored id matches a group if it is within the threshold of any member,
        and its distance is the smallest.

        ``threads``: how many threads a large search is spread over (default: one per
        core). A caller that already runs several searches at once, such as a busy
        server, passes 1: the search then stays in the calling thread, and the hand-offs
        to and from the index's pool (70-90 us of CPU each here) are not paid.
        """
        if not isinstance(threshold, (int, np.integer)) or not 0 <= threshold <= self.bits:
            raise ValueError(f"threshold must be an integer in [0, {self.bits}]")
        threshold = int(threshold)
        codes = np.asarray(codes)
        group = 1
        if codes.ndim == 3:
            group = codes.shape[1]
            codes = codes.reshape(-1, codes.shape[2]) if group else codes.reshape(0, self.bits // 8)
        query_words = self._check_codes(codes, ndim=2)
        n_queries = len(query_words) // group if group else codes.shape[0]
        st = self._state
        plan = st.tables.plan(threshold) if st.tables is not None else None
        chunk = self._batch_chunk(st, plan, len(query_words), group)
        threads = _threads() if threads is None else max(1, min(int(threads), _threads()))
        if chunk:
            parts = self._search_batched(st, plan, query_words, threshold, chunk, threads)
        else:
            parts = self._search_blocks(st, plan, query_words, threshold, group, threads)
        found_q, found_rows, found_d = _concatenated(parts)
        if not len(found_rows):  # most searches: no upload matches; skip the sorting (~6 us)
            return [_no_matches() for _ in range(n_queries)]
        return _group_results(st.ids, found_q // group, found_rows, found_d, n_queries)

    def save(self, path: str | Path) -> None:
        """Write the index to ``path``: raw arrays behind a JSON header, with checksums; no pickle."""
        from matcher.index.persistence import save_index

        save_index(self, path)

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = False) -> HashIndex:
        """Read an index written by ``save``; raises ``IndexFormatError`` on a malformed file.

        Structure, dtypes and bounds are always checked, table entries on a
        random sample; ``verify=True`` checks every table entry against the
        codes (seconds per million hashes).
        """
        from matcher.index.persistence import load_index

        return load_index(path, verify=verify)

    # ------------------------------------------------------------------ search internals

    def _search_blocks(
        self, st: _Snapshot, plan, query_words: np.ndarray, threshold: int, group: int, threads: int
    ) -> list[tuple[np.ndarray, ...]]:
        """Query blocks, each searched by ``_search_block``, spread over the pool."""
        block = QUERY_BLOCK
        if plan is not None and plan.expected_rows > 0:
            block = int(min(QUERY_BLOCK, max(1, CANDIDATE_BLOCK // plan.expected_rows)))
        block = max(group, (block // group) * group)
        n_blocks = -(-len(query_words) // block)
        if n_blocks > 1 and threads > 1:
            # Equal blocks, a multiple of the threads in number, so that the threads finish
            # together: 100 queries at radius 31 were blocks of 64 and 36 on two threads.
            n_blocks = -(-n_blocks // threads) * threads
            block = -(-len(query_words) // group // n_blocks) * group
        starts = range(0, len(query_words), block)

        def one_block(start: int) -> tuple[np.ndarray, ...]:
            q, rows, d = self._search_block(st, query_words[start : start + block], threshold)
            return q + start, rows, d

        # numpy releases the GIL in the gathers and popcounts, so blocks overlap on several cores.
        if len(starts) > 1 and threads > 1:
            return list(_pool().map(one_block, starts))
        return [one_block(s) for s in starts]

    def _batch_chunk(self, st: _Snapshot, plan, n_codes: int, group: int) -> int:
        """Codes per chunk of the batched path (whole groups, chunks about equal), or 0 for the blocks."""
        if not kernel.USE_KERNEL or plan is None or plan.expected_rows <= 0 or n_codes < 2 * group:
            return 0
        chunk = min(n_codes, int(BATCH_CANDIDATES // plan.expected_rows), 1 << kernel.QUERY_BITS)
        chunk = (chunk // group) * group
        if chunk <= 0:
            return 0
        n_chunks = -(-n_codes // chunk)
        chunk = -(-n_codes // group // n_chunks) * group
        return chunk if chunk * plan.expected_rows >= BATCH_MIN_SHARE * st.n_indexed else 0

    def _search_batched(
        self, st: _Snapshot, plan, query_words: np.ndarray, threshold: int, block: int, threads: int
    ) -> list[tuple[np.ndarray, ...]]:
        """The compiled batched path (``kernel.search_batch``), ``block`` codes at a time.

        Several chunks run side by side on the pool, each in one thread; a lone
        chunk is split over the threads instead. (Splitting every chunk costs
        each step a wait for the slower thread: at radius 52, chunks of 7
        queries, that made 100 queries slower than the blocks path on two threads.)
        """
        pool = _pool() if threads > 1 else None
        starts = range(0, len(query_words), block)

        def one_chunk(start: int, parallel: bool) -> tuple[np.ndarray, ...]:
            qwords = query_words[start : start + block]
            found = kernel.search_batch(
                st.tables, plan, st.words, qwords, threshold, pool.map if parallel else map,
                threads if parallel else 1, keep=_threads(),
            )
            q, rows, d = _concatenated([found] + self._tail_parts(st, qwords, threshold))
            live = st.alive[rows]
            return q[live] + start, rows[live], d[live]

        if threads == 1:
            return [one_chunk(start, False) for start in starts]
        if len(starts) == 1:
            return [one_chunk(0, True)]
        return list(pool.map(lambda start: one_chunk(start, False), starts))

    def _tail_parts(self, st: _Snapshot, qwords: np.ndarray, threshold: int) -> list[tuple[np.ndarray, ...]]:
        """Matches among the tail rows (a FAISS flat scan), as a list of zero or one part."""
        if st.n_rows == st.n_indexed:
            return []
        lims, dist, found = st.tail.range_search(_as_bytes(qwords), threshold + 1)
        query_of = np.repeat(np.arange(len(qwords), dtype=np.int64), np.diff(lims).astype(np.int64))
        return [(query_of, found.astype(np.int64) + st.n_indexed, dist.astype(np.int32))]

    def _search_block(self, st: _Snapshot, qwords: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
        parts = []
        if st.tables is not None:
            plan = st.tables.plan(threshold)
            if plan is None:
                parts.append(_scan(st.words, st.n_indexed, qwords, threshold))
            elif kernel.USE_KERNEL:
                parts.append(kernel.search_tables(st.tables, plan, st.words, qwords, threshold))
            else:
                query_of, rows = st.tables.candidates(qwords, plan)
                parts.append(_verify(st.words, qwords, query_of, rows, threshold))
        q, rows, d = _concatenated(parts + self._tail_parts(st, qwords, threshold))
        live = st.alive[rows]
        if live.all():
            return q, rows, d
        return q[live], rows[live], d[live]

    # ------------------------------------------------------------------ write internals

    def _empty_snapshot(self) -> _Snapshot:
        nw = self.bits // 64
        return _Snapshot(
            words=np.empty((0, nw), dtype="<u8"),
            ids=np.empty(0, dtype=np.int64),
            alive=np.empty(0, dtype=bool),
            n_rows=0,
            tables=None,
            id_keys=np.empty(0, dtype=np.int64),
            id_rows=np.empty(0, dtype=np.int32),
            tail=faiss.IndexBinaryFlat(self.bits),
            planned_for=0,
        )

    def _live_rows(self, st: _Snapshot, ids: np.ndarray) -> np.ndarray:
        """Rows currently holding any of ``ids`` (at most one live row per id)."""
        rows = _lookup(st.id_keys, st.id_rows, ids).astype(np.int64)
        rows = rows[st.alive[rows]]
        if st.n_rows > st.n_indexed:
            tail_rows = st.n_indexed + np.flatnonzero(st.alive[st.n_indexed : st.n_rows])
            tail_ids = st.ids[tail_rows]
            order = np.argsort(tail_ids)
            rows = np.concatenate((rows, _lookup(tail_ids[order], tail_rows[order], ids)))
        return rows

    def _append(self, st: _Snapshot, ids: np.ndarray, words: np.ndarray) -> _Snapshot:
        n, k = st.n_rows, len(ids)
        words_arr, ids_arr, alive_arr = st.words, st.ids, st.alive
        if n + k > len(ids_arr):
            capacity = max(n + k, int(len(ids_arr) * 1.5), 1024)
            words_arr = _grown(st.words, n, capacity)
            ids_arr = _grown(st.ids, n, capacity)
            alive_arr = _grown(st.alive, n, capacity)
        words_arr[n : n + k] = words
        ids_arr[n : n + k] = ids
        alive_arr[n : n + k] = True
        return _replace(st, words=words_arr, ids=ids_arr, alive=alive_arr, n_rows=n + k)

    def _with_tail(self, st: _Snapshot) -> _Snapshot:
        """A fresh flat index over the tail (a copy: never mutate one a reader may be scanning)."""
        tail = faiss.IndexBinaryFlat(self.bits)
        if st.n_rows > st.n_indexed:
            tail.add(_as_bytes(st.words[st.n_indexed : st.n_rows]))
        return _replace(st, tail=tail)

    def _rebuild_due(self, st: _Snapshot) -> bool:
        """First build, a quarter of rows dead, or the bank doubled since the layout was planned."""
        return st.tables is None or self._dead * 4 > st.n_rows or st.n_rows > 2 * st.planned_for

    def _merge_in_background(self, st: _Snapshot) -> None:
        """Merge ``st``'s tail on a thread; install the result unless the tables changed meanwhile.

        Called with the lock held. Rows keep their numbers until a rebuild, and
        a rebuild replaces the tables object, so "the tables are still the ones
        we merged into" is exactly the condition for the merged tables and id
        map to describe the current rows. Rows added or removed meanwhile stay
        correct: additions are the new, shorter tail; removals live in ``alive``.
        """

        def run() -> None:
            try:
                merged = self._merge_tail(st)  # never a rebuild here: that renumbers rows
                with self._lock:
                    current = self._state
                    if current.tables is st.tables:
                        self._state = self._with_tail(
                            _replace(current, tables=merged.tables, id_keys=merged.id_keys, id_rows=merged.id_rows)
                        )
            finally:
                self._merger = None

        self._merger = threading.Thread(target=run, name="hash-index-merge", daemon=True)
        self._merger.start()

    def _absorb_tail(self, st: _Snapshot) -> _Snapshot:
        """Move the tail into the tables: one merge pass, or a rebuild when that is due."""
        if self._rebuild_due(st):
            return self._rebuild(st)
        return self._with_tail(self._merge_tail(st))

    def _merge_tail(self, st: _Snapshot) -> _Snapshot:
        """Tables and id map that also cover the tail (one pass over each; rows keep their numbers)."""
        lo, hi = st.n_indexed, st.n_rows
        tables = st.tables.with_rows_added(st.words[lo:hi])
        keys, rows = st.id_keys, st.id_rows
        if np.count_nonzero(st.alive[:lo]) < lo:  # drop ids removed since the last merge
            keep = st.alive[rows]
            keys, rows = keys[keep], rows[keep]
        new_rows = lo + np.flatnonzero(st.alive[lo:hi])
        new_keys = st.ids[new_rows]
        order = np.argsort(new_keys)
        new_keys, new_rows = new_keys[order], new_rows[order]
        at = np.searchsorted(keys, new_keys)
        return _replace(
            st,
            tables=tables,
            id_keys=np.insert(keys, at, new_keys),
            id_rows=np.insert(rows, at, new_rows.astype(np.int32)),
        )

    def _rebuild(self, st: _Snapshot) -> _Snapshot:
        if self._dead:
            live = np.flatnonzero(st.alive[: st.n_rows])
            words, ids = np.take(st.words, live, axis=0), st.ids[live]
        else:
            words, ids = st.words[: st.n_rows], st.ids[: st.n_rows]
        n = len(ids)
        self._dead = 0
        fresh = _replace(
            self._empty_snapshot(), words=words, ids=ids, alive=np.ones(n, dtype=bool), n_rows=n
        )
        if n > self.tail_limit:
            layout = plan_layout(self.bits, n, self.tuned_threshold, TABLE_BYTES_PER_CODE)
            if bool(np.all(ids[1:] > ids[:-1])):
                id_keys, id_rows = ids.copy(), np.arange(n, dtype=np.int32)
            else:
                order = np.argsort(ids)
                id_keys, id_rows = ids[order], order.astype(np.int32)
            fresh = _replace(
                fresh,
                tables=SubstringTables.build(layout, words),
                id_keys=id_keys,
                id_rows=id_rows,
                planned_for=n,
            )
        return self._with_tail(fresh)

    # ------------------------------------------------------------------ validation

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or len(ids) == 0):
            raise ValueError("ids must be a 1-D integer array")
        return ids.astype(np.int64, copy=False)

    def _check_codes(self, codes: np.ndarray, ndim: int) -> np.ndarray:
        codes = np.asarray(codes)
        nbytes = self.bits // 8
        if codes.dtype != np.uint8 or codes.ndim != ndim or codes.shape[-1] != nbytes:
            raise ValueError(f"codes must be a uint8 array of shape (n, {nbytes})")
        return np.ascontiguousarray(codes).view("<u8")


# ---------------------------------------------------------------------- helpers


def _threads() -> int:
    return os.cpu_count() or 1


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="hash-index")


def _replace(st: _Snapshot, **changes: object) -> _Snapshot:
    values = {name: getattr(st, name) for name in _Snapshot.__dataclass_fields__}
    values.update(changes)
    return _Snapshot(**values)  # type: ignore[arg-type]


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``values`` of the ``keys`` present in ``sorted_keys`` (which holds each key once)."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        return np.empty(0, dtype=values.dtype)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return values[pos[sorted_keys[pos] == keys]]


def _grown(array: np.ndarray, used: int, capacity: int) -> np.ndarray:
    out = np.empty((capacity,) + array.shape[1:], dtype=array.dtype)
    out[:used] = array[:used]
    return out


def _as_bytes(words: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words).view(np.uint8)


def _verify(
    words: np.ndarray, qwords: np.ndarray, query_of: np.ndarray, rows: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Hamming distance of each (query, row) candidate; keep those within the threshold.

    ``query_of`` must be non-decreasing (``SubstringTables.candidates`` gives it
    so). The candidates' codes are gathered into one contiguous array (np.take is
    several times faster than fancy indexing), then FAISS's ``hammings`` (C
    popcount) measures each query's run of candidates. At radius 52 (56k
    candidates, 1M codes) verifying took 1.45 ms with numpy's XOR, popcount and
    compare and takes ~0.35 ms this way, most of it the gather (measured).
    """
    k = len(rows)
    nbytes = words.shape[1] * 8
    # Gathered codes and distances in per-thread scratch buffers (scratch.py).
    codes = np.take(words, rows, axis=0, out=scratch("verify_codes", (k, words.shape[1]), words.dtype), mode="clip")
    codes = codes.view(np.uint8)  # (k, nbytes), contiguous
    queries = np.ascontiguousarray(qwords).view(np.uint8)
    if len(qwords) == 1 or k == 0:
        runs = [(0, 0, k)]
    else:
        edges = np.concatenate(([0], np.flatnonzero(query_of[1:] != query_of[:-1]) + 1, [k]))
        runs = zip(query_of[edges[:-1]].tolist(), edges[:-1].tolist(), edges[1:].tolist())
    dist = scratch("verify_dist", k, np.int32)
    for qi, lo, hi in runs:
        if hi > lo:
            faiss.hammings(
                faiss.swig_ptr(queries[qi]), faiss.swig_ptr(codes[lo:hi]), 1, hi - lo, nbytes, faiss.swig_ptr(dist[lo:hi])
            )
    ok = np.flatnonzero(dist <= threshold)
    return np.asarray(query_of)[ok], rows[ok].astype(np.int64), dist[ok]


def _row_popcount(words: np.ndarray) -> np.ndarray:
    """Popcount of each row of uint64 words, as int32."""
    counts = np.bitwise_count(words)  # uint8, one per word
    if counts.shape[1] % 4:
        return counts.sum(axis=1, dtype=np.int32)
    # Sum the four byte counts held in each uint32 with two masked adds
    # (numpy's reduce along a short axis is slow); each count is <= 64, sums <= 256.
    packed = np.ascontiguousarray(counts).view("<u4")
    pairs = (packed & np.uint32(0x00FF00FF)) + ((packed >> np.uint32(8)) & np.uint32(0x00FF00FF))
    sums = (pairs & np.uint32(0xFFFF)) + (pairs >> np.uint32(16))
    return (sums.sum(axis=1, dtype=np.int32) if sums.shape[1] > 1 else sums[:, 0]).astype(np.int32)


def _scan(words: np.ndarray, n: int, qwords: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
    """Full scan of rows ``[0, n)``: for thresholds so large that probing would cost more."""
    chunk = 1 << 18
    qs, rows, ds = [], [], []
    for qi in range(len(qwords)):
        for lo in range(0, n, chunk):
            dist = _row_popcount(words[lo : min(n, lo + chunk)] ^ qwords[qi])
            hit = np.flatnonzero(dist <= threshold)
            qs.append(np.full(len(hit), qi, dtype=np.int64))
            rows.append(hit + lo)
            ds.append(dist[hit])
    if not qs:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty.astype(np.int32)
    return np.concatenate(qs), np.concatenate(rows), np.concatenate(ds)


def _concatenated(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """(query, row, distance) parts joined; one part as it is (a single query's search has one)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty.astype(np.int32)
    return tuple(np.concatenate(x) for x in zip(*parts))


def _no_matches() -> Matches:
    return Matches(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))


def _group_results(
    ids: np.ndarray, group: np.ndarray, rows: np.ndarray, dist: np.ndarray, n_queries: int
) -> list[Matches]:
    """One ``Matches`` per query: each row once with its smallest distance, nearest first."""
    if len(rows) > 1:
        order = np.lexsort((dist, rows, group))
        group, rows, dist = group[order], rows[order], dist[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (group[1:] != group[:-1]) | (rows[1:] != rows[:-1])
        group, rows, dist = group[first], rows[first], dist[first]
    found_ids = ids[rows]
    order = np.lexsort((found_ids, dist, group))
    group, found_ids, dist = group[order], found_ids[order], dist[order]
    bounds = np.searchsorted(group, np.arange(n_queries + 1))
    return [Matches(found_ids[a:b], dist[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
