"""One delivery attempt over HTTP, and what to do after it (retry when, or stop).

Retried: network errors, timeouts, 5xx, 408 and 429 (a ``Retry-After`` is honoured, up to
``RETRY_AFTER_CAP_SECONDS``); otherwise exponential backoff with jitter, so that a platform
coming back after an outage is not hit by every worker's backlog in the same second.
Permanent: any other 4xx (the receiver says the request itself is wrong; repeating it cannot
help), a 3xx (redirects are not followed: see ``targets``), and a URL that is not allowed.
Only a short, cleaned snippet of a failed answer is kept, for the platform's own debugging.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from ..settings import Settings
from . import signing, targets

SNIPPET_CHARS = 200
RETRY_AFTER_CAP_SECONDS = 6 * 3600
USER_AGENT = "ncii-matcher-webhooks/1"

SUCCEEDED, RETRY, FAILED = "succeeded", "retry", "failed"


@dataclass
class AttemptResult:
    kind: str  # succeeded, retry, failed
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None  # error class: timeout, connect_error, http_503, redirect, ...
    snippet: str | None = None
    retry_after: float | None = None  # seconds the receiver asked for


def classify(status_code: int) -> str:
    if 200 <= status_code < 300:
        return SUCCEEDED
    if status_code >= 500 or status_code in (408, 429):
        return RETRY
    return FAILED


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_SECONDS)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def backoff_seconds(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """Delay before attempt ``attempt + 1``: base * 2^(attempt-1), capped, with jitter in [50%, 100%].

    A ``Retry-After`` wins when it asks for longer (never for shorter: it cannot make us hammer).
    """
    ceiling = min(settings.webhook_backoff_max_seconds, settings.webhook_backoff_base_seconds * 2 ** (attempt - 1))
    delay = ceiling * (0.5 + random.random() / 2)
    return max(delay, retry_after) if retry_after is not None else delay


def _snippet(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text[:SNIPPET_CHARS] or None


def _error_class(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect_error"
    if isinstance(error, httpx.RemoteProtocolError):
        return "protocol_error"
    return type(error).__name__[:64]


def make_client(settings: Settings) -> httpx.Client:
    """No redirects, no proxies from the environment, one timeout for connect, write and read."""
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        # A fresh connection per attempt: webhooks are few, and the deadline needs each socket.
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        # identity: the snippet of a failed answer is read raw, and never decompressed (no zip bombs).
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def _pinned_request(client: httpx.Client, target: targets.Target, address: str, body: bytes, headers: dict, trace):
    """A request to ``address`` for ``target``'s URL: Host header and TLS name stay the host's."""
    url = httpx.URL(target.url)
    host_header = url.netloc.decode("ascii")  # host[:port] as written in the URL (no userinfo: refused)
    extensions = {"trace": trace}
    if target.scheme == "https":
        extensions["sni_hostname"] = url.host
    return client.build_request(
        "POST",
        url.copy_with(host=address),
        content=body,
        headers={**headers, "Host": host_header, "Content-Type": "application/json"},
        extensions=extensions,
    )


class _Deadline:
    """Ends an attempt that outlasts ``seconds`` in total.

    httpx's timeout bounds each network operation, not the whole exchange: a receiver that
    dribbles its answer a byte at a time would hold the attempt (and its lease) for ever. The
    connection's socket is caught when it opens (connections are never reused, see
    ``make_client``) and shut down by a timer, which makes the blocked read fail at once.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._socket = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def trace(self, name: str, info: dict) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            with self._lock:
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                if self.fired:
                    self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def attempt_deadline(settings: Settings) -> float:
    """The longest an attempt may take in all; the claim lease is longer (``outbox.lease_seconds``)."""
    return 2 * settings.webhook_timeout_seconds


def attempt(
    client: httpx.Client, settings: Settings, url: str, secret: str | Sequence[str], delivery_id: str, body: bytes
) -> AttemptResult:
    """POST ``body`` once, signed (with each of ``secret`` during a rotation); never raises."""
    started_at = datetime.now(timezone.utc)
    clock = time.monotonic()

    def done(kind: str, **fields) -> AttemptResult:
        return AttemptResult(kind, started_at, int((time.monotonic() - clock) * 1000), **fields)

    try:
        target = targets.parse(url)
        address = targets.resolve(target, settings.webhook_allow_private_targets)[0]
    except targets.TargetRefused as refused:
        # An unresolvable name may be a DNS blip: retry. An inward address is final.
        kind = RETRY if refused.code == "webhook_host_unresolvable" else FAILED
        return done(kind, error=refused.code[len("webhook_"):])
    headers = signing.signed_headers(secret, delivery_id, body)
    with _Deadline(attempt_deadline(settings)) as deadline:
        try:
            request = _pinned_request(client, target, address, body, headers, deadline.trace)
            response = client.send(request, stream=True)
            try:
                raw = b""
                if not 200 <= response.status_code < 300:
                    for chunk in response.iter_raw(1024):
                        raw += chunk
                        if len(raw) >= 1024:
                            break
            finally:
                response.close()
        except Exception as error:  # httpx's errors, and whatever a hostile peer provokes
            return done(RETRY, error="deadline_exceeded" if deadline.fired else _error_class(error))
    status = response.status_code
    kind = classify(status)
    if 300 <= status < 400:
        return done(FAILED, status_code=status, error="redirect", snippet=None)
    if kind == SUCCEEDED:
        return done(kind, status_code=status)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if kind == RETRY else None
    return done(kind, status_code=status, error=f"http_{status}", snippet=_snippet(raw), retry_after=retry_after)


def disabled_result() -> AttemptResult:
    """The platform's webhook was disabled (or the platform revoked) after this was queued: final."""
    return AttemptResult(FAILED, datetime.now(timezone.utc), 0, error="endpoint_disabled")
