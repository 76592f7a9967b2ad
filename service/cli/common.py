"""What several commands share: reading their path arguments, a progress bar, failing with a message.

Light on purpose, like every module here: ``ncii --help`` imports them all, so anything
heavy (the database layer, the web stack, image decoding) is imported inside the command
that uses it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn, TextIO

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong on stderr, in red, and end the command with ``code``."""
    err.print(f"[red]{message}[/]", highlight=False)
    raise typer.Exit(code)


def seconds_left(until: datetime) -> int:
    """Whole seconds until ``until`` (an aware time), rounded up, as the service's Retry-After."""
    return int((until - datetime.now(timezone.utc)).total_seconds()) + 1


def iter_input_paths(arguments: Iterable[str], stdin: TextIO | None = None) -> Iterator[str]:
    """Expand the command's arguments: files as given, folders recursively, ``-`` from stdin.

    Folders are walked in sorted order so that runs are repeatable; hidden
    files and folders (names starting with a dot) are skipped there, since
    they are never a person's photos (``.DS_Store``, ``.thumbnails``).
    """
    for argument in arguments:
        if argument == "-":
            for line in stdin or sys.stdin:
                line = line.rstrip("\r\n")
                if line:
                    yield line
            continue
        path = Path(argument)
        if path.is_dir():
            yield from _walk(path)
        else:
            yield argument


def _walk(folder: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


class progress_bar:
    """A Rich progress bar on stderr, or nothing at all: ``with progress_bar(on, total) as advance``."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self.bar = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("hashing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("hash", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
