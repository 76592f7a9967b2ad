"""Case numbers: readable aloud, typo-proof by their check symbol, unguessable; PINs."""

from __future__ import annotations

import re

from service.bank.case_numbers import ALPHABET, new_case_number, new_pin, normalise_case_number, normalise_pin

FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_format_and_check_symbol():
    for _ in range(200):
        number = new_case_number()
        assert FORMAT.match(number), number
        assert normalise_case_number(number) == number


def test_numbers_do_not_repeat():
    assert len({new_case_number() for _ in range(2000)}) == 2000


def test_typing_is_forgiven_but_the_check_symbol_is_not():
    number = new_case_number()
    assert normalise_case_number(number.lower().replace("-", " ")) == number
    assert normalise_case_number(number.replace("-", "")) == number
    assert normalise_case_number(number.replace("0", "O").replace("1", "I")) == number
    assert normalise_case_number("") is None
    assert normalise_case_number("x" * 1000) is None


def test_every_single_typo_is_caught():
    number = new_case_number()
    raw = number.replace("-", "")
    for position in range(len(raw)):
        for symbol in ALPHABET:
            if symbol != raw[position]:
                typo = raw[:position] + symbol + raw[position + 1 :]
                assert normalise_case_number(typo) is None, typo


def test_most_swaps_of_neighbours_are_caught():
    caught = total = 0
    for _ in range(200):
        raw = new_case_number().replace("-", "")
        for i in range(len(raw) - 1):
            if raw[i] != raw[i + 1]:
                swapped = raw[:i] + raw[i + 1] + raw[i] + raw[i + 2 :]
                total += 1
                caught += normalise_case_number(swapped) is None
    assert caught / total > 0.95


def test_pins():
    pins = {new_pin() for _ in range(500)}
    assert all(len(p) == 8 and p.isdigit() for p in pins)
    assert len(pins) > 490
    assert normalise_pin("1234 5678") == "12345678"
    assert normalise_pin("1234") is None
    assert normalise_pin("abcdefgh") is None
