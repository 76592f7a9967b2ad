"""The StopNCII dialect, driven by python-threatexchange's own ``StopNCIIAPI`` client against a
running ``ncii serve`` (both backends), plus its refusals through the test client."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select, update
from threatexchange.exchanges.clients.stopncii.api import (
    StopNCIIAPI,
    StopNCIICaseStatus,
    StopNCIICSPFeedback,
    StopNCIICSPFeedbackValue,
    StopNCIIEndpoint,
    StopNCIISignalType,
)
from threatexchange.exchanges.collab_config import CollaborationConfigBase
from threatexchange.exchanges.impl.stop_ncii_api import StopNCIISignalExchangeAPI

from service.db.engine import make_engine, make_sessionmaker
from service.db.models import AuditEntry, BankHash, ChangeLog, ExchangeFeedback, PlatformCase
from service.exchange import stopncii

from .helpers import count, create_platform, eventually, file_item, image_item, random_pdq, submit
from .server import Server, server_env

ALL_SCOPES = ("match", "exchange.read", "exchange.feedback", "exchange.write")
PDQ, MD5 = StopNCIISignalType.ImagePDQ, StopNCIISignalType.VideoMD5


class _Sessions:
    """Enough of an app for ``create_platform``: the test's own connection to the server's database."""

    def __init__(self, settings) -> None:
        self.engine = make_engine(settings)
        self.state = type("State", (), {"sessions": make_sessionmaker(self.engine)})()


@pytest.fixture
def served(settings, database_url, tmp_path):
    server = Server(server_env(settings.data_dir, database_url), log=tmp_path / "serve.log")
    try:
        server.wait_ready()
        db = _Sessions(settings)
        yield server, db
        db.engine.dispose()
    finally:
        server.stop()


def _client(server: Server, key: str) -> StopNCIIAPI:
    """The real client, with our platform key in every header it sends."""
    return StopNCIIAPI(
        subscription_key=key,
        fetch_function_key=key,
        additional_function_keys={StopNCIIEndpoint.SubmitHashes: key, StopNCIIEndpoint.SubmitFeedback: key},
        base_url_override=f"{server.url}/stopncii/v1",
    )


def _submit(server: Server, *items: dict) -> dict:
    response = httpx.post(f"{server.url}/v1/cases", json={"items": list(items)})
    assert response.status_code == 201, response.text
    return response.json()


def _withdraw(server: Server, case: dict) -> None:
    response = httpx.delete(f"{server.url}/v1/cases/{case['case_number']}", headers={"X-Case-PIN": case["pin"]})
    assert response.status_code == 200, response.text


def _fetch_all(api: StopNCIIAPI, page_size: int, start: int = StopNCIIAPI.DEFAULT_START_TIME):
    """The client's paging loop (``fetch_hashes_iter``) with a small page: the latest record per value wins."""
    state, pages, token, more = {}, [], "", True
    while more:
        page = api.fetch_hashes(page_size=page_size, start_timestamp=start, next_page=token)
        pages.append(page)
        state.update({(r.signalType, r.hashValue): r for r in page.hashRecords})
        more, token = page.hasMoreRecords, page.nextPageToken or ""
    return state, pages


def test_the_real_client_against_a_running_server(served):
    """One server per backend (starting one is most of the time): the client fetches, then gives feedback."""
    server, db = served
    _fetches_everything_in_pages_and_sees_withdrawals(server, db)
    _its_feedback_lands_and_its_submitted_hashes_match(server, db)


