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
from matcher.video.decoding import OpenVideo
from matcher.video.query import QueryOptions, compare_query, hash_query_video, pair_thresholds

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


# ---------------------------------------------------------------- the query-side rule


def _cropped(rgb: np.ndarray, left: float = 0.04, top: float = 0.01) -> np.ndarray:
    """5% of each dimension off, split unevenly between the sides (as the benchmark draws it)."""
    h, w = rgb.shape[:2]
    x0, y0 = int(w * left), int(h * top)
    return np.ascontiguousarray(rgb[y0 : y0 + int(h * 0.95) // 2 * 2, x0 : x0 + int(w * 0.95) // 2 * 2])


def _captioned(rgb: np.ndarray, share: float = 0.15) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.fromarray(rgb.copy())
    height = int(image.height * share)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, height), fill=(0, 0, 0))
    draw.text((10, 4), "when you see it lol", fill=(255, 255, 255))
    return np.asarray(image)


@pytest.fixture(scope="module")
def pan_frames() -> list[np.ndarray]:
    return list(sv.scene_frames(sv.picture(), 10, 30))


def test_dense_sampling_keeps_metas_frames_among_its_own(pan: bytes, pan_hash: VideoHash) -> None:
    with OpenVideo(pan) as video:
        numbers = [f.number for f in video.sampled(1.0, per_interval=4)]
    assert numbers[:8] == [0, 8, 15, 22, 30, 38, 45, 52]
    assert {f.frame for f in pan_hash.frames} <= set(numbers) and len(numbers) == 4 * len(pan_hash)
    query = hash_query_video(pan)
    # The query's Meta part is exactly what an ordinary query hashes, turns included.
    plain = hash_video(pan, dihedral=True)
    assert _frames(query.vpdq) == _frames(plain)
    assert np.array_equal(query.vpdq.dihedral, plain.dihedral)
    assert query.frames_hashed == 40 and set(query.variants) >= {"full", "uncrop", "uncrop_tl"}
    # The padded variants are looked up as uploaded and mirrored; the rotations try full frames only.
    assert len(query.turned("flipy")[0]) == len(query) > 40
    rows, codes = query.turned("rotate90")
    assert len(rows) == 40 and query.primary[rows].all() and codes.shape == (40, 32)


@pytest.mark.parametrize("frames_off", [12, 15])
def test_a_copy_trimmed_between_two_bank_frames_matches_only_with_the_dense_query(
    pan_frames, pan_hash: VideoHash, frames_off: int
) -> None:
    """0.4 and 0.5 s off the start: every frame Meta samples falls between two bank frames."""
    query = hash_query_video(sv.encode(pan_frames[frames_off:]))
    assert not compare_videos(query.vpdq, pan_hash).matched
    result = compare_query(query, pan_hash)
    assert result.matched and result.bank_share == 1.0 and result.query_share >= 0.8
    # Padding alone does not do it: the dense frames do. Sampled once a second, the copy's
    # shares sit at 0.7-0.8 (libx264's bytes vary from run to run here, and a lucky encode
    # reaches 0.8/0.8, so the test compares the shares rather than asserting a miss).
    one_a_second = hash_query_video(sv.encode(pan_frames[frames_off:]), options=QueryOptions(per_interval=1))
    sparse = compare_query(one_a_second, pan_hash)
    assert sparse.bank_share <= 0.8 < result.bank_share


def test_a_copy_re_timed_at_29_97_fps_matches_with_the_dense_query(pan_hash: VideoHash) -> None:
    query = hash_query_video(sv.scene(10, Fraction(30000, 1001)))
    assert not compare_videos(query.vpdq, pan_hash).matched
    assert compare_query(query, pan_hash).matched


def test_a_copy_cropped_by_5_percent_matches_through_the_padded_back_frames(pan_frames, pan_hash: VideoHash) -> None:
    cropped = [_cropped(f) for f in pan_frames]
    query = hash_query_video(sv.encode(cropped, size=cropped[0].shape[1::-1]))
    assert not compare_videos(query.vpdq, pan_hash).matched
    assert compare_query(query, pan_hash).matched
    without = hash_query_video(sv.encode(cropped, size=cropped[0].shape[1::-1]), options=QueryOptions(uncrop=False, untrim=False))
    assert compare_query(without, pan_hash).bank_share < 0.8


def test_a_copy_with_a_caption_bar_matches_through_the_refilled_frame(pan_frames, pan_hash: VideoHash) -> None:
    query = hash_query_video(sv.encode([_captioned(f) for f in pan_frames]))
    assert not compare_videos(query.vpdq, pan_hash).matched
    result = compare_query(query, pan_hash)
    assert result.matched and "untrim" in query.variants


def test_the_dense_rule_is_a_superset_of_metas(pan_frames, pan_hash: VideoHash) -> None:
    """Shares never fall below the 1 s rule's, on copies it matches and on ones it misses."""
    copies = [
        sv.scene(10, 24, (160, 120), options={"crf": "35"}),
        sv.encode(pan_frames, mirror=True),
        sv.encode(pan_frames[:200]),
        sv.encode(list(sv.scene_frames(sv.picture("q1050.jpg"), 5, 30)) + pan_frames[:150]),
    ]
    for data in copies:
        query = hash_query_video(data)
        old, new = compare_videos(query.vpdq, pan_hash), compare_query(query, pan_hash)
        assert new.query_share >= old.query_share and new.bank_share >= old.bank_share
        assert new.matched or not old.matched
        assert new.query_frames == old.query_frames  # the query is counted in Meta's frames


def test_the_dense_rule_still_refuses_other_videos_and_half_copies(pan_frames, pan_hash: VideoHash) -> None:
    other = compare_query(hash_query_video(sv.scene(10, name="q1050.jpg")), pan_hash)
    assert not other.matched and other.query_share == 0.0 and other.bank_share == 0.0
    half = compare_query(hash_query_video(sv.encode(list(sv.scene_frames(sv.picture("q1050.jpg"), 5, 30)) + pan_frames[:150])), pan_hash)
    assert not half.matched and half.query_share == pytest.approx(0.5) and half.bank_share <= 0.6
    black = hash_query_video(sv.encode([sv.blank_frame((320, 240))] * 300))
    assert len(black) == 0 and not compare_query(black, pan_hash).matched


def test_pair_thresholds_follow_the_structure_bands() -> None:
    query_structure = np.array([300, 300, 120, 120, 300, 300])
    primary = np.array([True, False, True, False, False, False])
    bank = np.array([-1, -1, -1, -1, 60, 170])  # -1: a Meta record's "100", no structure
    # Busy pairs 52; a padded variant of a frame with little structure gets nothing, a full frame
    # PDQ's own 31; a bank frame's quality below 100 is its structure and caps the pair.
    from matcher.groups import STRUCTURE_BANDS

    middle = next(b.match for b in STRUCTURE_BANDS if b.floor <= 170)
    assert middle < 52
    assert pair_thresholds(query_structure, primary, bank).tolist() == [52, 52, 31, 29, 0, middle]


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
