"""Run one fuzz target under atheris and record its figures.

    python -m benchmarks.fuzz TARGET --seconds N

The target runs in a child process (libFuzzer ends its process when it stops); this one reads
libFuzzer's final statistics from the child's log and writes them, with any crash, into
``benchmarks/results/fuzz.json`` (one entry per target, the latest run) and ``fuzz.md``.
New inputs the fuzzer keeps go to ``benchmarks/fuzz/work/TARGET`` (not committed); the
committed seeds in ``corpus/TARGET`` are only read. An input that breaks a target is written
to ``crashes/TARGET-...`` and replayed by ``tests/test_fuzz_corpus.py`` once it is fixed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from . import CORPUS, CRASHES, HERE, TARGETS

ROOT = HERE.parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORK = HERE / "work"


def child(target: str, options: list[str]) -> None:
    import atheris

    name, _ = TARGETS[target]
    probe = importlib.util.find_spec(name)
    # Instrument the code under test (its Python parts; C decoders report no coverage).
    instrument = _instrument_list(probe.origin)
    with atheris.instrument_imports(include=list(instrument)):
        module = importlib.import_module(name)

    def test_one_input(data: bytes) -> None:
        module.one_input(data)

    atheris.Setup([sys.argv[0], *options], test_one_input)
    atheris.Fuzz()


def _instrument_list(path: str) -> tuple[str, ...]:
    found = re.search(r"^INSTRUMENT = (\(.*?\))$", Path(path).read_text(), re.S | re.M)
    return eval(found[1], {}) if found else ()  # a literal tuple of module names, our own file


STAT = re.compile(r"^stat::(\w+):\s+(\d+)$", re.M)
PULSE = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", re.M)
ARTIFACT = re.compile(r"(?:Test unit written to|artifact_prefix='[^']*'; Test unit written to) (\S+)")


def run(target: str, seconds: int) -> dict:
    _, extra = TARGETS[target]
    work = WORK / target
    work.mkdir(parents=True, exist_ok=True)
    CRASHES.mkdir(exist_ok=True)
    seeds = CORPUS / target
    options = [str(work), str(seeds), f"-max_total_time={seconds}", "-print_final_stats=1",
               f"-artifact_prefix={CRASHES}/{target}-", *extra]
    log_path = WORK / f"{target}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.call([sys.executable, "-m", "benchmarks.fuzz", "--child", target, "--", *options],
                               stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    elapsed = time.monotonic() - started
    log = log_path.read_text(errors="replace")
    stats = {k: int(v) for k, v in STAT.findall(log)}
    pulses = PULSE.findall(log)
    last = pulses[-1] if pulses else None
    crashes = []
    if code != 0:
        kind = "uncaught exception" if "Uncaught Python exception" in log else \
            "timeout" if "libFuzzer: timeout" in log else \
            "out of memory" if "out-of-memory" in log else f"exit {code}"
        trace = log.split("=== Uncaught Python exception: ===", 1)[-1].strip().splitlines() if kind == "uncaught exception" else []
        summary = next((line for line in reversed(trace) if re.match(r"^\w[\w.]*(Error|Exception|Finding)", line)), "")
        artifact = ARTIFACT.search(log)
        if artifact is None and code < 0:
            kind += f" (process ended by signal {-code} before libFuzzer wrote the input)"
        crashes.append({"kind": kind, "summary": summary[:300],
                        "artifact": os.path.relpath(artifact[1], ROOT) if artifact else None})
    return {
        "target": target,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip(),
        "seconds_asked": seconds,
        "seconds": round(elapsed, 1),
        "inputs": stats.get("number_of_executed_units", int(last[0]) if last else 0),
        "exec_per_second": stats.get("average_exec_per_sec"),
        "coverage": int(last[1]) if last else None,
        "features": int(last[2]) if last else None,
        "corpus": int(last[3]) if last else None,
        "new_units": stats.get("new_units_added"),
        "peak_rss_mb": stats.get("peak_rss_mb"),
        "seeds": len(list(seeds.iterdir())) if seeds.is_dir() else 0,
        "options": extra,
        "crashes": crashes,
        "exit": code,
    }


def write(record: dict) -> None:
    path = RESULTS / "fuzz.json"
    everything = json.loads(path.read_text()) if path.exists() else {}
    before = everything.get(record["target"], {})
    # Runs resume from the corpus earlier runs kept, so the figures that add up are kept too.
    record["runs"] = before.get("runs", 1) + 1 if before else 1
    record["seconds_all_runs"] = round(before.get("seconds_all_runs", before.get("seconds", 0)) + record["seconds"], 1)
    record["inputs_all_runs"] = before.get("inputs_all_runs", before.get("inputs", 0)) + record["inputs"]
    everything[record["target"]] = record
    everything = dict(sorted(everything.items(), key=lambda kv: list(TARGETS).index(kv[0])))
    path.write_text(json.dumps(everything, indent=2) + "\n")
    (RESULTS / "fuzz.md").write_text(render(everything))


def render(everything: dict) -> str:
    lines = [
        "# Fuzzing (atheris / libFuzzer)",
        "",
        "Written by `python -m benchmarks.fuzz TARGET --seconds N` (`benchmarks/fuzz/`), one row per target,",
        "its latest run. *inputs*: inputs executed; *cov*/*ft*: libFuzzer's coverage edges and features in the",
        "instrumented Python modules (the C decoders under Pillow report none); *corpus*: inputs kept.",
        "Each run starts from the committed seeds (`benchmarks/fuzz/corpus/TARGET`) plus what earlier runs",
        "kept locally. A crash is any exception the code does not document, a broken check, a timeout or",
        "running out of memory (limits in the options column).",
        "",
        "*Latest run*: its date, commit, seconds and inputs; *all runs*: the runs recorded here for the target,",
        "their seconds and inputs added up (each resumed from the corpus the earlier ones kept).",
        "",
        "| target | date | commit | seconds | inputs | inputs/s | cov | ft | corpus | peak RSS MB | crashes | all runs | options |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    total_seconds = total_inputs = 0
    for r in everything.values():
        crashes = "; ".join(f"{c['kind']}: {c['summary']} ({c['artifact']})" for c in r["crashes"]) or "0"
        lines.append(f"| {r['target']} | {r['date']} | {r['commit']} | {r['seconds']:.0f} | {r['inputs']:,} | "
                     f"{r['exec_per_second'] or ''} | {r['coverage'] or ''} | {r['features'] or ''} | "
                     f"{r['corpus'] or ''} | {r['peak_rss_mb'] or ''} | {crashes} | "
                     f"{r.get('runs', 1)}: {r.get('seconds_all_runs', r['seconds']):.0f} s, "
                     f"{r.get('inputs_all_runs', r['inputs']):,} | `{' '.join(r['options'])}` |")
        total_seconds += r.get("seconds_all_runs", r["seconds"])
        total_inputs += r.get("inputs_all_runs", r["inputs"])
    lines += ["", f"Total over the runs recorded: {total_seconds / 60:.1f} minutes, {total_inputs:,} inputs.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1], argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz")
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args(argv)
    record = run(args.target, args.seconds)
    write(record)
    print(json.dumps(record, indent=2))
    return 1 if record["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
