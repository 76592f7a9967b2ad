"""Service benchmark: index ready time after a restart, and /v1/match over HTTP.

(a) Ready time with 1M PDQ hashes in the bank, on SQLite and PostgreSQL: a
    worker's index loaded from a snapshot plus the change log written since,
    against a rebuild from ``bank_hashes`` (target: under 10 s). Both must
    answer the same; this is checked on a sample of queries.
(b) ``POST /v1/match`` against a running ``ncii serve --workers N`` (N = 1, 2)
    on the 1M SQLite bank, driven from a separate process over keep-alive
    connections: requests/s, hashes/s and p50/p99 latency for requests of 1
    and of 100 hashes, in each review-band mode: ``deferred`` (the default: the
    answer at PDQ's 31, the band to 52 searched afterwards in the background, its
    backlog bounded), ``sync`` (the answer searched at 52) and ``off`` (31 only).
    After each run the server's band counters (queued, dropped, searched) are
    read from ``/metrics``. Baseline in the same
    run: the same queries against ``matcher.index.HashIndex`` in process (laid
    out as the service lays it out, searched at the same radius), so the HTTP,
    auth and database overhead shows as a ratio. The queries are random codes
    (a platform's uploads almost never match), so no match events are written.

The bank is generated with bulk inserts (random codes, 1,000 cases of 1,000
items). Nothing but the results is kept: ``benchmarks/results/service_load.json``
and ``service_load.md``.

Usage: python benchmarks/service_load.py [--hashes 1000000] [--seconds 8] [--no-postgres]
       [--data DIR --skip-ready]  (keep the SQLite bank in DIR and reuse it; HTTP runs only)
       (PostgreSQL: $NCII_BENCH_POSTGRES, default postgresql://postgres@127.0.0.1:5432/test,
       in which a throw-away database is created and dropped.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and its name would hide the
# ``service`` package: look for packages from the repository instead.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DEFAULT_OUT = REPO / "benchmarks" / "results"
PG_ADMIN_URL = os.environ.get("NCII_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ITEMS_PER_CASE = 1000
CHANGES_AFTER_SNAPSHOT = (10_000, 1_000)  # adds, removes: a day or so of submissions and withdrawals


# ---------------------------------------------------------------------------- the bank


def bench_settings(data_dir: Path, database_url: str | None):
    from service.settings import Settings

    values = {"data_dir": data_dir, "argon2_time_cost": 1, "argon2_memory_kib": 1024}
    if database_url:
        values["DATABASE_URL"] = database_url
    return Settings(**values)


def _case_rows(n_cases: int, now: datetime):
    from service.bank.case_numbers import new_case_number

    for case_id in range(1, n_cases + 1):
        yield case_id, new_case_number(), "$argon2id$not-a-pin", "active", now, now, 0


def fill_bank(settings, codes: np.ndarray, first_id: int = 1) -> None:
    """Bulk-insert cases, items, hashes and their change-log entries (ids from ``first_id``)."""
    from service.db.engine import make_engine

    n = len(codes)
    now = datetime.now(timezone.utc)
    first_case = (first_id - 1) // ITEMS_PER_CASE + 1
    n_cases = -(-n // ITEMS_PER_CASE)
    ids = range(first_id, first_id + n)
    case_of = [first_case + i // ITEMS_PER_CASE for i in range(n)]
    raw_codes = [bytes(c) for c in codes]
    engine = make_engine(settings)
    if settings.is_sqlite:
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        connection = engine.raw_connection()
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(
            "INSERT INTO cases (id, number, pin_hash, status, created_at, updated_at, failed_pin_attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(first_case + i, r[1], r[2], r[3], stamp, stamp, 0) for i, r in enumerate(_case_rows(n_cases, now))],
        )
        cursor.executemany(
            "INSERT INTO case_items (id, case_id, position, kind, status, created_at) VALUES (?, ?, ?, 'image', 'active', ?)",
            ((i, c, (i - first_id) % ITEMS_PER_CASE, stamp) for i, c in zip(ids, case_of)),
        )
        cursor.executemany(
            "INSERT INTO bank_hashes (id, case_id, item_id, signal, code, quality, variant, status, created_at) "
            "VALUES (?, ?, ?, 'pdq', ?, 90, 'full', 'active', ?)",
            ((i, c, i, code, stamp) for i, c, code in zip(ids, case_of, raw_codes)),
        )
        cursor.executemany(
            "INSERT INTO change_log (seq, hash_id, signal, op, reason, at) VALUES (NULL, ?, 'pdq', 'add', 'submitted', ?)",
            ((i, stamp) for i in ids),
        )
        cursor.execute("COMMIT")
        connection.close()
    else:
        connection = engine.raw_connection()
        cursor = connection.cursor()
        with cursor.copy(
            "COPY cases (id, number, pin_hash, status, created_at, updated_at, failed_pin_attempts) FROM STDIN"
        ) as copy:
            for i, row in enumerate(_case_rows(n_cases, now)):
                copy.write_row((first_case + i, *row[1:]))
        with cursor.copy("COPY case_items (id, case_id, position, kind, status, created_at) FROM STDIN") as copy:
            for i, c in zip(ids, case_of):
                copy.write_row((i, c, (i - first_id) % ITEMS_PER_CASE, "image", "active", now))
        with cursor.copy(
            "COPY bank_hashes (id, case_id, item_id, signal, code, quality, variant, status, created_at) FROM STDIN"
        ) as copy:
            for i, c, code in zip(ids, case_of, raw_codes):
                copy.write_row((i, c, i, "pdq", code, 90, "full", "active", now))
        cursor.execute("LOCK TABLE change_log IN EXCLUSIVE MODE")
        with cursor.copy("COPY change_log (hash_id, signal, op, reason, at) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, "pdq", "add", "submitted", now))
        for table in ("cases", "case_items", "bank_hashes"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
        connection.close()
    engine.dispose()


def withdraw_some(settings, hash_ids: np.ndarray) -> None:
    from sqlalchemy import update

    from service.bank import changes
    from service.db.engine import make_engine, make_sessionmaker, transaction
    from service.db.models import BankHash

    engine = make_engine(settings)
    with transaction(make_sessionmaker(engine)) as session:
        ids = [int(i) for i in hash_ids]
        session.execute(update(BankHash).where(BankHash.id.in_(ids)).values(status="withdrawn"))
        changes.append(session, ((i, "pdq", "remove") for i in ids), reason="withdrawn")
    engine.dispose()


def load_index(settings):
    """A worker's index as ``ncii serve`` starts it; returns (index, seconds, source)."""
    from service.bank_index import BankIndex
    from service.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings)
    index = BankIndex(make_sessionmaker(engine), settings)
    index.start()
    index.stop()
    engine.dispose()
    return index, index.load_seconds, index.loaded_from


