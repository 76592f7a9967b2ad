"""``kill -9`` during a stream of submissions loses nothing that was acknowledged.

A real ``ncii serve`` process takes case submissions (pictures, a file digest and a
video's frame hashes) from two client threads; it is killed with SIGKILL in mid-stream.
After a restart every case that got a 201 is there: its status answers with its PIN,
all its hashes match (its video as a video, with its whole timeline), its audit row
exists. The index comes back from a snapshot plus the change log, and again
from the database alone once the snapshot files are deleted.
"""

from __future__ import annotations

import shutil
import threading

import httpx
import pytest
from sqlalchemy import select

from service.db.engine import make_engine, make_sessionmaker
from service.db.migrate import upgrade
from service.db.models import AuditEntry, BankHash, Case

from .conftest import make_settings
from .helpers import random_pdq
from .server import Server, server_env

ACKNOWLEDGED_BEFORE_KILL = 40
VIDEO_FRAMES = 10


def _create_platform(settings) -> str:
    from service.auth import api_keys
    from service.db.engine import transaction
    from service.db.models import Platform

    engine = make_engine(settings)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        platform = Platform(name="crash-test")
        session.add(platform)
        token = api_keys.issue_key(session, platform).token
    engine.dispose()
    return token


def _stream(url: str, acknowledged: list, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            codes = [random_pdq() for _ in range(3)]
            md5 = random_pdq()[:32]
            frames = [{"pdq": random_pdq(), "quality": 90, "frame": k * 30, "time": float(k)} for k in range(VIDEO_FRAMES)]
            body = {"items": [
                {"kind": "image", "hashes": [{"signal": "pdq", "hash": c, "quality": 80}]} for c in codes
            ] + [{"kind": "file", "hashes": [{"signal": "md5", "hash": md5}]},
                 {"kind": "video", "vpdq": {"frames": frames}}]}
            try:
                response = http.post("/v1/cases", json=body)
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 201:
                answer = response.json()
                acknowledged.append((answer["case_number"], answer["pin"], codes, md5, frames))


def _check_everything_is_there(url: str, key: str, acknowledged: list) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        for number, pin, *_ in acknowledged:
            status = http.get(f"/v1/cases/{number}", headers={"X-Case-PIN": pin})
            assert status.status_code == 200, (number, status.text)
            assert [i["hashes"] for i in status.json()["items"]] == [1, 1, 1, 1, VIDEO_FRAMES]
        queries = [{"signal": "pdq", "hash": c} for _, _, codes, *_ in acknowledged for c in codes]
        queries += [{"signal": "md5", "hash": md5} for *_, md5, _ in acknowledged]
        queries += [{"signal": "vpdq", "vpdq": {"frames": frames}} for *_, frames in acknowledged]
        for start in range(0, len(queries), 1000):
            response = http.post("/v1/match", json={"queries": queries[start : start + 1000]}, headers=headers)
            assert response.status_code == 200, response.text
            missing = [q for q, r in zip(queries[start:], response.json()["results"]) if not r["matches"]]
            assert not missing, f"{len(missing)} acknowledged hashes do not match"
            videos = [r["matches"][0]["video"] for r in response.json()["results"] if r["matches"][0]["signal"] == "vpdq"]
            assert all(v["bank_share"] == 1.0 and v["bank_frames"] == VIDEO_FRAMES for v in videos)


def test_kill_9_loses_no_acknowledged_case(tmp_path, database_url):
    data = tmp_path / "data"
    settings = make_settings(data, database_url)
    key = _create_platform(settings)
    env = server_env(data, database_url, snapshot_every_changes=30)
    log = tmp_path / "server.log"

    server = Server(env, log=log)
    try:
        server.wait_ready()
        acknowledged: list = []
        stop = threading.Event()
        threads = [threading.Thread(target=_stream, args=(server.url, acknowledged, stop)) for _ in range(2)]
        for thread in threads:
            thread.start()
        # Kill once enough cases are acknowledged and an index snapshot exists (so that the
        # restart exercises snapshot + replay), while the stream goes on.
        snapshot = data / "index" / "snapshot.json"
        deadline_ok = _wait_for(lambda: len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL and snapshot.exists(), 60)
        server.kill()  # mid-stream: requests are in flight
        stop.set()
        for thread in threads:
            thread.join(10)
        assert deadline_ok, "the server acknowledged too few cases"
    finally:
        server.stop()
    acked = list(acknowledged)
    assert len(acked) >= ACKNOWLEDGED_BEFORE_KILL

    # Restart: snapshot (written every 30 changes) plus the change log.
    server = Server(env, log=log)
    try:
        server.wait_ready()
        assert httpx.get(server.url + "/readyz").json()["index_loaded_from"] == "snapshot"
        _check_everything_is_there(server.url, key, acked)
    finally:
        server.stop()

    # The database holds every acknowledged case with all its rows.
    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        numbers = {number for number, *_ in acked}
        stored = set(session.scalars(select(Case.number).where(Case.number.in_(numbers))))
        assert stored == numbers
        audited = set(session.scalars(
            select(AuditEntry.subject_id).where(AuditEntry.action == "case.created", AuditEntry.subject_id.in_(numbers))
        ))
        assert audited == numbers
        codes = {bytes.fromhex(c) for _, _, cs, *_ in acked for c in cs}
        assert codes <= set(session.scalars(select(BankHash.code).where(BankHash.signal == "pdq")))
    engine.dispose()

    # Without any snapshot: a rebuild from the database gives the same answers.
    shutil.rmtree(data / "index")
    server = Server(env, log=log)
    try:
        server.wait_ready()
        assert httpx.get(server.url + "/readyz").json()["index_loaded_from"] == "database"
        _check_everything_is_there(server.url, key, acked)
    finally:
        server.stop()


def _wait_for(condition, timeout: float) -> bool:
    from .helpers import eventually

    return eventually(condition, timeout, step=0.01)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL: test_consistency.py
def test_two_serve_workers_match_a_new_case_within_two_seconds(tmp_path, backend):
    """``ncii serve --workers 2``: fresh connections land on either worker; all must match."""
    data = tmp_path / "data"
    settings = make_settings(data, None)
    key = _create_platform(settings)
    server = Server(server_env(data, None, index_poll_seconds="0.25"), workers=2, log=tmp_path / "server.log")
    try:
        server.wait_ready()
        code = random_pdq()
        body = {"items": [{"kind": "image", "hashes": [{"signal": "pdq", "hash": code, "quality": 80}]}]}
        assert httpx.post(server.url + "/v1/cases", json=body).status_code == 201
        headers = {"Authorization": f"Bearer {key}"}
        query = {"queries": [{"signal": "pdq", "hash": code}]}

        def every_worker_matches() -> bool:
            # 12 fresh connections: the workers share the listening socket, so both answer some.
            answers = [httpx.post(server.url + "/v1/match", json=query, headers=headers) for _ in range(12)]
            return all(a.status_code == 200 and a.json()["results"][0]["matches"] for a in answers)

        assert _wait_for(every_worker_matches, 2.0)
    finally:
        server.stop()
