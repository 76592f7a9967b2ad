"""Bad videos and bad video queries get a clear 4xx with a typed code, never a 500; video bytes
are never stored, spooled or logged. Both backends, except the trace scan (SQLite's files)."""

from __future__ import annotations

import io
import logging
import tempfile
from fractions import Fraction

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.db.models import Case, VideoFrame

from .. import synth_video as sv
from .conftest import make_settings
from .helpers import catch_up, count, create_platform, submit
from .test_video_match import _upload, video_item, video_query


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "JPEG")
    return out.getvalue()


def _damaged(data: bytes) -> bytes:
    damaged = bytearray(data)
    for k in range(2000, len(damaged), 997):
        damaged[k] ^= 0xFF
    return bytes(damaged)


BAD_UPLOADS = {
    "zero bytes": (lambda pan: b"", 422, "video_empty"),
    "no frame in the stream": (lambda pan: sv.encode([]), 422, "video_empty"),
    "truncated mp4": (lambda pan: pan[: len(pan) // 2], 422, "video_corrupt"),
    "truncated mkv": (lambda pan: (lambda mkv: mkv[: len(mkv) // 2])(sv.scene(6, container="matroska")), 422,
                      "video_corrupt"),
    "damaged": (_damaged, 422, "video_corrupt"),
    "audio only": (lambda pan: sv.audio_only(), 422, "video_no_video_stream"),
    "a picture": (lambda pan: _jpeg(), 422, "video_not_a_video"),
    "random bytes": (lambda pan: np.random.default_rng(0).bytes(4000), 422, "video_not_a_video"),
    "huge resolution": (
        lambda pan: sv.encode([np.zeros((4096, 4112, 3), np.uint8)], size=(4112, 4096), codec="mpeg4", fps=1),
        413, "video_too_large",
    ),
    "an hour and a half long": (
        lambda pan: sv.encode([sv.blank_frame((64, 48))] * 3, size=(64, 48), fps=Fraction(1, 1800)),
        413, "video_too_long",
    ),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_uploads_get_their_typed_error(client, platform, pan, name):
    make, status, code = BAD_UPLOADS[name]
    response = _upload(client, platform, make(pan))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_the_service_limits_apply_to_uploads(tmp_path, database_url, pan):
    settings = make_settings(
        tmp_path / "data", database_url, max_video_pixels=320 * 240 - 1, max_video_seconds=9,
        max_video_upload_bytes=len(pan) + 10,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {create_platform(client.app, 'p')}"}
        too_wide = _upload(client, headers, pan)
        assert too_wide.status_code == 413 and too_wide.json()["error"]["code"] == "video_too_large"
        small = sv.scene(10, size=(160, 120))
        too_long = _upload(client, headers, small)
        assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "video_too_long"
        assert _upload(client, headers, sv.scene(5, size=(160, 120))).status_code == 200
        too_big = _upload(client, headers, pan + b"\0" * 11)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
        # Past the upload allowance the body is cut off while it streams in.
        cut = _upload(client, headers, pan + b"\0" * (200 * 1024))
        assert cut.status_code == 413 and cut.json()["error"]["code"] == "payload_too_large"


def test_an_upload_without_a_file_is_a_request_error(client, platform):
    response = client.post("/v1/match/video", data={"content_ref": "x"}, headers=platform)
    assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid"


# ---------------------------------------------------------------- /v1/match video queries


def _frames(n: int, quality: int = 100) -> list[dict]:
    rng = np.random.default_rng(n)
    return [{"pdq": rng.bytes(32).hex(), "quality": quality, "frame": k * 30, "time": float(k)} for k in range(n)]


def test_too_many_frames_in_a_request_is_refused_as_a_whole(client, platform):
    limit = client.app.state.settings.max_match_frames
    queries = [{"signal": "vpdq", "vpdq": {"frames": _frames(limit // 2 + 1)}} for _ in range(2)]
    response = client.post("/v1/match", json={"queries": queries}, headers=platform)
    assert response.status_code == 422 and response.json()["error"]["code"] == "match_too_many_frames"
    ok = client.post("/v1/match", json={"queries": queries[:1]}, headers=platform)
    assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "checked"


def test_bad_video_queries_are_invalid_one_by_one(client, platform, pan_hash):
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    malformed = _frames(5)
    malformed[2]["pdq"] = "zz" * 32
    short = _frames(5)
    short[0]["pdq"] = "ab" * 31
    queries = [
        {"signal": "vpdq", "vpdq": {"frames": malformed}},
        {"signal": "vpdq", "vpdq": {"frames": short}},
        {"signal": "vpdq", "hash": "ab" * 32},  # a frame is not a video
        {"signal": "pdq", "vpdq": {"frames": _frames(3)}},  # frames under another signal
        {"signal": "vpdq", "vpdq": {"frames": _frames(4, quality=20)}},  # too plain
        {"signal": "pdq"},  # no hash at all
        video_query(pan_hash),
    ]
    response = client.post("/v1/match", json={"queries": queries}, headers=platform)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("invalid", "hash_malformed"), ("invalid", "hash_malformed"), ("invalid", "hash_malformed"),
        ("invalid", "hash_malformed"), ("skipped", "quality_too_low"), ("invalid", "hash_malformed"),
        ("checked", None),
    ]
    assert results[-1]["matches"], "one bad query never fails the batch"


@pytest.mark.parametrize("frame", [
    {"pdq": "ab" * 32, "quality": 101, "time": 0.0},
    {"pdq": "ab" * 32, "quality": 100, "time": -1.0},
    {"pdq": "ab" * 32, "quality": 100},
    {"pdq": "ab" * 32, "quality": 100, "time": 0.0, "thumbnail": "..."},
    {"pdq": "ab" * 100, "quality": 100, "time": 0.0},
])
def test_frames_of_the_wrong_shape_are_request_errors(client, platform, frame):
    response = client.post("/v1/match", json={"queries": [{"signal": "vpdq", "vpdq": {"frames": [frame]}}]},
                           headers=platform)
    assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid"
    empty = client.post("/v1/match", json={"queries": [{"signal": "vpdq", "vpdq": {"frames": []}}]}, headers=platform)
    assert empty.status_code == 422


# ---------------------------------------------------------------- submissions


def test_bad_video_items_are_refused_with_reasons(client, pan_hash):
    malformed = _frames(5)
    malformed[1]["pdq"] = "not hex"
    body = {"items": [
        {"kind": "video", "vpdq": {"frames": malformed}},
        {"kind": "video", "vpdq": {"frames": _frames(5, quality=10)}},
        {"kind": "video", "vpdq": {"frames": _frames(client.app.state.settings.max_video_frames + 1)}},
        {"kind": "video", "hashes": [{"signal": "vpdq", "hash": "ab" * 32, "quality": 90}]},
        video_item(pan_hash),
    ]}
    response = client.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["status"], i["code"]) for i in items] == [
        ("refused", "hash_malformed"), ("refused", "quality_too_low"), ("refused", "video_too_many_frames"),
        ("refused", "signal_wrong_kind"), ("accepted", None),
    ]
    assert count(client.app, VideoFrame) == sum(f.quality >= 50 for f in pan_hash.frames)


def test_frames_on_a_picture_or_a_file_are_request_errors(client, pan_hash):
    for kind in ("image", "file"):
        item = {"kind": kind, "hashes": [{"signal": "md5", "hash": "a" * 32}], "vpdq": pan_hash.to_record()}
        response = client.post("/v1/cases", json={"items": [item]})
        assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid"
    assert client.post("/v1/cases", json={"items": [{"kind": "video"}]}).status_code == 422
    assert count(client.app, Case) == 0


# ---------------------------------------------------------------- never stored


def _noisy_video() -> bytes:
    """A video over Starlette's 1 MiB spooling threshold (lossless noise)."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(20)]
    data = sv.encode(frames, fps=10, options={"crf": "0"})
    assert len(data) > 1024 * 1024
    return data


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_uploaded_videos_leave_no_trace(client, platform, settings, pan, pan_hash, caplog, capfd, monkeypatch):
    caplog.set_level(logging.DEBUG)
    spooled = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: spooled.append(1) or real(*a, **k))
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    big = _noisy_video()
    for data in (pan, big, pan[: len(pan) // 2]):
        response = _upload(client, platform, data, name="holiday.mp4", content_ref="c1")
        assert response.status_code in (200, 422), response.text
    client.app.state.index.write_snapshot()
    assert not spooled, "an upload was spooled to a temporary file"
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    stored = b"".join(p.read_bytes() for p in files)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records).encode("latin-1", "replace")
    out, err = capfd.readouterr()
    for haystack in (stored, logged, out.encode("utf-8", "replace"), err.encode("utf-8", "replace")):
        for data in (pan, big):
            chunks = [data[i : i + 32] for i in range(0, len(data) - 32, 32)]
            assert not any(len(set(c)) > 4 and c in haystack for c in chunks)
    assert b"holiday.mp4" not in stored


def test_uploads_beyond_the_decoders_and_their_queue_are_refused_at_once(tmp_path, database_url, pan):
    from service.routers.match_video import _video_limiter

    settings = make_settings(tmp_path / "data", database_url, video_decodes=1, video_queue=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {create_platform(client.app, 'p')}"}
        assert _upload(client, headers, pan).status_code == 200
        decoders, busy = client.app.state.video_limiter, object()
        assert decoders is client.portal.call(lambda: _video_limiter(client.app))
        client.portal.call(decoders.acquire_on_behalf_of_nowait, busy)  # the only decoder is taken
        refused = _upload(client, headers, pan)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "video_busy"
        assert refused.headers["retry-after"] == "10"
        client.portal.call(decoders.release_on_behalf_of, busy)
        assert _upload(client, headers, pan).status_code == 200


def test_uploads_are_counted_by_outcome_in_the_metrics(client, platform, pan):
    import re

    def counted(outcome: str) -> float:
        text = client.get("/metrics").text
        found = re.search(rf'^ncii_video_uploads_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = {o: counted(o) for o in ("hashed", "video_corrupt")}
    assert _upload(client, platform, pan).status_code == 200
    assert _upload(client, platform, pan[: len(pan) // 2]).status_code == 422
    assert counted("hashed") == before["hashed"] + 1 and counted("video_corrupt") == before["video_corrupt"] + 1
    assert "ncii_video_hash_seconds_count" in client.get("/metrics").text
