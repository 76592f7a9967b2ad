"""``ncii hash`` and ``ncii match``: the commands that need no service, only ``matcher``.

``ncii hash`` turns files into hash records on the user's own machine, so that
only hashes ever need to leave it. Output goes to stdout (JSON Lines or CSV),
progress and problems to stderr; the exit status says whether any file failed.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from typer.core import TyperCommand

from matcher.errors import MatcherError

from .common import iter_input_paths, progress_bar

#: Exit status when some input could not be hashed (the others were).
EXIT_SOME_FAILED = 1
#: What ``ncii hash`` computes unless ``-s`` says otherwise: also ``vpdq`` for videos.
CLI_SIGNALS: tuple[str, ...] = ("md5", "pdq", "vpdq")
# The backslash keeps Rich from reading "[default: ...]" as markup (and dropping it).
_SIGNALS_HELP = f"Comma-separated signal types: {{names}} \\[default: {','.join(CLI_SIGNALS)}]."


class HashCommand(TyperCommand):
    """``ncii hash``, whose ``--signals`` help lists the registered signal types: the registry is
    read when that help is shown, so that building the command line imports no image code."""

    def format_help(self, ctx, formatter) -> None:
        from matcher.signals import signal_names

        for param in self.params:
            if param.name == "signals":
                param.help = _SIGNALS_HELP.format(names=", ".join(signal_names()))
        super().format_help(ctx, formatter)


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


def _parse_signals(text: str) -> tuple[str, ...]:
    from matcher.signals import get_signal

    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names:
        raise typer.BadParameter("name at least one signal type")
    for name in names:
        try:
            get_signal(name)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return names


class _CsvWriter:
    """One row a file. A video's frames get a ``vpdq`` column only when ``-s`` names vpdq, so
    the default CSV keeps the columns it always had."""

    def __init__(
        self, stream: TextIO, signals: tuple[str, ...], dihedral: bool, group: bool = False, frames: bool = False
    ) -> None:
        from matcher.signals import get_signal

        self.columns = ["path", "kind", *(s for s in signals if get_signal(s).source != "video")]
        if "pdq" in signals:
            self.columns += ["quality", "structure"]
        if dihedral:
            self.columns.append("pdq_dihedral")
        if group:
            self.columns.append("group")
        if frames:
            self.columns.append("vpdq")
        self.columns += ["width", "height", "error_code", "error_message"]
        self.writer = csv.DictWriter(stream, fieldnames=self.columns, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        row = dict(record)
        if "pdq_dihedral" in row:
            row["pdq_dihedral"] = " ".join(row["pdq_dihedral"].values())
        if "group" in row:
            row["group"] = " ".join(f"{h['variant']}:{h['pdq']}" for h in row["group"]["hashes"])
        if "vpdq" in row:  # hex,quality,seconds per frame: python-threatexchange's form, space-separated
            row["vpdq"] = " ".join(f"{f['pdq']},{f['quality']},{f['time']:.3f}" for f in row["vpdq"]["frames"])
        if "error" in row:
            row["error_code"], row["error_message"] = row["error"]["code"], row["error"]["message"]
        self.writer.writerow(row)


def hash_command(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or - to read paths from stdin.")],
    signals: Annotated[
        str | None,
        typer.Option(
            "--signals", "-s",
            help=_SIGNALS_HELP,  # the names filled in by HashCommand
            show_default=False,
        ),
    ] = None,
    dihedral: Annotated[bool, typer.Option(help="Also print the 8 rotated/mirrored PDQ hashes.")] = False,
    group: Annotated[
        bool, typer.Option("--group", help="Also print each picture's hash group (what a bank stores for it).")
    ] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.jsonl,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes to hash with (default: all cores).", show_default=False)
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr (default: when stderr is a terminal).")] = None,  # type: ignore[assignment]
) -> None:
    """Hash images and videos (and any file's MD5) and print one record per file.

    JSON Lines by default: path, kind (image, video or error), md5, pdq, quality;
    a video's vpdq frames (PDQ, quality, frame number and time of one frame a second).
    A file that cannot be read gets a record with its error and the run goes on;
    the exit status is 1 if any file failed.
    """
    from matcher.batch import default_workers, hash_files

    names = _parse_signals(signals if signals is not None else ",".join(CLI_SIGNALS))
    show_progress = sys.stderr.isatty() if progress is None else progress
    paths_list = list(iter_input_paths(paths))
    results = hash_files(
        paths_list, names, dihedral=dihedral, group="bank" if group else None, workers=workers or default_workers()
    )
    out = sys.stdout
    frames = signals is not None and "vpdq" in names
    writer = _CsvWriter(out, names, dihedral, group, frames) if output_format is OutputFormat.csv else None
    failed = 0
    with progress_bar(show_progress, len(paths_list)) as advance:
        for result in results:
            record = result.to_record()
            if writer is not None:
                writer.write(record)
            else:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
            failed += not result.ok
            advance()
    if failed:
        Console(stderr=True).print(f"[yellow]{failed} of {len(paths_list)} files could not be hashed[/]")
        raise typer.Exit(EXIT_SOME_FAILED)


def match_command(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or - to read paths from stdin.")],
    bank: Annotated[
        Path,
        typer.Option(
            "--bank", "-b",
            help="JSON Lines from `ncii hash` (`--group` for pictures; videos as Meta's vpdq),"
            " or lines with pdq, vpdq or md5.",
        ),
    ],
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes to hash with (default: all cores).", show_default=False)
    ] = None,
    only_matches: Annotated[bool, typer.Option("--only-matches", help="Print only files that match.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr (default: when stderr is a terminal).")] = None,  # type: ignore[assignment]
    register: Annotated[
        bool, typer.Option(help="Register images the lookup missed on bank pictures they came near (matcher.registration).")
    ] = True,
) -> None:
    """Match files against a bank file, locally: per file, the bank lines it meets and how closely.

    Pictures: the hash-group strategy of matcher.groups (the upload's query
    hashes against each banked picture's group). Any file: exact MD5.

    Videos: the rule the service applies to uploads (matcher.video.query):
    4 frames per bank frame, each also padded back from crops and caption
    bars, frame pairs held to structure-banded thresholds; then 80% of the
    frames matched both ways, the video tried mirrored and turned too. It
    finds cropped, captioned and trimmed copies that Meta's 1 s frames miss,
    for 3 to 4 times the hashing. The bank's videos stay Meta's vPDQ.

    Queries are files (hash records are read as the bank only). Exit status 1
    if any file could not be hashed.
    """
    from matcher.batch import default_workers, hash_files
    from matcher.local_bank import LocalBank

    try:
        local = LocalBank.from_jsonl(bank)
    except (OSError, MatcherError) as error:
        raise typer.BadParameter(str(error), param_hint="--bank") from None
    err = Console(stderr=True)
    err.print(
        f"bank: {local.pictures} pictures, {len(local.rows)} PDQ hashes, {len(local.videos)} videos"
        f" ({local.video_frames} distinct frames), {len(local.md5)} MD5s"
    )
    show_progress = sys.stderr.isatty() if progress is None else progress
    paths_list = list(iter_input_paths(paths))
    # group="query": pictures get their query hashes, videos the query-side hashes (hash_query_video).
    results = hash_files(paths_list, ("md5", "vpdq"), group="query", workers=workers or default_workers())
    failed = matched = 0
    with progress_bar(show_progress, len(paths_list)) as advance:
        for result in results:
            record: dict[str, Any] = {"path": result.path, "kind": result.kind}
            if result.error is not None:
                record["error"] = {"code": result.error.code, "message": str(result.error)}
                failed += 1
            else:
                found = local.match(result)
                if register and result.kind == "image" and not any(m.signal == "pdq" for m in found):
                    found += _registered(local, result.path, {m.line for m in found})
                record["matches"] = [m.to_record() for m in found]
                matched += bool(found)
            if not only_matches or record.get("matches"):
                sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
            advance()
    err.print(f"{matched} of {len(paths_list)} files match the bank" + (f"; {failed} could not be hashed" if failed else ""))
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _registered(local, path: str, skip: set[int]) -> list:
    """Decode the file again (only files the lookup missed) and register it on the bank."""
    from matcher import loading

    try:
        rgb = loading.load_rgb_array(path)
    except MatcherError:
        return []
    return local.register(rgb, skip)
