"""Video matching (vPDQ): recall on edited copies, false matches, and hashing speed against Meta's vpdq.

Builds test videos from the photo set, never copying a photo into the
repository; the videos are written to a temporary folder outside it and
removed at the end.

* **Bank videos** (``--videos``, 100): 10-60 s each, a sequence of shots of
  3-12 s, each shot a pan, a zoom in or out, or a drift over one photo, with
  hard cuts between shots. Videos use disjoint photos, so no two share a frame.
* **Edited copies**, each edit drawn at random (``--seed``) per video and
  applied by decoding the bank file and encoding anew: ``bitrate`` (x264 CRF
  30-40), ``resolution`` (40-80% of each side), ``frame_rate`` (12-60 fps),
  ``trim_start`` / ``trim_end`` (1-15% of the duration, any fraction of a
  second), ``crop5`` (5% of each dimension, split between the sides at random),
  ``watermark`` (a translucent handle in a corner), ``caption_bar`` (an opaque
  bar with text over 8-15% of the frame, top or bottom), ``mirror`` (left-right).
* **Negatives**: ``--negatives`` videos (default half as many) of new photos
  that splice in 3-6 s of one bank video (re-encoded): they share a few frames
  with the bank and must not match it.

Each copy is matched against every bank video, under our policy (80% of
frames both ways, the query tried in its 8 orientations), under the same
without the orientations, and under Meta's default (80% of the query, 0% of
the bank, as it is). A match with the copy's own source is a hit, any other a
false match.

**Speed**: ``--speed-videos`` 720p clips (20 s, 30 fps, x264) hashed end to end
from the file, ours (``matcher.video.hash_video``) and the ``vpdq`` package
(``computeHash``, one thread), in the same process pinned to one core,
alternated round by round; ratios within the run are what count.

Usage: python benchmarks/video.py [--images DIR] [--videos 100] [--size 640x360] [--fps 30] [--jobs 2]
The session that wrote results/video.md ran a reduced size; the file says which.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DEFAULT_PHOTOS, RESULTS, image_paths  # noqa: E402
from matcher.video import META_POLICY, VideoHash, VpdqPolicy, hash_video  # noqa: E402
from matcher.video.comparison import CountedFrames, best_match, frame_pairs, match_from_pairs  # noqa: E402
from matcher.video.query import QueryVideo, bank_structures, compare_query, hash_query_video, match_rows, widest_threshold  # noqa: E402

EDITS = ("bitrate", "resolution", "frame_rate", "trim_start", "trim_end", "crop5", "watermark", "caption_bar", "mirror")
#: The query-side rule (matcher.video.query): the upload sampled 4 times a bank interval, each
#: frame also padded back (uncrop, untrim), pairs at structure-banded thresholds.
DENSE = "ours, dense query (80/80, 8 orientations)"
#: The same with the bank share at 75%: what the trims at the start that still miss need (a 15%
#: trim of a short video loses ceil(seconds) of its few bank frames); a policy question, shown apart.
DENSE_75 = "ours, dense query, 80/75"
POLICIES = {
    DENSE: VpdqPolicy(),
    DENSE_75: VpdqPolicy(bank_share=0.75),
    "ours (80/80, 8 orientations)": VpdqPolicy(),
    "ours without orientations": VpdqPolicy(orientations=("original",)),
    "Meta default (80/0, as is)": META_POLICY,
}


# ---------------------------------------------------------------- building videos


@dataclass(frozen=True)
class Shot:
    photo: str
    seconds: float
    motion: str  # pan, zoom_in, zoom_out, drift
    direction: tuple[float, float]


def plan_videos(photos: list[Path], count: int, rng: np.random.Generator) -> list[list[Shot]]:
    """Shots for each video, photos drawn without replacement so that videos share none."""
    pool = [str(p) for p in rng.permutation(photos)]
    plans = []
    for _ in range(count):
        total, shots = float(rng.uniform(10, 60)), []
        while sum(s.seconds for s in shots) < total - 1e-6:
            if not pool:
                raise SystemExit("not enough photos for that many videos; lower --videos")
            seconds = min(float(rng.uniform(3, 12)), total - sum(s.seconds for s in shots))
            angle = float(rng.uniform(0, 2 * np.pi))
            shots.append(Shot(pool.pop(), max(seconds, 1.0), str(rng.choice(["pan", "zoom_in", "zoom_out", "drift"])),
                              (float(np.cos(angle)), float(np.sin(angle)))))
        plans.append(shots)
    plans.append(pool)  # the photos left, for the negatives
    return plans


def shot_frames(shot: Shot, fps: float, size: tuple[int, int]):
    """A camera moving over one photo: a viewport of the output's shape, moving or zooming."""
    width, height = size
    with Image.open(shot.photo) as image:
        photo = image.convert("RGB")
    scale = max(width / photo.width, height / photo.height) * 1.5  # the viewport covers ~2/3 of the photo
    photo = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1))
    n = max(1, int(round(shot.seconds * fps)))
    dx, dy = shot.direction
    for k in range(n):
        t = k / max(n - 1, 1)
        zoom = {"zoom_in": 1.0 - 0.3 * t, "zoom_out": 0.7 + 0.3 * t}.get(shot.motion, 0.85)
        w, h = min(photo.width, width * zoom * 1.3), min(photo.height, height * zoom * 1.3)
        travel = {"pan": 0.8, "drift": 0.25}.get(shot.motion, 0.1)
        cx = photo.width / 2 + dx * travel * (t - 0.5) * (photo.width - w)
        cy = photo.height / 2 + dy * travel * (t - 0.5) * (photo.height - h)
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        yield np.asarray(photo.resize(size, Image.BILINEAR, box=box))


