"""matcher.video: equal to Meta's vpdq, matching edited copies, refusing bad files within limits."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from matcher.errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoTooLargeError,
    VideoTooLongError,
)
from matcher.hashing import hash_file
from matcher.video import META_POLICY, VideoHash, VideoLimits, VpdqPolicy, compare_videos, hash_video

from . import synth_video as sv


@pytest.fixture(scope="module")
def pan() -> bytes:
    """The bank's video: 10 s at 30 fps, 320x240, a pan and zoom over a photo."""
    return sv.scene(10)


@pytest.fixture(scope="module")
def pan_hash(pan: bytes) -> VideoHash:
    return hash_video(pan)


def _frames(video: VideoHash):
    return [(f.hash.hex, f.quality, f.frame, f.time) for f in video.frames]


# ---------------------------------------------------------------- the oracle


@pytest.mark.parametrize(
    "name, make",
    [
        ("h264 320x240 30 fps", lambda: sv.scene(6)),
        ("h264 odd size 29.97 fps", lambda: sv.scene(5, Fraction(30000, 1001), (318, 178))),
        ("h264 tagged BT.709", lambda: sv.scene(4, 25, (320, 180), options={"colorprim": "bt709", "transfer": "bt709", "colormatrix": "bt709"})),
        ("vp9 webm 24 fps", lambda: sv.scene(4, 24, codec="libvpx-vp9", container="webm")),
        ("mpeg4 avi 15 fps", lambda: sv.scene(4, 15, codec="mpeg4", container="avi")),
        ("mjpeg full range", lambda: sv.scene(3, 10, codec="mjpeg", container="avi", pix_fmt="yuvj420p")),
        ("half a frame a second", lambda: sv.scene(8, Fraction(1, 2))),
    ],
)
def test_equal_to_the_vpdq_package_bit_for_bit(name, make, tmp_path: Path) -> None:
    vpdq = pytest.importorskip("vpdq", reason="Meta's vpdq (a test extra, built against FFmpeg) is not installed")
    path = tmp_path / "clip.bin"
    path.write_bytes(make())
    ours = hash_video(path)
    reference = vpdq.computeHash(str(path), thread_count=1)
    assert len(ours) == len(reference) > 0
    assert _frames(ours) == [(r.hex, r.quality, r.frame_number, r.timestamp) for r in reference], name


def test_sampling_interval_is_configurable_as_in_vpdq(pan: bytes, tmp_path: Path) -> None:
    vpdq = pytest.importorskip("vpdq")
    (tmp_path / "pan.mp4").write_bytes(pan)
    for interval in (0.5, 2.5, 0.0):
        ours = hash_video(pan, interval=interval)
        reference = vpdq.computeHash(str(tmp_path / "pan.mp4"), seconds_per_hash=interval, thread_count=1)
        assert _frames(ours) == [(r.hex, r.quality, r.frame_number, r.timestamp) for r in reference]
    assert len(hash_video(pan, interval=0.0)) == 300  # every frame


def test_frames_are_one_a_second_with_number_and_time(pan_hash: VideoHash) -> None:
    assert [f.frame for f in pan_hash.frames] == list(range(0, 300, 30))
    assert [f.time for f in pan_hash.frames] == [float(k) for k in range(10)]
    assert all(f.quality == 100 and f.hash.signal == "pdq" for f in pan_hash.frames)
    assert (pan_hash.width, pan_hash.height, pan_hash.frame_rate) == (320, 240, 30.0)


