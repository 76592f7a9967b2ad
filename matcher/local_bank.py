"""A hash bank in a file, matched locally: ``ncii match --bank BANK.jsonl``.

A hotline or a platform can check files against a hash list without running
the service: the bank is the JSON Lines that ``ncii hash --group`` prints
(one picture per line, its hash group; one video per line, its ``vpdq``
frames), or plain lines with a ``pdq`` hash (and ``quality``), or an ``md5``
for exact matches. Lines are numbered from 1, so a match names the bank line
it met.

The PDQ hashes go into a :class:`~matcher.index.HashIndex` searched at the
strategy's widest threshold; each hit is then held to the threshold of its
pair (primary or secondary, as :class:`~matcher.groups.Strategy` says).
Video frames go into an index of their own. A video file is looked up as the
service looks up an upload (:mod:`matcher.video.query`): its dense, padded-back
query rows are searched at the widest banded threshold in each orientation, and
the bank videos met are held to the query-side rule (``match_rows``), so
``ncii match`` finds the cropped, captioned and trimmed copies the service
finds. A query that is only Meta's frames (a ``VideoHash``, say from a record)
keeps Meta's rule: 31 bits, in each orientation it has
(:mod:`matcher.video.comparison`).
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
from .video.comparison import DEFAULT_POLICY, CountedFrames, VideoMatch, VpdqPolicy, best_match, match_from_pairs
from .video.query import QueryVideo, bank_structures, match_rows, widest_threshold
from .video.vpdq import VideoHash


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
    #: vpdq only: the shares of frames matched each way and the matched time ranges (seconds).
    query_share: float | None = None
    bank_share: float | None = None
    query_ranges: list[list[float]] | None = None
    bank_ranges: list[list[float]] | None = None

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
    video_policy: VpdqPolicy = DEFAULT_POLICY
    videos: dict[int, CountedFrames] = field(default_factory=dict)  # line -> its counted frames
    #: line -> per distinct frame, the structure the query-side rule bands it by (-1: only "100" known)
    video_structures: dict[int, np.ndarray] = field(default_factory=dict)
    frame_index: HashIndex | None = None
    frame_rows: list[tuple[int, int]] = field(default_factory=list)  # id -> (line, distinct frame)
    #: ``frame_rows`` as two arrays (bank lines, distinct frames), to map a search's hits at once
    frame_owners: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def pictures(self) -> int:
        return len({line for line, _, _ in self.rows})

    @property
    def video_frames(self) -> int:
        return len(self.frame_rows)

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
                    video = VideoHash.from_record(record["vpdq"]) if "vpdq" in record else None
                    group = _group_of(record)
                except (ValueError, KeyError, TypeError) as error:
                    raise BankFileError(f"{Path(path).name} line {number}: not a hash record ({error})") from None
                bank.paths[number] = record.get("path")
                if isinstance(record.get("md5"), str):
                    bank.md5.setdefault(record["md5"].lower(), []).append(number)
                if len(group):
                    bank.groups[number] = group
                if video is not None:
                    bank._add_video(number, video)
                for member in group:
                    if member.quality < strategy.min_quality:
                        continue  # too plain to match on (PDQ quality below 50)
                    bank.rows.append((number, member.variant, member.known_structure))
                    codes.append(member.code)
        if codes:
            bank.index.add(np.arange(len(codes), dtype=np.int64), np.stack(codes))
        if bank.frame_rows:
            frames = np.concatenate([bank.videos[line].codes for line in bank.videos])
            # Laid out for the query-side rule's radius (52), which video files are searched at;
            # a frame-hash query searches the same index at 31.
            bank.frame_index = HashIndex(256, tuned_threshold=widest_threshold())
            bank.frame_index.add(np.arange(len(frames), dtype=np.int64), frames)
            owners = np.array(bank.frame_rows, np.int64)
            bank.frame_owners = (owners[:, 0], owners[:, 1])
        return bank

    def _add_video(self, line: int, video: VideoHash) -> None:
        counted = CountedFrames(video, self.video_policy.min_quality)
        self.videos[line] = counted
        self.video_structures[line] = bank_structures(video, counted)
        self.frame_rows.extend((line, k) for k in range(len(counted)))

    def match(self, query: FileHashes) -> list[BankMatch]:
        """Bank lines this file matches: exact MD5 first, then PDQ groups or videos, best first."""
        found: list[BankMatch] = []
        md5 = query.hashes.get("md5")
        if md5 is not None:
            for line in self.md5.get(md5.hex, ()):
                found.append(BankMatch(line, self.paths.get(line), 0, 0, "file", "file", "md5"))
        if query.query_video is not None:  # a video file hashed for lookup: the query-side rule
            return found + self.match_query_video(query.query_video)
        if query.video is not None:  # Meta's frames only: Meta's rule
            return found + self.match_video(query.video)
        group = query.group
        if group is None or not len(group) or not self.rows:
            return found
        widest = self.strategy.widest_threshold
        best: dict[int, BankMatch] = {}
        for member, hits in zip(group, self.index.search(group.codes, widest)):
            for row_id, distance in zip(hits.ids, hits.distances):
                line, variant, structure = self.rows[int(row_id)]
                limit = self.strategy.pair_threshold(member.primary, variant, member.known_structure, structure, member.variant)
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

    def match_video(self, video: VideoHash) -> list[BankMatch]:
        """Bank videos this video matches under the vPDQ rule, in its best orientation, best first."""
        if self.frame_index is None:
            return []
        policy = self.video_policy
        query = CountedFrames(video, policy.min_quality)
        per_line: dict[int, list] = {}
        for orientation in policy.orientations:
            codes = query.turned(orientation)
            if codes is None or not len(codes):
                continue
            pairs: dict[int, tuple[list, list, list]] = {}
            for q_index, hits in enumerate(self.frame_index.search(codes, policy.distance)):
                for row_id, distance in zip(hits.ids, hits.distances):
                    line, b_index = self.frame_rows[int(row_id)]
                    qs, bs, ds = pairs.setdefault(line, ([], [], []))
                    qs.append(q_index)
                    bs.append(b_index)
                    ds.append(int(distance))
            for line, (qs, bs, ds) in pairs.items():
                per_line.setdefault(line, []).append(
                    match_from_pairs(query, self.videos[line], np.array(qs), np.array(bs), np.array(ds), orientation, policy)
                )
        return self._video_matches({line: best_match(results) for line, results in per_line.items()}, policy.distance)

    def compare_query_video(self, query: QueryVideo) -> dict[int, VideoMatch]:
        """Every bank video that some row of an upload hashed by ``hash_query_video`` meets, with its
        comparison under the query-side rule in its best orientation, matched or not.

        The rows of every orientation are searched at once at the widest banded threshold; each bank
        video's pairs are then held to their own thresholds by ``match_rows``. The same pairs and
        the same rule as :func:`matcher.video.query.compare_query` (by brute force), so the same
        answer, found through the index.
        """
        if self.frame_index is None:
            return {}
        policy = self.video_policy
        searched: list[tuple[str, np.ndarray]] = []
        blocks: list[np.ndarray] = []
        for orientation in policy.orientations:
            if orientation != "original" and query.vpdq.dihedral is None:
                continue  # no Meta frame with turns: compare_query tries it as uploaded only
            rows, codes = query.turned(orientation)
            if len(rows):
                searched.append((orientation, rows))
                blocks.append(codes)
        if not blocks:
            return {}
        found = self.frame_index.search(np.concatenate(blocks), widest_threshold(query.options.bands))
        owner, local = self.frame_owners
        units = CountedFrames(query.vpdq, policy.min_quality)
        per_line: dict[int, list[VideoMatch]] = {}
        start = 0
        for orientation, rows in searched:
            hits = found[start : start + len(rows)]
            start += len(rows)
            counts = np.array([len(h.ids) for h in hits], np.int64)
            if not counts.sum():
                continue
            query_rows = np.repeat(rows, counts)
            ids = np.concatenate([h.ids for h in hits]).astype(np.int64)
            distances = np.concatenate([h.distances for h in hits]).astype(np.int64)
            lines = owner[ids]
            order = np.argsort(lines, kind="stable")  # the hits grouped by bank video in one sort
            lines, query_rows, ids, distances = lines[order], query_rows[order], ids[order], distances[order]
            cuts = np.flatnonzero(lines[1:] != lines[:-1]) + 1
            for begin, end in zip(np.r_[0, cuts], np.r_[cuts, len(lines)]):
                line = int(lines[begin])
                per_line.setdefault(line, []).append(match_rows(
                    query, units, self.videos[line], self.video_structures[line],
                    query_rows[begin:end], local[ids[begin:end]], distances[begin:end], orientation, policy,
                ))
        return {line: best_match(results) for line, results in per_line.items()}

    def match_query_video(self, query: QueryVideo) -> list[BankMatch]:
        """Bank videos an upload hashed by ``hash_query_video`` matches under the query-side rule, best
        first. ``threshold`` is the widest a pair may have (52); each pair is held to its band's."""
        return self._video_matches(self.compare_query_video(query), widest_threshold(query.options.bands))

    def _video_matches(self, results: dict[int, VideoMatch | None], threshold: int) -> list[BankMatch]:
        """The matched bank videos as ``BankMatch`` lines, best first (the larger smaller share)."""
        found = []
        for line, best in results.items():
            if best is not None and best.matched:
                record = best.to_record()
                found.append(
                    BankMatch(
                        line, self.paths.get(line), best.distance or 0, threshold, best.orientation, "frames",
                        "vpdq", record["query_share"], record["bank_share"], record["query_ranges"], record["bank_ranges"],
                    )
                )
        return sorted(found, key=lambda m: (-min(m.query_share, m.bank_share), m.distance, m.line))


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
    if isinstance(record.get("md5"), str) or "vpdq" in record:
        return HashGroup(())
    raise KeyError("no group, pdq, vpdq or md5")
