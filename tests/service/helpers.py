"""Helpers shared by the service tests: random hashes, request bodies, direct database access."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from sqlalchemy import func, select

from service.auth import api_keys
from service.bank import changes
from service.db.engine import transaction
from service.db.models import Platform


def random_pdq() -> str:
    return secrets.token_hex(32)


def flip_bits(hex_code: str, n: int) -> str:
    """The code with its first ``n`` bits flipped (Hamming distance ``n``)."""
    value = int(hex_code, 16) ^ (((1 << n) - 1) << (len(hex_code) * 4 - n))
    return f"{value:0{len(hex_code)}x}"


#: The structure of a busy photo's hash (most photos: 250-600): matched up to the widest band.
BUSY = 400


def image_item(*codes: str, quality: int | None = 100, label: str | None = None, structure: int | None = -1) -> dict:
    """A picture's hashes; by default those of a busy photo (structure BUSY), with an explicit
    quality below 100 none (the hash is then banded by its quality)."""
    if structure == -1:
        structure = BUSY if quality == 100 else None
    hashes = [{"signal": "pdq", "hash": c, "quality": quality} for c in codes]
    if structure is not None:
        for h in hashes:
            h["structure"] = structure
    item = {"kind": "image", "hashes": hashes}
    if label is not None:
        item["label"] = label
    return item


def file_item(md5: str) -> dict:
    return {"kind": "file", "hashes": [{"signal": "md5", "hash": md5}]}


def submit(client, *items: dict) -> dict:
    response = client.post("/v1/cases", json={"items": list(items)})
    assert response.status_code == 201, response.text
    return response.json()


def pin_headers(case: dict, pin: str | None = None) -> dict[str, str]:
    return {"X-Case-PIN": pin if pin is not None else case["pin"]}


def create_platform(app, name: str, scopes: tuple[str, ...] = ("match",)) -> str:
    """Register a platform straight in the database; returns its API key."""
    with transaction(app.state.sessions) as session:
        platform = Platform(name=name)
        session.add(platform)
        issued = api_keys.issue_key(session, platform, scopes)
    return issued.token


def catch_up(app) -> None:
    """Make this app's index current with the database now (instead of waiting for its poll)."""
    app.state.index.catch_up()


def match(client, headers, *queries: dict):
    return client.post("/v1/match", json={"queries": list(queries)}, headers=headers)


def pdq_query(code: str, content_ref: str | None = None, quality: int | None = None, structure: int | None = -1) -> dict:
    """An upload's PDQ hash; by default a busy photo's (structure BUSY) unless a quality below 100 is given."""
    query = {"signal": "pdq", "hash": code}
    if content_ref is not None:
        query["content_ref"] = content_ref
    if quality is not None:
        query["quality"] = quality
    if structure == -1:
        structure = BUSY if quality in (None, 100) else None
    if structure is not None:
        query["structure"] = structure
    return query


def matched_ids(response) -> list[list[int]]:
    assert response.status_code == 200, response.text
    return [[m["hash_id"] for m in r["matches"]] for r in response.json()["results"]]


def eventually(condition: Callable[[], bool], within: float, step: float = 0.02) -> bool:
    """True as soon as ``condition()`` holds, False if it still does not after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def count(app, column_or_model, *where) -> int:
    with app.state.sessions() as session:
        return session.scalar(select(func.count()).select_from(column_or_model).where(*where)) or 0


def latest_seq(app) -> int:
    with app.state.sessions() as session:
        return changes.latest_seq(session)


class AtOnce:
    """Counts how many callers are inside ``busy(seconds)`` at the same time (``most``): for
    tests that a limiter lets only so many expensive calls run at once."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def busy(self, seconds: float) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(seconds)
        with self._lock:
            self.running -= 1


class HeldVerify:
    """argon2 whose verify runs only once the test lets it, so a test can look at what the service
    holds (transactions, locks) while a PIN check or a login is verifying.

    ``holds``: True holds every verify until ``release`` is set, a string only the verifies of
    that secret, False none; ``sleep`` slows every verify down. ``started`` is set when a held
    verify begins; ``verifies`` counts every verify, held or not (the work a caller made the
    service do). Hashing is never held.
    """

    def __init__(self, monkeypatch, holds: str | bool = True, sleep: float = 0.0) -> None:
        import threading

        from service.auth import passwords

        self.real = passwords.hasher
        self.holds, self.sleep = holds, sleep
        self.started, self.release = threading.Event(), threading.Event()
        self.verifies = 0
        self._lock = threading.Lock()
        monkeypatch.setattr(passwords, "hasher", lambda settings: _Held(self, self.real(settings)))


class _Held:
    def __init__(self, held: HeldVerify, real) -> None:
        self.held, self.real = held, real

    def hash(self, secret: str) -> str:
        return self.real.hash(secret)

    def verify(self, stored: str, secret: str) -> bool:
        with self.held._lock:
            self.held.verifies += 1
        if self.held.holds is True or secret == self.held.holds:
            self.held.started.set()
            assert self.held.release.wait(30), "the test never released the verify"
        time.sleep(self.held.sleep)
        return self.real.verify(stored, secret)
