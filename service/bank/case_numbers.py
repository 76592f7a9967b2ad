"""Case numbers a frightened teenager can read aloud over the phone, and PINs.

A case number is 12 symbols from Crockford's base-32 alphabet (digits and
capitals without I, L, O, U, so nothing looks alike), in groups of four, the
last symbol a Luhn mod-32 check character that catches every single typo and
almost every swap of neighbours before the server is even asked. 55 random
bits make numbers unguessable; the PIN (8 digits) and the lockout do the rest.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# What people type for the letters left out (Crockford's decoding rules).
_READ_AS = {"O": "0", "I": "1", "L": "1", "U": "V"}
_RANDOM_SYMBOLS = 11
PIN_DIGITS = 8


def _check_symbol(payload: str) -> str:
    """Luhn mod N over the base-32 values, as in ISO/IEC 7064's family of check digits."""
    n = len(ALPHABET)
    factor, total = 2, 0
    for char in reversed(payload):
        addend = factor * _VALUE[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def new_case_number() -> str:
    payload = "".join(secrets.choice(ALPHABET) for _ in range(_RANDOM_SYMBOLS))
    raw = payload + _check_symbol(payload)
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_case_number(text: str) -> str | None:
    """The canonical form of what someone typed, or None if it cannot be a case number.

    Case, spaces, hyphens and the look-alike letters are forgiven; the check
    symbol is not.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    cleaned = "".join(_READ_AS.get(c, c) for c in text.upper() if c not in " -_")
    if len(cleaned) != _RANDOM_SYMBOLS + 1 or any(c not in _VALUE for c in cleaned):
        return None
    if _check_symbol(cleaned[:-1]) != cleaned[-1]:
        return None
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def normalise_pin(text: str) -> str | None:
    if not isinstance(text, str) or len(text) > 32:
        return None
    digits = "".join(c for c in text if c not in " -")
    return digits if len(digits) == PIN_DIGITS and digits.isdigit() else None
