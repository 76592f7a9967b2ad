"""Matching a query video against the bank's videos: frame codes searched, then the vPDQ rule.

A video query is its distinct usable frames (``matcher.video.comparison.CountedFrames``),
in each orientation it has codes for (an upload hashed here has all 8; frame hashes sent
by a platform only their own). Every frame code is searched in the index's ``vpdq`` codes
at 31 bits, one search per request; the hits name bank hashes, which the database maps to
their videos. Only a video met by enough of the query's frames to pass the query share can
match, so only those videos' timelines are read, and the rule (both shares, 80/80 by
default, and the time ranges) is the library's own ``match_from_pairs``.

As on the picture side, a query that meets no frame code costs no database read, and a
video is answered only while its case and its anchor hash (``service.bank.videos``) are
active, read in the same transaction as its timeline. No web code here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher import pdq
from matcher.video.comparison import CountedFrames, VpdqPolicy, best_match, match_from_pairs
from matcher.video.query import QueryVideo, match_rows, widest_threshold

from . import metrics
from .auth.api_keys import Caller
from .bank import videos
from .bank_index import BankIndex
from .db.models import BankHash, Case
from .schemas import MatchOut, VideoMatchOut


@dataclass
class VideoQuery:
    """One video of a request. ``dense`` is set for an upload hashed here (``hash_query_video``):
    its rows (4 frames a bank interval, padded-back variants) are searched instead of ``frames``
    (then Meta's frames of it, the units the query share counts), under the query-side rule."""

    index: int  # the query's position in the request
    frames: CountedFrames
    content_ref: str | None
    preview_url: str | None = None
    dense: QueryVideo | None = None

    def codes(self, orientation: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(the rows searched in ``orientation``, or None for all; their codes, or None)."""
        if self.dense is None:
            return None, self.frames.turned(orientation)
        return self.dense.turned(orientation)

    def units(self, frame_of: np.ndarray) -> np.ndarray:
        """The distinct counted query frames the hits' query positions stand for (-1: none)."""
        return frame_of if self.dense is None else self.dense.units[frame_of]


#: per query: (orientation, query distinct-frame positions, bank hash ids, distances) of every frame pair
VideoHits = dict[int, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]


def policy_for(cap: int | None) -> VpdqPolicy:
    """The deployment's vPDQ rule: 80/80 at 31 bits, the frame distance capped like PDQ's."""
    policy = VpdqPolicy()
    return policy if cap is None or cap >= policy.distance else VpdqPolicy(distance=cap)


def dense_radius(policy: VpdqPolicy) -> int:
    """The search radius of a dense query: the widest banded threshold, unless the deployment caps
    frames below PDQ's 31 (then that cap, for every pair)."""
    return policy.distance if policy.distance < pdq.DEFAULT_THRESHOLD else widest_threshold()


def find(queries: list[VideoQuery], index: BankIndex, policy: VpdqPolicy, *, threads: int | None = None) -> VideoHits:
    """Search every query's frame codes, in every orientation, in one index search.

    Dense queries are searched at the widest banded threshold (52; never above the deployment's
    cap when that is below 31), and each pair is held to its own threshold in :func:`resolve`."""
    parts: list[tuple[int, str, np.ndarray | None, int]] = []
    blocks: list[np.ndarray] = []
    for query in queries:
        for orientation in policy.orientations:
            rows, codes = query.codes(orientation)
            if codes is not None and len(codes):
                parts.append((query.index, orientation, rows, len(codes)))
                blocks.append(codes)
    if not blocks:
        return {}
    radius = dense_radius(policy) if any(q.dense is not None for q in queries) else policy.distance
    # Not through the search cache: one video brings hundreds to thousands of codes (each frame in
    # 8 turns for an upload), which would push out the pictures' repeated answers it exists for.
    found = index.search(videos.SIGNAL, np.concatenate(blocks), radius, threads=threads, cache=False)
    dense = {q.index for q in queries if q.dense is not None}
    hits: VideoHits = defaultdict(list)
    start = 0
    for query_index, orientation, rows, n in parts:
        frame_of, ids, distances = [], [], []
        for k, frame_hits in enumerate(found[start : start + n]):
            for hit in frame_hits:
                if query_index not in dense and hit.distance > policy.distance:
                    continue  # a frame-hash query in a request that also searched wider
                frame_of.append(k if rows is None else int(rows[k]))
                ids.append(hit.hash_id)
                distances.append(hit.distance)
        start += n
        if ids:
            hits[query_index].append(
                (orientation, np.array(frame_of, np.int64), np.array(ids, np.int64), np.array(distances, np.int64))
            )
    return dict(hits)


def resolve(
    hits: VideoHits,
    queries: list[VideoQuery],
    readers: sessionmaker[Session],
    caller: Caller,
    query_kind: str,
    policy: VpdqPolicy,
) -> tuple[dict[int, list[MatchOut]], list[dict]]:
    """Frame hits to video matches under the rule, and the match events to record."""
    all_ids = sorted({int(h) for found in hits.values() for _, _, ids, _ in found for h in ids})
    if not all_ids:
        return {}, []
    by_index = {q.index: q for q in queries}
    with readers() as session, session.begin():
        item_of = _items_of(session, all_ids)
        candidates = _candidates(hits, by_index, item_of, policy)
        if not candidates:
            return {}, []
        bank = videos.load(session, {item for _, item in candidates})
        live = _live_anchors(session, [v.anchor for v in bank.values()])
    out: dict[int, list[MatchOut]] = defaultdict(list)
    events: list[dict] = []
    for (query_index, item_id), orientations in sorted(candidates.items()):
        video = bank.get(item_id)
        state = live.get(video.anchor) if video is not None else None
        if state is None:
            continue  # withdrawn, suspended or retired since the index saw it
        query = by_index[query_index]
        position = video.position_of()
        results = []
        for orientation, frame_of, ids, distances in orientations:
            keep = np.fromiter((int(h) in position for h in ids), bool, count=len(ids))
            bank_of = np.fromiter((position[int(h)] for h in ids[keep]), np.int64, count=int(keep.sum()))
            if query.dense is None:
                results.append(match_from_pairs(
                    query.frames, video.frames, frame_of[keep], bank_of, distances[keep], orientation, policy
                ))
            else:
                rows, near = frame_of[keep], distances[keep]
                if policy.distance < pdq.DEFAULT_THRESHOLD:  # a capped deployment: no pair beyond the cap
                    rows, bank_of, near = rows[near <= policy.distance], bank_of[near <= policy.distance], near[near <= policy.distance]
                results.append(match_rows(
                    query.dense, query.frames, video.frames, video.structures, rows, bank_of, near, orientation, policy
                ))
        best = best_match(results)
        if best is None or not best.matched:
            continue
        case_id, case_status = state
        detail = VideoMatchOut(video_id=item_id, **_shares_and_ranges(best))
        out[query_index].append(MatchOut(
            hash_id=video.anchor, signal=videos.SIGNAL, distance=best.distance or 0, variant="full",
            case_status=case_status, confidence="high", video=detail,
        ))
        events.append({
            "platform_id": caller.platform_id, "hash_id": video.anchor, "case_id": case_id,
            "signal": videos.SIGNAL, "distance": best.distance or 0, "query_kind": query_kind,
            "content_ref": query.content_ref, "preview_url": query.preview_url, "video": detail.model_dump(),
        })
    for matches in out.values():
        matches.sort(key=lambda m: (-min(m.video.query_share, m.video.bank_share), m.distance, m.hash_id))
    if events:
        metrics.MATCHES.labels(videos.SIGNAL).inc(len(events))
    return dict(out), events


def _items_of(session: Session, hash_ids: list[int]) -> dict[int, int]:
    """The video item of each frame-code bank hash."""
    found: dict[int, int] = {}
    for start in range(0, len(hash_ids), 500):
        found.update(session.execute(
            select(BankHash.id, BankHash.item_id).where(BankHash.id.in_(hash_ids[start : start + 500]))
        ).all())
    return found


def _candidates(hits: VideoHits, queries: dict[int, VideoQuery], item_of: dict[int, int], policy: VpdqPolicy):
    """(query, bank video) pairs whose hits could pass the query share, with their hits per orientation.

    The query share needs ``ceil(share x frames)`` distinct query frames to meet the video in one
    orientation; counting them needs only the hits, so no other video's timeline is read.
    """
    candidates: dict[tuple[int, int], list] = defaultdict(list)
    for query_index, found in hits.items():
        needed = max(1, math.ceil(policy.query_share * len(queries[query_index].frames) - 1e-9))
        for orientation, frame_of, ids, distances in found:
            items = np.fromiter((item_of.get(int(h), -1) for h in ids), np.int64, count=len(ids))
            # Hits grouped by video in one sort: a frame shared by many videos (an intro, a logo)
            # costs a slice each, and a video with fewer hits than the share needs is skipped unread.
            order = np.argsort(items, kind="stable")
            items = items[order]
            starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]]) if len(items) else np.zeros(0, np.int64)
            for start, end in zip(starts, np.r_[starts[1:], len(items)]):
                if items[start] < 0 or end - start < needed:
                    continue
                mine = order[start:end]
                units = queries[query_index].units(frame_of[mine])
                if len(np.unique(units[units >= 0])) >= needed:
                    candidates[(query_index, int(items[start]))].append(
                        (orientation, frame_of[mine], ids[mine], distances[mine])
                    )
    return candidates


def _live_anchors(session: Session, anchors: list[int]) -> dict[int, tuple[int, str]]:
    """Anchors whose hash is active, with their case id and case status."""
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(anchors), 500):
        rows = session.execute(
            select(BankHash.id, BankHash.case_id, Case.status)
            .join(Case, Case.id == BankHash.case_id)
            .where(BankHash.id.in_(anchors[start : start + 500]), BankHash.status == "active")
        ).all()
        found.update((r[0], (r[1], r[2])) for r in rows)
    return found


def _shares_and_ranges(match) -> dict:
    record = match.to_record()
    return {k: record[k] for k in (
        "query_share", "bank_share", "orientation", "query_frames", "bank_frames", "query_ranges", "bank_ranges"
    )}
