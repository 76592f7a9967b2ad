"""Each worker's index: rebuild from the database, snapshot + change-log replay, fallbacks."""

from __future__ import annotations

import json
import random

import numpy as np
from sqlalchemy import update

from matcher.signals import get_signal
from service.bank_index import BankIndex
from service.db.models import Case

from .conftest import make_settings
from .helpers import catch_up, file_item, flip_bits, image_item, pin_headers, random_pdq, submit


def _answers(index: BankIndex, queries: list[str], md5s: list[str]) -> list:
    codes = np.stack([np.frombuffer(bytes.fromhex(q), dtype=np.uint8) for q in queries])
    pdq = [sorted((h.hash_id, h.distance) for h in hits) for hits in index.search("pdq", codes, 31)]
    md5 = np.stack([np.frombuffer(bytes.fromhex(m), dtype=np.uint8) for m in md5s])
    return pdq + [sorted(h.hash_id for h in hits) for hits in index.search("md5", md5, 0)]


def _fresh(app, settings) -> BankIndex:
    index = BankIndex(app.state.sessions, settings)
    index.start()
    index.stop()
    return index


def test_snapshot_and_replay_answer_like_a_rebuild(client, settings):
    rng = random.Random(5)
    cases, codes, md5s = [], [], []
    for _ in range(30):
        code, md5 = random_pdq(), f"{rng.getrandbits(128):032x}"
        codes.append(code)
        md5s.append(md5)
        cases.append(submit(client, image_item(code, flip_bits(code, 8)), file_item(md5)))
    for case in cases[:5]:
        client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    catch_up(client.app)
    assert client.app.state.index.write_snapshot()
    snapshot_seq = json.loads((settings.snapshot_dir / "snapshot.json").read_text())["seq"]

    # Changes after the snapshot: new cases, withdrawals of cases from before and after it.
    for _ in range(10):
        code, md5 = random_pdq(), f"{rng.getrandbits(128):032x}"
        codes.append(code)
        md5s.append(md5)
        cases.append(submit(client, image_item(code), file_item(md5)))
    for case in cases[10:12] + cases[-2:]:
        client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))

    queries = [flip_bits(c, 3) for c in codes] + [random_pdq() for _ in range(20)]
    replayed = _fresh(client.app, settings)
    assert replayed.snapshot_seq == snapshot_seq and replayed.seq > snapshot_seq
    for path in settings.snapshot_dir.iterdir():
        path.unlink()
    rebuilt = _fresh(client.app, settings)
    assert rebuilt.snapshot_seq == 0 and rebuilt.seq == replayed.seq
    assert rebuilt.size() == replayed.size() == 23 * 3 + 8 * 2  # active cases x their hashes
    expected = _answers(rebuilt, queries, md5s)
    assert _answers(replayed, queries, md5s) == expected
    catch_up(client.app)
    assert _answers(client.app.state.index, queries, md5s) == expected
    withdrawn = {0, 1, 2, 3, 4, 10, 11, 38, 39}
    assert [bool(hits) for hits in expected[: len(codes)]] == [i not in withdrawn for i in range(len(codes))]