def _fetches_everything_in_pages_and_sees_withdrawals(server: Server, db: _Sessions) -> None:
    api = _client(server, create_platform(db, "mirror", ("exchange.read",)))
    shared, only_a, b_pdq, b_md5 = random_pdq(), random_pdq(), random_pdq(), "9e107d9d372bb6826bd81d3542a419d6"
    case_a = _submit(server, image_item(shared, only_a))
    case_b = _submit(server, image_item(b_pdq), file_item(b_md5))
    _submit(server, image_item(shared))  # another victim holds the same picture
    _submit(server, {"kind": "image", "hashes": [{"signal": "phash", "hash": "8f373714acfcf4d0"}]})  # not a StopNCII type
    _withdraw(server, case_a)

    state, pages = _fetch_all(api, page_size=2)
    assert len(pages) >= 4 and all(p.count == len(p.hashRecords) for p in pages)
    assert set(state) == {(PDQ, shared), (PDQ, only_a), (PDQ, b_pdq), (MD5, b_md5)}
    assert state[(PDQ, only_a)].hashStatus == StopNCIICaseStatus.Withdrawn
    assert set(state[(PDQ, only_a)].caseNumbers.values()) == {StopNCIICaseStatus.Withdrawn}
    # Withdrawn by one victim, still held by another: still active, both holders shown.
    assert state[(PDQ, shared)].hashStatus == StopNCIICaseStatus.Active
    assert sorted(s.value for s in state[(PDQ, shared)].caseNumbers.values()) == ["Active", "Withdrawn"]
    assert state[(MD5, b_md5)].hashStatus == StopNCIICaseStatus.Active
    # No case number anywhere: the keys are bank hash ids.
    for record in state.values():
        assert all(key.startswith("hash-") for key in record.caseNumbers)
    raw = httpx.get(f"{server.url}/stopncii/v1/FetchHashes", headers={"x-functions-key": api._subscription_key}).text
    assert case_a["case_number"] not in raw and case_b["case_number"] not in raw

    # The client's own loop with its default page size: one page, the same final state.
    whole = list(api.fetch_hashes_iter())
    assert len(whole) == 1 and not whole[0].hasMoreRecords
    assert {(r.signalType, r.hashValue): r.hashStatus for r in whole[0].hashRecords} == {
        k: r.hashStatus for k, r in state.items()
    }

    # threatexchange's exchange layer (what HMA's importer runs) takes every value and our checkpoint.
    exchange = StopNCIISignalExchangeAPI(CollaborationConfigBase(name="bank", api="stopncii", enabled=True), api)
    deltas = list(exchange.fetch_iter([], None))
    assert {value for delta in deltas for _, value in delta.updates} == {shared, only_a, b_pdq, b_md5}
    assert deltas[-1].checkpoint.update_time == whole[-1].nextSetTimestamp

    # Resuming from the stored checkpoint (what HMA keeps) sees a later withdrawal.
    checkpoint = pages[-1].nextSetTimestamp
    assert 0 < checkpoint <= max(r.lastModtimestamp for p in pages for r in p.hashRecords)
    _withdraw(server, case_b)
    later, _ = _fetch_all(api, page_size=2, start=checkpoint)
    assert later[(PDQ, b_pdq)].hashStatus == StopNCIICaseStatus.Withdrawn
    assert later[(MD5, b_md5)].hashStatus == StopNCIICaseStatus.Withdrawn

    with db.state.sessions() as session:
        reads = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange.read")).all()
    assert reads and {r.details["dialect"] for r in reads} == {"stopncii"}


