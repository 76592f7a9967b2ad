"""``ncii sync``: a platform's local instance mirrors a hotline's bank (a real ``ncii serve`` process).

What must hold: everything arrives; a victim's withdrawal at the hotline stops local matches after
the next sync; a sync stopped anywhere (a crash before a page's checkpoint commits, ``kill -9``,
Ctrl-C between pages) resumes to exactly the state of an uninterrupted sync; transient errors are
retried; a refused key is a clear error; the key is never printed or stored.
"""

from __future__ import annotations

import os
import secrets
import select as io_select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from service.auth import api_keys
from service.cli import app as cli_app
from service.db.engine import make_engine, make_sessionmaker, transaction
from service.db.migrate import upgrade
from service.db.models import AuditEntry, BankHash, ChangeLog, HashSource, Platform, RemoteHash
from service.sync import mirror, runner
from service.sync.client_native import NativeRemote
from service.sync.remote import RemoteAuthError, RemoteRecord, RemoteUnavailable

from .conftest import make_settings
from .helpers import catch_up, create_platform, eventually, match, pdq_query, random_pdq
from .server import Server, free_port, server_env


@dataclass
class Hotline:
    url: str
    keys: dict[str, str]
    sessions: object  # the hotline's own database, to read what it holds

    def submit(self, pictures: int = 1, files: int = 1) -> dict:
        items = [{"kind": "image", "hashes": [{"signal": "pdq", "hash": random_pdq(), "quality": 90},
                                              {"signal": "pdq", "hash": random_pdq(), "quality": 90, "variant": "crop90"}]}
                 for _ in range(pictures)]
        items += [{"kind": "file", "hashes": [{"signal": "md5", "hash": secrets.token_hex(16)}]} for _ in range(files)]
        response = httpx.post(f"{self.url}/v1/cases", json={"items": items}, timeout=30)
        assert response.status_code == 201, response.text
        return {**response.json(), "sent": items}

    def withdraw(self, case: dict) -> None:
        response = httpx.delete(f"{self.url}/v1/cases/{case['case_number']}", headers={"X-Case-PIN": case["pin"]},
                                timeout=30)
        assert response.status_code == 200, response.text

    def active(self) -> set[tuple[str, str]]:
        with self.sessions() as session:
            rows = session.execute(select(BankHash.signal, BankHash.code).where(BankHash.status == "active")).all()
        return {(s, bytes(c).hex()) for s, c in rows}


@pytest.fixture(scope="module")
def hotline(tmp_path_factory):
    data = tmp_path_factory.mktemp("hotline")
    engine = make_engine(make_settings(data))
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    keys = {}
    with transaction(sessions) as session:
        for name, scopes in (("mirror", ("exchange.read",)), ("checks-only", ("match",))):
            platform = Platform(name=name)
            session.add(platform)
            keys[name] = api_keys.issue_key(session, platform, scopes).token
    server = Server(server_env(data, None), log=data / "server.log")
    try:
        server.wait_ready()
        yield Hotline(server.url, keys, sessions)
    finally:
        server.stop()
        engine.dispose()


def _remote(hotline: Hotline, page_size: int = 500, **options) -> NativeRemote:
    return NativeRemote(hotline.url, hotline.keys["mirror"], page_size=page_size, **options)


def _sync(sessions, remote, **kwargs) -> runner.RunSummary:
    source_id = runner.prepare_source(sessions, remote)
    return runner.run_once(sessions, remote, source_id, **kwargs)


def _mirrored(sessions) -> set[tuple[str, str]]:
    """The (signal, hex) of the local bank's matchable hashes that came from a remote."""
    with sessions() as session:
        rows = session.execute(
            select(BankHash.signal, BankHash.code).join(HashSource, HashSource.case_id == BankHash.case_id)
            .where(HashSource.kind == "remote", BankHash.status == "active")
        ).all()
    return {(s, bytes(c).hex()) for s, c in rows}


def _state(sessions) -> dict:
    """Everything a sync writes, without ids or times: what an interrupted sync must end up equal to."""
    with sessions() as session:
        hashes = session.execute(select(BankHash.id, BankHash.signal, BankHash.code, BankHash.status)).all()
        value = {h.id: (h.signal, bytes(h.code).hex()) for h in hashes}
        return {
            "hashes": sorted((*value[h.id], h.status) for h in hashes),
            "remote": sorted((r.remote_key, value[r.hash_id], r.active, r.reason) for r in session.scalars(select(RemoteHash))),
            "log": [(value[c.hash_id], c.op, c.reason) for c in session.scalars(select(ChangeLog).order_by(ChangeLog.seq))],
            "checkpoint": session.scalar(select(HashSource.checkpoint)),
        }


