"""Fuzz target: ``service.webhooks.signing.verify``, what a platform's receiver runs on every delivery.

Headers and body are the attacker's. ``verify`` answers a bool and never raises; it is True
only when the signature header carries the HMAC of this timestamp and body, and a delivery
signed by ``signed_headers`` verifies (and stops verifying once its body changes).
"""

from __future__ import annotations

import hmac

from service.webhooks import signing

from . import Finding, split, text

ALLOWED = ()
INSTRUMENT = ("service.webhooks.signing",)
SECRET = "whsec_" + "A" * 43
NOW = 1_800_000_000.0


def one_input(data: bytes) -> None:
    timestamp, given, body = split(data, 3)
    headers = {signing.HEADER_TIMESTAMP: text(timestamp), signing.HEADER_SIGNATURE: text(given), signing.HEADER_ID: "d"}
    if signing.verify(SECRET, headers, body, now=NOW):
        expected = signing.signature(SECRET, int(text(timestamp)), body)
        if not any(hmac.compare_digest(expected.encode(), part.strip().encode("utf-8", "surrogatepass")) for part in text(given).split(",")):
            raise Finding("verify accepted a signature that is not this body's")
    signed = signing.signed_headers([SECRET, "whsec_old"], "d", body, now=NOW)
    if not signing.verify(SECRET, signed, body, now=NOW + 299):
        raise Finding("a delivery signed now does not verify")
    if signing.verify(SECRET, signed, body + b"x", now=NOW):
        raise Finding("a signature verified for another body")
    if signing.verify(SECRET, signed, body, now=NOW + 301):
        raise Finding("a signature verified outside the replay window")
