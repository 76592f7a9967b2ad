"""Fuzz target: ``service.sync.client_stopncii``, reading a StopNCII-dialect FetchHashes page.

The fuzzer's bytes are the remote's answer (status chosen by the first byte, the rest the
body). ``fetch`` answers a ``Page`` or raises a ``SyncError`` (``RemoteProtocolError``,
``RemoteAuthError``, ``RemoteUnavailable``): ``ncii sync`` prints those and stops cleanly;
anything else is a traceback. The next fetch starts from the checkpoint the page gave.
"""

from __future__ import annotations

import httpx

from service.sync.client_stopncii import StopNCIIRemote
from service.sync.remote import Page, RemoteRecord, SyncError

from . import Finding

ALLOWED = (SyncError,)
INSTRUMENT = ("service.sync",)
STATUSES = (200, 200, 200, 200, 200, 400, 401, 404, 429, 500)


def answer(data: bytes):
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


def one_input(data: bytes) -> None:
    remote = StopNCIIRemote("https://peer.example", "function-key,subscription-key", transport=answer(data), wait=lambda seconds: False)
    try:
        page = remote.fetch(None)
        check(page)
        check(remote.fetch(page.checkpoint))
    except ALLOWED:
        return
    finally:
        remote.close()
