"""``ncii submit``, ``ncii status``, ``ncii withdraw``: the victim's page as commands, for
hotline staff helping someone on their own machine.

``submit`` hashes exactly as the page does (the default strategy's bank group of the
picture as ``matcher.loading`` decodes it; for a video its MD5, streamed, and its vPDQ
frames, ``matcher.video.hash_video``) and sends hashes only: no file name, no label, no size.
A video too long or too large is skipped with the reason; one that cannot be decoded is
sent as its MD5 alone, as the page does where the browser cannot read the frames. The PIN of ``status`` and ``withdraw`` comes
from ``--pin-file``, else ``$NCII_CASE_PIN``, else a hidden prompt; it is never an
argument (arguments end up in shell histories and process lists).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from matcher.errors import ImageError, VideoError, VideoTooLargeError, VideoTooLongError

from .common import err, fail, iter_input_paths, progress_bar

if TYPE_CHECKING:
    import httpx

    from matcher.groups import Strategy

out = Console()

DEFAULT_SERVER = "http://127.0.0.1:8000"
ServerOption = Annotated[
    str, typer.Option("--server", envvar="NCII_SERVER", help="The hash bank's address (or $NCII_SERVER).")
]
CaseArgument = Annotated[str, typer.Argument(help="The case number, e.g. 2KEJ-804F-H7EE.")]
PinFileOption = Annotated[
    Path | None, typer.Option("--pin-file", help="A file holding the PIN (else $NCII_CASE_PIN, else asked).")
]

# A video's MD5 is streamed in chunks; its frames are decoded one at a time by matcher.video.
_CHUNK = 4 << 20


def _md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_item(path: str, strategy: Strategy | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """The case item the page would send for this file (raises ImageError or VideoError if unusable).

    ``strategy``: the hash-group strategy, by default the page's (``groups.DEFAULT_STRATEGY``).
    ``notes`` gets a line when a video is sent as its MD5 only (its frames could not be decoded).
    """
    from matcher import groups
    from matcher.hashing import looks_like_video
    from matcher.loading import load_rgb_array

    strategy = groups.DEFAULT_STRATEGY if strategy is None else strategy
    with open(path, "rb") as f:
        head = f.read(1024)
    if looks_like_video(head):
        from matcher.video import hash_video

        digest = [{"signal": "md5", "hash": _md5(path)}]
        try:
            video = hash_video(path)
        except (VideoTooLongError, VideoTooLargeError):
            raise
        except VideoError as error:
            if notes is not None:
                notes.append(f"its frames could not be decoded ({error}); only exact copies of the file can be found")
            return {"kind": "file", "hashes": digest}
        return {"kind": "video", "hashes": digest, "vpdq": video.to_record()}
    group = strategy.bank_group(load_rgb_array(path))
    if not len(group):
        raise ImageError("the picture is too plain (almost one colour) to be recognised reliably")
    return {
        "kind": "image",
        "hashes": [
            {"signal": "pdq", "hash": h.hex, "quality": h.quality, "structure": h.structure, "variant": h.variant}
            for h in group
        ],
    }


def _client(server: str) -> httpx.Client:
    import httpx

    return httpx.Client(base_url=server.rstrip("/"), timeout=30.0, follow_redirects=False)


def _answer(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    message = error.get("message") or f"the server answered {response.status_code}"
    if error.get("code") == "case_locked":
        message += f" (Retry-After: {response.headers.get('retry-after', '?')} s)"
    fail(message)


def _request(server: str, method: str, path: str, **kwargs) -> dict:
    import httpx

    try:
        with _client(server) as client:
            return _answer(client.request(method, path, **kwargs))
    except httpx.HTTPError as error:
        fail(f"could not reach {server}: {error}")


def _read_pin(pin_file: Path | None) -> str:
    if pin_file is not None:
        pin = pin_file.read_text(encoding="utf-8").strip()
    elif os.environ.get("NCII_CASE_PIN"):
        pin = os.environ["NCII_CASE_PIN"].strip()
    else:
        pin = typer.prompt("PIN", hide_input=True, err=True).strip()
    if not pin:
        fail("no PIN given", 2)
    return pin


def submit(
    paths: Annotated[list[str], typer.Argument(help="Photos, videos or folders (recursive); - reads paths from stdin.")],
    server: ServerOption = DEFAULT_SERVER,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking (the person has agreed).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be sent (JSON) and send nothing.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr (default: when it is a terminal).")] = None,  # type: ignore[assignment]
) -> None:
    """Hash pictures and videos on this machine and open a case with the hashes only.

    Prints the case number and the PIN (shown once: write them down for the person).
    """
    files = list(iter_input_paths(paths))
    if not files:
        fail("no files given", 2)
    items: list[dict] = []
    sources: list[str] = []  # items[i] came from sources[i]; paths stay on this machine
    skipped = 0
    with progress_bar(sys.stderr.isatty() if progress is None else progress, len(files)) as advance:
        for path in files:
            notes: list[str] = []
            try:
                items.append(hash_item(path, notes=notes))
                sources.append(path)
                for note in notes:
                    err.print(f"[yellow]{path}: {note}[/]")
            except (ImageError, VideoError, OSError) as error:
                skipped += 1
                err.print(f"[yellow]skipped {path}: {error}[/]")
            advance()
    if not items:
        fail("nothing usable to send", 1)
    body = {"items": items}
    hashes = sum(len(i["hashes"]) + len(i.get("vpdq", {}).get("frames", ())) for i in items)
    if skipped:
        err.print(f"[yellow]{skipped} of {len(files)} files skipped[/]")
    if dry_run:
        print(json.dumps(body, indent=1))
        return
    err.print(f"{len(items)} item(s), {hashes} hashes; no picture, file name or other detail is sent.")
    if not yes and not typer.confirm("Send these hashes to open a case?", err=True):
        fail("nothing sent", 1)
    created = _request(server, "POST", "/v1/cases", json=body)
    for result in created.get("items", []):
        if result["status"] == "refused":
            err.print(f"[yellow]{sources[result['index']]}: refused: {result['reason']}[/]")
    err.print("Case opened. Keep both; the PIN is shown only this once.")
    print(f"case number: {created['case_number']}")
    print(f"PIN: {created['pin']}")


def status(
    case: CaseArgument,
    server: ServerOption = DEFAULT_SERVER,
    pin_file: PinFileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The server's answer as JSON.")] = False,
) -> None:
    """A case's state, and how often its pictures were found and removed."""
    from rich.table import Table

    pin = _read_pin(pin_file)
    body = _request(server, "GET", f"/v1/cases/{case}", headers={"X-Case-PIN": pin})
    if as_json:
        print(json.dumps(body, indent=1))
        return
    out.print(f"case {body['case_number']}: [bold]{body['status']}[/] (opened {body['created_at']})")
    if body.get("withdrawn_at"):
        out.print(f"withdrawn {body['withdrawn_at']}")
    out.print(f"copies found: {body['matches']}, confirmed removals: {body['confirmed_removals']}")
    table = Table("item", "kind", "status", "hashes", "found", "removed")
    for item in body["items"]:
        table.add_row(str(item["position"]), item["kind"], item["status"], str(item["hashes"]),
                      str(item["matches"]), str(item["confirmed_removals"]))
    out.print(table)


def withdraw(
    case: CaseArgument,
    server: ServerOption = DEFAULT_SERVER,
    pin_file: PinFileOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Withdraw without asking.")] = False,
) -> None:
    """Withdraw a case: its hashes stop matching everywhere. Cannot be undone."""
    pin = _read_pin(pin_file)
    if not yes and not typer.confirm(f"Withdraw case {case}? Platforms will stop looking for its pictures.", err=True):
        fail("nothing changed", 1)
    body = _request(server, "DELETE", f"/v1/cases/{case}", headers={"X-Case-PIN": pin})
    print(f"case {body['case_number']}: {body['status']} ({body['hashes_withdrawn']} hashes withdrawn)")
