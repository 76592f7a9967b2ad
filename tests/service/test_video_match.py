"""Videos in the service: cases with frame hashes, /v1/match by frames, /v1/match/video uploads,
the index rebuilt from the database, withdrawal, match events; both backends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from matcher.video import VideoHash, hash_video
from service.app import create_app
from service.db.models import BankHash, CaseItem, MatchEvent, VideoFrame

from .. import synth_video as sv
from .conftest import make_settings
from .helpers import catch_up, count, match, pin_headers, submit


@pytest.fixture(scope="module")
def other_hash() -> VideoHash:
    return hash_video(sv.scene(10, name="q1050.jpg"))


def video_item(video: VideoHash, md5: str | None = None, **extra) -> dict:
    item = {"kind": "video", "vpdq": video.to_record(), **extra}
    if md5 is not None:
        item["hashes"] = [{"signal": "md5", "hash": md5}]
    return item


def video_query(video: VideoHash, content_ref: str | None = None) -> dict:
    query = {"signal": "vpdq", "vpdq": {"frames": [f.to_record() for f in video.frames]}}
    if content_ref is not None:
        query["content_ref"] = content_ref
    return query


def _upload(client, headers, data: bytes, name: str = "clip.mp4", kind: str = "video/mp4", **form):
    return client.post("/v1/match/video", files={"file": (name, data, kind)}, data=form, headers=headers)


def _video_item_id(client) -> int:
    with client.app.state.sessions() as session:
        return session.scalar(select(CaseItem.id).where(CaseItem.kind == "video"))


# ---------------------------------------------------------------- the bank


def test_a_video_case_keeps_its_distinct_frame_codes_and_its_timeline(client, pan_hash):
    md5 = "9e107d9d372bb6826bd81d3542a419d6"
    case = submit(client, video_item(pan_hash, md5, label="clip.mp4"))
    item = case["items"][0]
    distinct = {f.hash.code for f in pan_hash.frames if f.quality >= 50}
    assert item["status"] == "accepted" and item["label"] == "clip.mp4"
    assert item["hashes_accepted"] == len(distinct) + 1  # the frame codes and the MD5
    app = client.app
    assert count(app, BankHash, BankHash.signal == "vpdq") == len(distinct)
    assert count(app, BankHash, BankHash.signal == "md5") == 1
    with app.state.sessions() as session:
        frames = session.execute(
            select(VideoFrame.position, VideoFrame.frame, VideoFrame.time, BankHash.code)
            .join(BankHash, BankHash.id == VideoFrame.hash_id).order_by(VideoFrame.position)
        ).all()
    usable = [f for f in pan_hash.frames if f.quality >= 50]
    assert [(f.frame, round(f.time, 3), f.hash.code) for f in usable] == [
        (r.frame, round(r.time, 3), bytes(r.code)) for r in frames
    ]
    status = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()
    assert status["items"][0]["kind"] == "video" and status["items"][0]["hashes"] == len(distinct) + 1


def test_a_reencoded_copy_given_as_frame_hashes_matches_the_banked_video(client, platform, pan_hash, copy_hash):
    case = submit(client, video_item(pan_hash))
    catch_up(client.app)
    response = match(client, platform, video_query(copy_hash, "upload/v1"))
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] == "checked" and len(result["matches"]) == 1
    found = result["matches"][0]
    video = found["video"]
    video_id = _video_item_id(client)
    with client.app.state.sessions() as session:
        anchor = session.scalar(select(BankHash.id).where(BankHash.signal == "vpdq").order_by(BankHash.id))
    assert found["signal"] == "vpdq" and found["hash_id"] == anchor and found["case_status"] == "active"
    assert video["video_id"] == video_id and video["orientation"] == "original"
    assert video["query_share"] >= 0.8 and video["bank_share"] >= 0.8
    assert video["bank_ranges"] and video["bank_ranges"][0][0] <= 1.0 and video["bank_ranges"][-1][1] >= 8.0
    assert found["distance"] <= 31
    # The match is a lead in the review queue, with where to look.
    with client.app.state.sessions() as session:
        event = session.scalars(select(MatchEvent)).one()
    assert event.hash_id == anchor and event.signal == "vpdq" and event.content_ref == "upload/v1"
    assert event.query_kind == "hash" and event.video["video_id"] == video_id
    assert event.video["bank_ranges"] == video["bank_ranges"]
    status = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()
    assert status["matches"] == 1


def test_other_videos_a_clip_and_a_half_copy_do_not_match(client, platform, pan_hash, other_hash):
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    clip = VideoHash(pan_hash.frames[:4])  # 40% of the banked video: the bank share fails
    half = VideoHash(other_hash.frames[:5] + pan_hash.frames[:5])  # the query share fails
    response = match(client, platform, video_query(other_hash), video_query(clip), video_query(half))
    assert response.status_code == 200, response.text
    assert [r["matches"] for r in response.json()["results"]] == [[], [], []]
    assert count(client.app, MatchEvent) == 0
    # The whole video itself does match, in the same kind of request.
    assert match(client, platform, video_query(pan_hash)).json()["results"][0]["matches"]


def test_the_index_is_rebuilt_from_the_database_with_the_frame_codes(tmp_path, database_url, pan_hash, copy_hash):
    settings = make_settings(tmp_path / "data", database_url)
    with TestClient(create_app(settings)) as first:
        submit(first, video_item(pan_hash))
    from .helpers import create_platform

    with TestClient(create_app(settings)) as second:  # no snapshot: rebuilt from bank_hashes
        assert second.app.state.index.loaded_from == "database"
        headers = {"Authorization": f"Bearer {create_platform(second.app, 'p2')}"}
        found = match(second, headers, video_query(copy_hash)).json()["results"][0]["matches"]
        assert [m["video"]["video_id"] for m in found] == [_video_item_id(second)]


def test_a_withdrawn_video_stops_matching_at_once(client, platform, pan_hash):
    case = submit(client, video_item(pan_hash))
    catch_up(client.app)
    assert match(client, platform, video_query(pan_hash)).json()["results"][0]["matches"]
    withdrawn = client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    assert withdrawn.status_code == 200
    assert withdrawn.json()["hashes_withdrawn"] == count(client.app, BankHash, BankHash.signal == "vpdq")
    # Before the index follows the log: the database's status filters it out.
    assert match(client, platform, video_query(pan_hash)).json()["results"][0]["matches"] == []
    catch_up(client.app)
    assert client.app.state.index.size() == 0


def test_two_platforms_saying_not_ncii_suspend_the_whole_video(client, pan_hash, copy_hash):
    """Review decisions act on the anchor the match events name; a suspended anchor stops the video."""
    from .helpers import create_platform

    a, b, c = ({"Authorization": f"Bearer {create_platform(client.app, name, ('match', 'review'))}"}
               for name in ("alpha", "beta", "gamma"))
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    for headers, ref in ((a, "a/1"), (b, "b/1")):
        assert match(client, headers, video_query(copy_hash, ref)).json()["results"][0]["matches"]
    for headers in (a, b):
        [event] = [m for g in client.get("/v1/review/queue", headers=headers).json()["groups"] for m in g["matches"]]
        decided = client.post("/v1/review/decisions", headers=headers, json={
            "match_event_id": event["match_event_id"], "decision": "not_ncii", "reason": "a holiday clip"})
        assert decided.status_code == 201, decided.text
    assert decided.json()["hash_status"] == "suspended"
    assert match(client, c, video_query(copy_hash)).json()["results"][0]["matches"] == []
    assert match(client, c, video_query(pan_hash)).json()["results"][0]["matches"] == []


# ---------------------------------------------------------------- uploads


def test_an_uploaded_mirrored_copy_matches_and_the_same_file_matches_by_md5_too(client, platform, pan, pan_hash):
    import hashlib

    submit(client, video_item(pan_hash, hashlib.md5(pan).hexdigest()))
    catch_up(client.app)
    same = _upload(client, platform, pan, content_ref="upload/same")
    assert same.status_code == 200, same.text
    signals = sorted(m["signal"] for m in same.json()["results"][0]["matches"])
    assert signals == ["md5", "vpdq"]
    mirrored = sv.encode(sv.scene_frames(sv.picture(), 10, 30), mirror=True)
    response = _upload(client, platform, mirrored, content_ref="upload/mirror")
    assert response.status_code == 200, response.text
    [found] = response.json()["results"][0]["matches"]
    assert found["signal"] == "vpdq" and found["video"]["orientation"] == "flipy"
    assert found["video"]["bank_share"] == 1.0
    with client.app.state.sessions() as session:
        kinds = session.scalars(select(MatchEvent.query_kind).where(MatchEvent.content_ref == "upload/mirror")).all()
    assert kinds == ["video"]


def test_uploads_use_the_query_side_rule_that_frame_hashes_cannot(client, platform, pan_hash):
    """A copy trimmed by half a second and one cropped by 5%: their own 1 s frame hashes match
    nothing, the uploads match (dense frames, padded-back variants; docs/video.md)."""
    import numpy as np

    submit(client, video_item(pan_hash))
    catch_up(client.app)
    frames = list(sv.scene_frames(sv.picture(), 10, 30))
    cropped = [np.ascontiguousarray(f[2 : 2 + 228, 12 : 12 + 304]) for f in frames]  # 5% of each side, uneven
    copies = {"trimmed": sv.encode(frames[15:]), "cropped": sv.encode(cropped, size=(304, 228))}
    for name, data in copies.items():
        as_hashes = match(client, platform, video_query(hash_video(data, dihedral=True)))
        assert as_hashes.json()["results"][0]["matches"] == [], name
        response = _upload(client, platform, data, content_ref=f"upload/{name}")
        assert response.status_code == 200, response.text
        [found] = response.json()["results"][0]["matches"]
        assert found["signal"] == "vpdq" and found["video"]["bank_share"] >= 0.8, name
        assert found["video"]["query_frames"] == len(hash_video(data).frames)  # counted in Meta's frames
    other = _upload(client, platform, sv.scene(10, name="q1050.jpg"), content_ref="upload/other")
    assert other.json()["results"][0]["matches"] == []


def test_a_video_labelled_as_a_picture_is_hashed_as_a_video(client, platform, pan, pan_hash):
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    response = _upload(client, platform, pan, name="holiday.jpg", kind="image/jpeg")
    assert response.status_code == 200, response.text
    assert [m["signal"] for m in response.json()["results"][0]["matches"]] == ["vpdq"]


def test_video_uploads_need_a_key_with_the_match_scope(client, pan):
    from .helpers import create_platform

    assert _upload(client, {}, pan).status_code == 401
    other = create_platform(client.app, "reader", ("review",))
    refused = _upload(client, {"Authorization": f"Bearer {other}"}, pan)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "api_key_scope"


def test_a_video_match_reaches_the_review_queue_with_where_to_look(client, pan_hash, copy_hash):
    from .helpers import create_platform

    headers = {"Authorization": f"Bearer {create_platform(client.app, 'reviewing', ('match', 'review'))}"}
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    answer = match(client, headers, video_query(copy_hash, "upload/9")).json()["results"][0]["matches"][0]
    queue = client.get("/v1/review/queue", headers=headers).json()
    [group] = queue["groups"]
    [entry] = group["matches"]
    assert group["content_ref"] == "upload/9" and entry["signal"] == "vpdq" and entry["hash_id"] == answer["hash_id"]
    assert entry["video"] == answer["video"] and entry["confidence"] == "high"
    decided = client.post("/v1/review/decisions", headers=headers, json={
        "match_event_id": entry["match_event_id"], "decision": "ncii_remove", "reason": "the same video"})
    assert decided.status_code == 201, decided.text


def test_video_searches_leave_the_pictures_search_cache_alone(client, platform, pan_hash):
    from .helpers import image_item, pdq_query, random_pdq

    submit(client, video_item(pan_hash), image_item(random_pdq()))
    catch_up(client.app)
    cache = client.app.state.index._cache
    before = len(cache)
    body = {"queries": [pdq_query(random_pdq())], "review_band": "off"}
    assert client.post("/v1/match", json=body, headers=platform).status_code == 200
    assert len(cache) == before + 1  # a picture's answer is kept for its re-uploads
    assert match(client, platform, video_query(pan_hash)).json()["results"][0]["matches"]
    assert len(cache) == before + 1  # a video's hundreds of frame codes are not


def test_the_review_page_says_where_the_videos_meet(client, pan_hash, copy_hash):
    from service.auth import moderators
    from service.db.engine import transaction

    from .helpers import create_platform

    headers = {"Authorization": f"Bearer {create_platform(client.app, 'alpha', ('match', 'review'))}"}
    with transaction(client.app.state.sessions) as session:
        moderators.create(session, client.app.state.settings, "ann", "correct horse battery staple", platform="alpha")
    submit(client, video_item(pan_hash))
    catch_up(client.app)
    [found] = match(client, headers, video_query(copy_hash, "up/1")).json()["results"][0]["matches"]
    ann = TestClient(client.app)
    assert ann.post("/v1/moderators/login", json={"name": "ann", "password": "correct horse battery staple"}).is_success
    event = client.get("/v1/review/queue", headers=headers).json()["groups"][0]["matches"][0]["match_event_id"]
    page = ann.get(f"/review/items/{event}").text
    first, last = found["video"]["bank_ranges"][0]
    assert 'id="video-matches"' in page and f"bank video {found['video']['video_id']}" in page
    assert f"{first:.1f}-{last:.1f} s" in page


def test_a_video_submitted_through_one_worker_is_matched_by_another_within_two_seconds(
    tmp_path, database_url, pan_hash, copy_hash
):
    from contextlib import ExitStack

    from .helpers import create_platform, eventually

    settings = make_settings(tmp_path / "data", database_url, index_poll_seconds=0.25)
    with ExitStack() as stack:
        a = stack.enter_context(TestClient(create_app(settings)))
        b = stack.enter_context(TestClient(create_app(settings)))
        headers = {"Authorization": f"Bearer {create_platform(a.app, 'p')}"}
        case = submit(a, video_item(pan_hash))
        assert eventually(lambda: bool(match(b, headers, video_query(copy_hash)).json()["results"][0]["matches"]), 2.0)
        assert a.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).status_code == 200
        assert match(b, headers, video_query(copy_hash)).json()["results"][0]["matches"] == []
        assert eventually(lambda: b.app.state.index.size() == 0, 2.0)


def test_a_video_sent_as_a_picture_is_matched_by_md5_and_told_where_to_go(client, platform, pan, pan_hash):
    import hashlib

    submit(client, video_item(pan_hash, hashlib.md5(pan).hexdigest()))
    catch_up(client.app)
    response = client.post("/v1/match/image", files={"file": ("holiday.jpg", pan, "image/jpeg")}, headers=platform)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["code"] == "video_exact_only" and "/v1/match/video" in result["reason"]
    assert [m["signal"] for m in result["matches"]] == ["md5"]


def test_videos_sharing_an_intro_match_only_the_one_the_query_is(client, platform):
    """Thirty banked videos open with the same 5 frames (a channel's intro) and go on with 5 of their
    own: a query that is one of them matches that one alone, whose frames are all met."""
    import secrets

    def frames(codes):
        return {"frames": [{"pdq": c, "quality": 90, "frame": 30 * k, "time": float(k)} for k, c in enumerate(codes)]}

    intro = [secrets.token_hex(32) for _ in range(5)]
    videos = [intro + [secrets.token_hex(32) for _ in range(5)] for _ in range(30)]
    submit(client, *({"kind": "video", "vpdq": frames(v)} for v in videos))
    catch_up(client.app)
    with client.app.state.sessions() as session:
        item_ids = session.scalars(select(CaseItem.id).order_by(CaseItem.position)).all()
    response = client.post("/v1/match", json={"queries": [{"signal": "vpdq", "vpdq": frames(videos[17])},
                                                          {"signal": "vpdq", "vpdq": frames(intro)}]}, headers=platform)
    one, only_intro = response.json()["results"]
    [found] = one["matches"]
    assert found["video"]["video_id"] == item_ids[17]
    assert found["video"]["query_share"] == 1.0 and found["video"]["bank_share"] == 1.0
    assert only_intro["matches"] == []  # it meets every video, but only half of any one video's frames