def test_snapshots_are_written_every_n_changes_and_old_ones_removed(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    # No background follower: this test drives catch-up and snapshots itself.
    settings = make_settings(tmp_path / "data", database_url, snapshot_every_changes=10, index_poll_seconds=3600)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            submit(client, *[image_item(random_pdq()) for _ in range(12)])
            catch_up(client.app)
            client.app.state.index._maybe_snapshot()
        meta = json.loads((settings.snapshot_dir / "snapshot.json").read_text())
        assert meta["seq"] == 36
        names = sorted(p.name for p in settings.snapshot_dir.iterdir() if not p.name.startswith("."))
        assert names == sorted(["snapshot.json", "snapshot.lock", "pdq-36.npz", "exact-36.json"])


def test_a_snapshot_ahead_of_the_database_or_unreadable_is_ignored(client, settings):
    code = random_pdq()
    submit(client, image_item(code))
    catch_up(client.app)
    client.app.state.index.write_snapshot()
    meta_path = settings.snapshot_dir / "snapshot.json"
    meta = json.loads(meta_path.read_text())

    meta_path.write_text(json.dumps(dict(meta, seq=meta["seq"] + 100)))  # e.g. a restored database backup
    ahead = _fresh(client.app, settings)
    assert ahead.snapshot_seq == 0 and ahead.size() == 1

    meta_path.write_text(json.dumps(meta))
    (settings.snapshot_dir / meta["perceptual"]["pdq"]).write_bytes(b"garbage")
    broken = _fresh(client.app, settings)
    assert broken.snapshot_seq == 0 and broken.size() == 1

    meta_path.write_text("{not json")
    assert _fresh(client.app, settings).size() == 1


def test_rebuild_skips_withdrawn_and_suspended_hashes(client, settings):
    keep, gone = random_pdq(), random_pdq()
    submit(client, image_item(keep))
    case = submit(client, image_item(gone))
    client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    index = _fresh(client.app, settings)
    codes = np.stack([np.frombuffer(bytes.fromhex(c), dtype=np.uint8) for c in (keep, gone)])
    assert [len(h) for h in index.search("pdq", codes, get_signal("pdq").threshold)] == [1, 0]
    with client.app.state.sessions() as session, session.begin():
        session.execute(update(Case).values(status="active"))  # status of the case is not what counts
    assert _fresh(client.app, settings).size() == 1


def _pdq_codes(*hexes: str) -> np.ndarray:
    return np.stack([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in hexes])


def _counting_searches(index: BankIndex, monkeypatch) -> list[int]:
    """Codes the worker's HashIndex is asked to search, per call (the rest came from the cache)."""
    calls: list[int] = []
    perceptual = index._index_for("pdq")
    original = perceptual.search

    def counted(codes, threshold, **kwargs):
        calls.append(len(codes))
        return original(codes, threshold, **kwargs)

    monkeypatch.setattr(perceptual, "search", counted)
    return calls


def test_repeated_uploads_are_answered_from_the_cache_until_the_bank_changes(client, monkeypatch):
    index: BankIndex = client.app.state.index
    stored = random_pdq()
    case = submit(client, image_item(stored))
    catch_up(client.app)
    calls = _counting_searches(index, monkeypatch)
    near, later = flip_bits(stored, 5), random_pdq()
    first = index.search("pdq", _pdq_codes(near, later), 31)
    assert [[h.distance for h in hits] for hits in first] == [[5], []] and calls == [2]
    again = index.search("pdq", _pdq_codes(later, near, near), 31)  # all three from the cache
    assert [[h.distance for h in hits] for hits in again] == [[], [5], [5]] and calls == [2]
    assert index.search("pdq", _pdq_codes(near), 52)[0][0].distance == 5 and calls == [2, 1]  # another radius

    # A new case holding a copy of ``later``: the cached "no match" is brought up to date from
    # the change history (no search), and so is the cached match after a withdrawal.
    submit(client, image_item(flip_bits(later, 2)))
    catch_up(client.app)
    assert [h.distance for h in index.search("pdq", _pdq_codes(later), 31)[0]] == [2]
    client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    catch_up(client.app)
    assert index.search("pdq", _pdq_codes(near), 31) == [[]]
    assert calls == [2, 1]


def test_cached_answers_brought_up_to_date_equal_fresh_searches(client):
    """Submissions (near copies of the queries among them) and withdrawals in random order,
    each followed by the same queries: the cache's answers are always the index's own."""
    index: BankIndex = client.app.state.index
    rng = random.Random(11)
    queries = [random_pdq() for _ in range(12)]
    codes = _pdq_codes(*queries)
    cases = []
    for step in range(40):
        if cases and rng.random() < 0.3:
            case = cases.pop(rng.randrange(len(cases)))
            client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
        else:
            near = [flip_bits(rng.choice(queries), rng.choice([0, 5, 20, 31, 32, 40, 52, 60])) for _ in range(2)]
            cases.append(submit(client, image_item(*near)))
        if rng.random() < 0.5:  # sometimes several changes land between two checks
            catch_up(client.app)
            for radius in (31, 52):
                fresh = index._index_for("pdq").search(codes, radius)
                cached = index.search("pdq", codes, radius)
                assert [[(h.hash_id, h.distance) for h in hits] for hits in cached] == [
                    list(zip(f.ids.tolist(), f.distances.tolist())) for f in fresh
                ], step
    assert len(index._cache) == 2 * len(queries)


def test_a_cached_answer_older_than_the_history_is_searched_again(client, monkeypatch):
    from service import search_cache

    index: BankIndex = client.app.state.index
    query = random_pdq()
    index.search("pdq", _pdq_codes(query), 31)
    calls = _counting_searches(index, monkeypatch)
    monkeypatch.setattr(index._cache.history, "_max_runs", 2)
    for d in (3, 4, 5):  # three generations: the first falls out of a two-run history
        submit(client, image_item(flip_bits(query, d)))
        catch_up(client.app)
    assert [h.distance for h in index.search("pdq", _pdq_codes(query), 31)[0]] == [3, 4, 5] and calls == [1]
    monkeypatch.setattr(search_cache, "MAX_REPLAY_RUNS", 0)  # too much to replay: search
    submit(client, image_item(flip_bits(query, 6)))
    catch_up(client.app)
    assert [h.distance for h in index.search("pdq", _pdq_codes(query), 31)[0]] == [3, 4, 5, 6] and calls == [1, 1]


def test_an_answer_computed_while_the_bank_changes_is_not_kept(client, monkeypatch):
    """The generation is read before the index: a search that overlaps a change stores its
    answer under the old generation, which is never served."""
    index: BankIndex = client.app.state.index
    query = random_pdq()
    submit(client, image_item(random_pdq()))
    catch_up(client.app)
    perceptual = index._index_for("pdq")
    original = perceptual.search
    newcomer = flip_bits(query, 1)

    def search_then_change(codes, threshold, **kwargs):
        answer = original(codes, threshold, **kwargs)  # the bank as it was: no match
        monkeypatch.setattr(perceptual, "search", original)
        submit(client, image_item(newcomer))
        catch_up(client.app)  # applied before this search returns
        return answer

    monkeypatch.setattr(perceptual, "search", search_then_change)
    assert index.search("pdq", _pdq_codes(query), 31) == [[]]
    assert [h.distance for h in index.search("pdq", _pdq_codes(query), 31)[0]] == [1]


def test_the_cache_can_be_switched_off(tmp_path, database_url, monkeypatch):
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data", database_url, index_cache_entries=0))) as client:
        index: BankIndex = client.app.state.index
        submit(client, image_item(random_pdq()))
        catch_up(client.app)
        calls = _counting_searches(index, monkeypatch)
        code = _pdq_codes(random_pdq())
        index.search("pdq", code, 31)
        index.search("pdq", code, 31)
        assert calls == [1, 1] and len(index._cache) == 0
