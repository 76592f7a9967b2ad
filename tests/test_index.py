"""HashIndex is exact: it returns what a brute-force scan returns, through adds, removes, merges and reloads."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import IndexFormatError, MatcherError
from matcher.index import HashIndex, kernel
from matcher.index.persistence import read_arrays, write_arrays

RNG_SEED = 20240531


def flip_bits(code: np.ndarray, distance: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(len(bits), distance, replace=False)] ^= 1
    return np.packbits(bits)


def brute_force(bank: dict[int, np.ndarray], queries: np.ndarray, threshold: int) -> list[dict[int, int]]:
    if not bank:
        return [{} for _ in queries]
    ids = np.array(list(bank), dtype=np.int64)
    codes = np.stack(list(bank.values()))
    out = []
    for q in queries:
        d = np.unpackbits(codes ^ q, axis=1).sum(axis=1)
        out.append({int(i): int(x) for i, x in zip(ids[d <= threshold], d[d <= threshold])})
    return out


def assert_exact(index: HashIndex, bank: dict[int, np.ndarray], queries: np.ndarray, threshold: int) -> None:
    results = index.search(queries, threshold)
    assert len(results) == len(queries)
    for got, want in zip(results, brute_force(bank, queries, threshold)):
        assert dict(zip(got.ids.tolist(), got.distances.tolist())) == want
        # nearest first, ties by id
        assert list(zip(got.distances.tolist(), got.ids.tolist())) == sorted(zip(got.distances.tolist(), got.ids.tolist()))
    assert len(index) == len(bank)


def planted_bank(n: int, nbytes: int, distances: list[int], rng: np.random.Generator):
    """Random codes, plus for each query one stored code at each of ``distances``."""
    codes = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    queries = rng.integers(0, 256, (12, nbytes), dtype=np.uint8)
    slots = rng.choice(n, len(queries) * len(distances), replace=False).reshape(len(queries), len(distances))
    for q, row in zip(queries, slots):
        for slot, d in zip(row, distances):
            codes[slot] = flip_bits(q, d, rng)
    ids = rng.choice(10**12, n, replace=False).astype(np.int64)
    return ids, codes, queries


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def search_path(request, monkeypatch) -> str:
    """Every test runs on both candidate/verify paths: the compiled kernel (the default) and numpy."""
    monkeypatch.setattr(kernel, "USE_KERNEL", request.param == "compiled")
    return request.param


def skewed_index(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, HashIndex]:
    """3,000 codes within 20 bits of one base code, all in the tables: a few crowded buckets."""
    base = rng.integers(0, 256, 32, dtype=np.uint8)
    codes = np.stack([flip_bits(base, int(d), rng) for d in rng.integers(0, 20, 3000)])
    index = HashIndex(256, tuned_threshold=31, tail_limit=500, background_merges=False)
    index.add(np.arange(len(codes), dtype=np.int64), codes)
    index.compact()
    return base, codes, index


def test_kernel_overflowing_its_buffers_still_returns_everything(rng):
    """More matches than the output buffers, and more candidates than the scratch list: both regrow."""
    base, codes, index = skewed_index(rng)
    assert index._state.tables is not None and index._state.tables.plan(31) is not None
    bank = dict(enumerate(codes))
    assert_exact(index, bank, base[None], 31)  # ~3000 matches for one query, all in few buckets
    assert_exact(index, bank, codes[:5], 40)


def batched(index: HashIndex, queries: np.ndarray, threshold: int) -> bool:
    """Whether a search of ``queries`` takes the compiled batched path."""
    st = index._state
    return index._batch_chunk(st, st.tables.plan(threshold), len(queries), 1) > 0


def test_batch_overflowing_its_buffers_still_returns_everything(rng):
    """A batch whose candidates far exceed the expected count (skewed buckets) and whose matches exceed the outputs."""
    base, codes, index = skewed_index(rng)
    queries = np.stack([flip_bits(base, int(d), rng) for d in rng.integers(0, 8, 20)])
    assert kernel.USE_KERNEL is False or batched(index, queries, 31)
    assert_exact(index, dict(enumerate(codes)), queries, 31)


@pytest.mark.parametrize("bits", [256, 64])
def test_batches_match_brute_force_through_a_tail_and_removes(rng, bits):
    """Batches (the compiled path sorts their candidates by row): exact with a tail, removed rows and groups."""
    distances = [0, 30, 31, 32] if bits == 256 else [0, 7, 8, 9]
    ids, codes, queries = planted_bank(20_000, bits // 8, distances, rng)
    index = HashIndex(bits, tail_limit=500, background_merges=False)
    index.add(ids[:19_700], codes[:19_700])
    index.add(ids[19_700:], codes[19_700:])
    assert index._state.tables is not None and index._state.n_rows > index._state.n_indexed  # a tail
    gone = set(ids[::7].tolist())
    index.remove(np.array(sorted(gone), dtype=np.int64))
    bank = {i: c for i, c in zip(ids.tolist(), codes) if i not in gone}
    many = np.concatenate([queries, rng.integers(0, 256, (100, bits // 8), dtype=np.uint8)])
    assert kernel.USE_KERNEL is False or batched(index, many, distances[2])
    for threshold in (distances[2], distances[2] * 52 // 31):
        assert_exact(index, bank, many, threshold)
    groups = many[:104].reshape(13, 8, bits // 8)
    want = brute_force(bank, many[:104], distances[2])
    for g, got in enumerate(index.search(groups, distances[2])):
        best: dict[int, int] = {}
        for member in want[8 * g : 8 * g + 8]:
            for i, d in member.items():
                best[i] = min(d, best.get(i, bits))
        assert dict(zip(got.ids.tolist(), got.distances.tolist())) == best


# tail_limit=10**9: everything in the FAISS flat tail; 500: substring tables plus a tail.
@pytest.mark.parametrize("tail_limit", [10**9, 500])
def test_pdq_threshold_edges_match_brute_force(rng, tail_limit):
    ids, codes, queries = planted_bank(20_000, 32, [0, 30, 31, 32, 33], rng)
    index = HashIndex(256, tail_limit=tail_limit)
    index.add(ids, codes)
    bank = dict(zip(ids.tolist(), codes))
    assert_exact(index, bank, queries, 31)
    for r in index.search(queries, 31):
        assert sorted(r.distances.tolist()) == [0, 30, 31]


@pytest.mark.parametrize("threshold", [0, 1, 15, 16, 40, 90, 256])
def test_other_thresholds_including_full_scan(rng, threshold):
    ids, codes, queries = planted_bank(20_000, 32, [0, 1, 15, 16, 40, 90], rng)
    index = HashIndex(256, tail_limit=300)
    index.add(ids, codes)
    assert_exact(index, dict(zip(ids.tolist(), codes)), queries, threshold)


@pytest.mark.parametrize("threshold", [0, 4, 8, 9, 10, 12])
def test_64_bit_codes(rng, threshold):
    ids, codes, queries = planted_bank(20_000, 8, [0, 4, 8, 9, 10, 12], rng)
    index = HashIndex(64, tail_limit=400)
    index.add(ids, codes)
    assert index._state.tables is not None
    assert_exact(index, dict(zip(ids.tolist(), codes)), queries, threshold)


def test_adds_and_removes_across_merges_stay_exact(rng):
    ids, codes, queries = planted_bank(6_000, 32, [0, 20, 31, 32], rng)
    index = HashIndex(256, tail_limit=700, background_merges=False)  # deterministic merge points
    bank: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), 900):  # several merges into the tables
        index.add(ids[start : start + 900], codes[start : start + 900])
        bank.update(zip(ids[start : start + 900].tolist(), codes[start : start + 900]))
        gone = rng.choice(list(bank), 150, replace=False)
        assert index.remove(gone) == 150
        for g in gone.tolist():
            del bank[g]
        assert_exact(index, bank, queries, 31)
    # re-add removed ids with new codes, near the queries
    readd = np.array(gone[:5], dtype=np.int64)
    new_codes = np.stack([flip_bits(queries[i], 7, rng) for i in range(5)])
    index.add(readd, new_codes)
    bank.update(zip(readd.tolist(), new_codes))
    assert_exact(index, bank, queries, 31)
    # enough removes to force a compacting rebuild at the next merge
    gone = rng.choice(list(bank), len(bank) // 2, replace=False)
    index.remove(gone)
    for g in gone.tolist():
        del bank[g]
    more_ids = np.arange(10**13, 10**13 + 800, dtype=np.int64)
    more_codes = rng.integers(0, 256, (800, 32), dtype=np.uint8)
    index.add(more_ids, more_codes)
    bank.update(zip(more_ids.tolist(), more_codes))
    assert index._dead == 0  # compacted
    assert_exact(index, bank, queries, 31)
    index.compact()
    assert_exact(index, bank, queries, 31)


def test_add_with_existing_id_replaces_its_code(rng):
    ids, codes, queries = planted_bank(3_000, 32, [5], rng)
    index = HashIndex(256, tail_limit=1_000)
    index.add(ids, codes)  # goes into the tables
    bank = dict(zip(ids.tolist(), codes))
    hit = int(index.search(queries[:1], 31)[0].ids[0])
    far = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    index.add(np.array([hit]), far)  # replaced in the tail
    bank[hit] = far[0]
    assert_exact(index, bank, queries, 31)
    index.add(np.array([hit]), flip_bits(queries[0], 3, rng)[None])  # replaced again, tail to tail
    bank[hit] = index._state.words[index._state.n_rows - 1].view(np.uint8)
    assert_exact(index, bank, queries, 31)
    assert len(index) == 3_000


def test_repeated_id_in_one_add_keeps_the_last(rng):
    q = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    index = HashIndex(256)
    index.add(np.array([7, 7]), np.stack([flip_bits(q[0], 2, rng), flip_bits(q[0], 9, rng)]))
    assert len(index) == 1
    assert index.search(q, 31)[0].distances.tolist() == [9]


def test_empty_index_and_empty_queries():
    index = HashIndex(256)
    assert len(index) == 0
    q = np.zeros((3, 32), dtype=np.uint8)
    assert [len(r.ids) for r in index.search(q, 31)] == [0, 0, 0]
    assert index.search(np.zeros((0, 32), dtype=np.uint8), 31) == []
    assert index.remove(np.array([1, 2])) == 0
    index.add(np.empty(0, dtype=np.int64), np.empty((0, 32), dtype=np.uint8))
    assert len(index) == 0


def test_groups_return_best_distance_per_id(rng):
    base = rng.integers(0, 256, (2, 32), dtype=np.uint8)
    index = HashIndex(256)
    index.add(np.array([1, 2]), base)
    # Query 0: variants at distance 20 and 4 from id 1; query 1: nothing near.
    groups = np.stack(
        [
            np.stack([flip_bits(base[0], 20, rng), flip_bits(base[0], 4, rng), rng.integers(0, 256, 32, dtype=np.uint8)]),
            rng.integers(0, 256, (3, 32), dtype=np.uint8),
        ]
    )
    res = index.search(groups, 31)
    assert res[0].ids.tolist() == [1] and res[0].distances.tolist() == [4]
    assert len(res[1].ids) == 0


def test_save_load_round_trip(rng, tmp_path):
    ids, codes, queries = planted_bank(5_000, 32, [0, 31, 32], rng)
    index = HashIndex(256, tail_limit=2_000)
    index.add(ids[:4_000], codes[:4_000])  # tables
    index.add(ids[4_000:], codes[4_000:])  # tail
    index.remove(ids[:10])
    bank = dict(zip(ids[10:].tolist(), codes[10:]))
    path = tmp_path / "bank.idx"
    index.save(path)
    loaded = HashIndex.load(path)
    assert_exact(loaded, bank, queries, 31)
    loaded.add(ids[:10], codes[:10])  # still updatable, ids still known
    loaded.remove(ids[10:20])
    bank.update(zip(ids[:10].tolist(), codes[:10]))
    for i in ids[10:20].tolist():
        del bank[i]
    assert_exact(loaded, bank, queries, 31)

    small = HashIndex(64)
    small.add(np.array([3]), np.ones((1, 8), dtype=np.uint8))
    small.save(tmp_path / "small.idx")
    assert len(HashIndex.load(tmp_path / "small.idx")) == 1


def _rewrite(src, dst, header_changes=None, **changes):
    header, arrays = read_arrays(src)
    header.update(header_changes or {})
    arrays.update(changes)
    write_arrays(dst, header, arrays)


def test_malformed_files_are_refused(rng, tmp_path):
    ids, codes, _ = planted_bank(3_000, 32, [0], rng)
    index = HashIndex(256, tail_limit=1_000)
    index.add(ids, codes)
    good = tmp_path / "good.idx"
    index.save(good)
    _, arrays = read_arrays(good)
    rows, offsets = arrays["rows"], arrays["offsets"]

    swapped = rows.copy()
    swapped[[0, -1]] = swapped[[-1, 0]]  # rows in the wrong buckets: would silently miss matches
    cases = {name: tmp_path / f"{name}.idx" for name in (
        "garbage", "pickle", "rows_out_of_range", "rows_swapped", "offsets_dtype", "header_version",
        "codes_shape", "flipped_byte", "truncated", "id_map_unsorted",
    )}
    cases["garbage"].write_bytes(b"not an index at all")
    np.save(cases["pickle"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _rewrite(good, cases["rows_out_of_range"], rows=rows + 5_000)
    _rewrite(good, cases["rows_swapped"], rows=swapped)
    _rewrite(good, cases["offsets_dtype"], offsets=offsets.astype(np.float64))
    _rewrite(good, cases["header_version"], {"version": 99})
    _rewrite(good, cases["codes_shape"], words=np.zeros((3_000, 3), dtype="<u8"))
    _rewrite(good, cases["id_map_unsorted"], id_keys=arrays["id_keys"][::-1].copy())
    data = bytearray(good.read_bytes())
    data[-100] ^= 0x10
    cases["flipped_byte"].write_bytes(bytes(data))
    cases["truncated"].write_bytes(good.read_bytes()[:-200])
    for name, path in cases.items():
        with pytest.raises(IndexFormatError) as err:
            HashIndex.load(path, verify=True)
        assert err.value.code == "index_malformed", name
        assert isinstance(err.value, MatcherError)
        if name != "rows_swapped":  # a 2-entry swap needs the full check; the rest fail without it
            with pytest.raises(IndexFormatError):
                HashIndex.load(path)
    assert len(HashIndex.load(good, verify=True)) == 3_000


@pytest.mark.parametrize(
    "call",
    [
        lambda ix: ix.add(np.array([1]), np.zeros((1, 31), dtype=np.uint8)),
        lambda ix: ix.add(np.array([1]), np.zeros((1, 32), dtype=np.int64)),
        lambda ix: ix.add(np.array([1, 2]), np.zeros((1, 32), dtype=np.uint8)),
        lambda ix: ix.add(np.array([1.5]), np.zeros((1, 32), dtype=np.uint8)),
        lambda ix: ix.search(np.zeros((1, 32), dtype=np.uint8), -1),
        lambda ix: ix.search(np.zeros((1, 32), dtype=np.uint8), 257),
        lambda ix: ix.search(np.zeros(32, dtype=np.uint8), 31),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call(HashIndex(256))


def test_searches_stay_exact_while_another_thread_writes(rng):
    """Readers work on a snapshot: merges and compactions underneath never lose a stored match."""
    import threading

    ids, codes, queries = planted_bank(4_000, 32, [0, 31], rng)
    index = HashIndex(256, tail_limit=300)
    index.add(ids, codes)
    want = [dict(zip(r.ids.tolist(), r.distances.tolist())) for r in index.search(queries, 31)]
    stable = set().union(*want)
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for got, expected in zip(index.search(queries, 31), want):
                if dict(zip(got.ids.tolist(), got.distances.tolist())) != expected:
                    errors.append("a stored match was missed or changed")
                    return

    thread = threading.Thread(target=reader)
    thread.start()
    writer_rng = np.random.default_rng(7)
    removable = [i for i in ids.tolist() if i not in stable]
    try:
        for step in range(12):  # adds past tail_limit (merges) and removes past a quarter (compactions)
            new_ids = np.arange(step * 1_000, step * 1_000 + 400, dtype=np.int64) + 10**13
            index.add(new_ids, writer_rng.integers(0, 256, (400, 32), dtype=np.uint8))
            index.remove(np.array(removable[step * 250 : (step + 1) * 250], dtype=np.int64))
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(index) == 4_000 + 12 * 400 - min(12 * 250, len(removable))


def test_concurrent_batches_stay_exact(rng):
    """Batches from several threads at once share the search pool (and the batched path's buffers)."""
    from concurrent.futures import ThreadPoolExecutor

    ids, codes, queries = planted_bank(20_000, 32, [0, 31, 32], rng)
    index = HashIndex(256, tail_limit=500)
    index.add(ids, codes)
    batches = [np.concatenate([queries, rng.integers(0, 256, (100, 32), dtype=np.uint8)]) for _ in range(4)]
    assert kernel.USE_KERNEL is False or batched(index, batches[0], 31)
    bank = dict(zip(ids.tolist(), codes))
    want = [brute_force(bank, b, 31) for b in batches]

    def run(i: int) -> bool:
        return all(
            dict(zip(got.ids.tolist(), got.distances.tolist())) == expected
            for _ in range(3)
            for got, expected in zip(index.search(batches[i], 31), want[i])
        )

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, [0, 1, 2, 3, 0, 1, 2, 3]))


