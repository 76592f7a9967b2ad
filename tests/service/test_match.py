"""Platforms: API keys, /v1/match by hash and /v1/match/image, match events, on every backend."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import select, text

from matcher.hashing import hash_file
from service.db.models import ApiKey, AuditEntry, MatchEvent, Platform

from ..conftest import FIXTURES
from .helpers import (
    AtOnce,
    catch_up,
    count,
    create_platform,
    eventually,
    file_item,
    flip_bits,
    image_item,
    match,
    matched_ids,
    pdq_query,
    pin_headers,
    random_pdq,
    submit,
)

JPEG = (FIXTURES / "pdq" / "rgb.jpeg").read_bytes()


def _error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer ncii_abc_def", "Bearer " + "x" * 250],
)
def test_a_valid_key_is_required(client, platform_key, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = match(client, headers, pdq_query(random_pdq()))
    assert response.status_code == 401
    assert _error_code(response) == "api_key_invalid"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_wrong_secret_for_a_real_key_id_is_refused(client, platform_key):
    prefix, key_id, secret = platform_key.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * len(secret)}"
    assert match(client, {"Authorization": f"Bearer {forged}"}, pdq_query(random_pdq())).status_code == 401


def test_scope_is_enforced(client):
    key = create_platform(client.app, "feed-only", ("exchange.read",))
    response = match(client, {"Authorization": f"Bearer {key}"}, pdq_query(random_pdq()))
    assert response.status_code == 403
    assert _error_code(response) == "api_key_scope"


def test_pdq_matches_between_31_and_the_group_threshold_are_flagged_for_review(client, platform):
    from matcher.groups import DEFAULT_STRATEGY

    stored = random_pdq()
    submit(client, image_item(stored))
    catch_up(client.app)
    wide = DEFAULT_STRATEGY.widest_threshold
    queries = [pdq_query(flip_bits(stored, d)) for d in (31, 32, wide, wide + 1)]
    answer = client.post("/v1/match", headers=platform, json={"queries": queries, "review_band": "sync"}).json()
    found = [[(m["distance"], m["confidence"]) for m in r["matches"]] for r in answer["results"]]
    assert found == [[(31, "high")], [(32, "review")], [(wide, "review")], []]
    assert answer["review_band"] == "included"


def _events(app) -> list[tuple[str | None, int]]:
    with app.state.readers() as session:
        return sorted(tuple(row) for row in session.execute(select(MatchEvent.content_ref, MatchEvent.distance)))


def test_by_default_the_review_band_reaches_the_review_queue_after_the_answer(client, platform):
    """The answer holds PDQ matches up to 31; those from 32 to 52 become match events in the background,
    each bank hash once per query (a hash the answer reported is not recorded again)."""
    from matcher.groups import DEFAULT_STRATEGY

    stored = random_pdq()
    submit(client, image_item(stored))
    catch_up(client.app)
    wide = DEFAULT_STRATEGY.widest_threshold
    distances = (0, 31, 32, wide, wide + 1)
    queries = [dict(pdq_query(flip_bits(stored, d)), content_ref=f"upload-{d}") for d in distances]
    answer = match(client, platform, *queries).json()
    assert answer["review_band"] == "deferred"
    assert [[m["distance"] for m in r["matches"]] for r in answer["results"]] == [[0], [31], [], [], []]
    assert client.app.state.review_band.wait_idle(timeout=30)
    assert _events(client.app) == sorted([("upload-0", 0), ("upload-31", 31), ("upload-32", 32), (f"upload-{wide}", wide)])


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Linux feature")
def test_the_review_band_thread_runs_at_the_lowest_cpu_priority(client):
    """The answers come first: under load the band gets only the CPU they leave (nice 19),
    while the request path keeps the process's own priority."""
    band_thread = client.app.state.review_band._thread
    assert band_thread is not None and band_thread.is_alive()
    assert client.app.state.review_band.wait_idle(timeout=30)  # the thread has started its loop
    assert eventually(lambda: os.getpriority(os.PRIO_PROCESS, band_thread.native_id) == 19, within=10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == os.getpriority(os.PRIO_PROCESS, 0)


def test_the_review_band_can_be_switched_off_and_is_dropped_when_its_backlog_is_full(client, platform):
    stored = random_pdq()
    submit(client, image_item(stored))
    catch_up(client.app)
    query = dict(pdq_query(flip_bits(stored, 40)), content_ref="edited")
    off = client.post("/v1/match", headers=platform, json={"queries": [query], "review_band": "off"}).json()
    assert off["review_band"] == "off" and off["results"][0]["matches"] == []
    client.app.state.settings.review_band_queue = 0
    try:
        assert match(client, platform, query).json()["review_band"] == "dropped"
    finally:
        client.app.state.settings.review_band_queue = 10_000
    assert client.app.state.review_band.wait_idle(timeout=30)
    assert _events(client.app) == []
    md5_only = match(client, platform, {"signal": "md5", "hash": "0" * 32}).json()
    assert md5_only["review_band"] == "off"
    bad = client.post("/v1/match", headers=platform, json={"queries": [query], "review_band": "later"})
    assert bad.status_code == 422


def _revoke(app) -> float:
    from service.auth.api_keys import revoke_platform
    from service.db.engine import transaction

    with transaction(app.state.sessions) as session:
        assert revoke_platform(session, session.scalar(select(Platform))) == 1
    return time.monotonic()


def test_a_revoked_platform_is_refused_within_the_key_cache_window(client, platform_key, platform):
    window = client.app.state.settings.api_key_cache_seconds
    assert 0 < window <= 2  # the documented default: 1 s
    assert match(client, platform, pdq_query(random_pdq())).status_code == 200  # the key is now cached
    revoked_at = _revoke(client.app)
    while True:
        sent = time.monotonic()
        if match(client, platform, pdq_query(random_pdq())).status_code != 200:
            break
        assert sent - revoked_at <= window, "a revoked key still worked after the cache window"
        time.sleep(0.01)
    for _ in range(3):  # and stays refused
        response = match(client, platform, pdq_query(random_pdq()))
        assert response.status_code == 401 and response.json()["error"]["code"] == "api_key_invalid"


def test_without_the_key_cache_a_revoked_platform_is_refused_at_once(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    from .conftest import make_settings

    with TestClient(create_app(make_settings(tmp_path / "data", database_url, api_key_cache_seconds=0))) as client:
        headers = {"Authorization": f"Bearer {create_platform(client.app, 'p')}"}
        assert match(client, headers, pdq_query(random_pdq())).status_code == 200
        _revoke(client.app)
        assert match(client, headers, pdq_query(random_pdq())).status_code == 401


def test_a_cached_key_costs_no_query_and_a_miss_costs_none_either(client, platform):
    """With the key cached, a check that matches nothing does not touch the database."""
    from sqlalchemy import event

    statements = []
    engine = client.app.state.engine

    def seen(*args) -> None:
        if threading.current_thread().name != "ncii-index":  # the index's own polling of the change log
            statements.append(args[2])

    assert match(client, platform, pdq_query(random_pdq())).status_code == 200
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert match(client, platform, pdq_query(random_pdq()), pdq_query(random_pdq())).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == []


def test_wrong_and_unknown_keys_are_never_cached(client, platform_key, platform):
    wrong = {"Authorization": f"Bearer {platform_key[:-4]}AAAA"}
    for _ in range(2):
        assert match(client, wrong, pdq_query(random_pdq())).status_code == 401
    assert match(client, platform, pdq_query(random_pdq())).status_code == 200
    assert match(client, wrong, pdq_query(random_pdq())).status_code == 401


def test_keys_are_stored_hashed(client, platform_key):
    secret = platform_key.split("_", 2)[2]
    with client.app.state.sessions() as session:
        key = session.scalar(select(ApiKey))
        assert key.secret_hash != secret and len(key.secret_hash) == 64
        for table in ("api_keys", "platforms", "audit_log"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                assert secret not in repr(tuple(row)) and platform_key not in repr(tuple(row))


def test_match_by_hash_with_per_query_statuses(client, platform):
    near, exact_md5 = random_pdq(), "0f" * 16
    case = submit(client, image_item(near), file_item(exact_md5))
    catch_up(client.app)
    queries = [
        pdq_query(flip_bits(near, 20), "upload-1"),  # near copy: matches at distance 20
        pdq_query(flip_bits(near, 60), "upload-2"),  # too far, even for the hash-group threshold
        pdq_query("zz" * 32, "upload-3"),  # invalid
        pdq_query(near, "upload-4", quality=10),  # too plain to check
        {"signal": "md5", "hash": exact_md5, "content_ref": "upload-5"},
        {"signal": "nope", "hash": "ab"},
        {"signal": "md5", "hash": "00" * 16},
    ]
    response = match(client, platform, *queries)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(queries)))
    assert [r["status"] for r in results] == ["checked", "checked", "invalid", "skipped", "checked", "invalid", "checked"]
    assert [r["code"] for r in results] == [None, None, "hash_malformed", "quality_too_low", None, "signal_unknown", None]
    assert [r["content_ref"] for r in results][:5] == ["upload-1", "upload-2", "upload-3", "upload-4", "upload-5"]
    first = results[0]["matches"]
    assert len(first) == 1
    assert first[0]["distance"] == 20 and first[0]["signal"] == "pdq" and first[0]["case_status"] == "active"
    assert first[0]["confidence"] == "high"
    assert results[1]["matches"] == [] and results[6]["matches"] == []
    assert results[4]["matches"][0]["distance"] == 0 and results[4]["matches"][0]["signal"] == "md5"

    # Each match is a match event with the platform's content reference (for the review queue).
    with client.app.state.sessions() as session:
        events = session.scalars(select(MatchEvent).order_by(MatchEvent.id)).all()
        assert sorted((e.content_ref, e.signal, e.distance, e.query_kind) for e in events) == [
            ("upload-1", "pdq", 20, "hash"),
            ("upload-5", "md5", 0, "hash"),
        ]
        assert {e.review_status for e in events} == {"pending"}
    status = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()
    assert status["matches"] == 2


def test_a_mirrored_upload_matches_the_upright_picture(client, platform):
    # (The bridge photo: matcher's dihedral hashes are off for some small square images.)
    photo = Image.open(FIXTURES / "pdq" / "bridge-1-original.jpg")
    pdq = hash_file(FIXTURES / "pdq" / "bridge-1-original.jpg", ("pdq",)).hashes["pdq"]
    submit(client, image_item(str(pdq), quality=pdq.quality))
    catch_up(client.app)
    mirrored = io.BytesIO()
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, "JPEG", quality=90)
    response = client.post("/v1/match/image", files={"file": ("m.jpg", mirrored.getvalue(), "image/jpeg")}, headers=platform)
    assert response.status_code == 200, response.text
    assert [m["signal"] for m in response.json()["results"][0]["matches"]] == ["pdq"]


