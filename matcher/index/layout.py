"""How a binary code is cut into substrings, and which buckets a query probes.

Why: an exact range search over millions of 256-bit codes cannot afford to
scan them all. Multi-index hashing (Norouzi, Punjani and Fleet, 2012) cuts
every code into ``m`` substrings and keeps one bucketed table per substring.
The generalised pigeonhole principle makes probing exact: if table ``i`` is
probed at radius ``t_i`` (every bucket whose key differs from the query's
substring in at most ``t_i`` bits) and ``sum(t_i + 1) > r``, then any stored
code within distance ``r`` of the query has at least one substring within
``t_i`` of the query's, so it is among the candidates. (If every substring
distance ``d_i`` were ``>= t_i + 1``, the full distance would be
``>= sum(t_i + 1) > r``.) Candidates are then verified with an exact popcount,
so nothing beyond ``r`` is ever returned either. A table may be skipped
(``t_i = -1``) when the others already cover the budget.

The layout (how many substrings, how long) is chosen once per build from a
cost model, with a memory budget; the probe radii are chosen per threshold.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from math import comb

import numpy as np

# Longest substring we index: a table has 2**length buckets, each a 4-byte offset.
MAX_SUBSTRING_BITS = 28
# Shortest: shorter substrings make buckets too crowded to prune anything.
MIN_SUBSTRING_BITS = 4


@dataclass(frozen=True)
class SubstringLayout:
    """Consecutive substrings from bit 0 of a ``bits``-long code (LSB-first in little-endian 64-bit words)."""

    bits: int
    lengths: tuple[int, ...]
    starts: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if sum(self.lengths) > self.bits or self.bits % 64 or not self.lengths:
            raise ValueError(f"substring lengths {self.lengths} do not fit in {self.bits} bits")
        if any(not MIN_SUBSTRING_BITS <= n <= MAX_SUBSTRING_BITS for n in self.lengths):
            raise ValueError(f"substring lengths {self.lengths} out of range")
        object.__setattr__(self, "starts", tuple(itertools.accumulate((0,) + self.lengths[:-1])))

    @property
    def buckets(self) -> tuple[int, ...]:
        return tuple(1 << n for n in self.lengths)

    def keys(self, words: np.ndarray) -> np.ndarray:
        """Substring keys of codes given as ``(n, bits/64)`` uint64 words: ``(n, m)`` int64.

        All tables at once (a handful of numpy calls whatever ``m`` is): the
        low part comes from the substring's first word, the high part from the
        next word shifted left by ``64 - shift`` in two steps, which gives 0
        instead of undefined behaviour when ``shift == 0``; bits beyond the
        substring are masked off.
        """
        first, shift, mask = self.key_parts
        low = words[:, first] >> shift
        high = (words[:, np.minimum(first + 1, words.shape[1] - 1)] << (np.uint64(63) - shift)) << np.uint64(1)
        return ((low | high) & mask).astype(np.int64)

    @cached_property
    def key_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each substring's first word (int64), bit offset in it and mask (uint64): shared with the compiled kernel."""
        starts = np.array(self.starts, dtype=np.int64)
        first = starts // 64
        shift = (starts % 64).astype(np.uint64)
        mask = np.array([(1 << n) - 1 for n in self.lengths], dtype=np.uint64)
        return first, shift, mask


def substring_key(words: np.ndarray, start: int, length: int) -> np.ndarray:
    """Bits ``[start, start + length)`` of each code as an int64 key (may straddle two words)."""
    word, shift = divmod(start, 64)
    key = words[:, word] >> np.uint64(shift)
    if shift + length > 64:  # shift > 0 here, so the left shift below is < 64
        key = key | (words[:, word + 1] << np.uint64(64 - shift))
    return (key & np.uint64((1 << length) - 1)).astype(np.int64)


# Cost of visiting one bucket relative to verifying one candidate row: fitted on
# query times of eleven layouts at 1M and 10M codes (a bucket is two random
# reads in a large offsets array plus range bookkeeping; a candidate is one
# 32-byte gather and a popcount).
BUCKET_COST = 2.0