def _its_feedback_lands_and_its_submitted_hashes_match(server: Server, db: _Sessions) -> None:
    alpha_key = create_platform(db, "alpha", ALL_SCOPES)
    alpha, beta = _client(server, alpha_key), _client(server, create_platform(db, "beta", ALL_SCOPES))
    doubtful, liked = random_pdq(), random_pdq()
    _submit(server, image_item(doubtful), image_item(liked))

    alpha.submit_feedback(PDQ, doubtful, StopNCIICSPFeedbackValue.NotBlocked, {"landscape"})
    alpha.submit_feedback(PDQ, liked, StopNCIICSPFeedbackValue.Blocked)
    state, _ = _fetch_all(alpha, page_size=1000)
    assert state[(PDQ, doubtful)].hashStatus == StopNCIICaseStatus.Active
    mine = state[(PDQ, doubtful)].CSPFeedbacks
    assert [(f.feedbackValue, f.source, f.tags) for f in mine] == [(StopNCIICSPFeedbackValue.NotBlocked, "alpha", {"landscape"})]

    # A second platform says not blocked: suspended, and the client is told to drop it.
    beta.submit_feedback(PDQ, doubtful, StopNCIICSPFeedbackValue.NotBlocked, {"beta-private"})
    state, _ = _fetch_all(alpha, page_size=1000)
    record = state[(PDQ, doubtful)]
    assert record.hashStatus == StopNCIICaseStatus.Deleted
    # Alpha sees its own feedback by name and beta's anonymously, without beta's tags.
    assert sorted((f.feedbackValue.value, f.source, tuple(f.tags)) for f in record.CSPFeedbacks) == [
        ("NotBlocked", "", ()), ("NotBlocked", "alpha", ("landscape",))
    ]
    with db.state.sessions() as session:
        assert session.scalar(select(BankHash.status).where(BankHash.code == bytes.fromhex(doubtful))) == "suspended"

    # Hashes a platform submits itself join the bank under its own case and match everywhere.
    own = random_pdq()
    alpha.submit_hashes({(PDQ, own): StopNCIICSPFeedback(StopNCIICSPFeedbackValue.Blocked, {"found-here"})})
    alpha.submit_hash(PDQ, own)  # again: nothing new
    with db.state.sessions() as session:
        owned = session.scalars(select(BankHash).where(BankHash.code == bytes.fromhex(own))).all()
        assert len(owned) == 1 and owned[0].status == "active" and owned[0].quality is None
        assert session.scalar(select(PlatformCase.case_id)) == owned[0].case_id
        assert session.scalar(select(ExchangeFeedback.verdict).where(ExchangeFeedback.hash_id == owned[0].id)) == "blocked"
    check = {"Authorization": f"Bearer {alpha_key}"}

    def matches_own() -> bool:
        answer = httpx.post(f"{server.url}/v1/match", json={"queries": [{"signal": "pdq", "hash": own}]}, headers=check)
        return [m["hash_id"] for m in answer.json()["results"][0]["matches"]] == [owned[0].id]

    assert eventually(matches_own, within=10)
    state, _ = _fetch_all(beta, page_size=1000)
    assert state[(PDQ, own)].hashStatus == StopNCIICaseStatus.Active
    assert [(f.feedbackValue.value, f.source) for f in state[(PDQ, own)].CSPFeedbacks] == [("Blocked", "")]

    # A suspended value cannot come back through a submission.
    beta.submit_hash(PDQ, doubtful)
    with db.state.sessions() as session:
        assert [h.status for h in session.scalars(select(BankHash).where(BankHash.code == bytes.fromhex(doubtful)))] == [
            "suspended"
        ]


# ------------------------------------------------------------------ refusals (test client)

FETCH = "/stopncii/v1/FetchHashes"


def _keys(key: str) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": key, "x-functions-key": key}


def test_stopncii_routes_need_the_right_key_and_scope(client):
    reader = create_platform(client.app, "reader", ("exchange.read",))
    other = create_platform(client.app, "other", ("exchange.read",))
    assert client.get(FETCH).status_code == 401
    assert client.get(FETCH, headers={"Authorization": f"Bearer {reader}"}).status_code == 401  # not this dialect's header
    mixed = client.get(FETCH, headers={"Ocp-Apim-Subscription-Key": reader, "x-functions-key": other})
    assert mixed.status_code == 401 and mixed.json()["error"]["code"] == "api_key_invalid"
    assert client.get(FETCH, headers={"x-functions-key": reader}).status_code == 200
    assert client.get(FETCH, headers={"Ocp-Apim-Subscription-Key": reader}).status_code == 200
    feedback = {"hashFeedbacks": [{"hashValue": random_pdq(), "feedbackValue": "Blocked", "tags": []}]}
    hashes = {"hashRecords": [{"signalType": "ImagePDQ", "hashValue": random_pdq(), "CSPFeedbacks": []}]}
    for path, body in (("/stopncii/v1/SubmitFeedback", feedback), ("/stopncii/v1/SubmitHashes", hashes)):
        refused = client.post(path, json=body, headers=_keys(reader))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "api_key_scope"
    assert count(client.app, BankHash) == 0


def test_bad_fetch_parameters_are_4xx(client):
    key = create_platform(client.app, "reader", ("exchange.read",))
    for params, status, code in (
        ({"nextPageToken": "garbage"}, 400, "cursor_invalid"), ({"pageSize": 0}, 422, "request_invalid"),
        ({"pageSize": 10001}, 422, "request_invalid"), ({"startTimestamp": -1}, 422, "request_invalid"),
        ({"startTimestamp": "soon"}, 422, "request_invalid"), ({"startTimestamp": 2**40}, 422, "request_invalid"),
    ):
        response = client.get(FETCH, params=params, headers=_keys(key))
        assert response.status_code == status and response.json()["error"]["code"] == code, params


