"""A hash bank in a file, matched locally: ``ncii match --bank BANK.jsonl``.

A hotline or a platform can check files against a hash list without running
the service: the bank is the JSON Lines that ``ncii hash --group`` prints
(one picture per line, its hash group), or plain lines with a ``pdq`` hash
(and ``quality``), or an ``md5`` for exact matches. Lines are numbered from 1,
so a match names the bank line it met.

The PDQ hashes go into a :class:`~matcher.index.HashIndex` searched at the
strategy's widest threshold; each hit is then held to the threshold of its
pair (primary or secondary, as :class:`~matcher.groups.Strategy` says).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HashFormatError, MatcherError
from .groups import DEFAULT_STRATEGY, HashGroup, Strategy
from .hashing import FileHashes
from .index import HashIndex


class BankFileError(MatcherError):
    """A bank file line that is not a hash record."""

    code = "bank_malformed"


@dataclass(frozen=True)
class BankMatch:
    line: int
    path: str | None
    distance: int
    threshold: int
    query_variant: str
    bank_variant: str
    signal: str = "pdq"

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class LocalBank:
    strategy: Strategy = DEFAULT_STRATEGY
    index: HashIndex | None = None
    rows: list[tuple[int, str, int]] = field(default_factory=list)  # id -> (line, variant, structure)
    paths: dict[int, str | None] = field(default_factory=dict)  # line -> path
    md5: dict[str, list[int]] = field(default_factory=dict)  # md5 hex -> lines
    groups: dict[int, HashGroup] = field(default_factory=dict)  # line -> its group (for registration)

    @property
    def pictures(self) -> int:
        return len({line for line, _, _ in self.rows})

    @classmethod
    def from_jsonl(cls, path: str | Path, strategy: Strategy = DEFAULT_STRATEGY) -> LocalBank:
        bank = cls(strategy=strategy, index=HashIndex(256, tuned_threshold=strategy.widest_threshold))
        codes: list[np.ndarray] = []
        with open(path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                    group = _group_of(record)
                except (ValueError, KeyError, TypeError) as error:
                    raise BankFileError(f"{Path(path).name} line {number}: not a hash record ({error})") from None
                bank.paths[number] = record.get("path")
                if isinstance(record.get("md5"), str):
                    bank.md5.setdefault(record["md5"].lower(), []).append(number)
                if len(group):
                    bank.groups[number] = group
                for member in group:
                    if member.quality < strategy.min_quality:
                        continue  # too plain to match on (PDQ quality below 50)
                    bank.rows.append((number, member.variant, member.known_structure))
                    codes.append(member.code)
        if codes:
            bank.index.add(np.arange(len(codes), dtype=np.int64), np.stack(codes))
        return bank

    def match(self, query: FileHashes) -> list[BankMatch]:
        """Bank pictures this file matches: exact MD5 first, then PDQ groups, best first."""
        found: list[BankMatch] = []
        md5 = query.hashes.get("md5")
        if md5 is not None:
            for line in self.md5.get(md5.hex, ()):
                found.append(BankMatch(line, self.paths.get(line), 0, 0, "file", "file", "md5"))
        group = query.group
        if group is None or not len(group) or not self.rows:
            return found
        widest = self.strategy.widest_threshold
        best: dict[int, BankMatch] = {}
        for member, hits in zip(group, self.index.search(group.codes, widest)):
            for row_id, distance in zip(hits.ids, hits.distances):
                line, variant, structure = self.rows[int(row_id)]
                limit = self.strategy.pair_threshold(member.primary, variant, member.known_structure, structure)
                if distance > limit:
                    continue
                candidate = BankMatch(line, self.paths.get(line), int(distance), limit, member.variant, variant)
                current = best.get(line)
                if current is None or (distance - limit) < (current.distance - current.threshold):
                    best[line] = candidate
        found.extend(sorted(best.values(), key=lambda m: (m.distance - m.threshold, m.line)))
        return found


    def register(self, rgb: np.ndarray, skip: set[int] = frozenset()) -> list[BankMatch]:
        """Stage two for an upload the lookup missed (its decoded pixels): :mod:`matcher.registration`
        on every bank picture that came near; lines in ``skip`` already matched."""
        from .registration import register_near

        lines = [line for line in self.groups if line not in skip]
        found = [
            BankMatch(lines[k], self.paths.get(lines[k]), r.distance, r.threshold, f"registered({r.start})", r.bank_variant)
            for k, r in register_near(rgb, [self.groups[line] for line in lines], self.strategy)
        ]
        return sorted(found, key=lambda m: (m.distance - m.threshold, m.line))


def _group_of(record: dict[str, Any]) -> HashGroup:
    """The PDQ hashes of one bank line: its group, or its single ``pdq`` hash."""
    if "group" in record:
        hashes = record["group"]["hashes"] if isinstance(record["group"], dict) else record["group"]
        return HashGroup.from_records(hashes)
    if isinstance(record.get("pdq"), str):
        text = record["pdq"].strip().lower()
        if len(text) != 64:
            raise HashFormatError("a pdq hash has 64 hex digits")
        return HashGroup.from_records([{"variant": "full", "pdq": text, "quality": record.get("quality", 100)}])
    if isinstance(record.get("md5"), str):
        return HashGroup(())
    raise KeyError("no group, pdq or md5")
