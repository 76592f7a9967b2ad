"""Fuzz target: ``service.sync.client_native``, reading a (possibly compromised) peer bank's feed page.

The fuzzer's bytes are the remote's answer (:mod:`.sync_pages`, which both sync targets share).
"""

from __future__ import annotations

from functools import partial

from service.sync.client_native import NativeRemote

from .sync_pages import ALLOWED, fetch_twice

INSTRUMENT = ("service.sync",)
__all__ = ["ALLOWED", "INSTRUMENT", "one_input"]


def one_input(data: bytes) -> None:
    fetch_twice(partial(NativeRemote, "https://peer.example", "ncii_key"), data)
