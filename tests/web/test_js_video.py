"""The page's video modules under node, against Python on the same files (no browser):

- ``mp4.js`` + ``vpdq.js``: the frames vPDQ samples (numbers and times), the frame rate and
  the duration, equal to ``matcher.video.hash_video``'s for MP4s at 12-60 fps (29.97 and
  23.976 included) and at a variable rate, with and without B-frames (composition offsets,
  edit lists);
- ``yuv.js``: the RGB of a decoded frame equal to PyAV's ``rgb24`` under ITU-R 601 (what
  vPDQ hashes) on every pixel, odd sizes included;
- ``round3``: Python's ``round(x, 3)`` on float32 times, ties included.
"""

from __future__ import annotations

import io
import json
import platform
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from matcher.video import hash_video

from .. import synth_video as sv

NODE = shutil.which("node")
DRIVER = Path(__file__).with_name("video_driver.mjs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH (CI installs node >= 20)")

# (fps, size, seconds, encoder options)
PLANS = [
    (30, (160, 120), 5, None),
    (Fraction(30000, 1001), (160, 120), 7, None),
    (24, (160, 120), 5, None),
    (25, (176, 144), 4, None),
    (60, (160, 120), 3, None),
    (15, (160, 120), 4, None),
    (Fraction(24000, 1001), (160, 120), 6, {"bf": "0"}),
    (12, (160, 90), 5, {"g": "5"}),
]


def run_node(job: dict, tmp_path: Path) -> dict:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    done = subprocess.run([NODE, str(DRIVER), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def variable_rate(path: Path, b_frames: int) -> Path:
    """A variable-frame-rate MP4, as phones record: frames 1/60 to 1/20 s apart (90 kHz clock)."""
    import av

    rng = np.random.default_rng(b_frames)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 90000)
        stream.options = {"bf": str(b_frames)}
        pts = 0
        for rgb in sv.scene_frames(sv.picture(), 6, 30, (160, 120)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 90000)
            pts += int(rng.choice([1500, 3000, 3003, 4500]))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_frame_plan_rate_and_duration_equal_python(tmp_path: Path) -> None:
    paths = []
    for k, (fps, size, seconds, options) in enumerate(PLANS):
        path = tmp_path / f"v{k}.mp4"
        path.write_bytes(sv.encode(sv.scene_frames(sv.picture(), seconds, float(fps), size), fps=fps, size=size, options=options))
        paths.append(path)
    paths += [variable_rate(tmp_path / "vfr-no-b.mp4", 0), variable_rate(tmp_path / "vfr-b3.mp4", 3)]
    plans = run_node({"plans": [str(p) for p in paths]}, tmp_path)["plans"]
    for path, got in zip(paths, plans):
        want = hash_video(path).to_record()
        assert "error" not in got, (path.name, got)
        assert [tuple(f) for f in got["plan"]] == [(f["frame"], f["time"]) for f in want["frames"]], path.name
        assert round(got["frameRate"], 6) == want["frame_rate"], path.name
        assert round(got["duration"], 3) == want["duration"], path.name


def test_not_mp4_is_said_so(tmp_path: Path) -> None:
    webm = tmp_path / "v.webm"
    webm.write_bytes(sv.scene(2, 10, (64, 48), codec="libvpx-vp9", container="webm"))
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 40)
    plans = run_node({"plans": [str(webm), str(noise)]}, tmp_path)["plans"]
    assert plans[0] == {"error": "not_mp4"}
    assert plans[1]["error"] in ("corrupt", "unsupported")


def _planes(frame) -> tuple[bytes, dict]:
    y, u, v = frame.planes
    data = bytes(y) + bytes(u) + bytes(v)
    layout = {"yStride": y.line_size, "uStride": u.line_size, "vStride": v.line_size,
              "uOffset": y.buffer_size, "vOffset": y.buffer_size + u.buffer_size}
    return data, layout


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="swscale's x86-64 path is the one yuv.js follows")
def test_yuv_to_rgb_equals_swscale(tmp_path: Path) -> None:
    import av

    jobs, want = [], []
    cases = [("bridge-1-original.jpg", (320, 240)), ("q1050.jpg", (256, 144)), ("rgb.jpeg", (350, 198)), ("bridge-1-original.jpg", (1280, 720))]
    for k, (name, size) in enumerate(cases):
        data = sv.scene(1, 10, size, name=name)
        with av.open(io.BytesIO(data)) as container:
            for j, frame in enumerate(list(container.decode(video=0))[::4]):
                raw, layout = _planes(frame)
                path = tmp_path / f"f{k}-{j}.yuv"
                path.write_bytes(raw)
                jobs.append({"file": str(path), "width": frame.width, "height": frame.height, **layout, "out": str(path) + ".rgb"})
                want.append(frame.to_ndarray(format="rgb24", src_colorspace="ITU601"))
    run_node({"yuv": jobs}, tmp_path)
    for job, rgb in zip(jobs, want):
        got = np.fromfile(job["out"], np.uint8).reshape(rgb.shape)
        differ = int((got != rgb).any(axis=2).sum())
        assert differ == 0, f"{job['width']}x{job['height']}: {differ} pixels differ"


def test_round3_is_pythons_round(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = [float(np.float32(x)) for x in rng.uniform(0, 1800, 2000)]
    values += [k / 16 for k in range(0, 400)]  # exact ties at the third decimal: 0.0625, ...
    values += [float(np.float32(n) / np.float32(30000 / 1001)) for n in range(0, 54000, 29)]
    got = run_node({"round3": values}, tmp_path)["round3"]
    assert got == [round(v, 3) for v in values]