def test_bytes_path_and_file_object_hash_alike(pan: bytes, pan_hash: VideoHash, tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(pan)
    assert hash_video(tmp_path / "a.mp4") == pan_hash == hash_video(io.BytesIO(pan))


def test_record_and_threatexchange_forms_read_back(pan_hash: VideoHash) -> None:
    record = json.loads(json.dumps(pan_hash.to_record()))
    assert VideoHash.from_record(record).frames == pan_hash.frames
    exchanged = VideoHash.from_threatexchange(pan_hash.to_threatexchange())
    assert [(f.hash, f.quality, f.time) for f in exchanged.frames] == [(f.hash, f.quality, f.time) for f in pan_hash.frames]


# ---------------------------------------------------------------- matching


def test_a_reencoded_smaller_copy_at_another_frame_rate_matches(pan_hash: VideoHash) -> None:
    copy = hash_video(sv.scene(10, 24, (160, 120), options={"crf": "35"}), dihedral=True)
    result = compare_videos(copy, pan_hash)
    assert result.matched and result.orientation == "original"
    assert result.query_share >= 0.8 and result.bank_share >= 0.8


def test_a_mirrored_copy_matches_only_when_the_query_is_turned(pan_hash: VideoHash) -> None:
    frames = sv.scene_frames(sv.picture(), 10, 30)
    data = sv.encode(frames, mirror=True)
    plain = compare_videos(hash_video(data), pan_hash)
    assert not plain.matched and plain.query_share < 0.2
    turned = compare_videos(hash_video(data, dihedral=True), pan_hash)
    assert turned.matched and turned.orientation == "flipy" and turned.bank_share == 1.0
    # The orientations tried are the policy's: the original alone finds nothing.
    assert not compare_videos(hash_video(data, dihedral=True), pan_hash, VpdqPolicy(orientations=("original",))).matched


def test_a_different_video_does_not_match(pan_hash: VideoHash) -> None:
    other = hash_video(sv.scene(10, name="q1050.jpg"), dihedral=True)
    result = compare_videos(other, pan_hash)
    assert not result.matched and result.query_share == 0.0 and result.query_ranges == ()


def test_a_video_half_made_of_the_bank_video_is_found_but_not_matched(pan_hash: VideoHash) -> None:
    """5 s of another scene, then the bank video's first 5 s: the ranges say where."""
    frames = list(sv.scene_frames(sv.picture("q1050.jpg"), 5, 30)) + list(sv.scene_frames(sv.picture(), 10, 30))[:150]
    result = compare_videos(hash_video(sv.encode(frames)), pan_hash)
    assert not result.matched
    assert result.query_share == pytest.approx(0.5) and result.bank_share == pytest.approx(0.5)
    assert result.query_ranges == ((5.0, 9.0),) and result.bank_ranges == ((0.0, 4.0),)
    # Meta's own default asks nothing of the bank side; the query side still fails.
    assert not compare_videos(hash_video(sv.encode(frames)), pan_hash, META_POLICY).matched


def test_a_clip_of_the_bank_video_matches_under_metas_policy_not_ours(pan_hash: VideoHash) -> None:
    clip = hash_video(sv.encode(list(sv.scene_frames(sv.picture(), 10, 30))[:120]))
    assert compare_videos(clip, pan_hash, META_POLICY).matched
    ours = compare_videos(clip, pan_hash)
    assert not ours.matched and ours.query_share == 1.0 and ours.bank_share == pytest.approx(0.4)


def test_frames_below_quality_50_do_not_count(pan_hash: VideoHash) -> None:
    dark = [sv.blank_frame((320, 240))] * 300  # ten seconds of black
    black = hash_video(sv.encode(dark))
    assert len(black) == 10 and all(f.quality < 50 for f in black.frames)
    result = compare_videos(black, black)
    assert not result.matched and result.query_frames == 0


# ---------------------------------------------------------------- bad input


def test_bad_files_raise_the_documented_errors(pan: bytes) -> None:
    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(jpeg, "JPEG")
    cases = {
        "empty": (b"", EmptyVideoError, "video_empty"),
        "truncated (index at the end, cut)": (pan[: len(pan) // 2], CorruptVideoError, "video_corrupt"),
        "audio only": (sv.audio_only(), NoVideoStreamError, "video_no_video_stream"),
        "a picture": (jpeg.getvalue(), NotAVideoError, "video_not_a_video"),
        "random bytes": (np.random.default_rng(0).bytes(4000), NotAVideoError, "video_not_a_video"),
    }
    for name, (data, error, code) in cases.items():
        with pytest.raises(error) as raised:
            hash_video(data)
        assert raised.value.code == code, name


def test_a_truncated_stream_is_refused_not_half_hashed() -> None:
    mkv = sv.scene(6, container="matroska")
    with pytest.raises(CorruptVideoError, match="truncated"):
        hash_video(mkv[: len(mkv) // 2])


def test_damaged_bytes_are_corrupt_not_a_crash(pan: bytes) -> None:
    damaged = bytearray(pan)
    for k in range(2000, len(damaged), 997):
        damaged[k] ^= 0xFF
    with pytest.raises(CorruptVideoError):
        hash_video(bytes(damaged))


def test_a_zero_length_video_stream_is_empty() -> None:
    with pytest.raises(EmptyVideoError):
        hash_video(sv.encode([]))


def test_a_huge_resolution_is_refused_before_decoding() -> None:
    huge = sv.encode([np.zeros((4096, 4112, 3), np.uint8)], size=(4112, 4096), codec="mpeg4", fps=1)
    with pytest.raises(VideoTooLargeError, match="4112x4096"):
        hash_video(huge)


def test_an_hour_long_file_is_refused_from_its_header() -> None:
    # Three frames, half an hour apart: 90 minutes declared, nothing to decode for long.
    long = sv.encode([sv.blank_frame((64, 48))] * 3, size=(64, 48), fps=Fraction(1, 1800))
    with pytest.raises(VideoTooLongError, match="5,400 s"):
        hash_video(long)


def test_limits_are_enforced(pan: bytes) -> None:
    with pytest.raises(VideoTooLargeError):
        hash_video(pan, limits=VideoLimits(max_bytes=len(pan) - 1))
    with pytest.raises(VideoTooLargeError):
        hash_video(pan, limits=VideoLimits(max_pixels=320 * 240 - 1))
    with pytest.raises(VideoTooLongError):
        hash_video(pan, limits=VideoLimits(max_seconds=9))
    with pytest.raises(VideoTooLongError, match="more than 100 frames"):  # stopped while decoding
        hash_video(pan, limits=VideoLimits(max_decoded_frames=100))
    with pytest.raises(VideoTooLongError, match="sample less often"):
        hash_video(pan, interval=0.1, limits=VideoLimits(max_sampled_frames=50))
    assert len(hash_video(pan, limits=VideoLimits(max_bytes=len(pan), max_pixels=320 * 240, max_seconds=10))) == 10


# ---------------------------------------------------------------- through hash_file


def test_hash_file_gives_a_video_its_md5_and_vpdq(pan: bytes, pan_hash: VideoHash, tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "clip.mp4"
    path.write_bytes(pan)
    for source in (path, pan):
        result = hash_file(source, ("md5", "vpdq"))
        assert result.ok and result.kind == "video"
        assert result.hashes["md5"].hex == hashlib.md5(pan).hexdigest()
        assert result.video == pan_hash and (result.width, result.height) == (320, 240)
        record = result.to_record()
        assert record["vpdq"]["frames"][1] == {"pdq": pan_hash.frames[1].hash.hex, "quality": 100, "frame": 30, "time": 1.0}
    # Without vpdq asked for, a video still gets its exact digests only, as before.
    assert set(hash_file(path, ("md5", "pdq")).to_record()) == {"path", "kind", "md5"}


def test_hash_file_reports_bad_videos_as_error_records(tmp_path: Path) -> None:
    (tmp_path / "song.m4a").write_bytes(sv.audio_only())
    result = hash_file(tmp_path / "song.m4a", ("md5", "vpdq"))
    assert result.kind == "error" and result.error.code == "video_no_video_stream"


def test_a_picture_named_like_a_video_is_hashed_as_a_picture(tmp_path: Path) -> None:
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes((sv.PICTURES / "wee.jpg").read_bytes())
    result = hash_file(disguised, ("md5", "pdq", "vpdq"))
    assert result.kind == "image" and result.video is None
    assert result.hashes["pdq"].hex == "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d"