def test_a_full_batch_of_1000_queries(client, platform, settings):
    codes = [random_pdq() for _ in range(50)]
    submit(client, *[image_item(c) for c in codes])
    catch_up(client.app)
    queries = [pdq_query(codes[i % 50] if i % 20 == 0 else random_pdq(), f"u{i}") for i in range(settings.max_match_queries)]
    found = matched_ids(match(client, platform, *queries))
    assert len(found) == 1000
    assert [bool(f) for f in found] == [i % 20 == 0 for i in range(1000)]
    assert count(client.app, MatchEvent) == 50

    too_many = match(client, platform, *queries, pdq_query(random_pdq()))
    assert too_many.status_code == 422 and _error_code(too_many) == "match_too_many_queries"
    empty = match(client, platform)
    assert empty.status_code == 422 and _error_code(empty) == "request_invalid"


def test_withdrawn_hashes_stop_matching_before_the_index_catches_up(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    from .conftest import make_settings

    # This worker never polls: only the database can stop the match.
    app = create_app(make_settings(tmp_path / "data", database_url, index_poll_seconds=3600))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {create_platform(app, 'p')}"}
        code = random_pdq()
        case = submit(client, image_item(code))
        assert matched_ids(match(client, headers, pdq_query(code))) == [[]]  # not in the index yet
        catch_up(app)
        assert len(matched_ids(match(client, headers, pdq_query(code)))[0]) == 1
        assert client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).status_code == 200
        assert app.state.index.size() == 1  # the index still has it ...
        assert matched_ids(match(client, headers, pdq_query(code))) == [[]]  # ... the answer does not
        assert count(app, MatchEvent) == 1


