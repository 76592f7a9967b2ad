"""matcher.local_bank: a bank file's videos looked up through its frame index as the brute-force rules would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matcher.hashing import hash_file
from matcher.local_bank import LocalBank
from matcher.video import VideoHash, compare_videos, hash_video
from matcher.video.query import compare_query, hash_query_video

from . import synth_video as sv
from .test_video import _captioned, _cropped


@pytest.fixture(scope="module")
def pan_frames() -> list[np.ndarray]:
    return list(sv.scene_frames(sv.picture(), 10, 30))


@pytest.fixture(scope="module")
def bank_file(tmp_path_factory, pan_frames) -> Path:
    """Three videos as ``ncii hash`` prints them (Meta-format vpdq records): the pan, two others."""
    folder = tmp_path_factory.mktemp("bank")
    sv.encode(pan_frames, folder / "pan.mp4")
    (folder / "other.mp4").write_bytes(sv.scene(10, name="q1050.jpg"))
    (folder / "third.mp4").write_bytes(sv.scene(8, name="rgb.jpeg"))
    bank = folder / "bank.jsonl"
    lines = [hash_file(folder / f"{name}.mp4", ("md5", "vpdq")).to_record() for name in ("pan", "other", "third")]
    bank.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return bank


def _bank_videos(bank: Path) -> dict[int, VideoHash]:
    """The bank's videos read back from its lines, as ``LocalBank`` reads them."""
    return {n: VideoHash.from_record(json.loads(t)["vpdq"]) for n, t in enumerate(bank.read_text().splitlines(), 1)}


def test_the_index_gives_the_shares_compare_query_gives_by_brute_force(bank_file: Path, pan_frames) -> None:
    """For every clip and every bank video: met through the index with the shares, orientation
    and ranges of ``compare_query``; not met only where ``compare_query`` finds no frame at all."""
    local = LocalBank.from_jsonl(bank_file)
    videos = _bank_videos(bank_file)
    cropped = [_cropped(f, 0.05, 0.0) for f in pan_frames]  # 5% off the left only
    clips = {
        "cropped": sv.encode(cropped, size=cropped[0].shape[1::-1]),
        "captioned": sv.encode([_captioned(f) for f in pan_frames]),
        "trimmed": sv.encode(pan_frames[15:]),
        "mirrored": sv.encode(pan_frames, mirror=True, size=(240, 180)),
        "half": sv.encode(list(sv.scene_frames(sv.picture("q1050.jpg"), 5, 30)) + pan_frames[:150]),
        "unrelated": sv.scene(6, name="wee.jpg"),
    }
    for name, data in clips.items():
        query = hash_query_video(data)
        found = local.compare_query_video(query)
        for line, bank in videos.items():
            brute = compare_query(query, bank)
            if line not in found:
                assert brute.query_share == brute.bank_share == 0.0, (name, line)
                continue
            ours = found[line]
            shares = (ours.matched, ours.query_share, ours.bank_share)
            assert shares == (brute.matched, brute.query_share, brute.bank_share), (name, line)
            if ours.matched:
                assert ours == brute, (name, line)  # the orientation, distance and ranges too
        matched = [m.line for m in local.match_query_video(query)]
        assert matched == ([1] if name in ("cropped", "captioned", "trimmed", "mirrored") else []), name



def test_a_file_hashed_for_lookup_meets_the_bank_through_the_query_side_rule(bank_file: Path, pan_frames) -> None:
    """``hash_file(..., group="query")`` on a video carries the query-side hashes, and
    ``LocalBank.match`` uses them; the same video's Meta frames alone miss the cropped copy."""
    local = LocalBank.from_jsonl(bank_file)
    cropped = [_cropped(f, 0.05, 0.0) for f in pan_frames]
    data = sv.encode(cropped, size=cropped[0].shape[1::-1])
    result = hash_file(data, ("md5", "vpdq"), group="query")
    assert result.kind == "video" and result.query_video is not None
    assert result.video.to_record() == hash_video(data, dihedral=True).to_record()  # Meta's frames unchanged
    assert "query_video" not in result.to_record()  # in memory only, never a record
    assert local.match_video(result.video) == []
    assert not compare_videos(result.video, _bank_videos(bank_file)[1]).matched
    [found] = local.match(result)
    assert found.signal == "vpdq" and found.line == 1 and found.threshold == 52
    assert found.query_share >= 0.8 and found.bank_share >= 0.8
    # Without group="query" a video is Meta's frames only, as a bank line needs.
    assert hash_file(data, ("md5", "vpdq")).query_video is None
