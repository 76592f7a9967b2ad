"""``ncii hash`` from the outside: arguments, output formats, exit status."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.groups import DEFAULT_STRATEGY
from service.cli import app

from .conftest import FIXTURES

runner = CliRunner()
PDQ_DIR = FIXTURES / "pdq"


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_hash_a_folder_recursively_in_sorted_order(tmp_path: Path) -> None:
    shutil.copy(PDQ_DIR / "wee.jpg", tmp_path / "b.jpg")
    (tmp_path / "sub").mkdir()
    shutil.copy(PDQ_DIR / "q1050.jpg", tmp_path / "sub" / "a.jpg")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    result = run("hash", "--workers", "1", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = records(result.stdout)
    assert [Path(r["path"]).name for r in lines] == ["b.jpg", "a.jpg"]
    assert lines[1]["pdq"] == "489db672e9190276d452aeab41eba20f02375fe4092d88defdf491a5c55c5f70"
    assert lines[1]["quality"] == 100 and len(lines[1]["md5"]) == 32


def test_paths_from_stdin_and_a_failing_file_sets_the_exit_status(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = run("hash", "--workers", "1", "-", stdin=f"{PDQ_DIR / 'wee.jpg'}\n{bad}\n")
    assert result.exit_code == 1
    lines = records(result.stdout)
    assert lines[0]["kind"] == "image" and lines[1]["kind"] == "error"
    assert lines[1]["error"]["code"] == "image_corrupt"


def test_csv_output_with_dihedral_and_chosen_signals() -> None:
    result = run("hash", "--workers", "1", "-f", "csv", "-s", "pdq,phash", "--dihedral", str(PDQ_DIR / "wee.jpg"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    row = rows[0]
    assert row["pdq"] == "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d"
    assert len(row["phash"]) == 16 and "md5" not in row
    assert row["pdq_dihedral"].split()[0] == row["pdq"] and len(row["pdq_dihedral"].split()) == 8


def test_unknown_signal_is_a_usage_error() -> None:
    result = run("hash", "-s", "pdq,nope", str(PDQ_DIR / "wee.jpg"))
    assert result.exit_code == 2 and "nope" in result.output


def test_hashes_of_the_shared_photo_set_equal_its_manifest(shared_data: Path) -> None:
    """The photo set's manifest was made with the reference (pdqhash 0.2.8)."""
    photos = shared_data / "photos"
    with open(photos / "manifest.csv", newline="") as handle:
        manifest = {row["file"]: row for row in csv.DictReader(handle)}
    result = run("hash", "-s", "pdq", str(photos))
    lines = [r for r in records(result.stdout) if r["kind"] == "image"]
    assert len(lines) == len(manifest) > 1000
    differing = [r for r in lines if r["pdq"] != manifest[Path(r["path"]).name]["pdq_hex"]]
    assert len(differing) <= 0.01 * len(lines)
    assert all(r["quality"] == int(manifest[Path(r["path"]).name]["pdq_quality"]) for r in lines)