def test_match_image_hashes_in_memory_and_matches(client, platform):
    hashes = hash_file(JPEG, ("md5", "pdq"))
    pdq = hashes.hashes["pdq"]
    submit(client, image_item(str(pdq), quality=pdq.quality))
    catch_up(client.app)
    response = client.post(
        "/v1/match/image", files={"file": ("whatever.jpg", JPEG, "image/jpeg")},
        data={"content_ref": "post-77", "preview_url": "https://cdn.example/p/77.jpg"}, headers=platform,
    )
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] == "checked" and result["content_ref"] == "post-77"
    assert [(m["signal"], m["distance"]) for m in result["matches"]] == [("pdq", 0)]
    # A re-encoded copy still matches.
    recoded = io.BytesIO()
    Image.open(io.BytesIO(JPEG)).save(recoded, "JPEG", quality=60)
    again = client.post("/v1/match/image", files={"file": ("c.jpg", recoded.getvalue(), "image/jpeg")}, headers=platform)
    assert again.json()["results"][0]["matches"]
    with client.app.state.sessions() as session:
        events = session.scalars(select(MatchEvent)).all()
        assert [(e.query_kind, e.content_ref, e.preview_url) for e in events] == [
            ("image", "post-77", "https://cdn.example/p/77.jpg"), ("image", None, None)
        ]
    assert count(client.app, AuditEntry) == 1  # the case; a match is an event, not a state change
    refused = client.post(
        "/v1/match/image", files={"file": ("c.jpg", JPEG, "image/jpeg")}, data={"preview_url": "javascript:alert(1)"},
        headers=platform,
    )
    assert refused.status_code == 422 and _error_code(refused) == "request_invalid"
    assert "preview_url" in str(refused.json()["error"]["details"])