def write_video(path: Path, frames, fps, size, crf: int = 23) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        stream.thread_count = 1
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def read_frames(path: Path):
    """(time in seconds, RGB) of every frame, for the edits (PyAV's own conversion)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate)
        for k, frame in enumerate(container.decode(stream)):
            yield k / rate, frame.to_ndarray(format="rgb24")


def build_bank_video(args: tuple) -> str:
    shots, path, fps, size = args
    write_video(Path(path), (f for s in shots for f in shot_frames(s, fps, size)), fps, size)
    return path


def draw_edit(edit: str, rng: np.random.Generator, duration: float) -> dict:
    """The parameters of one edit, drawn at random."""
    if edit == "bitrate":
        return {"crf": int(rng.integers(30, 41))}
    if edit == "resolution":
        return {"scale": round(float(rng.uniform(0.4, 0.8)), 3)}
    if edit == "frame_rate":
        return {"fps": float(rng.choice([12, 15, 24, 25, 30000 / 1001, 50, 60]))}
    if edit in ("trim_start", "trim_end"):
        return {"seconds": round(float(rng.uniform(0.01, 0.15)) * duration, 3)}
    if edit == "crop5":
        return {"left": round(float(rng.uniform(0, 0.05)), 4), "top": round(float(rng.uniform(0, 0.05)), 4)}
    if edit == "watermark":
        return {"corner": int(rng.integers(4)), "size": round(float(rng.uniform(0.15, 0.3)), 3)}
    if edit == "caption_bar":
        return {"top": bool(rng.integers(2)), "height": round(float(rng.uniform(0.08, 0.15)), 3)}
    return {}


def apply_edit(args: tuple) -> str:
    """Decode the bank video, edit every frame (or the timeline), encode anew."""
    source, target, edit, params, fps, size = args
    frames = read_frames(Path(source))
    out_fps, out_size, crf = fps, size, 23
    width, height = size
    if edit == "bitrate":
        crf = params["crf"]
        stream = (rgb for _, rgb in frames)
    elif edit == "resolution":
        out_size = (int(width * params["scale"]) // 2 * 2, int(height * params["scale"]) // 2 * 2)
        stream = (np.asarray(Image.fromarray(rgb).resize(out_size, Image.BILINEAR)) for _, rgb in frames)
    elif edit == "frame_rate":
        out_fps = params["fps"]
        stream = _resampled(frames, fps, out_fps)
    elif edit == "trim_start":
        stream = (rgb for t, rgb in frames if t >= params["seconds"])
    elif edit == "trim_end":
        frames = list(frames)
        end = frames[-1][0] - params["seconds"]
        stream = (rgb for t, rgb in frames if t <= end)
    elif edit == "crop5":
        x0, y0 = int(width * params["left"]), int(height * params["top"])
        x1, y1 = x0 + int(width * 0.95) // 2 * 2, y0 + int(height * 0.95) // 2 * 2
        out_size = (x1 - x0, y1 - y0)
        stream = (np.ascontiguousarray(rgb[y0:y1, x0:x1]) for _, rgb in frames)
    elif edit == "watermark":
        stream = (_watermark(rgb, params) for _, rgb in frames)
    elif edit == "caption_bar":
        stream = (_caption(rgb, params) for _, rgb in frames)
    elif edit == "mirror":
        stream = (np.ascontiguousarray(rgb[:, ::-1]) for _, rgb in frames)
    else:
        raise ValueError(edit)
    write_video(Path(target), stream, out_fps, out_size, crf)
    return target


def _resampled(frames, fps: float, out_fps: float):
    """The frame showing at each output instant (frames dropped or repeated, as a converter does)."""
    step, next_time = 1.0 / out_fps, 0.0
    previous = None
    for t, rgb in frames:
        while previous is not None and next_time < t - 1e-9:
            yield previous
            next_time += step
        previous = rgb
    if previous is not None:
        yield previous


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _watermark(rgb: np.ndarray, params: dict) -> np.ndarray:
    image = Image.fromarray(rgb).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w = int(image.width * params["size"])
    h = max(8, w // 4)
    x = 8 if params["corner"] in (0, 2) else image.width - w - 8
    y = 8 if params["corner"] in (0, 1) else image.height - h - 8
    draw.rounded_rectangle((x, y, x + w, y + h), radius=h // 3, fill=(255, 255, 255, 90))
    draw.text((x + 6, y + h // 6), "@user_2731", font=_font(int(h * 0.6)), fill=(255, 255, 255, 200))
    return np.asarray(Image.alpha_composite(image, layer).convert("RGB"))


def _caption(rgb: np.ndarray, params: dict) -> np.ndarray:
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    h = int(image.height * params["height"])
    y = 0 if params["top"] else image.height - h
    draw.rectangle((0, y, image.width, y + h), fill=(0, 0, 0))
    draw.text((10, y + h // 5), "when you see it lol", font=_font(int(h * 0.55)), fill=(255, 255, 255))
    return np.asarray(image)


def build_negative(args: tuple) -> str:
    """New photos, with 3-6 s of a bank video spliced in at a random point."""
    shots, bank_path, start, seconds, insert_at, target, fps, size = args
    own = [f for s in shots for f in shot_frames(s, fps, size)]
    borrowed = [rgb for t, rgb in read_frames(Path(bank_path)) if start <= t < start + seconds]
    cut = int(insert_at * len(own))
    write_video(Path(target), own[:cut] + borrowed + own[cut:], fps, size)
    return target


# ---------------------------------------------------------------- matching


class Bank:
    """Every bank video's counted frames side by side, so a query is one distance block a policy."""

    def __init__(self, videos: list[VideoHash], min_quality: int) -> None:
        self.videos = videos
        self.counted = [CountedFrames(v, min_quality) for v in videos]
        self.owner = np.concatenate([np.full(len(c), k) for k, c in enumerate(self.counted)])
        self.local = np.concatenate([np.arange(len(c)) for c in self.counted])
        self.codes = np.concatenate([c.codes for c in self.counted])

    def matches_dense(self, query: QueryVideo, policy: VpdqPolicy) -> list[tuple[int, object]]:
        """The same for an upload hashed by ``hash_query_video`` (the query-side rule)."""
        if not hasattr(self, "structures"):
            self.structures = [bank_structures(v, c) for v, c in zip(self.videos, self.counted)]
        units = CountedFrames(query.vpdq, policy.min_quality)
        per_video: dict[int, list] = {}
        for orientation in policy.orientations:
            rows, codes = query.turned(orientation)
            qi, bi, d = frame_pairs(codes, self.codes, widest_threshold())
            qi = rows[qi]
            owners = self.owner[bi]
            order = np.argsort(owners, kind="stable")
            qi, bi, d, owners = qi[order], bi[order], d[order], owners[order]
            cuts = np.flatnonzero(np.diff(owners)) + 1
            for part in np.split(np.arange(len(owners)), cuts):
                if not len(part):
                    continue
                video = int(owners[part[0]])
                per_video.setdefault(video, []).append(match_rows(
                    query, units, self.counted[video], self.structures[video], qi[part], self.local[bi[part]],
                    d[part], orientation, policy))
        return [(v, best_match(results)) for v, results in per_video.items()]

    def matches(self, query: VideoHash, policy: VpdqPolicy) -> list[tuple[int, object]]:
        """(bank video, best VideoMatch) for every bank video some query frame meets, matched or not."""
        q = CountedFrames(query, policy.min_quality)
        per_video: dict[int, list] = {}
        for orientation in policy.orientations:
            codes = q.turned(orientation)
            if codes is None or not len(codes):
                continue
            qi, bi, d = frame_pairs(codes, self.codes, policy.distance)
            owners = self.owner[bi]
            for video in np.unique(owners):
                keep = owners == video
                per_video.setdefault(int(video), []).append(
                    match_from_pairs(q, self.counted[video], qi[keep], self.local[bi[keep]], d[keep], orientation, policy)
                )
        return [(video, best_match(results)) for video, results in per_video.items()]


