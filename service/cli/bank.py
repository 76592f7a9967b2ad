"""``ncii bank import`` and ``ncii bank export``: plain hash lists, for hotline admins.

They work on the database directly (``DATABASE_URL`` or the data folder), like
``ncii platform``; a running ``ncii serve`` on the same database matches imported
hashes within its consistency window, through the change log.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Annotated

import typer

from matcher.errors import MatcherError

from .common import err, fail

bank_app = typer.Typer(help="The hash bank: plain hash lists in and out (hotline admins).", no_args_is_help=True)

ERRORS_SHOWN = 20
#: What ``--status`` may name: every status a bank hash can have.
EXPORT_STATUSES = ("active", "withdrawn", "suspended", "retired")


def _check_signal(signal: str) -> None:
    from matcher.signals import get_signal

    try:
        kind = get_signal(signal)
    except MatcherError as error:
        fail(str(error), 2)
    if kind.source == "video":
        # A frame code means something only with its video and its time; a plain list has neither.
        fail(f"{signal} hashes are a video's frames: a plain list cannot hold a video's timeline "
             "(send the video as a case item to /v1/cases, or mirror a bank with ncii sync)", 2)


def _admin() -> str | None:
    return os.environ.get("USER")


@bank_app.command("import")
def bank_import(
    file: Annotated[str, typer.Argument(help="The hash list: a file, or - for stdin.")],
    source: Annotated[str, typer.Option(help="Name of the list's source; importing into it again adds only new hashes.")] = "import",
    signal: Annotated[str, typer.Option(help="Signal type of the hashes.")] = "pdq",
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good lines and report the bad ones (default: import nothing if any line is bad).")
    ] = False,
) -> None:
    """Add the hashes of a plain list (one hex hash a line, or hash,quality; # comments) to the bank."""
    from ..bank import imports
    from ..db.engine import make_engine, make_sessionmaker, transaction
    from ..db.migrate import upgrade
    from ..settings import Settings

    _check_signal(signal)
    if not source.strip() or len(source) > 300:
        fail("--source must be a name of 1 to 300 characters", 2)
    try:
        handle = _open_list(file)
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror or error}", 2)
    with handle:
        check = imports.check_hash_list(handle, signal)  # first pass: nothing is imported from a bad list
        for problem in check.errors[:ERRORS_SHOWN]:
            err.print(f"[yellow]line {problem.line}: {problem.message}[/]", highlight=False)
        if check.error_count > ERRORS_SHOWN:
            err.print(f"[yellow]... and {check.error_count - ERRORS_SHOWN} more bad lines[/]")
        if check.error_count and not skip_invalid:
            fail(f"{check.error_count} bad line(s): nothing imported (fix them, or --skip-invalid to import the rest)")
        if not check.hashes:
            fail(f"no {signal} hashes in {file}: nothing imported")
        handle.seek(0)
        entries = (e for e in imports.iter_hash_list(handle, signal) if isinstance(e, imports.ListEntry))
        settings = Settings()
        engine = make_engine(settings)
        try:
            upgrade(engine)
            with transaction(make_sessionmaker(engine)) as session:
                outcome = imports.import_entries(
                    session, entries, source_name=source.strip(), signal=signal, actor_id=_admin(),
                    file_digest=check.digest, skipped_lines=check.error_count,
                )
        finally:
            engine.dispose()
    print(
        f"{outcome.added} added, {outcome.already_present} already in source {source.strip()!r} or repeated"
        + (f", {check.error_count} bad lines skipped" if check.error_count else "")
    )


def _open_list(file: str) -> IO[str]:
    """The list, readable twice (checked, then imported): stdin is copied to a temporary file first."""
    if file != "-":
        return open(file, encoding="utf-8-sig", errors="replace", newline=None)
    spool = tempfile.TemporaryFile("w+", encoding="utf-8")
    shutil.copyfileobj(sys.stdin, spool)
    spool.seek(0)
    return spool


@bank_app.command("export")
def bank_export(
    output: Annotated[str, typer.Option("--output", "-o", help="File to write (replaced whole, atomically); - for stdout.")] = "-",
    status: Annotated[
        list[str], typer.Option(help=f"Hash status to export, repeatable or comma-separated: {', '.join(EXPORT_STATUSES)}, all.")
    ] = ["active"],  # noqa: B006 (typer reads the default)
    signal: Annotated[str, typer.Option(help="Signal type to export.")] = "pdq",
    with_quality: Annotated[bool, typer.Option("--with-quality", help="Write hash,quality lines (quality where known).")] = False,
) -> None:
    """Write the bank's hash values, one a line, sorted; nothing that identifies a case or a person."""
    from ..bank import imports
    from ..db.engine import make_engine, make_sessionmaker, transaction
    from ..db.migrate import upgrade
    from ..settings import Settings

    _check_signal(signal)
    chosen = [s.strip() for value in status for s in value.split(",") if s.strip()]
    if "all" in chosen:
        chosen = list(EXPORT_STATUSES)
    unknown = sorted(set(chosen) - set(EXPORT_STATUSES))
    if unknown or not chosen:
        fail(f"unknown --status {', '.join(unknown) or '(none)'}; use {', '.join(EXPORT_STATUSES)} or all", 2)
    settings = Settings()
    engine = make_engine(settings)
    try:
        upgrade(engine)
        count = _write_export(make_sessionmaker(engine, read_only=True), output, signal, chosen, with_quality)
        with transaction(make_sessionmaker(engine)) as session:
            imports.record_export(session, actor_id=_admin(), signal=signal, statuses=chosen, count=count)
    finally:
        engine.dispose()
    err.print(f"{count} {signal} hashes exported ({', '.join(chosen)})", highlight=False)


def _write_export(readers, output: str, signal: str, statuses: list[str], with_quality: bool) -> int:
    from ..bank import imports

    def lines(session):
        for hex_code, quality in imports.export_rows(session, signal=signal, statuses=statuses):
            yield f"{hex_code},{quality}\n" if with_quality and quality is not None else f"{hex_code}\n"

    count = 0
    with readers() as session, session.begin():
        if output == "-":
            try:
                for line in lines(session):
                    sys.stdout.write(line)
                    count += 1
                sys.stdout.flush()
            except BrokenPipeError:  # ``| head``: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return count
        target = Path(output)
        try:
            handle = tempfile.NamedTemporaryFile("w", dir=target.parent or ".", prefix=f".{target.name}.", delete=False)
        except OSError as error:
            fail(f"cannot write {output}: {error.strerror or error}", 2)
        try:
            with handle:
                for line in lines(session):
                    handle.write(line)
                    count += 1
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, target)
        except OSError as error:
            Path(handle.name).unlink(missing_ok=True)
            fail(f"cannot write {output}: {error.strerror or error}", 2)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    return count
