"""Exact, fast, updatable range search over banks of binary hashes (PDQ, 64-bit hashes).

``HashIndex`` is the public entry point; the other modules are its parts:
``layout`` (how codes are cut into substrings and which buckets a query
probes), ``tables`` (the bucketed substring tables), ``persistence`` (a
pickle-free file format).
"""

from matcher.index.hash_index import HashIndex, Matches

__all__ = ["HashIndex", "Matches"]
