"""The StopNCII dialect: ``GET {base}/FetchHashes`` as StopNCII.org (and our server) answer it.

Wire format as python-threatexchange's ``StopNCIIAPI`` uses it: ``startTimestamp``,
``pageSize`` and ``nextPageToken`` in; ``hashRecords``, ``hasMoreRecords``,
``nextPageToken`` and ``nextSetTimestamp`` out; the keys in the ``x-functions-key`` and
``Ocp-Apim-Subscription-Key`` headers. Records are snapshots keyed by (signal type, hash
value), not changes: a record's ``hashStatus`` says whether the hash should match now.
``Active`` and ``Received`` match; ``Withdrawn``, ``Deleted`` and anything unknown do not
(a status we cannot read must not keep a hash matching after the victim withdrew it).

The checkpoint is JSON: the timestamp the current pass started from and, mid-pass, the
page token. Page tokens do not last; a stale one (the remote answers 400) restarts the
pass from its timestamp, which only re-reads snapshots that are applied idempotently.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .remote import Http, Page, RemoteProtocolError, RemoteRecord

FETCH_PATH = "/FetchHashes"
START_TIMESTAMP = 10  # what StopNCII's own clients start from
SIGNALS = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
STATUS = {  # hashStatus: (matchable, reason)
    "Active": (True, "submitted"),
    "Received": (True, "submitted"),
    "Withdrawn": (False, "withdrawn"),
    "Deleted": (False, "retired"),
}


def split_keys(key: str) -> tuple[str, str]:
    """``FUNCTION_KEY,SUBSCRIPTION_KEY`` (threatexchange's order), or one key sent as both."""
    parts = [p.strip() for p in key.split(",")]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return key.strip(), key.strip()


class StopNCIIRemote:
    dialect = "stopncii"

    def __init__(self, url: str, key: str, *, page_size: int = 500, transport: httpx.BaseTransport | None = None,
                 **http_options: Any) -> None:
        self.url = url
        self.page_size = page_size
        function_key, subscription_key = split_keys(key)
        headers = {"x-functions-key": function_key, "Ocp-Apim-Subscription-Key": subscription_key}
        self.http = Http(url, headers, transport=transport, **http_options)

    def close(self) -> None:
        self.http.close()

    def fetch(self, checkpoint: str | None) -> Page:
        start, token = _read_checkpoint(checkpoint)
        params: dict[str, Any] = {"startTimestamp": start, "pageSize": self.page_size}
        if token:
            params["nextPageToken"] = token
        try:
            body = self.http.get_json(FETCH_PATH, params)
        except RemoteProtocolError as error:
            if not (token and error.status == 400):
                raise
            del params["nextPageToken"]  # a stale page token: this pass again, from its timestamp
            body = self.http.get_json(FETCH_PATH, params)
        if not isinstance(body, dict) or not isinstance(body.get("hashRecords", []), list):
            raise RemoteProtocolError(f"{self.url}{FETCH_PATH}: the answer has no list of hashRecords")
        has_more = body.get("hasMoreRecords")
        next_token, next_start = body.get("nextPageToken"), body.get("nextSetTimestamp")
        if not isinstance(has_more, bool):
            raise RemoteProtocolError(f"{self.url}{FETCH_PATH}: hasMoreRecords missing")
        records, unsupported = [], 0
        for position, raw in enumerate(body.get("hashRecords", [])):
            record = _record(raw, position)
            if record is None:
                unsupported += 1
            else:
                records.append(record)
        if has_more:
            if not isinstance(next_token, str) or not next_token:
                raise RemoteProtocolError(f"{self.url}{FETCH_PATH}: hasMoreRecords without a nextPageToken")
            following = {"start": start, "token": next_token}
        else:
            if not isinstance(next_start, int) or isinstance(next_start, bool):
                raise RemoteProtocolError(f"{self.url}{FETCH_PATH}: nextSetTimestamp missing")
            following = {"start": max(start, next_start), "token": None}
        return Page(records=records, checkpoint=json.dumps(following, sort_keys=True), has_more=has_more,
                    unsupported=unsupported)


def _read_checkpoint(checkpoint: str | None) -> tuple[int, str | None]:
    if not checkpoint:
        return START_TIMESTAMP, None
    try:
        state = json.loads(checkpoint)
        return int(state["start"]), state.get("token") or None
    except (ValueError, KeyError, TypeError):
        raise RemoteProtocolError("the stored StopNCII checkpoint is unreadable; sync again with --from-start") from None


def _record(raw: Any, position: int) -> RemoteRecord | None:
    try:
        signal_type, value, status = raw["signalType"], raw["hashValue"], raw["hashStatus"]
        if not all(isinstance(v, str) for v in (signal_type, value, status)):
            raise TypeError
    except (KeyError, TypeError):
        raise RemoteProtocolError(f"hash record {position} of the page is malformed") from None
    signal = SIGNALS.get(signal_type)
    if signal is None:
        return None
    matchable, reason = STATUS.get(status, (False, "withdrawn"))
    value = value.strip().lower()
    return RemoteRecord(key=f"{signal}:{value}", signal=signal, hash=value, matchable=matchable, reason=reason)