def answers(index, queries: np.ndarray) -> list:
    return [sorted((h.hash_id, h.distance) for h in hits) for hits in index.search("pdq", queries, 31)]


def measure_ready(name: str, settings, n: int, rng: np.random.Generator) -> dict:
    from service.db.engine import make_engine
    from service.db.migrate import upgrade

    upgrade(make_engine(settings))
    codes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    started = time.perf_counter()
    fill_bank(settings, codes)
    fill_seconds = time.perf_counter() - started
    print(f"[{name}] {n:,} hashes inserted in {fill_seconds:.1f} s", file=sys.stderr)

    rebuilt, rebuild_s, source = load_index(settings)
    assert source == "database"
    started = time.perf_counter()
    rebuilt.write_snapshot()
    snapshot_s = time.perf_counter() - started
    del rebuilt

    adds, removes = CHANGES_AFTER_SNAPSHOT
    fill_bank(settings, rng.integers(0, 256, size=(adds, 32), dtype=np.uint8), first_id=n + 1)
    withdraw_some(settings, rng.choice(np.arange(1, n + 1), size=removes, replace=False))

    replayed, replay_s, source = load_index(settings)
    assert source == "snapshot", source
    shutil.rmtree(settings.snapshot_dir)
    rebuilt, rebuild_after_s, source = load_index(settings)
    assert source == "database"
    sample = np.concatenate([codes[rng.choice(n, 500)], rng.integers(0, 256, size=(500, 32), dtype=np.uint8)])
    sample[:500, 0] ^= 0x0F  # near copies of banked hashes (4 bits off)
    same = answers(replayed, sample) == answers(rebuilt, sample)
    result = {
        "bank_hashes": n + adds,
        "active_hashes": rebuilt.size(),
        "insert_seconds": round(fill_seconds, 2),
        "rebuild_seconds": round(rebuild_after_s, 2),
        "snapshot_write_seconds": round(snapshot_s, 2),
        "snapshot_replay_seconds": round(replay_s, 2),
        "replayed_changes": adds + removes,
        "first_rebuild_seconds": round(rebuild_s, 2),
        "same_answers": same,
    }
    print(f"[{name}] {result}", file=sys.stderr)
    return result


