"""Fuzz target: ``service.exchange.feed.decode_cursor``, the ``cursor`` a platform sends to the feed.

It answers a change-log position (0 .. 10^18) or raises ``CursorInvalid``; a position it
answers encodes back to a cursor that decodes to the same position.
"""

from __future__ import annotations

from service.exchange.feed import CursorInvalid, decode_cursor, encode_cursor

from . import Finding, text

ALLOWED = (CursorInvalid,)
INSTRUMENT = ("service.exchange.feed",)


def one_input(data: bytes) -> None:
    try:
        seq = decode_cursor(text(data))
    except ALLOWED:
        return
    if not isinstance(seq, int) or not 0 <= seq < 10**18:
        raise Finding(f"decode_cursor answered {seq!r}")
    if decode_cursor(encode_cursor(seq)) != seq:
        raise Finding("a decoded position does not survive encode/decode")