def _edited_copies(folder: Path) -> dict[str, Path]:
    from PIL import Image, ImageOps

    original = Image.open(PDQ_DIR / "bridge-1-original.jpg").convert("RGB")
    w, h = original.size
    copies = {
        "cropped": original.crop((int(w * 0.06), 0, w, h)),
        "mirrored": ImageOps.mirror(original).resize((w // 3, h // 3)),
        "bordered": ImageOps.expand(original, border=150, fill="black"),
    }
    paths = {}
    for name, image in copies.items():
        paths[name] = folder / f"{name}.jpg"
        image.save(paths[name], quality=80)
    paths["unrelated"] = folder / "unrelated.jpg"
    shutil.copy(PDQ_DIR / "wee.jpg", paths["unrelated"])
    return paths


def test_hash_group_then_match_edited_copies_against_the_bank(tmp_path: Path) -> None:
    bank_run = run("hash", "--workers", "1", "--group", str(PDQ_DIR / "bridge-1-original.jpg"), str(PDQ_DIR / "q1050.jpg"))
    assert bank_run.exit_code == 0, bank_run.output
    bank_lines = records(bank_run.stdout)
    group = bank_lines[0]["group"]
    assert group["strategy"] and 1 < len(group["hashes"]) <= len(DEFAULT_STRATEGY.bank) + 1
    assert group["hashes"][0]["variant"] == "full" and group["hashes"][0]["pdq"] == bank_lines[0]["pdq"]
    bank = tmp_path / "bank.jsonl"
    bank.write_text(bank_run.stdout)

    (tmp_path / "uploads").mkdir()
    copies = _edited_copies(tmp_path / "uploads")
    result = run("match", "--workers", "1", "--bank", str(bank), str(tmp_path / "uploads"))
    assert result.exit_code == 0, result.output
    by_name = {Path(r["path"]).stem: r for r in records(result.stdout)}
    assert set(by_name) == set(copies)
    for name in ("cropped", "mirrored", "bordered"):
        best = by_name[name]["matches"][0]
        assert best["line"] == 1 and best["distance"] <= best["threshold"], name
    assert by_name["unrelated"]["matches"] == []


def test_match_finds_exact_md5_and_plain_pdq_lines(tmp_path: Path) -> None:
    data = (PDQ_DIR / "wee.jpg").read_bytes()
    import hashlib

    bank = tmp_path / "bank.jsonl"
    bank.write_text(
        json.dumps({"md5": hashlib.md5(data).hexdigest()}) + "\n"
        + json.dumps({"pdq": "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", "quality": 100}) + "\n"
    )
    result = run("match", "--workers", "1", "--bank", str(bank), str(PDQ_DIR / "wee.jpg"), str(PDQ_DIR / "bridge-1-original.jpg"))
    assert result.exit_code == 0, result.output
    lines = records(result.stdout)
    assert [(m["line"], m["signal"]) for m in lines[0]["matches"]] == [(1, "md5")]
    assert [(m["line"], m["signal"], m["distance"]) for m in lines[1]["matches"]] == [(2, "pdq", 0)]


def test_a_malformed_bank_file_is_a_usage_error(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_text('{"pdq": "abc"}\n')
    result = run("match", "--bank", str(bank), str(PDQ_DIR / "wee.jpg"))
    assert result.exit_code == 2 and "line 1" in result.output


def test_match_registers_a_copy_the_lookup_misses(tmp_path: Path) -> None:
    """A crop of 2-12% per side, mirrored: no hash of the upload meets the bank, registration does."""
    from PIL import Image

    bank_run = run("hash", "--workers", "1", "--group", str(PDQ_DIR / "bridge-1-original.jpg"))
    assert bank_run.exit_code == 0, bank_run.output
    bank = tmp_path / "bank.jsonl"
    bank.write_text(bank_run.stdout)
    with Image.open(PDQ_DIR / "bridge-1-original.jpg") as im:
        w, h = im.size
        im.convert("RGB").crop((round(0.02 * w), round(0.12 * h), w - round(0.12 * w), h - round(0.03 * h))).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT
        ).save(tmp_path / "reshared.png")

    plain = records(run("match", "--workers", "1", "--no-register", "--bank", str(bank), str(tmp_path / "reshared.png")).stdout)
    assert plain[0]["matches"] == []
    result = run("match", "--workers", "1", "--bank", str(bank), str(tmp_path / "reshared.png"))
    assert result.exit_code == 0, result.output
    (found,) = records(result.stdout)[0]["matches"]
    assert found["line"] == 1 and found["distance"] <= found["threshold"]
    assert found["query_variant"].startswith("registered(")


def test_hash_gives_videos_md5_and_vpdq_and_images_what_they_had(tmp_path: Path) -> None:
    from . import synth_video as sv

    (tmp_path / "clip.mp4").write_bytes(sv.scene(4))
    shutil.copy(PDQ_DIR / "wee.jpg", tmp_path / "wee.jpg")
    result = run("hash", "--workers", "1", str(tmp_path))
    assert result.exit_code == 0, result.output
    video, image = records(result.stdout)
    assert video["kind"] == "video" and len(video["md5"]) == 32 and (video["width"], video["height"]) == (320, 240)
    assert [f["time"] for f in video["vpdq"]["frames"]] == [0.0, 1.0, 2.0, 3.0]
    assert set(video["vpdq"]["frames"][0]) == {"pdq", "quality", "frame", "time"}
    assert set(image) == {"path", "kind", "md5", "pdq", "quality", "structure", "width", "height"}
    # CSV keeps its columns unless vpdq is asked for by name.
    default_csv = run("hash", "--workers", "1", "-f", "csv", str(tmp_path))
    assert "vpdq" not in default_csv.stdout.splitlines()[0]
    named = list(csv.DictReader(io.StringIO(run("hash", "--workers", "1", "-f", "csv", "-s", "md5,vpdq", str(tmp_path)).stdout)))
    assert len(named[0]["vpdq"].split()) == 4 and named[1]["vpdq"] == ""


def test_match_finds_reencoded_and_mirrored_videos_in_a_bank_file(tmp_path: Path) -> None:
    from . import synth_video as sv

    original = list(sv.scene_frames(sv.picture(), 8, 30))
    (tmp_path / "bank").mkdir()
    sv.encode(original, tmp_path / "bank" / "original.mp4")
    sv.encode(sv.scene_frames(sv.picture("q1050.jpg"), 8, 30), tmp_path / "bank" / "other.mp4")
    bank_run = run("hash", "--workers", "1", str(tmp_path / "bank"))
    bank = tmp_path / "bank.jsonl"
    bank.write_text(bank_run.stdout)

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    sv.encode(original[::2], uploads / "halfrate.mp4", fps=15, size=(200, 150), options={"crf": "32"})
    sv.encode(original, uploads / "mirrored.webm", codec="libvpx-vp9", container="webm", mirror=True)
    sv.encode(sv.scene_frames(sv.picture("rgb.jpeg"), 8, 30), uploads / "unrelated.mp4")
    result = run("match", "--workers", "1", "--bank", str(bank), str(uploads))
    assert result.exit_code == 0, result.output
    by_name = {Path(r["path"]).stem: r for r in records(result.stdout)}
    lines = {Path(json.loads(line)["path"]).stem: n for n, line in enumerate(bank.read_text().splitlines(), 1)}
    for name, orientation in (("halfrate", "original"), ("mirrored", "flipy")):
        best = by_name[name]["matches"][0]
        assert best["signal"] == "vpdq" and best["line"] == lines["original"], name
        assert best["query_variant"] == orientation and best["query_share"] >= 0.8 and best["bank_share"] >= 0.8
        assert best["bank_ranges"][0][0] == 0.0
    assert by_name["unrelated"]["matches"] == []


def test_match_uses_the_query_side_rule_for_videos_and_finds_what_metas_frames_miss(tmp_path: Path) -> None:
    """A copy cropped 5% on one side and one with a caption bar: Meta's rule (``match_video`` on
    the copy's own 1 s frames) misses both, ``ncii match`` finds both as the service's upload
    route would; another video matches nothing, and the banked file itself still meets its MD5."""
    from matcher.local_bank import LocalBank
    from matcher.video import hash_video

    from . import synth_video as sv
    from .test_video import _captioned, _cropped

    frames = list(sv.scene_frames(sv.picture(), 10, 30))
    (tmp_path / "bank").mkdir()
    sv.encode(frames, tmp_path / "bank" / "pan.mp4")
    (tmp_path / "bank" / "other.mp4").write_bytes(sv.scene(10, name="q1050.jpg"))
    bank = tmp_path / "bank.jsonl"
    bank.write_text(run("hash", "--workers", "1", str(tmp_path / "bank")).stdout)
    lines = {Path(json.loads(line)["path"]).stem: n for n, line in enumerate(bank.read_text().splitlines(), 1)}

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    cropped = [_cropped(f, 0.05, 0.0) for f in frames]  # 16 of 320 columns off the left, no row
    sv.encode(cropped, uploads / "cropped.mp4", size=cropped[0].shape[1::-1])
    sv.encode([_captioned(f) for f in frames], uploads / "captioned.mp4")
    (uploads / "unrelated.mp4").write_bytes(sv.scene(8, name="rgb.jpeg"))
    shutil.copy(tmp_path / "bank" / "pan.mp4", uploads / "same.mp4")
    result = run("match", "--workers", "1", "--bank", str(bank), str(uploads))
    assert result.exit_code == 0, result.output
    by_name = {Path(r["path"]).stem: r["matches"] for r in records(result.stdout)}
    old = LocalBank.from_jsonl(bank)
    for name in ("cropped", "captioned"):
        assert old.match_video(hash_video(uploads / f"{name}.mp4", dihedral=True)) == [], name
        [found] = by_name[name]
        assert found["signal"] == "vpdq" and found["line"] == lines["pan"] and found["query_variant"] == "original"
        assert found["query_share"] >= 0.8 and found["bank_share"] >= 0.8, name
    assert by_name["unrelated"] == []
    exact, frames_too = by_name["same"]
    assert exact == {"line": lines["pan"], "path": str(tmp_path / "bank" / "pan.mp4"), "distance": 0, "threshold": 0,
                     "query_variant": "file", "bank_variant": "file", "signal": "md5"}
    assert frames_too["signal"] == "vpdq" and frames_too["query_share"] == frames_too["bank_share"] == 1.0


# What a light command may not import: the service stack, the index kernel's compiler and
# the video decoder. ``ncii --help`` and ``ncii hash PHOTO`` start in a fraction of the time.
SERVICE_STACK = ("sqlalchemy", "fastapi", "numba", "av")
#: Runs ``ncii ARGUMENTS`` (or only imports the entry point) and prints which of the stack it loaded.
_PROBE = """
import json, sys
arguments, stack = json.loads(sys.argv[1]), json.loads(sys.argv[2])
from service.cli import main
if arguments:
    sys.argv = ["ncii", *arguments]
    try:
        main()
    except SystemExit:
        pass
print("loaded:" + json.dumps(sorted(m for m in stack if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "arguments",
    [
        [],  # the entry point imported, nothing run
        ["--help"],
        ["--version"],
        ["hash", "--help"],
        ["bank", "export", "--help"],
        ["hash", "--workers", "1", str(PDQ_DIR / "wee.jpg")],
    ],
)
def test_light_commands_do_not_import_the_service_stack(arguments: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(arguments), json.dumps(SERVICE_STACK)],
        capture_output=True, text=True, timeout=120,
    )
    loaded = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded, done.stderr
    assert json.loads(loaded[-1].removeprefix("loaded:")) == []


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"ncii {version('ncii-matcher')}\n"


def test_hash_help_shows_the_default_signals() -> None:
    """Rich markup would swallow an unescaped "[default: ...]"."""
    result = run("hash", "--help")
    assert result.exit_code == 0
    assert "[default:" in result.output and "md5,pdq" in result.output.replace(" ", "")