# ---------------------------------------------------------------- speed


def speed(folder: Path, photos: list[Path], count: int, rounds: int, rng) -> dict:
    """Ours against vpdq.computeHash on the same 720p files, one core, alternated."""
    import vpdq

    size, fps = (1280, 720), 30
    paths = []
    for k in range(count):
        shots, total = [], 0.0
        while total < 20:
            shots.append(Shot(str(photos[int(rng.integers(len(photos)))]), 5.0, "pan", (1.0, 0.3)))
            total += 5.0
        path = folder / f"speed_{k}.mp4"
        write_video(path, (f for s in shots for f in shot_frames(s, fps, size)), fps, size)
        paths.append(path)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    timings = {"ours": [], "ours query (8 orientations)": [], "ours dense query (hash_query_video)": [], "vpdq package": []}
    contenders = {
        "ours": lambda p: hash_video(p),
        "ours query (8 orientations)": lambda p: hash_video(p, dihedral=True),
        "ours dense query (hash_query_video)": lambda p: hash_query_video(p),
        "vpdq package": lambda p: vpdq.computeHash(str(p), thread_count=1),
    }
    equal = []
    for p in paths:
        ours, theirs = hash_video(p), vpdq.computeHash(str(p), thread_count=1)
        equal.append([f.hash.hex for f in ours.frames] == [r.hex for r in theirs])
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
        for name in order:
            start = time.perf_counter()
            for p in paths:
                contenders[name](p)
            timings[name].append(time.perf_counter() - start)
    seconds_of_video = 20.0 * count
    medians = {name: statistics.median(t) for name, t in timings.items()}
    return {
        "files": count, "size": "1280x720", "fps": fps, "seconds_each": 20, "rounds": rounds,
        "hashes_equal_to_vpdq": all(equal),
        "median_seconds": medians,
        "video_seconds_per_second": {n: seconds_of_video / m for n, m in medians.items()},
        "ratio_vpdq_over_ours": medians["vpdq package"] / medians["ours"],
        "ratio_vpdq_over_ours_query": medians["vpdq package"] / medians["ours query (8 orientations)"],
        "ratio_dense_query_over_ours": medians["ours dense query (hash_query_video)"] / medians["ours"],
        "all_seconds": timings,
    }