def test_start_timestamp_starts_at_the_first_change_made_then(client):
    """What a client resuming from its stored checkpoint gets: every change since, nothing much older."""
    key = create_platform(client.app, "reader", ("exchange.read",))
    old_code, new_code = random_pdq(), random_pdq()
    submit(client, image_item(old_code))
    with client.app.state.sessions() as session, session.begin():
        session.execute(update(ChangeLog).values(at=datetime.now(timezone.utc) - timedelta(hours=2)))
    submit(client, image_item(new_code))

    def fetch(**params) -> dict:
        response = client.get(FETCH, params=params, headers=_keys(key))
        assert response.status_code == 200, response.text
        return response.json()

    since = int(time.time()) - 3600
    recent = fetch(startTimestamp=since)
    assert [r["hashValue"] for r in recent["hashRecords"]] == [new_code]
    assert since - 10 < recent["nextSetTimestamp"] <= recent["hashRecords"][0]["lastModtimestamp"]
    assert [r["hashValue"] for r in fetch()["hashRecords"]] == [old_code, new_code]  # default start: everything
    assert [r["hashValue"] for r in fetch(startTimestamp=recent["nextSetTimestamp"])["hashRecords"]] == [new_code]
    future = fetch(startTimestamp=stopncii.LATEST_TIMESTAMP)
    assert future["hashRecords"] == [] and not future["hasMoreRecords"]
    assert future["nextSetTimestamp"] <= recent["hashRecords"][0]["lastModtimestamp"]


def test_submit_hashes_adds_new_values_once(client):
    key = create_platform(client.app, "alpha", ALL_SCOPES)
    known, new = random_pdq(), random_pdq()
    submit(client, image_item(known))
    records = [{"signalType": "ImagePDQ", "hashValue": v, "CSPFeedbacks": []} for v in (known, new, new.upper())]
    response = client.post("/stopncii/v1/SubmitHashes", json={"count": 3, "hashRecords": records}, headers=_keys(key))
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 3, "added": 1, "existing": 2, "suspended": []}
    again = client.post("/stopncii/v1/SubmitHashes", json={"hashRecords": records[1:2]}, headers=_keys(key))
    assert again.json() == {"count": 1, "added": 0, "existing": 1, "suspended": []}
    assert count(client.app, BankHash) == 2 and count(client.app, PlatformCase) == 1
    # The default verdict of a submission is "blocked", on the existing holder too.
    assert count(client.app, ExchangeFeedback, ExchangeFeedback.verdict == "blocked") == 2


def test_unusable_submissions_store_nothing(client):
    key = create_platform(client.app, "alpha", ALL_SCOPES)
    known = random_pdq()
    submit(client, image_item(known))
    cases = [
        ("/stopncii/v1/SubmitFeedback", {"hashFeedbacks": [
            {"hashValue": known, "feedbackValue": "Blocked", "tags": []},
            {"hashValue": random_pdq(), "feedbackValue": "Blocked", "tags": []}]}, "hash_not_found"),
        ("/stopncii/v1/SubmitFeedback", {"hashFeedbacks": [
            {"hashValue": known, "feedbackValue": "QualityUnknown", "tags": []}]}, "feedback_value_unsupported"),
        ("/stopncii/v1/SubmitFeedback", {"hashFeedbacks": [
            {"hashValue": "abc", "feedbackValue": "Blocked", "tags": []}]}, "hash_malformed"),
        ("/stopncii/v1/SubmitHashes", {"hashRecords": [
            {"signalType": "StopNCIISignalType.ImagePDQ", "hashValue": random_pdq(), "CSPFeedbacks": []},
            {"signalType": "VideoTMK", "hashValue": random_pdq(), "CSPFeedbacks": []}]}, "signal_unknown"),
        ("/stopncii/v1/SubmitHashes", {"hashRecords": [
            {"signalType": "ImagePDQ", "hashValue": "12" * 31, "CSPFeedbacks": []}]}, "hash_malformed"),
    ]
    for path, body, code in cases:
        response = client.post(path, json=body, headers=_keys(key))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "stopncii_refused"
        assert code in {p["code"] for p in response.json()["error"]["details"]}
    assert count(client.app, BankHash) == 1 and count(client.app, ExchangeFeedback) == 0
    bad_shape = client.post("/stopncii/v1/SubmitHashes", json={"hashRecords": "x"}, headers=_keys(key))
    assert bad_shape.status_code == 422 and bad_shape.json()["error"]["code"] == "request_invalid"
