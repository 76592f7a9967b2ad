"""What the two sync targets share: the fuzzer's bytes as a remote's answer, and the checks of a page.

Both clients promise the same thing (``service.sync.remote``): ``fetch`` answers a ``Page``
or raises a ``SyncError`` (``RemoteProtocolError``, ``RemoteAuthError``,
``RemoteUnavailable``), which ``ncii sync`` prints before it stops cleanly; anything else is
a traceback. The next fetch starts from the checkpoint the page gave. Not a target itself.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from service.sync.remote import Page, RemoteRecord, SyncError

from . import Finding

ALLOWED = (SyncError,)
INSTRUMENT = ("service.sync",)
STATUSES = (200, 200, 200, 200, 200, 400, 401, 404, 429, 500)


def answer(data: bytes) -> httpx.MockTransport:
    """The remote's answer: the status chosen by the first byte, the rest the body."""
    status = STATUSES[data[0] % len(STATUSES)] if data else 200
    body = data[1:]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


def check(page: Page) -> None:
    if not isinstance(page.checkpoint, str) or not isinstance(page.has_more, bool):
        raise Finding("a page without a string checkpoint and a bool has_more")
    for record in page.records:
        if not isinstance(record, RemoteRecord) or not all(isinstance(v, str) for v in (record.key, record.signal, record.hash)):
            raise Finding(f"a malformed record got through: {record!r}")


def fetch_twice(client: Callable[..., object], data: bytes) -> None:
    """``client(transport=..., wait=...)`` fed ``data``: the first page, then the one after its checkpoint."""
    remote = client(transport=answer(data), wait=lambda seconds: False)
    try:
        page = remote.fetch(None)
        check(page)
        check(remote.fetch(page.checkpoint))
    except ALLOWED:
        return
    finally:
        remote.close()