def test_background_merges_install_into_the_tables_and_stay_exact(rng):
    ids, codes, queries = planted_bank(8_000, 32, [0, 31, 32], rng)
    index = HashIndex(256, tail_limit=1_000)
    index.add(ids[:2_000], codes[:2_000])  # first build: synchronous
    bank = dict(zip(ids[:2_000].tolist(), codes[:2_000]))
    for start in range(2_000, 8_000, 500):
        index.add(ids[start : start + 500], codes[start : start + 500])
        bank.update(zip(ids[start : start + 500].tolist(), codes[start : start + 500]))
        index.remove(ids[start : start + 20])
        for i in ids[start : start + 20].tolist():
            del bank[i]
        assert_exact(index, bank, queries, 31)  # whether or not a merge is running
    index.wait_for_merge()
    index.add(ids[2_000:2_001], codes[2_000:2_001])  # re-add a removed id
    bank[int(ids[2_000])] = codes[2_000]
    index.wait_for_merge()
    assert index._state.n_indexed > 2_000  # merges were installed
    assert_exact(index, bank, queries, 31)


# The service's setting: radius 52 with the layout tuned for 52 (and 31 on the same layout).
@pytest.mark.parametrize("tail_limit", [10**9, 500])
def test_radius_52_and_53_edges_match_brute_force(rng, tail_limit):
    ids, codes, queries = planted_bank(20_000, 32, [0, 31, 32, 51, 52, 53, 54], rng)
    index = HashIndex(256, tuned_threshold=52, tail_limit=tail_limit)
    index.add(ids, codes)
    bank = dict(zip(ids.tolist(), codes))
    for threshold in (31, 51, 52, 53):
        assert_exact(index, bank, queries, threshold)
    for r in index.search(queries, 52):
        assert sorted(r.distances.tolist()) == [0, 31, 32, 51, 52]
    for r in index.search(queries, 53):
        assert sorted(r.distances.tolist()) == [0, 31, 32, 51, 52, 53]


