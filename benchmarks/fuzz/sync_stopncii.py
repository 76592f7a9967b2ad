"""Fuzz target: ``service.sync.client_stopncii``, reading a StopNCII-dialect FetchHashes page.

The fuzzer's bytes are the remote's answer (:mod:`.sync_pages`, which both sync targets share).
"""

from __future__ import annotations

from functools import partial

from service.sync.client_stopncii import StopNCIIRemote

from .sync_pages import ALLOWED, fetch_twice

INSTRUMENT = ("service.sync",)
__all__ = ["ALLOWED", "INSTRUMENT", "one_input"]


def one_input(data: bytes) -> None:
    fetch_twice(partial(StopNCIIRemote, "https://peer.example", "function-key,subscription-key"), data)
