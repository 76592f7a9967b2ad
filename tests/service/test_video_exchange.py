"""Videos through the exchange: the native feed carries each frame code with its video and times,
a mirror rebuilds the video from it and matches it locally (and stops after a withdrawal), and the
StopNCII dialect keeps only the video's MD5, as that API does. Both backends for the hotline."""

from __future__ import annotations

import hashlib

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from matcher.video import VideoHash
from service.app import create_app
from service.db.models import BankHash, CaseItem, HashSource, VideoFrame
from service.sync import runner
from service.sync.client_native import NativeRemote

from .conftest import make_settings
from .helpers import catch_up, create_platform, match, pin_headers, submit
from .test_video_match import video_item, video_query


def _feed(client, key: str) -> list[dict]:
    records, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/exchange/hashes", params=params, headers={"Authorization": f"Bearer {key}"}).json()
        records += page["records"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return records


def test_the_native_feed_names_each_frame_codes_video_and_times(client, pan, pan_hash):
    key = create_platform(client.app, "mirror", ("exchange.read",))
    submit(client, video_item(pan_hash, hashlib.md5(pan).hexdigest()))
    records = _feed(client, key)
    frames = [r for r in records if r["signal"] == "vpdq"]
    with client.app.state.sessions() as session:
        video_id = session.scalar(select(CaseItem.id).where(CaseItem.kind == "video"))
    assert {r["video"]["video_id"] for r in frames} == {video_id}
    usable = sorted((f.frame, round(f.time, 3)) for f in pan_hash.frames if f.quality >= 50)
    assert sorted((t["frame"], t["time"]) for r in frames for t in r["video"]["frames"]) == usable
    assert [r["video"] for r in records if r["signal"] == "md5"] == [None]


def test_the_stopncii_dialect_carries_the_videos_md5_only(client, pan, pan_hash):
    key = create_platform(client.app, "stopncii-client", ("exchange.read",))
    md5 = hashlib.md5(pan).hexdigest()
    submit(client, video_item(pan_hash, md5))
    body = client.get("/stopncii/v1/FetchHashes", headers={"x-functions-key": key}).json()
    assert [(r["signalType"], r["hashValue"]) for r in body["hashRecords"]] == [("VideoMD5", md5)]


def test_a_mirror_rebuilds_the_video_matches_it_and_follows_a_withdrawal(client, tmp_path, pan_hash, copy_hash):
    """The hotline is this test's app (either backend); the platform's mirror is a SQLite app of its own."""
    key = create_platform(client.app, "mirror", ("exchange.read",))
    case = submit(client, video_item(pan_hash))
    other = submit(client, video_item(VideoHash(pan_hash.frames[:5])))  # another video sharing half the frames
    transport = httpx.MockTransport(lambda request: client.get(
        request.url.path, params=dict(request.url.params), headers={"Authorization": request.headers["authorization"]}
    ))
    remote = NativeRemote("http://hotline", key, page_size=4, transport=transport)
    with TestClient(create_app(make_settings(tmp_path / "local"))) as local:
        sessions = local.app.state.sessions
        source_id = runner.prepare_source(sessions, remote)
        runner.run_once(sessions, remote, source_id)
        with sessions() as session:
            items = session.scalars(select(CaseItem).where(CaseItem.kind == "video").order_by(CaseItem.id)).all()
            frames = {i.id: session.scalar(select(VideoFrame.id).where(VideoFrame.item_id == i.id).limit(1)) for i in items}
            held = session.scalar(select(HashSource.case_id))
        assert len(items) == 2 and all(i.case_id == held for i in items) and all(frames.values())
        catch_up(local.app)
        platform = {"Authorization": f"Bearer {create_platform(local.app, 'local-tube')}"}
        [found] = match(local, platform, video_query(copy_hash)).json()["results"][0]["matches"]
        assert found["video"]["video_id"] == items[0].id and found["video"]["bank_share"] >= 0.8

        assert client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).status_code == 200
        runner.run_once(sessions, remote, source_id)
        catch_up(local.app)
        assert match(local, platform, video_query(copy_hash)).json()["results"][0]["matches"] == []
        # The other video is still there and matches itself.
        short = VideoHash(pan_hash.frames[:5])
        [still] = match(local, platform, video_query(short)).json()["results"][0]["matches"]
        assert still["video"]["video_id"] == items[1].id
        with sessions() as session:
            statuses = set(session.scalars(select(BankHash.status).where(BankHash.signal == "vpdq",
                                                                         BankHash.item_id == items[0].id)))
        assert statuses == {"withdrawn"}

        # Read again from the start: every record is applied again and nothing changes.
        def held() -> tuple:
            with sessions() as session:
                return (session.scalar(select(func.count()).select_from(VideoFrame)),
                        sorted(session.execute(select(BankHash.item_id, BankHash.code, BankHash.status)).all()))

        before = held()
        from service.db.engine import transaction

        with transaction(sessions) as session:
            session.get(HashSource, source_id).checkpoint = None
        runner.run_once(sessions, remote, source_id)
        assert held() == before
    remote.close()
    assert other["items"][0]["status"] == "accepted"
