"""Fuzz target: ``matcher.hash_value.parse_hex_codes`` and ``Hash.from_hex``, which read every hash
a platform sends.

``parse_hex_codes`` never raises: it answers the codes or ``None``. ``from_hex`` raises only
``HashFormatError``. The two must agree: the batch gives codes exactly when every text parses
alone, and then the same codes.
"""

from __future__ import annotations

from matcher.errors import HashFormatError
from matcher.hash_value import Hash, parse_hex_codes

from . import Finding, text

ALLOWED = (HashFormatError,)
INSTRUMENT = ("matcher",)
WIDTHS = (16, 32, 8, 4, 1)  # bytes: PDQ, md5/sha256 halves, pHash, ...


def one_input(data: bytes) -> None:
    if not data:
        return
    nbytes = WIDTHS[data[0] % len(WIDTHS)]
    texts = [text(part) for part in data[1:].split(b"\n")][:64]
    codes = parse_hex_codes(texts, nbytes)
    alone = []
    for value in texts:
        try:
            alone.append(Hash.from_hex("fuzz", value, bits=8 * nbytes).code)
        except ALLOWED:
            alone.append(None)
    if codes is None:
        if all(code is not None for code in alone):
            raise Finding("parse_hex_codes refused a batch whose every code parses alone")
        return
    if codes.shape != (len(texts), nbytes):
        raise Finding(f"parse_hex_codes gave shape {codes.shape} for {len(texts)} codes of {nbytes} bytes")
    for row, code in zip(codes, alone):
        if code is None or row.tobytes() != code:
            raise Finding("parse_hex_codes accepted a code that does not parse alone, or read it differently")


