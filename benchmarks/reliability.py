"""Reliability figures (issue 15), written to ``benchmarks/results/reliability.md`` and ``.json``.

``--api``: schemathesis against the service's OpenAPI document, the long version of
``tests/service/test_schema_fuzz.py``. Every operation of the schema gets ``--examples``
generated requests (schema-valid and schema-breaking ones), and its boundary cases when
``--coverage`` is on; each request is sent as every role of ``tests/service/api_fuzz.py`` (no
credentials, a victim and another victim, a platform key of each scope, a revoked key, a
platform moderator's and hotline staff's sessions) and every answer is checked: no 5xx, status,
content type, body and headers as documented, a schema-breaking request refused, and the
authorization matrix (``api_fuzz.REACH``). Then ``--stateful`` runs of schemathesis's state
machine follow the schema's links (a case opened, its status read and withdrawn with its PIN,
its hashes matched, the matches reviewed, the hotline acting on a hash). The app runs in this
process (schemathesis's ASGI transport), on SQLite by default or a throw-away PostgreSQL database.

Usage: python -m benchmarks.reliability --api [--examples 100] [--coverage] [--stateful 50]
       [--backend sqlite|postgresql|sqlite,postgresql] [--seed 1]
       (PostgreSQL: $NCII_BENCH_POSTGRES, default postgresql://postgres@127.0.0.1:5432/test, in which
       a throw-away database is created and dropped.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results"
PG_ADMIN_URL = os.environ.get("NCII_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _schemathesis_config(examples: int, coverage: bool, seed: int):
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict({
        "seed": seed,
        "generation": {"deterministic": True, "max-examples": examples, "mode": "all", "database": "none"},
        "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
    })


def run_api(examples: int, coverage: bool, stateful: int, seed: int, database_url: str | None, data_dir: Path) -> dict:
    import schemathesis
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test
    from schemathesis.python import asgi

    from service.app import create_app
    from tests.service import api_fuzz
    from tests.service.conftest import make_settings

    app = create_app(make_settings(data_dir, database_url, **api_fuzz.fuzz_settings_overrides()))
    schema = schemathesis.openapi.from_dict(app.openapi(), config=_schemathesis_config(examples, coverage, seed))
    tally = api_fuzz.Tally()
    started = time.monotonic()
    per_operation: dict[str, dict] = {}
    with asgi.get_client(app):
        pass
    try:
        cast = api_fuzz.Cast(app)
        operations = [result.ok() for result in schema.get_all_operations()]
        for k, operation in enumerate(operations, 1):
            before, t0 = tally.requests, time.monotonic()
            def test_func(case) -> None:
                api_fuzz.exercise(case, cast, tally)

            test = build_operation_test(config=schema.config, operation=operation, given_kwargs={},
                                        feedback=FeedbackSources(), test_func=test_func)
            test()
            per_operation[operation.label] = {"requests": tally.requests - before,
                                              "seconds": round(time.monotonic() - t0, 1)}
            print(f"{k}/{len(operations)} {operation.label}: {tally.requests - before} requests, "
                  f"{tally.distinct_findings} distinct findings so far", file=sys.stderr)
        before = tally.requests
        api_fuzz.sweep_outside_the_schema(cast, tally)
        outside_requests = tally.requests - before
        stateful_report = api_fuzz.run_stateful(schema, cast, tally, runs=stateful) if stateful else None
    finally:
        asgi.shutdown_lifespans()
    return {
        "operations": len(operations),
        "operations_in_reach_table": sum(op.label in api_fuzz.REACH for op in operations),
        "roles": list(api_fuzz.ROLES),
        "reach": {label: sorted(reach) for label, reach in api_fuzz.REACH.items()},
        "routes_outside_the_schema": sum(not label.startswith("MOUNT") for label in api_fuzz.OUTSIDE_THE_SCHEMA),
        "outside_requests": outside_requests,
        "examples_per_operation": examples,
        "coverage_phase": coverage,
        "requests": tally.requests,
        "by_role": dict(tally.by_role),
        "by_operation": per_operation,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "server_errors": tally.server_errors,
        "schema_violations": tally.schema_violations,
        "auth_violations": tally.auth_violations,
        "invalid_before_auth": tally.invalid_before_auth,
        "distinct_findings": tally.distinct_findings,
        "findings": [f.__dict__ for f in tally.findings],
        "stateful": stateful_report,
        "seconds": round(time.monotonic() - started, 1),
    }


#: What the runs found while this was built, and what became of it (the runs above are after the fixes).
FINDINGS = [
    ("Undocumented answers: every 401/403 of the doors, 400 for unreadable bodies, the routes' 404/409/413/429, "
     "PUT /v1/platform/webhook's 201 and /readyz's 503; every 422 documented as FastAPI's `{\"detail\": [...]}` "
     "while the service answers `{\"error\": {...}}`",
     "fixed (5e326df): each route documents its statuses and codes (`service/errors.py` `CODES`, `errors()`)"),
    ("Schema-breaking values accepted: a string or a float for `/v1/match`'s `structure`, an integer for the "
     "webhook's `enabled` (pydantic's lax mode coerced them)",
     "fixed (9fc2172): JSON bodies are typed strictly; `test_hostile.py::test_types_are_what_the_schema_says`"),
    ("PostgreSQL only, 500: a NUL character in a hash's `variant`, a `content_ref`, a review or hotline `reason`, "
     "a moderator name (API and review UI form). Found by a probe on PostgreSQL after the runs, whose generator "
     "rarely put a NUL where the rest of the request reached the database",
     "fixed (7f163f6): text with a NUL is `422 request_invalid` on every backend (`service/schemas.py` `refuse_nul`); "
     "`test_schema_fuzz.py::test_text_with_a_nul_character_is_refused`"),
    ("A request whose body cannot be read, or whose credential header breaks the schema, is answered 400/422 "
     "before its door",
     "stays, written down (docs/service.md, \"Errors\"): the same answer for every caller, nothing the schema "
     "does not say; counted in the table as \"refused before their door\""),
]


def markdown(report: dict) -> str:
    runs = report["api"]
    first = runs[0]
    lines = [
        "# Reliability",
        "",
        f"Run {report['when']} on {report['machine']} (Python {report['python']}; load average "
        f"{report['load_average']} before the run: other work shares the machine), commit "
        f"{report.get('commit', '?')}: `python -m benchmarks.reliability {report['argv']}`.",
        "",
        "## API: schemathesis against the OpenAPI document",
        "",
        f"schemathesis {first['schemathesis']}, the app in process (its ASGI transport). Every operation of "
        f"`/openapi.json` ({first['operations']}, all {first['operations_in_reach_table']} in the authorization "
        f"table `tests/service/api_fuzz.py` `REACH`) gets {first['examples_per_operation']} generated requests "
        f"(schema-valid and schema-breaking{', plus the coverage phase' if first['coverage_phase'] else ''}), each "
        f"sent as every one of {len(first['roles'])} roles: " + ", ".join(f"`{r}`" for r in first["roles"]) + ". "
        f"Then one request per role to each of the {first['routes_outside_the_schema']} routes outside the "
        "document (pages, the review UI's forms, `/metrics`), and stateful runs along the document's links "
        "(a key with every scope and hotline staff's session at once: checked against the schema, not the matrix).",
        "",
        "| | " + " | ".join(r["backend"] for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]

    def row(name: str, value) -> None:
        lines.append(f"| {name} | " + " | ".join(value(r) for r in runs) + " |")

    row("requests sent", lambda r: f"{r['requests']:,}")
    row("... of them in stateful runs", lambda r: f"{(r['stateful'] or {}).get('requests', 0):,}")
    row("... of them to the routes outside the document", lambda r: f"{r['outside_requests']:,}")
    row("5xx answers", lambda r: f"{r['server_errors']}")
    row("schema violations (status, content type, body, headers, schema-breaking input accepted)",
        lambda r: f"{r['schema_violations']}")
    row("authorization-matrix violations", lambda r: f"{r['auth_violations']}")
    row("distinct findings", lambda r: f"{r['distinct_findings']}")
    row("schema-breaking requests refused as unreadable or invalid (400, 422) before their door (allowed, see "
        "below)", lambda r: f"{r['invalid_before_auth']:,}")
    row("wall time", lambda r: f"{r['seconds'] / 60:.1f} min")
    lines.append("")
    for r in runs:
        lines.append(f"{r['backend']}: answers by status " + ", ".join(f"{k}: {v:,}" for k, v in r["statuses"].items())
                     + ".")
        if r["stateful"]:
            s = r["stateful"]
            lines.append(f"Stateful: {s['runs']} runs of up to {s['max_steps']} steps, {s['requests']:,} requests; "
                         "links followed: " + (", ".join(f"{k} ({v})" for k, v in sorted(s["links"].items())) or "none")
                         + ".")
        lines.append("")
    everyone = set(first["roles"])
    lines += ["| operation | who may call it (`REACH`) | " + " | ".join(f"requests ({r['backend']})" for r in runs) + " |",
              "|---|---|" + "---:|" * len(runs)]
    for op in first["by_operation"]:
        reach = set(first["reach"].get(op, ()))
        who = "anyone" if reach == everyone else ", ".join(f"`{x}`" for x in first["roles"] if x in reach)
        lines.append(f"| `{op}` | {who} | " + " | ".join(f"{r['by_operation'][op]['requests']:,}" for r in runs) + " |")
    lines.append("")
    for r in runs:
        if r["findings"]:
            lines += [f"### Findings of this run ({r['backend']})", ""]
            lines += [f"- [{f['kind']}] `{f['operation']}` as `{f['role']}`: {f['status']} {f['title']}"
                      for f in r["findings"]]
            lines.append("")
    lines += ["### What the runs found while this was built", "", "| finding | what became of it |", "|---|---|"]
    lines += [f"| {finding} | {outcome} |" for finding, outcome in FINDINGS]
    lines.append("")
    return "\n".join(lines)


def _commit() -> str:
    """The checked-out commit, and whether the work tree differs from it."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" (with changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_backend(backend: str, args) -> dict:
    """``run_api`` on a temporary data folder, and on PostgreSQL in a throw-away database."""
    with tempfile.TemporaryDirectory(prefix="ncii-reliability-") as tmp:
        if backend == "sqlite":
            return run_api(args.examples, args.coverage, args.stateful, args.seed, None, Path(tmp) / "data")
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
        name = f"ncii_reliability_{secrets.token_hex(4)}"
        admin.execute(f"CREATE DATABASE {name}")
        try:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            return run_api(args.examples, args.coverage, args.stateful, args.seed, url, Path(tmp) / "data")
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", action="store_true", help="schemathesis against the service's OpenAPI document")
    parser.add_argument("--examples", type=int, default=100, help="generated requests per operation (fuzzing phase)")
    parser.add_argument("--coverage", action="store_true", help="also schemathesis's coverage phase (boundary cases)")
    parser.add_argument("--stateful", type=int, default=50, help="state machine runs along the schema's links (0: none)")
    parser.add_argument("--backend", default="sqlite", help="sqlite, postgresql, or both: sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report-only", action="store_true", help="rewrite reliability.md from reliability.json")
    args = parser.parse_args(argv)
    if args.report_only:
        (args.out / "reliability.md").write_text(markdown(json.loads((args.out / "reliability.json").read_text())))
        return 0
    if not args.api:
        parser.error("nothing to run: pass --api")
    import schemathesis

    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": _commit(),
    }
    report["api"] = []
    for backend in args.backend.split(","):
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}")
        api = run_backend(backend, args)
        api["schemathesis"] = schemathesis.__version__
        api["backend"] = "PostgreSQL" if backend == "postgresql" else "SQLite"
        report["api"].append(api)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reliability.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "reliability.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if not any(api["distinct_findings"] for api in report["api"]) else 1


if __name__ == "__main__":
    sys.exit(main())
