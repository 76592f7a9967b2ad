"""What a remote bank looks like to the mirror, whatever its dialect, and the HTTP both speak.

A client turns the remote's answers into :class:`Page`s of :class:`RemoteRecord`s and an
opaque checkpoint to fetch the next page from; the mirror never sees the wire format.
Transient failures (connection errors, timeouts, 429 and 5xx) are retried with exponential
backoff; an authentication failure stops at once, since retrying a wrong key only fills the
remote's logs. Error messages name the remote's address and status, never the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class RemoteRecord:
    """One change (or current state) of one remote hash."""

    key: str  # the remote's identity of the hash, "<signal>:<remote id or value>"
    signal: str
    hash: str  # hex
    matchable: bool  # after this record, the remote hash should match (op add) or not (op remove)
    reason: str  # submitted, withdrawn, suspended, reinstated, retired, ...
    quality: int | None = None
    variant: str = "full"
    structure: int | None = None  # PDQ's gradient energy uncapped, where the remote knows it
    #: A video's frame code (vpdq): the remote's video id and the (frame number, seconds) it was sampled at.
    video: tuple[str, tuple[tuple[int, float], ...]] | None = None


@dataclass(frozen=True)
class Page:
    records: list[RemoteRecord]
    checkpoint: str  # where the next fetch starts; stored together with this page's effects
    has_more: bool
    unsupported: int = 0  # records of signal types this side does not know (left out of records)


class RemoteBank(Protocol):
    dialect: str
    url: str

    def fetch(self, checkpoint: str | None) -> Page: ...


class SyncError(Exception):
    """A sync cannot go on; the message is for the operator."""


class RemoteAuthError(SyncError):
    """401 or 403: the key is wrong, revoked or lacks the scope."""


class RemoteUnavailable(SyncError):
    """Still failing after the retries (network, timeouts, 429, 5xx)."""


class RemoteProtocolError(SyncError):
    """The remote answered something this client does not understand, or refused the request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Interrupted(SyncError):
    """Asked to stop while waiting to retry."""


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def check_url(url: str) -> str:
    """The remote's base address, normalised; refuses what should not be in it (keys, other schemes)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncError(f"--from must be an http(s) address, not {url!r}")
    if parts.username or parts.password:
        raise SyncError("--from must not carry credentials; give the key with --key-file or $NCII_SYNC_KEY")
    if parts.query or parts.fragment:
        raise SyncError("--from must be the remote's base address, without ? or #")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _no_wait(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@dataclass
class Http:
    """GET with retries. ``wait(seconds)`` sleeps and answers True if the caller asked to stop."""

    url: str
    headers: dict[str, str]
    attempts: int = 6
    backoff: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0
    wait: Callable[[float], bool] = _no_wait
    transport: httpx.BaseTransport | None = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=self.timeout, transport=self.transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                delay = min(self.max_delay, self.backoff * 2 ** (attempt - 1))
                if self.wait(delay):
                    raise Interrupted("stopped while waiting to retry")
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}"
                continue
            if response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code}"
                continue
            return self._decode(path, response)
        raise RemoteUnavailable(f"{self.url}{path}: {problem} after {self.attempts} attempts")

    def _decode(self, path: str, response: httpx.Response) -> Any:
        where = f"{self.url}{path}"
        if response.status_code in (401, 403):
            raise RemoteAuthError(
                f"{where} refused the key ({response.status_code}{_said(response)}): check it, its scope, "
                "and that it is not revoked"
            )
        if not response.is_success:
            raise RemoteProtocolError(f"{where} answered {response.status_code}{_said(response)}", response.status_code)
        try:
            return response.json()
        except (ValueError, RecursionError):  # json nests no deeper than the interpreter's recursion limit
            raise RemoteProtocolError(f"{where} answered something that is not JSON we read") from None


def _said(response: httpx.Response) -> str:
    """The remote's own error message, if it sent one in the usual shape (cut short)."""
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError, RecursionError):
        return ""
    return f": {str(message)[:200]}" if message else ""
