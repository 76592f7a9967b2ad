"""``ncii sync``: mirror a remote hotline's bank into this instance's database.

The local database is the one ``ncii serve`` uses (``DATABASE_URL`` or the data folder);
a running service matches the mirrored hashes, and stops matching withdrawn ones, within
its consistency window. The key comes from ``--key-file``, else ``--key`` or
``$NCII_SYNC_KEY``; it is sent to the remote only, never written to the database or
printed. A file or the variable is better than ``--key``, which shows in process lists.
"""

from __future__ import annotations

import re
import signal
import threading
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .common import fail

if TYPE_CHECKING:
    from ..sync import runner

err = Console(stderr=True, highlight=False)


class Dialect(str, Enum):
    native = "native"
    stopncii = "stopncii"


#: Tries per request and the first wait between them (doubling, at most 30 s): about 15 s in all.
RETRY_ATTEMPTS = 6
RETRY_BACKOFF_SECONDS = 0.5
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_every(text: str) -> float:
    """``60s``, ``5m``, ``1h`` or plain seconds; at least one second."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text.lower())
    if not found or float(found.group(1)) * _UNITS[found.group(2)] < 1:
        raise typer.BadParameter("give a period of at least 1s, such as 30s, 5m or 1h", param_hint="--every")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _read_key(key: str | None, key_file: Path | None) -> str:
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            fail(f"cannot read {key_file}: {error.strerror or error}", 2)
    if not key or not key.strip():
        fail("no key: give --key-file, $NCII_SYNC_KEY or --key", 2)
    return key.strip()


def _stop_on_signals(stop: threading.Event) -> dict:
    """First Ctrl-C (or SIGTERM): finish the page in hand and exit. A second one: exit now.

    Returns the handlers it replaced, for the caller to put back.
    """

    def ask(signum, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        err.print("stopping after the page in hand (Ctrl-C again to stop at once)")

    return {signum: signal.signal(signum, ask) for signum in (signal.SIGINT, signal.SIGTERM)}


def _describe(summary: runner.RunSummary) -> str:
    return (
        f"{summary.pages} pages, {summary.records} records: {summary.added} added, {summary.removed} removed, "
        f"{summary.unchanged} unchanged, {summary.skipped} skipped; checkpoint {summary.checkpoint or '(start)'}"
    )


def sync(
    from_url: Annotated[str, typer.Option("--from", help="The remote bank's base address.")],
    key: Annotated[
        str | None,
        typer.Option(envvar="NCII_SYNC_KEY", show_envvar=True,
                     help="The remote's API key (visible in process lists: prefer $NCII_SYNC_KEY or --key-file)."),
    ] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", help="A file holding the key.")] = None,
    dialect: Annotated[Dialect, typer.Option(help="The remote's exchange dialect.")] = Dialect.native,
    every: Annotated[str | None, typer.Option(help="Keep syncing, this long between runs (30s, 5m, 1h).")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=10_000, help="Records per page asked of the remote.")] = 500,
    from_start: Annotated[bool, typer.Option("--from-start", help="Forget the checkpoint and read the remote from the beginning (safe: nothing is added twice).")] = False,
) -> None:
    """Mirror a remote bank into the local one, from the checkpoint the last sync stored.

    Adds, withdrawals, suspensions, reinstatements and retirements are applied; each page
    and its checkpoint commit together, so an interrupted sync resumes without gaps or duplicates.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from ..db.engine import make_engine, make_sessionmaker
    from ..db.migrate import upgrade
    from ..settings import Settings
    from ..sync import runner
    from ..sync.client_native import NativeRemote
    from ..sync.client_stopncii import StopNCIIRemote
    from ..sync.remote import SyncError, check_url

    period = parse_every(every) if every is not None else None
    try:
        url = check_url(from_url)
    except SyncError as error:
        fail(str(error), 2)
    secret = _read_key(key, key_file)
    stop = threading.Event()
    replaced = _stop_on_signals(stop)
    client = NativeRemote if dialect is Dialect.native else StopNCIIRemote
    remote = client(url, secret, page_size=page_size, wait=stop.wait, attempts=RETRY_ATTEMPTS,
                    backoff=RETRY_BACKOFF_SECONDS)
    engine = make_engine(Settings())
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        source_id = runner.prepare_source(sessions, remote, from_start=from_start)
        while True:
            failed = _run(sessions, remote, source_id, stop, continuous=period is not None)
            if period is None:
                if failed:
                    raise typer.Exit(1)
                return
            if stop.wait(period):
                return
    except SQLAlchemyError as error:
        fail(f"the local database failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
    except KeyboardInterrupt:
        fail("interrupted; the pages already applied are kept", 130)
    finally:
        remote.close()
        engine.dispose()
        for signum, handler in replaced.items():
            signal.signal(signum, handler)


def _run(sessions, remote, source_id: int, stop: threading.Event, *, continuous: bool) -> bool:
    """One run, summarised on stdout; True if it failed (auth failures end the command)."""
    from ..sync import runner
    from ..sync.remote import Interrupted, RemoteAuthError, RemoteProtocolError, SyncError

    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        summary = runner.run_once(sessions, remote, source_id, stop=stop)
    except Interrupted:
        err.print("stopped")
        return False
    except RemoteAuthError as error:
        fail(str(error))
    except SyncError as error:
        hint = ""
        if isinstance(error, RemoteProtocolError) and error.status == 409:
            hint = " (the remote's feed is behind this checkpoint: restored, or another bank; --from-start reads it again)"
        err.print(f"[red]{started} sync failed: {error}{hint}[/]" + ("; trying again at the next run" if continuous else ""))
        return True
    print(f"{started} {remote.dialect} {remote.url}: {_describe(summary)}" + (" (stopped)" if summary.stopped else ""),
          flush=True)
    return False
