"""Bucketed substring tables: the candidate layer of the hash index.

Why: multi-index hashing needs, for every substring table, "which rows have
this key" in a few memory reads. A hash map per table would cost far more than
our 128 bytes per hash, so each table is stored CSR-style: the row numbers of
all codes sorted by key (and by row within a key, so that the later gather of
codes walks memory forward), and one offset per possible key. All tables share
one ``rows`` array and one ``offsets`` array, so a query's probes into every
table are a single vectorised gather with no Python loop per table.

Objects are immutable once built: adding rows returns new tables, so a search
running in another thread keeps a consistent snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np

from matcher.index.layout import ProbePlan, SubstringLayout, substring_key
from matcher.index.scratch import scratch

_MAX_INT32 = np.iinfo(np.int32).max


@dataclass(frozen=True)
class SubstringTables:
    """``rows[offsets[g]:offsets[g + 1]]`` are the rows whose substring lands in global bucket ``g``.

    Global bucket ``g = bucket_base[i] + key`` for table ``i``. Rows are ``[0, n_rows)``.
    """

    layout: SubstringLayout
    offsets: np.ndarray  # (sum(2**length) + 1,) int32 or int64, non-decreasing
    rows: np.ndarray  # (m * n_rows,) int32
    n_rows: int
    bucket_base: np.ndarray = field(init=False)
    _plans: dict[int, ProbePlan | None] = field(init=False, default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        base = np.cumsum((0,) + self.layout.buckets[:-1]).astype(np.int64)
        object.__setattr__(self, "bucket_base", base)

    @classmethod
    def build(cls, layout: SubstringLayout, words: np.ndarray) -> SubstringTables:
        """Index every row of ``words`` (``(n, bits/64)`` uint64).

        One table at a time on purpose: building tables in two threads saved
        under 5% on two cores and left tens of bytes per hash of fragmented
        heap behind (measured at 1M hashes).
        """
        n = words.shape[0]
        m = len(layout.lengths)
        if n >= 2**31 or m * n > _MAX_INT32:
            raise ValueError("too many codes for int32 row numbers")
        rows = np.empty(m * n, dtype=np.int32)
        counts: list[np.ndarray] = [np.empty(0)] * m

        def one_table(i: int) -> None:
            keys = substring_key(words, layout.starts[i], layout.lengths[i])
            # FAISS's counting sort: stable, so rows stay ascending inside a bucket
            # (the later gather of codes then walks memory forward); several times
            # faster than numpy's comparison sort on these sizes.
            lims, perm = faiss.bucket_sort(keys, 1 << layout.lengths[i], nt=0)
            counts[i] = np.diff(lims)
            rows[i * n : (i + 1) * n] = perm

        for i in range(m):
            one_table(i)
        return cls(layout, _offsets_from_counts(np.concatenate(counts), m * n), rows, n)

    def with_rows_added(self, words: np.ndarray) -> SubstringTables:
        """New tables that also index rows ``[n_rows, n_rows + len(words))`` (their codes given).

        Each new row goes to the end of its bucket, which keeps rows sorted
        inside buckets; cost is one pass over ``rows`` and ``offsets``, not a rebuild.
        """
        k = words.shape[0]
        m = len(self.layout.lengths)
        if k == 0:
            return self
        if m * (self.n_rows + k) > _MAX_INT32:
            raise ValueError("too many codes for int32 row numbers")
        new_rows = np.arange(self.n_rows, self.n_rows + k, dtype=np.int64)
        keys = self.layout.keys(words)  # (k, m)
        buckets = (keys + self.bucket_base[None, :]).T.ravel()  # table-major
        values = np.tile(new_rows, m)
        order = np.argsort(buckets, kind="stable")  # rows ascending inside a bucket
        buckets, values = buckets[order], values[order]
        positions = self.offsets[buckets + 1].astype(np.int64)
        rows = np.insert(self.rows, positions, values.astype(np.int32))
        # offsets[j] moves by the number of entries added to buckets < j: a step
        # function with one step per touched bucket, applied in one pass.
        touched, per_bucket = np.unique(buckets, return_counts=True)
        steps = np.concatenate(([0], touched + 1, [len(self.offsets)]))
        shift = np.repeat(np.concatenate(([0], np.cumsum(per_bucket))), np.diff(steps))
        if self.offsets[-1] + len(buckets) > _MAX_INT32:
            offsets = self.offsets.astype(np.int64) + shift
        else:
            offsets = self.offsets + shift.astype(self.offsets.dtype)
        return SubstringTables(self.layout, offsets, rows, self.n_rows + k)

    def plan(self, threshold: int) -> ProbePlan | None:
        """Probe plan for ``threshold`` (cached), or ``None`` when a full scan is cheaper."""
        if threshold not in self._plans:
            plan = ProbePlan.make(self.layout, self.n_rows, threshold)
            if plan is not None and plan.cost > self.n_rows:
                plan = None
            self._plans[threshold] = plan
        return self._plans[threshold]

    def candidates(self, query_words: np.ndarray, plan: ProbePlan) -> tuple[np.ndarray, np.ndarray]:
        """Every (query number, row) pair the plan reaches; a superset of the true matches.

        Duplicates are possible (a row near the query in several substrings).
        Query numbers are non-decreasing. The arrays may be this thread's scratch
        buffers (or a read-only view): use them before this thread's next call.
        """
        keys = self.layout.keys(query_words)  # (nq, m)
        buckets = self.bucket_base[plan.tables] + (keys[:, plan.tables] ^ plan.masks)  # (nq, P)
        lo = np.take(self.offsets, buckets)
        hi = np.take(self.offsets, buckets + 1)
        lengths = (hi - lo).astype(np.int64).ravel()
        hit = np.flatnonzero(lengths)
        lengths = lengths[hit]
        total = int(lengths.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        # Expand the [lo, hi) ranges into one index array without a Python loop:
        # positions are the running sum of a step array that is 1 inside a range
        # and jumps to the next range's start. Large arrays live in per-thread
        # scratch buffers (fresh pages cost more than the work, scratch.py).
        starts = lo.ravel()[hit].astype(np.int64)
        first = np.cumsum(lengths) - lengths
        positions = scratch("cand_positions", total, np.int64)
        positions.fill(1)
        positions[0] = starts[0]
        positions[first[1:]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
        np.cumsum(positions, out=positions)
        rows = np.take(self.rows, positions, out=scratch("cand_rows", total, self.rows.dtype), mode="clip")
        if buckets.shape[0] == 1:  # one query: a zero-stride view, no memory
            return np.broadcast_to(np.int64(0), (total,)), rows
        hit_query = hit // buckets.shape[1]
        query_of = scratch("cand_query", total, np.int64)
        query_of.fill(0)
        query_of[0] = hit_query[0]
        query_of[first[1:]] = np.diff(hit_query)
        np.cumsum(query_of, out=query_of)
        return query_of, rows

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.rows.nbytes)


def _offsets_from_counts(counts: np.ndarray, total: int) -> np.ndarray:
    offsets = np.empty(len(counts) + 1, dtype=np.int64)
    offsets[0] = 0
    np.cumsum(counts, out=offsets[1:])
    assert offsets[-1] == total
    return _narrow(offsets)


def _narrow(offsets: np.ndarray) -> np.ndarray:
    """int32 offsets when they fit: they are a sizeable share of the memory per code."""
    if offsets[-1] <= _MAX_INT32:
        return offsets.astype(np.int32)
    return offsets
