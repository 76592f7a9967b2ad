"""The native exchange feed: ``GET /v1/exchange/hashes?cursor=&limit=`` with a bearer key.

Records are the remote's change log, in order: ``op`` add or remove for one remote hash,
identified by its signal and the remote's ``hash_id``. The cursor is opaque and stored
as is; no cursor means "from the beginning".
"""

from __future__ import annotations

from typing import Any

import httpx

from matcher.errors import MatcherError
from matcher.pdq import structure_agrees
from matcher.signals import get_signal

from .remote import Http, Page, RemoteProtocolError, RemoteRecord

FEED_PATH = "/v1/exchange/hashes"


class NativeRemote:
    dialect = "native"

    def __init__(self, url: str, key: str, *, page_size: int = 500, transport: httpx.BaseTransport | None = None,
                 **http_options: Any) -> None:
        self.url = url
        self.page_size = page_size
        self.http = Http(url, {"Authorization": f"Bearer {key}"}, transport=transport, **http_options)

    def close(self) -> None:
        self.http.close()

    def fetch(self, checkpoint: str | None) -> Page:
        params: dict[str, Any] = {"limit": self.page_size}
        if checkpoint:
            params["cursor"] = checkpoint
        body = self.http.get_json(FEED_PATH, params)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RemoteProtocolError(f"{self.url}{FEED_PATH}: the answer has no list of records")
        cursor, has_more = body.get("next_cursor"), body.get("has_more")
        if not isinstance(has_more, bool) or not (cursor is None or isinstance(cursor, str)):
            raise RemoteProtocolError(f"{self.url}{FEED_PATH}: next_cursor or has_more missing or of the wrong type")
        records, unsupported = [], 0
        for position, raw in enumerate(body["records"]):
            record = _record(raw, position)
            if record is None:
                unsupported += 1
            else:
                records.append(record)
        if cursor is None:
            if records or has_more:
                raise RemoteProtocolError(f"{self.url}{FEED_PATH}: records without a next_cursor")
            cursor = checkpoint or ""
        return Page(records=records, checkpoint=cursor, has_more=has_more, unsupported=unsupported)


def _record(raw: Any, position: int) -> RemoteRecord | None:
    """The record, or None for a signal type this side does not know."""
    try:
        signal, hash_id, value, op = raw["signal"], raw["hash_id"], raw["hash"], raw["op"]
        if not (isinstance(signal, str) and isinstance(value, str) and isinstance(hash_id, int)) or isinstance(hash_id, bool):
            raise TypeError
        if op not in ("add", "remove"):
            raise ValueError
        quality = raw.get("quality")
        if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)):
            raise TypeError
        structure = raw.get("structure")
        if structure is not None and (not isinstance(structure, int) or isinstance(structure, bool)):
            raise TypeError
        if not structure_agrees(structure, quality):
            structure = None  # not what PDQ can produce: banded by its quality instead
        reason = str(raw.get("reason") or ("submitted" if op == "add" else "withdrawn"))
        variant = str(raw.get("variant") or "full")
        video = _video(raw["video"]) if signal == "vpdq" and raw.get("video") is not None else None
    except (KeyError, TypeError, ValueError):
        raise RemoteProtocolError(f"record {position} of the page is malformed") from None
    try:
        get_signal(signal)
    except MatcherError:
        return None
    if signal == "vpdq" and video is None:
        return None  # a frame code that names no video cannot be matched as part of one
    return RemoteRecord(key=f"{signal}:{hash_id}", signal=signal, hash=value.lower(), matchable=op == "add",
                        reason=reason[:32], quality=quality, variant=variant[:64], structure=structure, video=video)


def _video(raw: Any) -> tuple[str, tuple[tuple[int, float], ...]]:
    """A frame code's video and times; a vpdq record without them cannot be placed in a video."""
    video_id, frames = raw["video_id"], raw["frames"]
    if not isinstance(video_id, int) or isinstance(video_id, bool) or not isinstance(frames, list) or not frames:
        raise TypeError
    times = []
    for frame in frames:
        number, time = frame["frame"], frame["time"]
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(time, (int, float)):
            raise TypeError
        if number < 0 or not 0 <= time < 1e7:
            raise ValueError
        times.append((number, float(time)))
    return str(video_id), tuple(times)