def test_match_image_exact_md5_for_any_file(client, platform):
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20
    import hashlib

    submit(client, file_item(hashlib.md5(video).hexdigest()))
    catch_up(client.app)
    response = client.post("/v1/match/image", files={"file": ("v.mp4", video, "video/mp4")}, headers=platform)
    assert response.status_code == 200, response.text
    assert [m["signal"] for m in response.json()["results"][0]["matches"]] == ["md5"]


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _bomb_png() -> bytes:
    """A tiny PNG whose header claims 100,000 x 100,000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"", "image_empty"),
        (b"this is not a picture, it is text\n" * 10, "image_not_an_image"),
        (JPEG[: len(JPEG) // 3], "image_corrupt"),
        (_bomb_png(), "image_too_large"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, None),
        (b"GIF89a" + b"\xff" * 50, None),
    ],
    ids=["empty", "text", "truncated-jpeg", "bomb-png", "jpeg-header-only", "broken-gif"],
)
def test_hostile_uploads_are_refused_with_json_errors(client, platform, payload, expected):
    response = client.post("/v1/match/image", files={"file": ("x.jpg", payload, "image/jpeg")}, headers=platform)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    code = response.json()["error"]["code"]
    if expected is not None:
        assert code == expected
    assert code


def test_match_image_requests_that_are_not_uploads(client, platform):
    no_file = client.post("/v1/match/image", data={"content_ref": "x"}, headers=platform)
    assert no_file.status_code == 422 and _error_code(no_file) == "request_invalid"
    as_json = client.post("/v1/match/image", json={"file": "AAAA"}, headers=platform)
    assert 400 <= as_json.status_code < 500 and _error_code(as_json)
    unauthorised = client.post("/v1/match/image", files={"file": ("x.jpg", JPEG, "image/jpeg")})
    assert unauthorised.status_code == 401


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_image_uploads_decode_at_most_image_decodes_at_once(tmp_path, database_url, monkeypatch):
    """A decode can hold ~0.5 GB at the pixel limit from a small compressed file: a burst of uploads
    waits for the worker's few decoders rather than decoding in every thread of the pool at once."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.routers import match as match_router

    from .conftest import make_settings

    at_once = AtOnce()

    def slow_hash_file(*args, **kwargs):
        at_once.busy(0.15)
        return hash_file(*args, **kwargs)

    monkeypatch.setattr(match_router, "hash_file", slow_hash_file)
    app = create_app(make_settings(tmp_path / "data", database_url, image_decodes=2, registration=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {create_platform(app, 'p')}"}

        def upload(_):
            return client.post("/v1/match/image", files={"file": ("x.jpg", JPEG, "image/jpeg")}, headers=headers)

        with ThreadPoolExecutor(6) as pool:
            statuses = [r.status_code for r in pool.map(upload, range(6))]
    assert statuses == [200] * 6
    assert at_once.most == 2


def test_oversize_upload_is_413(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path / "data", database_url, max_upload_bytes=20_000))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {create_platform(app, 'p')}"}
        big = JPEG + b"\x00" * 100_000  # over the limit and its multipart allowance
        response = client.post("/v1/match/image", files={"file": ("x.jpg", big, "image/jpeg")}, headers=headers)
        assert response.status_code == 413 and _error_code(response) == "payload_too_large"
        # Over the image limit but within the multipart allowance: refused by the route.
        response = client.post("/v1/match/image", files={"file": ("x.jpg", JPEG[:30_000], "image/jpeg")}, headers=headers)
        assert response.status_code == 413 and _error_code(response) == "payload_too_large"

        def chunks():
            for _ in range(200):
                yield b"\x00" * 1024

        chunked = client.post(
            "/v1/match/image", content=chunks(),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert chunked.status_code == 413 and _error_code(chunked) == "payload_too_large"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_checks_do_not_wait_for_a_writer(client, platform):
    """Upload checks and the index read without SQLite's write lock: a long write does not stall them."""
    code = random_pdq()
    submit(client, image_item(code))
    catch_up(client.app)
    with client.app.state.sessions() as writer, writer.begin():
        writer.execute(text("UPDATE cases SET updated_at = updated_at"))  # holds the write lock
        # (A hit would wait: its match event is a write.)
        assert matched_ids(match(client, platform, pdq_query(random_pdq()), pdq_query(random_pdq()))) == [[], []]
        client.app.state.index.catch_up()
        assert client.get("/readyz").status_code == 200


def test_a_deployment_can_cap_the_pdq_threshold(client, platform):
    client.app.state.settings.pdq_match_threshold = 31
    try:
        stored = random_pdq()
        submit(client, image_item(stored))
        catch_up(client.app)
        results = match(client, platform, pdq_query(flip_bits(stored, 31)), pdq_query(flip_bits(stored, 32))).json()
        assert [len(r["matches"]) for r in results["results"]] == [1, 0]
        assert results["review_band"] == "off"  # nothing lies beyond the cap
    finally:
        client.app.state.settings.pdq_match_threshold = None


def test_batch_with_whitespace_inside_a_hash_is_refused_per_query(client, platform):
    """The batch's one-call hex parse must not accept what the per-hash parse refuses
    (``bytes.fromhex`` skips whitespace between digit pairs)."""
    good = random_pdq()
    spaced = good[:2] + " " + good[2:63]  # 64 characters, 63 digits
    queries = [pdq_query(good, "a"), pdq_query(spaced, "b"), pdq_query(good.upper(), "c")]
    response = client.post("/v1/match", headers=platform, json={"queries": queries})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["checked", "invalid", "checked"]
    assert results[1]["code"] == "hash_malformed" and results[1]["matches"] == []
    assert [r["content_ref"] for r in results] == ["a", "b", "c"]


def test_a_large_batch_answers_each_query_in_order_with_its_own_matches(client, platform):
    """A batch of well-formed hashes takes the one-call parse and the thread hop (over ``INLINE_CODES``):
    each query still gets its own matches, in order, in upper or lower case."""
    stored = [random_pdq() for _ in range(3)]
    for code in stored:
        submit(client, image_item(code))
    catch_up(client.app)
    queries = [pdq_query(random_pdq(), f"miss-{i}") for i in range(40)]
    queries[5] = pdq_query(flip_bits(stored[0], 3).upper(), "hit-0")
    queries[30] = pdq_query(flip_bits(stored[2], 10), "hit-2")
    queries[31] = pdq_query(stored[1], "hit-1", quality=100)
    queries[32] = pdq_query(stored[1], "too-plain", quality=10)
    answer = client.post("/v1/match", headers=platform, json={"queries": queries, "review_band": "off"}).json()
    results = answer["results"]
    assert [r["index"] for r in results] == list(range(40))
    assert [r["content_ref"] for r in results] == [q["content_ref"] for q in queries]
    distances = {i: [m["distance"] for m in r["matches"]] for i, r in enumerate(results) if r["matches"]}
    assert distances == {5: [3], 30: [10], 31: [0]}
    assert results[32]["status"] == "skipped" and results[32]["code"] == "quality_too_low"
    assert all(set(r) == {"index", "content_ref", "status", "code", "reason", "matches"} for r in results)


def test_the_review_band_narrows_with_the_structure_of_the_pair(client, platform):
    """A busy pair is matched up to the widest band; a low-structure one only as plain PDQ does (31)."""
    from matcher.groups import DEFAULT_STRATEGY

    busy, plain = random_pdq(), random_pdq()
    submit(client, image_item(busy), image_item(plain, structure=170))
    catch_up(client.app)
    mid = DEFAULT_STRATEGY.band(170)
    assert mid is not None and 31 < mid.match < DEFAULT_STRATEGY.widest_threshold

    def found(code: str, **query) -> list[tuple[int, str]]:
        body = {"queries": [dict(pdq_query(code), **query)], "review_band": "sync"}
        answer = client.post("/v1/match", headers=platform, json=body).json()
        return [(m["distance"], m["confidence"]) for m in answer["results"][0]["matches"]]

    wide = DEFAULT_STRATEGY.widest_threshold
    assert found(flip_bits(busy, wide)) == [(wide, "review")]
    assert found(flip_bits(busy, wide), structure=mid.floor, quality=100) == []  # the upload is the plain side now
    assert found(flip_bits(plain, mid.match)) == [(mid.match, "review")]
    assert found(flip_bits(plain, mid.match + 1)) == []
    # PDQ's own full-frame rule holds in every band; below a band's "high" it is a lead for review.
    assert found(flip_bits(plain, 31), structure=60, quality=60) == [(31, "review")]
    assert found(flip_bits(busy, 31)) == [(31, "high")]
    # No structure given: banded by the quality, which proves at most 100.
    assert found(flip_bits(busy, 40), structure=None) == []


def test_a_structure_that_contradicts_the_quality_is_refused(client, platform):
    bad = match(client, platform, dict(pdq_query(random_pdq()), quality=80, structure=400)).json()
    assert bad["results"][0]["status"] == "invalid" and bad["results"][0]["code"] == "structure_inconsistent"
    md5 = match(client, platform, {"signal": "md5", "hash": "0" * 32, "structure": 5}).json()
    assert md5["results"][0]["code"] == "structure_inconsistent"


def _bridge_group_item() -> dict:
    """The bridge photo's bank group, as the victim's page submits it."""
    from matcher.groups import DEFAULT_STRATEGY
    from matcher import loading

    group = DEFAULT_STRATEGY.bank_group(loading.load_rgb_array(FIXTURES / "pdq" / "bridge-1-original.jpg"))
    hashes = [{"signal": "pdq", "hash": h.hex, "quality": h.quality, "structure": h.structure, "variant": h.variant}
              for h in group.hashes]
    return {"kind": "image", "hashes": hashes}


def _reshared_bridge() -> bytes:
    """Cropped 2-12% per side and mirrored: no hash of the upload meets the bank group."""
    photo = Image.open(FIXTURES / "pdq" / "bridge-1-original.jpg").convert("RGB")
    w, h = photo.size
    copy = photo.crop((round(0.02 * w), round(0.12 * h), w - round(0.12 * w), h - round(0.03 * h)))
    out = io.BytesIO()
    copy.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, "JPEG", quality=90)
    return out.getvalue()


def test_an_image_upload_the_lookup_misses_is_found_by_registration_for_review(client, platform):
    case = submit(client, _bridge_group_item())
    catch_up(client.app)
    upload = _reshared_bridge()
    by_hash = hash_file(upload, ("pdq",), group="query")
    queries = [pdq_query(h.hex, "hashes-only", quality=h.quality, structure=h.structure) for h in by_hash.group.hashes]
    assert matched_ids(match(client, platform, *queries)) == [[] for _ in queries]  # hashes alone: no match

    response = client.post("/v1/match/image", files={"file": ("r.jpg", upload, "image/jpeg")},
                           data={"content_ref": "reshared"}, headers=platform)
    assert response.status_code == 200, response.text
    (found,) = response.json()["results"][0]["matches"]
    assert found["registered"] is True and found["confidence"] == "review" and found["distance"] <= 31
    with client.app.state.readers() as session:
        events = session.scalars(select(MatchEvent).where(MatchEvent.content_ref == "reshared")).all()
        assert [(e.hash_id, e.query_kind) for e in events] == [(found["hash_id"], "image")]
    assert client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()["matches"] == 1


def test_registration_can_be_switched_off(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    from .conftest import make_settings
    from .helpers import create_platform

    app = create_app(make_settings(tmp_path / "data", database_url, registration=False))
    with TestClient(app, raise_server_exceptions=False) as off:
        headers = {"Authorization": f"Bearer {create_platform(off.app, 'p', ('match',))}"}
        submit(off, _bridge_group_item())
        catch_up(off.app)
        response = off.post("/v1/match/image", files={"file": ("r.jpg", _reshared_bridge(), "image/jpeg")}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["matches"] == []


def _stickered_bridge() -> bytes:
    """Opaque discs over three quarters of the bridge photo: only its bottom-right quadrant is clean."""
    from PIL import ImageDraw

    photo = Image.open(FIXTURES / "pdq" / "bridge-1-original.jpg").convert("RGB")
    w, h = photo.size
    d = ImageDraw.Draw(photo)
    r = round(0.23 * min(w, h))
    for cx, cy, colour in ((w // 4, h // 4, (255, 220, 0)), (3 * w // 4, h // 4, (255, 40, 120)), (w // 4, 3 * h // 4, (40, 200, 255))):
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_a_quadrant_matches_only_the_same_quadrant_of_an_upload(client, platform):
    submit(client, _bridge_group_item())
    catch_up(client.app)
    upload = _stickered_bridge()
    response = client.post("/v1/match/image", files={"file": ("s.jpg", upload, "image/jpeg")}, headers=platform)
    assert response.status_code == 200, response.text
    (found,) = response.json()["results"][0]["matches"]
    assert found["variant"] == "quad_br" and found["registered"] is False

    # The same quadrant's code sent as a bare hash (its variant unknown) is no match for a stored tile.
    quadrant = next(h for h in hash_file(upload, ("pdq",), group="query").group.hashes if h.variant == "quad_br")
    bare = match(client, platform, pdq_query(quadrant.hex, "bare", quality=quadrant.quality, structure=quadrant.structure))
    assert matched_ids(bare) == [[]]
