"""``ncii submit``, ``ncii status`` and ``ncii withdraw`` against a live server, and the CLI
sending exactly what the page sends for the same files."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from typer.testing import CliRunner

from matcher import groups
from matcher.loading import load_rgb_array
from service.cli import app

from matcher.video import hash_video

from .test_page import PDQ_FIXTURES, bits, fake_video, hash_in_browser, real_video
from .test_video_page import FRAME_BITS_MAX

runner = CliRunner()
PHOTOS = [PDQ_FIXTURES / n for n in ("bridge-1-original.jpg", "q1050.jpg", "rgb.jpeg")]


def invoke(*args: str, env: dict | None = None, input: str | None = None):
    return runner.invoke(app, list(args), env={"NCII_CASE_PIN": "", **(env or {})}, input=input)


def test_submit_status_withdraw(live_server, tmp_path) -> None:
    video = fake_video(tmp_path / "clip.mov", 100_000)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    paths = [str(p) for p in (*PHOTOS, PDQ_FIXTURES / "small.jpg", video, notes)]

    result = invoke("submit", "--server", live_server.url, "--yes", *paths)
    assert result.exit_code == 0, result.output
    number = re.search(r"case number: (\S+)", result.stdout).group(1)
    pin = re.search(r"PIN: (\d+)", result.stdout).group(1)
    assert "small.jpg" in result.stderr and "notes.txt" in result.stderr  # skipped, said why
    assert "2 of 6 files skipped" in result.stderr

    shown = invoke("status", "--server", live_server.url, number, env={"NCII_CASE_PIN": pin})
    assert shown.exit_code == 0, shown.output
    assert "active" in shown.stdout and "copies found: 0" in shown.stdout

    pin_file = tmp_path / "pin"
    pin_file.write_text(pin + "\n")
    body = json.loads(invoke("status", "--server", live_server.url, "--json", "--pin-file", str(pin_file), number).stdout)
    assert [i["kind"] for i in body["items"]] == ["image", "image", "image", "file"]

    prompted = invoke("status", "--server", live_server.url, number, input=pin + "\n")
    assert prompted.exit_code == 0 and pin not in prompted.output  # asked for, not echoed

    wrong = invoke("status", "--server", live_server.url, number, env={"NCII_CASE_PIN": "12345678"})
    assert wrong.exit_code == 1 and "not right" in wrong.stderr

    kept = invoke("withdraw", "--server", live_server.url, number, env={"NCII_CASE_PIN": pin}, input="n\n")
    assert kept.exit_code == 1 and "nothing changed" in kept.stderr
    gone = invoke("withdraw", "--server", live_server.url, number, env={"NCII_CASE_PIN": pin}, input="y\n")
    assert gone.exit_code == 0, gone.output
    assert "withdrawn" in gone.stdout
    after = json.loads(invoke("status", "--server", live_server.url, "--json", number, env={"NCII_CASE_PIN": pin}).stdout)
    assert after["status"] == "withdrawn"


def test_submit_asks_first_and_says_when_the_server_is_away(tmp_path) -> None:
    declined = invoke("submit", "--server", "http://127.0.0.1:9", str(PHOTOS[0]), input="n\n")
    assert declined.exit_code == 1 and "nothing sent" in declined.stderr
    away = invoke("submit", "--server", "http://127.0.0.1:9", "--yes", str(PHOTOS[0]))
    assert away.exit_code == 1 and "could not reach" in away.stderr


def test_dry_run_is_the_bank_group_and_no_names(tmp_path) -> None:
    video = fake_video(tmp_path / "holiday-secret.mp4", 50_000)
    movie = real_video(tmp_path / "holiday-movie.mp4", 3)
    result = invoke("submit", "--dry-run", str(PHOTOS[0]), str(video), str(movie))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    expected = [
        {"signal": "pdq", "hash": h.hex, "quality": h.quality, "structure": h.structure, "variant": h.variant}
        for h in groups.bank_group(load_rgb_array(PHOTOS[0]))
    ]
    assert body["items"][0] == {"kind": "image", "hashes": expected}
    assert body["items"][1] == {"kind": "file", "hashes": [{"signal": "md5", "hash": hashlib.md5(video.read_bytes()).hexdigest()}]}
    assert "only exact copies" in result.stderr  # the undecodable one: its MD5 alone, said why
    # A video the CLI decodes: its MD5 and its vPDQ frames, the shape /v1/cases takes.
    assert body["items"][2] == {
        "kind": "video",
        "hashes": [{"signal": "md5", "hash": hashlib.md5(movie.read_bytes()).hexdigest()}],
        "vpdq": hash_video(movie).to_record(),
    }
    assert "holiday" not in result.stdout and "bridge" not in result.stdout


def test_cli_sends_what_the_page_sends(browser, live_server, tmp_path) -> None:
    video = fake_video(tmp_path / "clip.mp4", 80_000)
    movie = real_video(tmp_path / "movie.mp4", 3)
    paths = [*PHOTOS, video, movie]
    from_cli = json.loads(invoke("submit", "--dry-run", *map(str, paths)).stdout)["items"]
    from_page = hash_in_browser(browser, live_server, paths)
    assert from_page[:-1] == from_cli[:-1]
    # The decoded video: the same item but for the frames' PDQ bits, which the browser's
    # RGB conversion moves by a few (tests/web/test_video_page.py).
    page_video, cli_video = from_page[-1], from_cli[-1]
    strip = lambda item: {**item, "vpdq": {**item["vpdq"], "frames": [{**f, "pdq": None} for f in item["vpdq"]["frames"]]}}
    assert strip(page_video) == strip(cli_video)
    pairs = zip(page_video["vpdq"]["frames"], cli_video["vpdq"]["frames"])
    assert max(bits(a["pdq"], b["pdq"]) for a, b in pairs) <= FRAME_BITS_MAX