# ---------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--negatives", type=int, default=None)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--speed-videos", type=int, default=4)
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--note", default="", help="Said in the results file (e.g. a reduced run).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    photos = image_paths(args.images)
    if not photos:
        raise SystemExit(f"no photos in {args.images}")
    folder = Path(tempfile.mkdtemp(prefix="ncii-video-bench-"))
    started = time.time()
    try:
        report = run(args, size, rng, photos, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report["wall_seconds"] = round(time.time() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "video.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "video.md").write_text(markdown(report))
    print(markdown(report))


def run(args, size, rng, photos, folder: Path) -> dict:
    plans = plan_videos(photos, args.videos, rng)
    leftover = plans.pop()
    bank_paths = [str(folder / f"bank_{k:03d}.mp4") for k in range(len(plans))]
    with ProcessPoolExecutor(args.jobs) as pool:
        log(f"building {len(plans)} bank videos in {folder}")
        list(pool.map(build_bank_video, [(p, path, args.fps, size) for p, path in zip(plans, bank_paths)]))
        durations = [sum(s.seconds for s in p) for p in plans]
        jobs = []
        for k, path in enumerate(bank_paths):
            for edit in EDITS:
                params = draw_edit(edit, rng, durations[k])
                jobs.append((k, edit, params, (path, str(folder / f"q_{k:03d}_{edit}.mp4"), edit, params, args.fps, size)))
        log(f"applying {len(jobs)} edits")
        list(pool.map(apply_edit, [j[3] for j in jobs], chunksize=4))
        negatives = args.negatives if args.negatives is not None else max(1, args.videos // 2)
        neg_jobs, pool_photos = [], list(leftover)
        for n in range(negatives):
            own, total = [], float(rng.uniform(20, 40))
            while sum(s.seconds for s in own) < total and pool_photos:
                angle = float(rng.uniform(0, 2 * np.pi))
                own.append(Shot(pool_photos.pop(), float(rng.uniform(3, 12)), "pan", (float(np.cos(angle)), float(np.sin(angle)))))
            if not pool_photos:
                pool_photos = list(leftover)  # reuse the unbanked photos: negatives may share among themselves
            source = int(rng.integers(len(bank_paths)))
            seconds = float(rng.uniform(3, 6))
            start = float(rng.uniform(0, max(0.0, durations[source] - seconds)))
            neg_jobs.append((source, (own, bank_paths[source], start, seconds, float(rng.uniform(0.1, 0.9)),
                                      str(folder / f"neg_{n:03d}.mp4"), args.fps, size)))
        log(f"building {negatives} negatives")
        list(pool.map(build_negative, [j[1] for j in neg_jobs]))
        log("hashing")
        # The bank as a Meta-format record holds it (quality, no structure): what an exchanged
        # bank gives the query-side rule to band by.
        bank = [VideoHash.from_record(v.to_record()) for v in pool.map(hash_video, bank_paths, chunksize=4)]
        hashing_started = time.time()
        dense_queries = list(pool.map(_query_hash, [j[3][1] for j in jobs], chunksize=4))
        dense_negatives = list(pool.map(_query_hash, [j[1][5] for j in neg_jobs], chunksize=4))
    query_cost = {
        "query_rows_per_meta_frame": round(sum(len(q) for q in dense_queries) / max(1, sum(len(q.vpdq) for q in dense_queries)), 2),
        "query_frames_per_meta_frame": round(sum(q.frames_hashed for q in dense_queries) / max(1, sum(len(q.vpdq) for q in dense_queries)), 2),
    }
    log(f"query cost {query_cost}; hashing the copies and negatives took {time.time() - hashing_started:.0f} s")

    policies = {}
    for name, policy in POLICIES.items():
        dense = name in (DENSE, DENSE_75)
        queries = dense_queries if dense else [q.vpdq for q in dense_queries]
        neg_hashes = dense_negatives if dense else [q.vpdq for q in dense_negatives]
        index = Bank(bank, policy.min_quality)
        per_edit: dict[str, dict] = {}
        false_matches, closest_false = 0, 0.0
        for (k, edit, params, _), query in zip(jobs, queries):
            met = index.matches_dense(query, policy) if dense else index.matches(query, policy)
            found = [(v, m) for v, m in met if m.matched]
            closest_false = max([closest_false, *(min(m.query_share, m.bank_share) for v, m in met if v != k)])
            hit = next((m for v, m in found if v == k), None)
            false_matches += sum(1 for v, _ in found if v != k)
            row = per_edit.setdefault(edit, {"copies": 0, "found": 0, "worst": None})
            row["copies"] += 1
            row["found"] += hit is not None
            own = _shares_with(index, query, k, policy)
            score = min(own.query_share, own.bank_share)
            if row["worst"] is None or score < row["worst"]["min_share"]:
                row["worst"] = {"video": k, "params": params, "min_share": round(score, 3),
                                "query_share": round(own.query_share, 3), "bank_share": round(own.bank_share, 3)}
        for row in per_edit.values():
            row["recall"] = row["found"] / row["copies"]
        neg_false, neg_closest = 0, []
        for (source, _), query in zip(neg_jobs, neg_hashes):
            found = [m for _, m in (index.matches_dense(query, policy) if dense else index.matches(query, policy)) if m.matched]
            neg_false += len(found)
            own = _shares_with(index, query, source, policy)
            neg_closest.append(min(own.query_share, own.bank_share))
        policies[name] = {
            "per_edit": per_edit,
            "mean_recall": statistics.mean(r["recall"] for r in per_edit.values()),
            "false_matches_among_copies": false_matches,
            "copy_pairs_checked": len(jobs) * (len(bank) - 1),
            "copies_highest_min_share_with_another_video": round(closest_false, 3),
            "negatives": len(neg_jobs),
            "false_matches_negatives": neg_false,
            "negatives_highest_min_share_with_their_source": round(max(neg_closest), 3) if neg_closest else None,
        }
    report = {
        "machine": platform.platform(), "python": platform.python_version(), "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "seed": args.seed, "videos": len(bank), "size": f"{size[0]}x{size[1]}", "fps": args.fps,
        "bank_seconds": round(sum(durations)), "bank_frames": int(sum(len(v) for v in bank)),
        "note": args.note, "policies": policies, "query_cost": query_cost,
    }
    if args.speed_videos:
        log("speed")
        report["speed"] = speed(folder, photos, args.speed_videos, args.speed_rounds, rng)
    return report


def _query_hash(path: str) -> QueryVideo:
    """The upload hashed for the query-side rule; its ``vpdq`` is ``hash_video(path, dihedral=True)``."""
    return hash_query_video(path)


def _shares_with(index: Bank, query, video: int, policy: VpdqPolicy):
    """The query's best comparison with one bank video, matched or not (for the worst cases)."""
    if isinstance(query, QueryVideo):
        return compare_query(query, index.videos[video], policy, index.counted[video], index.structures[video])
    q = CountedFrames(query, policy.min_quality)
    b = index.counted[video]
    results = []
    for orientation in policy.orientations:
        codes = q.turned(orientation)
        if codes is not None:
            results.append(match_from_pairs(q, b, *frame_pairs(codes, b.codes, policy.distance), orientation, policy))
    return best_match(results)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def markdown(report: dict) -> str:
    lines = [
        "# Video matching (vPDQ): recall, false matches, speed",
        "",
        f"`python benchmarks/video.py` — {report['videos']} bank videos ({report['bank_seconds']} s, "
        f"{report['bank_frames']} sampled frames), {report['size']} at {report['fps']:g} fps, seed {report['seed']}; "
        f"PyAV {report['av']} (libavcodec {report['ffmpeg_libavcodec']}); {report.get('wall_seconds', '?')} s wall.",
        "",
    ]
    if report.get("note"):
        lines += [f"**{report['note']}**", ""]
    names = list(report["policies"])
    lines += ["## Recall per edit (copies found / copies)", "", "| edit | " + " | ".join(names) + " | worst case under ours (min share, parameters) |",
              "|---|" + "---|" * len(names) + "---|"]
    first = report["policies"][names[0]]["per_edit"]
    for edit in first:
        cells = [f"{report['policies'][n]['per_edit'][edit]['recall']:.3f}" for n in names]
        worst = first[edit]["worst"]
        lines.append(f"| {edit} | " + " | ".join(cells) + f" | {worst['min_share']:.2f} (q {worst['query_share']:.2f}, "
                     f"b {worst['bank_share']:.2f}) {json.dumps(worst['params'])} |")
    lines.append("| **mean** | " + " | ".join(f"**{report['policies'][n]['mean_recall']:.3f}**" for n in names) + " | |")
    lines += ["", "## False matches", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    p = report["policies"]
    lines.append(f"| copies against the other bank videos ({p[names[0]]['copy_pairs_checked']:,} pairs) | "
                 + " | ".join(str(p[n]["false_matches_among_copies"]) for n in names) + " |")
    lines.append("| copies: highest min(query, bank share) with another bank video | "
                 + " | ".join(str(p[n].get("copies_highest_min_share_with_another_video")) for n in names) + " |")
    lines.append(f"| negatives sharing 3-6 s with a bank video ({p[names[0]]['negatives']}) | "
                 + " | ".join(str(p[n]["false_matches_negatives"]) for n in names) + " |")
    lines.append("| negatives: highest min(query, bank share) with their source | "
                 + " | ".join(str(p[n]["negatives_highest_min_share_with_their_source"]) for n in names) + " |")
    cost = report.get("query_cost")
    if cost:
        lines += ["", f"Query cost of the dense rule: {cost['query_frames_per_meta_frame']} frames hashed and "
                      f"{cost['query_rows_per_meta_frame']} query codes (each in 8 turns) per frame Meta's rule hashes."]
    speed_report = report.get("speed")
    if speed_report:
        lines += ["", f"## Hashing speed, one core ({speed_report['files']} files of {speed_report['size']}, "
                      f"{speed_report['seconds_each']} s at {speed_report['fps']} fps, x264; median of {speed_report['rounds']} alternated rounds)", "",
                  "| contender | seconds for all files | seconds of video per second |", "|---|---|---|"]
        for name, seconds in speed_report["median_seconds"].items():
            lines.append(f"| {name} | {seconds:.2f} | {speed_report['video_seconds_per_second'][name]:.1f} |")
        lines += ["", f"vpdq / ours: **{speed_report['ratio_vpdq_over_ours']:.2f}x** (ours query with 8 orientations: "
                      f"{speed_report['ratio_vpdq_over_ours_query']:.2f}x); the dense query costs "
                      f"{speed_report.get('ratio_dense_query_over_ours', float('nan')):.2f}x ours. Hashes equal to the package's on these files: "
                      f"{speed_report['hashes_equal_to_vpdq']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