def _reference(tmp_path, hotline: Hotline, page_size: int = 3, pages: int | None = None) -> dict:
    """An uninterrupted sync (of ``pages`` pages, or all) into a database of its own, in pages of the same
    size (a hash added and withdrawn within one page never reaches the change log; across two it does)."""
    engine = make_engine(make_settings(tmp_path / f"reference-{page_size}-{pages}"))
    upgrade(engine)
    try:
        sessions = make_sessionmaker(engine)
        remote = _remote(hotline, page_size=page_size)
        stop = threading.Event()
        _sync(sessions, remote, stop=stop, on_page=lambda summary: pages and summary.pages >= pages and stop.set())
        remote.close()
        return _state(sessions)
    finally:
        engine.dispose()


@pytest.fixture
def sync_cli(settings, database_url):
    runner_ = CliRunner()

    def invoke(*args: str, key: str | None = None):
        env = {"NCII_DATA_DIR": str(settings.data_dir), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
               "NCII_SYNC_KEY": key}
        return runner_.invoke(cli_app, ["sync", *args], env=env)

    return invoke


# ---------------------------------------------------------------- end to end


def test_everything_arrives_and_a_withdrawal_stops_local_matches(client, hotline, sync_cli, backend):
    kept, withdrawn = hotline.submit(), hotline.submit()
    key = hotline.keys["mirror"]

    first = sync_cli("--from", hotline.url, "--page-size", "2", key=key)
    assert first.exit_code == 0, first.output
    assert "added" in first.stdout and key not in first.output
    local = client.app
    assert _mirrored(local.state.sessions) == hotline.active()

    platform = {"Authorization": f"Bearer {create_platform(local, 'local-tube')}"}
    catch_up(local)
    for case in (kept, withdrawn):
        code = case["sent"][0]["hashes"][0]["hash"]
        assert match(client, platform, pdq_query(code)).json()["results"][0]["matches"], "a mirrored hash matches locally"

    hotline.withdraw(withdrawn)
    with local.state.sessions() as session:
        audited_before = session.scalar(select(func.max(AuditEntry.id)))
    second = sync_cli("--from", hotline.url, key=key)
    assert second.exit_code == 0, second.output
    assert "3 removed" in second.stdout  # two PDQ hashes and an MD5
    catch_up(local)
    gone_pdq = withdrawn["sent"][0]["hashes"][0]["hash"]
    gone_md5 = withdrawn["sent"][1]["hashes"][0]["hash"]
    results = match(client, platform, pdq_query(gone_pdq), {"signal": "md5", "hash": gone_md5},
                    pdq_query(kept["sent"][0]["hashes"][0]["hash"])).json()["results"]
    assert [bool(r["matches"]) for r in results] == [False, False, True]
    assert _mirrored(local.state.sessions) == hotline.active()

    # From the start again: every record is read again and nothing changes.
    before = _state(local.state.sessions)
    again = sync_cli("--from", hotline.url, "--from-start", key=key)
    assert again.exit_code == 0, again.output
    assert " 0 added, 0 removed" in again.stdout
    assert {k: v for k, v in _state(local.state.sessions).items() if k != "checkpoint"} == {
        k: v for k, v in before.items() if k != "checkpoint"}

    with local.state.sessions() as session:
        pages = session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.page")).all()
        assert pages and all(p.actor_type == "system" for p in pages)
        assert sum(p.details["removed"] for p in pages if p.id > audited_before) == 3  # one row a page, not a hash
    if backend == "sqlite":  # the key is nowhere in the local database
        data = b"".join(p.read_bytes() for p in local.state.settings.data_dir.glob("ncii.sqlite3*"))
        assert key.encode() not in data and key.rsplit("_", 1)[-1].encode() not in data