def test_radius_52_groups_and_small_blocks_match_brute_force(rng):
    """8-code groups at 52 (blocks of whole groups), and a batch split into many blocks."""
    ids, codes, queries = planted_bank(20_000, 32, [0, 52, 53], rng)
    index = HashIndex(256, tuned_threshold=52, tail_limit=500)
    index.add(ids, codes)
    bank = dict(zip(ids.tolist(), codes))
    many = np.concatenate([queries, rng.integers(0, 256, (200, 32), dtype=np.uint8)])
    assert_exact(index, bank, many, 52)
    groups = many[:96].reshape(12, 8, 32)
    want = brute_force(bank, many[:96], 52)
    for g, got in enumerate(index.search(groups, 52)):
        best: dict[int, int] = {}
        for member in want[8 * g : 8 * g + 8]:
            for i, d in member.items():
                best[i] = min(d, best.get(i, 256))
        assert dict(zip(got.ids.tolist(), got.distances.tolist())) == best


@pytest.mark.parametrize("threshold", [31, 52])
def test_a_search_kept_in_the_calling_thread_is_as_exact(rng, threshold, monkeypatch):
    """``threads=1`` (a busy server's searches) takes neither the pool nor a different answer:
    batched chunks (31) and many blocks (52), with a tail and removed rows."""
    from matcher.index import hash_index

    ids, codes, queries = planted_bank(20_000, 32, [0, threshold, threshold + 1], rng)
    index = HashIndex(256, tuned_threshold=52, tail_limit=500, background_merges=False)
    index.add(ids[:19_000], codes[:19_000])
    index.add(ids[19_000:], codes[19_000:])  # a tail
    index.remove(ids[:50])
    bank = {i: c for i, c in zip(ids.tolist()[50:], codes[50:])}
    batch = np.concatenate([queries, rng.integers(0, 256, (100, 32), dtype=np.uint8)])
    spread = index.search(batch, threshold)

    def no_pool():
        raise AssertionError("the index's pool was used")

    monkeypatch.setattr(hash_index, "_pool", no_pool)
    kept = index.search(batch, threshold, threads=1)
    for result, want in zip(kept, brute_force(bank, batch, threshold)):
        assert dict(zip(result.ids.tolist(), result.distances.tolist())) == want
    assert [r.ids.tolist() for r in kept] == [r.ids.tolist() for r in spread]
    with pytest.raises(AssertionError, match="pool was used"):
        index.search(batch, threshold)  # the default does spread a batch this size