def _probe_cost(length: int, radius: int, n: int) -> float:
    """Expected work of probing one table at exactly ``radius``: buckets visited plus rows met.

    Rows are assumed uniform over buckets: the worst case for pruning, and what
    uniform random codes (and, closely, real PDQ banks) give.
    """
    return comb(length, radius) * (BUCKET_COST + n / (1 << length))


def probe_radii(lengths: tuple[int, ...], n: int, threshold: int) -> tuple[tuple[int, ...], float] | None:
    """Cheapest radii ``t_i`` with ``sum(t_i + 1) >= threshold + 1``, and their cost.

    Greedy on marginal cost, which is optimal because each table's cost is
    convex in its radius over the range we use. ``None`` if no plan exists
    (threshold too large for the layout).
    """
    radii = [-1] * len(lengths)
    cost = 0.0
    for _ in range(threshold + 1):
        best, best_cost = -1, float("inf")
        for i, length in enumerate(lengths):
            if radii[i] < length:
                c = _probe_cost(length, radii[i] + 1, n)
                if c < best_cost:
                    best, best_cost = i, c
        if best < 0:
            return None
        radii[best] += 1
        cost += best_cost
    return tuple(radii), cost


def plan_layout(bits: int, n: int, threshold: int, bytes_per_code: float = 70.0) -> SubstringLayout:
    """Cheapest layout for ``n`` codes searched at ``threshold`` within a memory budget.

    Memory per code is ``4 * m`` (one int32 row number per table) plus
    ``4 * sum(2**length) / n`` (bucket offsets). Substrings need not cover every
    bit: the pigeonhole argument holds on any subset of the bits, since the
    distance on a subset never exceeds the full distance. Lengths take two
    close values so that the tables stay alike.
    """
    n = max(n, 1)
    best: tuple[float, float, tuple[int, ...]] | None = None  # (over budget, cost, lengths)
    for m in range(1, bits // 8 + 1):
        for short in range(MIN_SUBSTRING_BITS, min(MAX_SUBSTRING_BITS, bits // m) + 1):
            for step in (1, 2):
                long = min(short + step, MAX_SUBSTRING_BITS)
                n_long = min(m, (bits - m * short) // (long - short)) if long > short else 0
                lengths = (long,) * n_long + (short,) * (m - n_long)
                memory = 4 * m + 4 * sum(1 << x for x in lengths) / n
                plan = probe_radii(lengths, n, threshold)
                if plan is None:
                    continue
                key = (max(0.0, memory - bytes_per_code), plan[1], lengths)
                if best is None or key[:2] < best[:2]:
                    best = key
    if best is None:
        raise ValueError(f"no substring layout can serve threshold {threshold} on {bits} bits")
    lengths = best[2]
    return SubstringLayout(bits, lengths)


@lru_cache(maxsize=64)
def flip_masks(length: int, radius: int) -> np.ndarray:
    """Every ``length``-bit XOR mask with exactly ``radius`` bits set, as int64."""
    masks = [sum(1 << b for b in bits) for bits in itertools.combinations(range(length), radius)]
    out = np.array(masks, dtype=np.int64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class ProbePlan:
    """For one threshold: which table and XOR mask each probe uses (flat arrays, all tables)."""

    threshold: int
    radii: tuple[int, ...]
    tables: np.ndarray
    masks: np.ndarray
    cost: float
    expected_rows: float = 0.0  # candidate rows per query if rows spread uniformly over buckets

    @classmethod
    def make(cls, layout: SubstringLayout, n: int, threshold: int) -> ProbePlan | None:
        found = probe_radii(layout.lengths, n, threshold)
        if found is None:
            return None
        radii, cost = found
        tables, masks = [], []
        expected = 0.0
        for i, (length, radius) in enumerate(zip(layout.lengths, radii)):
            for t in range(radius + 1):
                m = flip_masks(length, t)
                masks.append(m)
                tables.append(np.full(len(m), i, dtype=np.int64))
                expected += len(m) * n / (1 << length)
        empty = np.empty(0, dtype=np.int64)
        return cls(
            threshold,
            radii,
            np.concatenate(tables) if tables else empty,
            np.concatenate(masks) if masks else empty,
            cost,
            expected,
        )