def test_a_crash_before_the_checkpoint_commits_loses_and_repeats_nothing(tmp_path, client, hotline, monkeypatch):
    hotline.submit(pictures=2)
    hotline.withdraw(hotline.submit())  # 11 records at least: 3 pages of 4
    reference = _reference(tmp_path, hotline, page_size=4)
    after_two_pages = _reference(tmp_path, hotline, page_size=4, pages=2)
    sessions = client.app.state.sessions
    real_save = mirror.save_checkpoint
    calls = []

    def crash_on_third_page(session, source, checkpoint):
        calls.append(checkpoint)
        real_save(session, source, checkpoint)
        if len(calls) == 3:
            raise RuntimeError("power cut after applying the page, before its commit")

    monkeypatch.setattr(mirror, "save_checkpoint", crash_on_third_page)
    with pytest.raises(RuntimeError):
        _sync(sessions, _remote(hotline, page_size=4))
    assert _state(sessions) == after_two_pages != reference  # the third page left no trace, its checkpoint included

    monkeypatch.setattr(mirror, "save_checkpoint", real_save)
    _sync(sessions, _remote(hotline, page_size=4))
    assert _state(sessions) == reference


def test_two_syncs_of_one_source_at_once_apply_each_page_once(tmp_path, client, hotline):
    hotline.submit(pictures=2)
    reference = _reference(tmp_path, hotline, page_size=4)
    sessions = client.app.state.sessions
    source_id = runner.prepare_source(sessions, _remote(hotline))
    failures: list[BaseException] = []

    def one_sync() -> None:
        try:
            runner.run_once(sessions, _remote(hotline, page_size=4), source_id)
        except BaseException as error:  # noqa: BLE001 (reported below)
            failures.append(error)

    threads = [threading.Thread(target=one_sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert _state(sessions) == reference  # the same pages applied once each, in order


def test_kill_9_mid_sync_then_resume_equals_an_uninterrupted_sync(tmp_path, hotline):
    for _ in range(2):
        hotline.submit(pictures=3)
    reference = _reference(tmp_path, hotline, page_size=10)
    settings = make_settings(tmp_path / "local")
    env = server_env(settings.data_dir, None, sync_key=hotline.keys["mirror"])
    command = [sys.executable, "-c", "from service.cli import main; main()", "sync", "--from", hotline.url,
               "--page-size", "10"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    engine = make_engine(settings)
    try:
        sessions = make_sessionmaker(engine, read_only=True)

        def some_pages_done() -> bool:
            try:
                with sessions() as session:
                    return bool(session.scalar(select(HashSource.checkpoint)))
            except Exception:  # the schema is not there yet
                return False

        assert eventually(some_pages_done, within=60, step=0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        _sync(make_sessionmaker(engine), _remote(hotline, page_size=10))  # resume
        assert _state(sessions) == reference
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_stop_between_pages_then_resume(tmp_path, client, hotline):
    hotline.submit(pictures=2)
    reference = _reference(tmp_path, hotline, page_size=10)
    sessions = client.app.state.sessions

    stop = threading.Event()
    first = _sync(sessions, _remote(hotline, page_size=10), stop=stop, on_page=lambda summary: stop.set())
    assert first.stopped and first.pages == 1
    rest = _sync(sessions, _remote(hotline, page_size=10))
    assert not rest.stopped and rest.pages >= 1
    assert _state(sessions) == reference


class _Lines:
    """A child's stdout, line by line, never waiting longer than ``within`` seconds for one."""

    def __init__(self, stream, within: float = 60) -> None:
        self.fd, self.within, self.buffer = stream.fileno(), within, b""

    def next(self) -> str:
        deadline = time.monotonic() + self.within
        while b"\n" not in self.buffer:
            ready, _, _ = io_select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.fd, 4096) if ready else b""
            assert chunk, "no line from the child in time (or it exited)"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def test_continuous_sync_runs_until_ctrl_c(tmp_path, hotline):
    settings = make_settings(tmp_path / "local")
    env = server_env(settings.data_dir, None, sync_key=hotline.keys["mirror"])
    process = subprocess.Popen(
        [sys.executable, "-c", "from service.cli import main; main()", "sync", "--from", hotline.url, "--every", "1s"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        lines = _Lines(process.stdout)
        runs = [lines.next()]
        code = hotline.submit()["sent"][0]["hashes"][0]["hash"]
        runs.append(lines.next())  # a period later, the next run
        while "0 records" in runs[-1]:  # that run may have started before the case was submitted
            runs.append(lines.next())
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert all("native" in line and "checkpoint" in line for line in runs)
    engine = make_engine(settings)
    try:
        assert ("pdq", code) in _mirrored(make_sessionmaker(engine))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_refused_key_is_a_clear_error(tmp_path, hotline, sync_cli):
    wrong = "ncii_AAAAAAAAAAAA_" + "x" * 43
    handler = signal.getsignal(signal.SIGINT)
    for key, status in ((wrong, "401"), (hotline.keys["checks-only"], "403")):
        result = sync_cli("--from", hotline.url, key=key)
        assert result.exit_code == 1
        assert f"refused the key ({status}" in result.stderr
        assert "Traceback" not in result.output and key not in result.output
    key_file = tmp_path / "hotline.key"
    key_file.write_text(wrong + "\n")
    from_file = sync_cli("--from", hotline.url, "--key-file", str(key_file))
    assert from_file.exit_code == 1 and "refused the key (401" in from_file.stderr
    assert sync_cli("--from", hotline.url, "--key-file", str(tmp_path / "missing.key")).exit_code == 2
    assert sync_cli("--from", hotline.url).exit_code == 2  # no key at all
    assert signal.getsignal(signal.SIGINT) is handler  # the command put the caller's Ctrl-C handler back
    assert sync_cli("--from", "http://u:p@example.org", key=wrong).exit_code == 2  # credentials in the URL
    assert sync_cli("--from", "ftp://example.org", key=wrong).exit_code == 2
    assert sync_cli("--from", hotline.url, "--every", "0s", key=wrong).exit_code == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_checkpoint_the_remote_does_not_know_says_what_to_do(client, hotline, sync_cli):
    from service.exchange.feed import encode_cursor

    key = hotline.keys["mirror"]
    assert sync_cli("--from", hotline.url, key=key).exit_code == 0
    with transaction(client.app.state.sessions) as session:  # as if the hotline restored an older backup
        session.scalar(select(HashSource)).checkpoint = encode_cursor(10**9)
    behind = sync_cli("--from", hotline.url, key=key)
    assert behind.exit_code == 1 and "409" in behind.stderr and "--from-start" in behind.stderr
    again = sync_cli("--from", hotline.url, "--from-start", key=key)
    assert again.exit_code == 0 and " 0 added, 0 removed" in again.stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_unreachable_remote_is_retried_then_reported(sync_cli, monkeypatch):
    from service.cli import sync as command

    monkeypatch.setattr(command, "RETRY_BACKOFF_SECONDS", 0.001)
    result = sync_cli("--from", f"http://127.0.0.1:{free_port()}", key="k")
    assert result.exit_code == 1 and "ConnectError after 6 attempts" in result.stderr
    assert "Traceback" not in result.output


def _page(records: list[dict], cursor: str, more: bool) -> dict:
    return {"records": records, "next_cursor": cursor, "has_more": more}


def _record(seq: int, hash_id: int, code: str, op: str = "add", reason: str = "submitted", signal_: str = "pdq") -> dict:
    return {"seq": seq, "hash_id": hash_id, "signal": signal_, "hash": code, "op": op, "reason": reason,
            "status": "active", "quality": 90, "variant": "full", "case_status": "active", "feedback": {}, "at": "x"}


def test_transient_errors_are_retried_with_backoff():
    answers = [httpx.Response(503), "drop", httpx.Response(429), httpx.Response(200, json=_page([], "c1", False))]
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if answer == "drop":
            raise httpx.ConnectError("connection refused", request=request)
        return answer

    delays: list[float] = []
    remote = NativeRemote("http://hotline", "ncii_k_s", transport=httpx.MockTransport(serve),
                          wait=lambda s: delays.append(s) or False)
    page = remote.fetch(None)
    assert page.checkpoint == "c1" and not page.has_more
    assert delays == [0.5, 1.0, 2.0]
    assert all(r.headers["authorization"] == "Bearer ncii_k_s" for r in seen)

    failing = NativeRemote("http://hotline", "ncii_k_s", transport=httpx.MockTransport(lambda r: httpx.Response(500)),
                           attempts=3, wait=lambda s: False)
    with pytest.raises(RemoteUnavailable, match="HTTP 500 after 3 attempts"):
        failing.fetch("c1")
    refused = NativeRemote("http://hotline", "ncii_k_s", transport=httpx.MockTransport(lambda r: httpx.Response(401)),
                           wait=lambda s: pytest.fail("a refused key is not retried"))
    with pytest.raises(RemoteAuthError):
        refused.fetch(None)


# ---------------------------------------------------------------- applying records


def test_every_reason_is_applied_and_applying_twice_changes_nothing(client):
    sessions = client.app.state.sessions
    a, b = random_pdq(), random_pdq()

    def rec(key: str, code: str, matchable: bool, reason: str) -> RemoteRecord:
        return RemoteRecord(key=key, signal="pdq", hash=code, matchable=matchable, reason=reason, quality=90)

    steps = [
        ([rec("pdq:1", a, True, "submitted"), rec("pdq:2", a, True, "submitted"), rec("pdq:3", b, True, "submitted")],
         {a: "active", b: "active"}),
        ([rec("pdq:1", a, False, "withdrawn")], {a: "active", b: "active"}),  # pdq:2 holds the same value
        ([rec("pdq:2", a, False, "suspended")], {a: "suspended", b: "active"}),
        ([rec("pdq:2", a, True, "reinstated")], {a: "active", b: "active"}),
        ([rec("pdq:3", b, False, "retired"), rec("pdq:9", b, False, "withdrawn")], {a: "active", b: "retired"}),
        # Within one page only a remote hash's last record counts: still not matchable, nothing to do.
        ([rec("pdq:3", b, True, "reinstated"), rec("pdq:3", b, False, "withdrawn")], {a: "active", b: "retired"}),
    ]
    with transaction(sessions) as session:
        source_id = mirror.remote_source(session, "native", "http://hotline").id
    for records, expected in steps:
        for attempt in range(2):
            with transaction(sessions) as session:
                source = session.get(HashSource, source_id)
                outcome = mirror.apply_records(session, source, records)
            if attempt:
                assert (outcome.added, outcome.removed) == (0, 0)
            with sessions() as session:
                status = {bytes(c).hex(): s for c, s in session.execute(select(BankHash.code, BankHash.status))}
            assert status == expected
    with sessions() as session:
        log = session.execute(select(ChangeLog.op, ChangeLog.reason).order_by(ChangeLog.seq)).all()
    assert [tuple(r) for r in log] == [
        ("add", "submitted"), ("add", "submitted"), ("remove", "suspended"), ("add", "reinstated"),
        ("remove", "retired"),
    ]
    catch_up(client.app)
    platform = {"Authorization": f"Bearer {create_platform(client.app, 'p')}"}
    results = match(client, platform, pdq_query(a), pdq_query(b)).json()["results"]
    assert [bool(r["matches"]) for r in results] == [True, False]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unknown_signals_and_bad_hashes_are_skipped_not_fatal(client):
    pages = [_page([_record(1, 1, random_pdq()), _record(2, 2, "ab" * 40, signal_="tmk"), _record(3, 3, "zz")],
                   "c1", False)]
    remote = NativeRemote("http://hotline", "k", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json=pages[0])))
    summary = _sync(client.app.state.sessions, remote)
    assert (summary.records, summary.added, summary.skipped) == (3, 1, 2)


# ---------------------------------------------------------------- the StopNCII dialect


def test_stopncii_dialect_end_to_end_with_a_withdrawal(client, hotline, sync_cli):
    kept, withdrawn = hotline.submit(), hotline.submit()
    key = hotline.keys["mirror"]
    base = f"{hotline.url}/stopncii/v1"

    first = sync_cli("--from", base, "--dialect", "stopncii", "--page-size", "3", key=key)
    assert first.exit_code == 0, first.output
    local = client.app
    assert _mirrored(local.state.sessions) == hotline.active()  # values: pdq and md5, the signals it names

    hotline.withdraw(withdrawn)
    second = sync_cli("--from", base, "--dialect", "stopncii", key=key)
    assert second.exit_code == 0, second.output
    assert "3 removed" in second.stdout
    assert _mirrored(local.state.sessions) == hotline.active()

    platform = {"Authorization": f"Bearer {create_platform(local, 'local-tube')}"}
    catch_up(local)
    results = match(client, platform, pdq_query(withdrawn["sent"][0]["hashes"][0]["hash"]),
                    pdq_query(kept["sent"][0]["hashes"][0]["hash"])).json()["results"]
    assert [bool(r["matches"]) for r in results] == [False, True]
    with local.state.sessions() as session:
        assert session.scalar(select(HashSource.dialect)) == "stopncii"
        assert session.scalar(select(func.count()).select_from(RemoteHash).where(RemoteHash.remote_key.like("pdq:%")))


def test_stopncii_client_pages_tokens_statuses_and_keys():
    from service.sync.client_stopncii import StopNCIIRemote

    a, b, c = random_pdq(), random_pdq(), random_pdq()
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        token = request.url.params.get("nextPageToken")
        if token == "stale":
            return httpx.Response(400, json={"error": {"message": "bad token"}})
        if token is None:
            return httpx.Response(200, json={"count": 3, "nextPageToken": "p2", "nextSetTimestamp": 100,
                                             "hasMoreRecords": True, "hashRecords": [
                {"lastModtimestamp": 90, "signalType": "ImagePDQ", "hashValue": a.upper(), "hashStatus": "Active",
                 "caseNumbers": {}, "CSPFeedbacks": []},
                {"lastModtimestamp": 91, "signalType": "VideoTMK", "hashValue": "00", "hashStatus": "Active",
                 "caseNumbers": []},
                {"lastModtimestamp": 92, "signalType": "ImagePDQ", "hashValue": b, "hashStatus": "Received",
                 "caseNumbers": {}}]})
        return httpx.Response(200, json={"count": 2, "nextPageToken": "p3", "nextSetTimestamp": 150,
                                         "hasMoreRecords": False, "hashRecords": [
            {"lastModtimestamp": 140, "signalType": "ImagePDQ", "hashValue": a, "hashStatus": "Withdrawn", "caseNumbers": {}},
            {"lastModtimestamp": 141, "signalType": "ImagePDQ", "hashValue": c, "hashStatus": "Deleted", "caseNumbers": {}}]})

    remote = StopNCIIRemote("http://stopncii.example/v1", "function-key,subscription-key",
                            transport=httpx.MockTransport(serve), wait=lambda s: False)
    first = remote.fetch(None)
    assert [(r.key, r.matchable) for r in first.records] == [(f"pdq:{a}", True), (f"pdq:{b}", True)]
    assert first.unsupported == 1 and first.has_more
    second = remote.fetch(first.checkpoint)
    assert [(r.key, r.matchable, r.reason) for r in second.records] == [(f"pdq:{a}", False, "withdrawn"),
                                                                        (f"pdq:{c}", False, "retired")]
    assert not second.has_more
    assert seen[0].url.path == "/v1/FetchHashes" and seen[0].url.params["startTimestamp"] == "10"
    assert seen[1].url.params["nextPageToken"] == "p2" and seen[1].url.params["startTimestamp"] == "10"
    assert seen[0].headers["x-functions-key"] == "function-key"
    assert seen[0].headers["ocp-apim-subscription-key"] == "subscription-key"
    # The next pass starts from the remote's nextSetTimestamp, without a token.
    remote.fetch(second.checkpoint)
    assert seen[2].url.params["startTimestamp"] == "150" and "nextPageToken" not in seen[2].url.params
    # A stale page token restarts the pass from its timestamp.
    remote.fetch('{"start": 100, "token": "stale"}')
    assert seen[-1].url.params["startTimestamp"] == "100" and "nextPageToken" not in seen[-1].url.params


def test_a_native_record_keeps_its_structure_unless_pdq_could_not_have_made_it():
    from service.sync.client_native import _record
    from service.sync.remote import RemoteProtocolError

    base = {"signal": "pdq", "hash_id": 7, "hash": "ab" * 32, "op": "add", "quality": 100}
    assert _record(dict(base, structure=420), 0).structure == 420
    assert _record(base, 0).structure is None
    assert _record(dict(base, structure=80), 0).structure is None  # its quality would be 80
    assert _record(dict(base, structure=10**6), 0).structure is None
    with pytest.raises(RemoteProtocolError):
        _record(dict(base, structure="lots"), 0)


def test_an_answer_nested_too_deep_is_a_protocol_error_not_a_crash():
    """A remote's JSON nested deeper than Python's recursion limit made json raise RecursionError,
    which escaped fetch as a traceback (found reading the code behind
    benchmarks/fuzz/sync_native.py; its crash inputs replay it)."""
    from service.sync.remote import RemoteProtocolError

    deep = b"[" * 5000
    for status in (200, 400):
        remote = NativeRemote("http://hotline", "ncii_k_s", wait=lambda s: False,
                              transport=httpx.MockTransport(lambda r, status=status: httpx.Response(status, content=deep)))
        with pytest.raises(RemoteProtocolError):
            remote.fetch(None)
