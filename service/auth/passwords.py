"""argon2id for PINs and passwords: slow to brute-force from a stolen database.

Verification runs for unknown accounts too (against a dummy hash), so the
answer time does not tell an attacker whether a case number exists.

That work is what anyone can make the service do without a credential (a status
request for any case number, a login with any name), and each run holds
``argon2_memory_kib`` (64 MiB by default). So at most ``ARGON2_AT_ONCE`` run at
once per worker: unbounded, the thread pool's 40 threads would hold 2.5 GiB. The
bound costs nothing in throughput (each run keeps one core busy); the CPU itself
is only protected by rate limits in front of the service (docs/security.md).
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..settings import Settings

#: argon2 runs (hash or verify) at once in one worker process: one per core.
ARGON2_AT_ONCE = os.cpu_count() or 1
_running = threading.BoundedSemaphore(ARGON2_AT_ONCE)


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash("not-a-real-secret")


def hash_secret(settings: Settings, secret: str) -> str:
    with _running:
        return hasher(settings).hash(secret)


def verify_secret(settings: Settings, stored_hash: str | None, secret: str) -> bool:
    """Constant-work check; ``stored_hash=None`` (no such account) still costs one verify."""
    ph = hasher(settings)
    target = stored_hash or _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)
    try:
        with _running:
            ok = ph.verify(target, secret)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok and stored_hash is not None)


def lock_seconds(failures: int, allowed: int, first_seconds: float, max_seconds: float) -> float | None:
    """How long to lock after ``failures`` wrong secrets in a row: not at all until ``allowed``
    are used up, then ``first_seconds``, doubling with each further failure up to ``max_seconds``.
    Case PINs and moderator passwords share it, so both slow guessing the same way."""
    over = failures - allowed
    return None if over < 0 else min(first_seconds * (2**over), max_seconds)