# ---------------------------------------------------------------------------- HTTP load


def _request_bytes(path: str, body: bytes, key: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(host: str, port: int, requests: list[bytes], deadline: float, latencies: list, errors: list):
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n")[0].decode())
    finally:
        writer.close()


def request_bodies(batch: int, seed: int, count: int = 200) -> list[bytes]:
    """``count`` JSON bodies of ``batch`` random PDQ queries (a platform's uploads almost never match)."""
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        queries = [{"signal": "pdq", "hash": rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()} for _ in range(batch)]
        bodies.append(json.dumps({"queries": queries}).encode())
    return bodies


def drive(url: str, key: str, batch: int, seconds: float, concurrency: int, seed: int) -> dict:
    """The Python load generator (run in its own process): keep-alive connections, fixed duration."""
    host, port = url.split("//")[1].split(":")
    requests = [_request_bytes("/v1/match", body, key) for body in request_bodies(batch, seed)]

    async def run(duration: float) -> tuple[list, list, float]:
        latencies: list = []
        errors: list = []
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*[
            _connection(host, int(port), requests[c::concurrency] or requests, deadline, latencies, errors)
            for c in range(concurrency)
        ])
        return latencies, errors, time.perf_counter() - started

    asyncio.run(run(1.0))  # warm-up
    latencies, errors, elapsed = asyncio.run(run(seconds))
    latencies.sort()
    return {
        "batch": batch,
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "hashes_per_s": round(len(latencies) * batch / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
        "driver": "python",
    }


#: wrk (C, one thread, epoll) sends the requests: at a thousand requests a second the Python
#: driver above takes a third to a half of one of the machine's two cores from the server.
WRK_SCRIPT = """
local bodies = {}
local counter = 0
for line in io.lines(os.getenv("NCII_BENCH_BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("NCII_BENCH_KEY")
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/match", nil, bodies[(counter % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def drive_wrk(url: str, key: str, batch: int, seconds: float, concurrency: int, seed: int) -> dict:
    """The same load (same bodies, keep-alive connections, fixed duration) from ``wrk``."""
    with tempfile.TemporaryDirectory(prefix="ncii-wrk-") as tmp:
        script, bodies = Path(tmp) / "match.lua", Path(tmp) / "bodies.txt"
        script.write_text(WRK_SCRIPT)
        bodies.write_bytes(b"\n".join(request_bodies(batch, seed)) + b"\n")
        env = dict(os.environ, NCII_BENCH_BODIES=str(bodies), NCII_BENCH_KEY=key)

        def run(duration: float) -> dict:
            command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "-s", str(script), url]
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])

        run(1)  # warm-up
        r = run(seconds)
    elapsed = r["duration_us"] / 1e6
    return {
        "batch": batch,
        "concurrency": concurrency,
        "requests": r["requests"],
        "errors": r["non_2xx"] + r["socket_errors"],
        "first_error": None,
        "requests_per_s": round(r["requests"] / elapsed, 1),
        "hashes_per_s": round(r["requests"] * batch / elapsed, 1),
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
        "driver": "wrk",
    }


def baseline(codes: np.ndarray, rng: np.random.Generator, seconds: float, radii: tuple[int, ...]) -> dict:
    """The same kind of queries straight against HashIndex, in process, one at a time and by 100,
    with the layout the service uses (tuned for the strategy's radius), at each radius."""
    from matcher.groups import DEFAULT_STRATEGY
    from matcher.index import HashIndex

    index = HashIndex(256, tuned_threshold=DEFAULT_STRATEGY.widest_threshold)
    index.add(np.arange(1, len(codes) + 1, dtype=np.int64), codes)
    out: dict = {}
    for radius in radii:
        out[str(radius)] = {}
        for batch in (1, 100):
            queries = rng.integers(0, 256, size=(2000 if batch == 1 else 50, batch, 32), dtype=np.uint8)
            times = []
            deadline = time.perf_counter() + seconds
            i = 0
            while time.perf_counter() < deadline:
                q = queries[i % len(queries)]
                started = time.perf_counter()
                index.search(q, radius)
                times.append(time.perf_counter() - started)
                i += 1
            times.sort()
            out[str(radius)][str(batch)] = {
                "batch": batch,
                "requests_per_s": round(len(times) / sum(times), 1),
                "hashes_per_s": round(len(times) * batch / sum(times), 1),
                "p50_ms": round(1000 * times[len(times) // 2], 3),
                "p99_ms": round(1000 * times[int(len(times) * 0.99)], 3),
            }
            out[str(radius)][str(batch)]["capacity_hashes_per_s"] = capacity(index, queries, radius, seconds)
            print(f"[baseline radius={radius}] {out[str(radius)][str(batch)]}", file=sys.stderr)
    return out


def capacity(index, queries: np.ndarray, radius: int, seconds: float) -> float:
    """Hashes/s with one caller per core searching at once: what the server's workers together
    could at most get from the index (one caller leaves a core idle between its searches)."""
    import threading

    callers = os.cpu_count() or 1
    counts = [0] * callers
    deadline = time.perf_counter() + seconds

    def run(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            index.search(queries[i % len(queries)], radius)
            counts[k] += queries.shape[1]
            i += callers

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return round(sum(counts) / (time.perf_counter() - started), 1)


def group_v3():
    """The upload side of the strategy before issue 13 (no frame boxes, thirds, rotations or
    structure bands): the baseline the per-upload cost is compared with."""
    import dataclasses

    from matcher import groups

    d = groups.DEFAULT_STRATEGY
    return dataclasses.replace(
        d, name="group-v3", query=(groups.Variant("full", dihedral=True, primary=True), groups.centre(0.90),
                                   groups.centre(0.80)),
        frame_boxes=0, structure_bands=(),
    )


def group_v5():
    """group-v6 without its quadrants (the tiles): the strategy before them, and its 15 start regions."""
    import dataclasses

    from matcher import groups

    d = groups.DEFAULT_STRATEGY
    return dataclasses.replace(d, name="group-v5", bank=tuple(v for v in d.bank if not v.tile),
                               query=tuple(v for v in d.query if not v.tile))


def _group_v5_starts():
    try:
        from benchmarks.start_regions import GROUP_V5_STARTS, candidates
    except ImportError:  # run as a script
        from start_regions import GROUP_V5_STARTS, candidates  # type: ignore[no-redef]
    pool = {v.name: v for v in candidates()}
    return tuple(pool[n] for n in GROUP_V5_STARTS)


def upload_cost(images: Path, n_uploads: int, hashes: int, rounds: int, rng: np.random.Generator) -> dict:
    """Per upload, in process: computing its query group, then searching all its codes in a
    1M-code index at 31 (the answer) and at the strategy's widest radius (the review band),
    for group-v3 and the current strategy, alternated round by round in one process."""
    from matcher.groups import DEFAULT_STRATEGY
    from matcher.index import HashIndex
    from matcher.loading import load_rgb_array

    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    paths = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, min(n_uploads, len(paths)))]
    photos = [load_rgb_array(p) for p in paths]
    index = HashIndex(256, tuned_threshold=DEFAULT_STRATEGY.widest_threshold)
    index.add(np.arange(1, hashes + 1, dtype=np.int64), rng.integers(0, 256, size=(hashes, 32), dtype=np.uint8))
    strategies = {"group-v3": group_v3(), "group-v5": group_v5(), DEFAULT_STRATEGY.name: DEFAULT_STRATEGY}
    from matcher import registration
    from matcher.groups import reduce_to_working_size

    starts = {"group-v5": _group_v5_starts(), DEFAULT_STRATEGY.name: registration.START_VARIANTS}

    samples: dict[str, dict[str, list[float]]] = {n: {"hash_ms": [], "search31_ms": [], "search_band_ms": [],
                                                      "starts_ms": [], "search_starts_ms": []}
                                                  for n in strategies}
    codes_per_upload: dict[str, list[int]] = {n: [] for n in strategies}
    start_codes: dict[str, list[int]] = {n: [0] for n in strategies}
    for r in range(rounds):
        for name, strategy in (strategies.items() if r % 2 == 0 else reversed(strategies.items())):
            for rgb in photos:
                started = time.perf_counter()
                group = strategy.query_group(rgb)
                hashed = time.perf_counter()
                index.search(group.codes, 31, threads=1)
                at31 = time.perf_counter()
                index.search(group.codes, strategy.widest_threshold, threads=1)
                band = time.perf_counter()
                samples[name]["hash_ms"].append(1000 * (hashed - started))
                samples[name]["search31_ms"].append(1000 * (at31 - hashed))
                samples[name]["search_band_ms"].append(1000 * (band - at31))
                if name != "group-v3":  # the second look (/v1/match/image, an upload the lookup missed)
                    t0 = time.perf_counter()
                    work = reduce_to_working_size(rgb)
                    codes = registration.Starts.of(work, starts[name]).codes
                    t1 = time.perf_counter()
                    index.search(codes, REGISTRATION_RADIUS, threads=1)
                    t2 = time.perf_counter()
                    samples[name]["starts_ms"].append(1000 * (t1 - t0))
                    samples[name]["search_starts_ms"].append(1000 * (t2 - t1))
                    if r == 0:
                        start_codes[name].append(len(codes))
                else:
                    samples[name]["starts_ms"].append(0.0)
                    samples[name]["search_starts_ms"].append(0.0)
                if r == 0:
                    codes_per_upload[name].append(len(group))
        print(f"[upload cost] round {r + 1}/{rounds}", file=sys.stderr)
    out: dict = {"uploads": len(photos), "index_codes": hashes, "rounds": rounds, "strategies": {}}
    for name in strategies:
        c = np.array(codes_per_upload[name])
        med = {k: round(float(np.median(v)), 3) for k, v in samples[name].items()}
        out["strategies"][name] = {
            "codes_mean": round(float(c.mean()), 2), "codes_max": int(c.max()),
            "start_codes_mean": round(float(np.mean(start_codes[name][1:] or [0])), 1), **med,
            "total_ms": round(sum(med.values()), 3),
        }
    new, old = out["strategies"][DEFAULT_STRATEGY.name], out["strategies"]["group-v3"]
    out["ratio"] = {k: round(new[k] / old[k], 2) for k in ("codes_mean", "hash_ms", "search31_ms", "search_band_ms", "total_ms")}
    v5 = out["strategies"]["group-v5"]
    out["ratio_v5"] = {k: round(new[k] / v5[k], 2) for k in ("codes_mean", "hash_ms", "search31_ms", "search_band_ms",
                                                             "starts_ms", "search_starts_ms", "total_ms")}
    # A registration proper, on a stranger that came within the gate (forced: the worst case per candidate).
    times = []
    for k, rgb in enumerate(photos[: min(40, len(photos))]):
        other = DEFAULT_STRATEGY.bank_group(photos[(k + 1) % len(photos)])
        work = reduce_to_working_size(rgb)
        t0 = time.perf_counter()
        registration.register(work, other, gate=10**6)
        times.append(1000 * (time.perf_counter() - t0))
    out["registration_stranger_ms"] = round(float(np.median(times)), 1)
    out["registration_radius"] = REGISTRATION_RADIUS
    return out


#: The service's default registration_radius (service/settings.py).
REGISTRATION_RADIUS = 60


def upload_cost_markdown(rep: dict) -> str:
    rows = [
        f"# Upload check cost per upload: {', '.join(rep['strategies'])}",
        "",
        f"In process, {rep['uploads']} photos as uploads, an index of {rep['index_codes']:,} random codes (the service's "
        f"layout), {rep['rounds']} rounds alternating the strategies; medians per upload. Generated by "
        "`python benchmarks/service_load.py --upload-cost --images DIR`.",
        "",
        "| strategy | codes per upload (mean / max) | query group | search at 31 (the answer) | search to the band | "
        f"second look: start regions (codes) | second look: search at {rep.get('registration_radius', 64)} | total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rep["strategies"].items():
        rows.append(f"| {name} | {r['codes_mean']} / {r['codes_max']} | {r['hash_ms']} ms | {r['search31_ms']} ms | "
                    f"{r['search_band_ms']} ms | {r.get('starts_ms', 0)} ms ({r.get('start_codes_mean', '-')}) | {r.get('search_starts_ms', 0)} ms | "
                    f"{r['total_ms']} ms |")
    q = rep["ratio"]
    rows.append(f"| **ratio to group-v3** | {q['codes_mean']}x | {q['hash_ms']}x | {q['search31_ms']}x | {q['search_band_ms']}x | | | {q['total_ms']}x |")
    if "ratio_v5" in rep:
        q = rep["ratio_v5"]
        rows.append(f"| **ratio to group-v5** | {q['codes_mean']}x | {q['hash_ms']}x | {q['search31_ms']}x | {q['search_band_ms']}x | "
                    f"{q['starts_ms']}x | {q['search_starts_ms']}x | {q['total_ms']}x |")
    if "registration_stranger_ms" in rep:
        rows += ["", "group-v5's second look uses its own 15 start regions (benchmarks/start_regions.py `GROUP_V5_STARTS`), "
                 "the current strategy `matcher.registration.START_VARIANTS`.",
                 "", "The second look runs only on image uploads the lookup missed (by hash, /v1/match, it cannot run); the "
                 "total counts it for every upload, the worst case. A registration proper runs only for a bank picture within "
                 f"the radius: on a stranger it costs {rep['registration_stranger_ms']} ms (median, forced, 40 uploads), at most "
                 "8 per upload."]
    return "\n".join(rows) + "\n"


def create_key(settings) -> str:
    from service.auth import api_keys
    from service.db.engine import make_engine, make_sessionmaker, transaction
    from service.db.models import Platform

    engine = make_engine(settings)
    with transaction(make_sessionmaker(engine)) as session:
        platform_row = Platform(name=f"bench-{secrets.token_hex(3)}")
        session.add(platform_row)
        token = api_keys.issue_key(session, platform_row).token
    engine.dispose()
    return token


def band_counters(url: str) -> dict[str, float]:
    """The server's ``ncii_review_band_codes_total`` by outcome (all workers)."""
    import httpx

    out: dict[str, float] = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("ncii_review_band_codes_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def measure_http(
    settings, database_url: str | None, workers: int, seconds: float, concurrency: int, mode: str,
    driver: str = "python",
) -> dict:
    """``mode``: the server's ``NCII_REVIEW_BAND`` (deferred, sync or off)."""
    from tests.service.server import Server, server_env

    key = create_key(settings)
    radius = 52 if mode == "sync" else 31
    # The drivers cycle through 200 request bodies: without this every query after the first
    # round would be a repeat, answered from the worker's search cache (service/search_cache.py).
    # The figures are for uploads never seen before, the index's full cost.
    env = server_env(settings.data_dir, database_url, review_band=mode, index_cache_entries=0)
    env["NCII_INDEX_POLL_SECONDS"] = "0.5"  # the production default (the tests' helper polls 10x as often)
    started = time.perf_counter()
    server = Server(env, workers=workers, log=settings.data_dir / "server.log")
    try:
        server.wait_ready(timeout=120)
        # With several workers, /readyz answers from whichever is ready first: wait for all.
        time.sleep(0.5 if workers == 1 else 3.0)
        ready_s = time.perf_counter() - started
        runs = {}
        for batch in (1, 100):
            before = band_counters(server.url)
            if driver == "wrk":
                runs[str(batch)] = drive_wrk(server.url, key, batch, seconds, concurrency, seed=batch)
            else:
                command = [sys.executable, __file__, "--drive", server.url, "--key", key, "--batch", str(batch),
                           "--seconds", str(seconds), "--concurrency", str(concurrency)]
                runs[str(batch)] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            after = band_counters(server.url)  # read at once: "searched" counts what the band kept up with
            runs[str(batch)]["band"] = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("queued", "dropped", "searched")}
            print(f"[http mode={mode} workers={workers}] {runs[str(batch)]}", file=sys.stderr)
            if mode == "deferred":  # let the backlog drain (or be dropped) before the next run
                time.sleep(2.0)
    finally:
        server.stop()
    return {"workers": workers, "mode": mode, "radius": radius, "process_start_to_ready_seconds": round(ready_s, 2),
            "runs": runs}


# ---------------------------------------------------------------------------- report


DRIVERS = {"wrk": "`wrk`, one thread", "python": "a Python asyncio client"}


def markdown(report: dict) -> str:
    lines = [
        "# Service benchmark",
        "",
        f"{report['when']}; {report['machine']}; Python {report['python']}. "
        f"Bank: {report['hashes']:,} random PDQ hashes. Produced by `benchmarks/service_load.py`.",
        "",
        "## Index ready time after a restart (one worker)",
        "",
        "| storage | snapshot + replay | rebuild from the database | replayed changes | snapshot write | same answers |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["ready"].items():
        lines.append(
            f"| {name} | {r['snapshot_replay_seconds']} s | {r['rebuild_seconds']} s | {r['replayed_changes']:,} | "
            f"{r['snapshot_write_seconds']} s | {'yes' if r['same_answers'] else 'NO'} |"
        )
    lines += [
        "",
        "Target: under 10 s for 1M hashes. Bulk insert of the bank (not part of the ready time): "
        + ", ".join(f"{n} {r['insert_seconds']} s" for n, r in report["ready"].items()) + ".",
        "",
        f"## POST /v1/match over HTTP (SQLite bank, {report['http_concurrency']} keep-alive connections "
        f"from a separate process ({DRIVERS[report.get('driver', 'python')]}), random queries)",
        "",
        "Review-band modes (`NCII_REVIEW_BAND`): `deferred` is the default (the answer searched at PDQ's 31; "
        "the band from 32 to 52 searched afterwards in the background, at most a quarter of a core per worker, "
        "its backlog bounded: codes beyond it are dropped, and each answer says so); `sync` searches 52 in the "
        "request (the default before 2026-11-29); `off` answers at 31 only. The baseline is `HashIndex.search` "
        "in process, called from one thread (a batch of 100 is split into blocks over the index's own threads, "
        "one per core), with the service's layout (tuned for 52), at the radius the answer is searched at. "
        "Band columns: query codes the band queued, dropped and searched during the run.",
        "",
        "| mode (answer radius) | server | hashes per request | requests/s | hashes/s | p50 | p99 | errors "
        "| band queued / dropped / searched |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    baselines = report["baseline"]
    for http in report["http"]:
        mode, radius = http.get("mode", "sync"), http.get("radius", 31)
        for batch, r in http["runs"].items():
            band = r.get("band") or {}
            band_text = " / ".join(f"{band.get(k, 0):,.0f}" for k in ("queued", "dropped", "searched")) if band else "-"
            lines.append(
                f"| {mode} ({radius}) | `ncii serve --workers {http['workers']}` | {batch} | {r['requests_per_s']:,} | "
                f"{r['hashes_per_s']:,} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} | {band_text} |"
            )
    for radius, runs in baselines.items():
        for batch, r in runs.items():
            lines.append(
                f"| baseline ({radius}) | `HashIndex.search` in process | {batch} | {r['requests_per_s']:,} | "
                f"{r['hashes_per_s']:,} | {r['p50_ms']} ms | {r['p99_ms']} ms | - | - |"
            )
    lines += [
        "",
        "HTTP overhead against the in-process baseline at the same radius (throughput: baseline hashes/s over "
        "the server's; latency: p50 over the baseline's p50, which includes queueing behind the other connections):",
        "",
    ]
    for http in report["http"]:
        mode, radius = http.get("mode", "sync"), http.get("radius", 31)
        for batch, r in http["runs"].items():
            base = baselines.get(str(radius), {}).get(batch)
            if base is None:
                continue
            share = f"; {r['hashes_per_s'] / base['capacity_hashes_per_s']:.0%} of the index's capacity with " \
                f"{report.get('cores', 2)} callers at once ({base['capacity_hashes_per_s']:,.0f} hashes/s)" \
                if base.get("capacity_hashes_per_s") else ""
            lines.append(
                f"- {mode}, {http['workers']} worker(s), {batch} hash(es) per request: throughput "
                f"{base['hashes_per_s'] / r['hashes_per_s']:.1f}x lower, p50 {r['p50_ms'] / base['p50_ms']:.0f}x higher"
                + share
            )
    lines += ["", "Issue targets (best of 1 and 2 workers in each mode):", ""]
    for mode in dict.fromkeys(h.get("mode", "sync") for h in report["http"]):
        runs = [h["runs"] for h in report["http"] if h.get("mode", "sync") == mode]
        singles = [r["1"] for r in runs if "1" in r]
        batches = [r["100"] for r in runs if "100" in r]
        if singles:
            best = max(singles, key=lambda r: r["requests_per_s"])
            met = best["requests_per_s"] >= 1000 and best["p99_ms"] < 50
            lines.append(
                f"- {mode}: single-hash requests {best['requests_per_s']:,.0f}/s with p99 {best['p99_ms']} ms "
                f"(target 1,000/s, p99 under 50 ms): {'met' if met else 'not met'}"
            )
        if batches:
            best = max(batches, key=lambda r: r["hashes_per_s"])
            met = best["hashes_per_s"] >= 20000
            lines.append(
                f"- {mode}: batches of 100, {best['hashes_per_s']:,.0f} hashes/s "
                f"(target 20,000/s): {'met' if met else 'not met'}"
            )
    lines += [
        "",
        "The load generator shares the machine's cores with the server; every number comes from the same run.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per HTTP measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true", help="rewrite service_load.md from service_load.json")
    parser.add_argument("--data", type=Path, help="keep the SQLite bank here (reused if present) instead of a temp dir")
    parser.add_argument("--skip-ready", action="store_true", help="HTTP and baseline only (no ready-time runs)")
    parser.add_argument("--modes", default="deferred,sync,off", help="review-band modes for the HTTP runs")
    parser.add_argument("--driver", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python",
                        help="load generator (default: wrk when installed, e.g. apt-get install wrk)")
    parser.add_argument("--upload-cost", action="store_true",
                        help="only the per-upload cost of the upload check, group-v3 against the current strategy")
    parser.add_argument("--images", type=Path, default=REPO.parent / "shared" / "data" / "photos",
                        help="with --upload-cost: photos to use as uploads (read in place)")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if args.upload_cost:
        rep = upload_cost(args.images, args.uploads, args.hashes, args.rounds, np.random.default_rng(2026))
        rep["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "upload_cost.json").write_text(json.dumps(rep, indent=2) + "\n")
        (args.out / "upload_cost.md").write_text(upload_cost_markdown(rep))
        print(upload_cost_markdown(rep))
        return 0
    if args.report_only:
        (args.out / "service_load.md").write_text(markdown(json.loads((args.out / "service_load.json").read_text())))
        return 0
    if args.drive:
        print(json.dumps(drive(args.drive, args.key, args.batch, args.seconds, args.concurrency, seed=args.batch)))
        return 0

    rng = np.random.default_rng(2026)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
        "hashes": args.hashes,
        "http_concurrency": args.concurrency,
        "driver": args.driver,
        "cores": os.cpu_count(),
        "ready": {},
        "http": [],
    }
    from matcher.groups import DEFAULT_STRATEGY

    modes = tuple(args.modes.split(","))
    radii = (DEFAULT_STRATEGY.widest_threshold, 31)
    with tempfile.TemporaryDirectory(prefix="ncii-bench-") as tmp:
        root = args.data or Path(tmp)
        sqlite_settings = bench_settings(root / "sqlite", None)
        if not args.skip_ready:
            if args.data:
                shutil.rmtree(root / "sqlite", ignore_errors=True)
            report["ready"]["SQLite"] = measure_ready("sqlite", sqlite_settings, args.hashes, rng)
        elif not (root / "sqlite" / "ncii.sqlite3").exists():
            from service.db.engine import make_engine
            from service.db.migrate import upgrade

            upgrade(make_engine(sqlite_settings))
            fill_bank(sqlite_settings, rng.integers(0, 256, size=(args.hashes, 32), dtype=np.uint8))
        if not args.no_postgres and not args.skip_ready:
            import psycopg

            name = f"ncii_bench_{secrets.token_hex(4)}"
            admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
            admin.execute(f"CREATE DATABASE {name}")
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
                report["ready"]["PostgreSQL"] = measure_ready("postgresql", bench_settings(Path(tmp) / "pg", url), args.hashes, rng)
            finally:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.close()
        # The HTTP runs start from the SQLite bank with a fresh snapshot (as a restarted server would).
        load_index(sqlite_settings)[0].write_snapshot()
        for mode in modes:
            for workers in (1, 2):
                report["http"].append(
                    measure_http(sqlite_settings, None, workers, args.seconds, args.concurrency, mode, args.driver)
                )
        from service.db.engine import make_engine

        engine = make_engine(sqlite_settings)
        with engine.connect() as connection:
            from sqlalchemy import text

            codes = np.frombuffer(
                b"".join(r[0] for r in connection.execute(text("SELECT code FROM bank_hashes WHERE status = 'active'"))),
                dtype=np.uint8,
            ).reshape(-1, 32)
        engine.dispose()
        report["baseline"] = baseline(codes, rng, min(args.seconds, 5.0), radii)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "service_load.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "service_load.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
