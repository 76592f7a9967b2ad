"""Finding the photo inside a frame: story re-shares, screenshots, caption bars, collages.

A re-shared photo is rarely the whole upload.  Story apps inset it in a tall
canvas filled with a blurred, stretched copy of itself; a screenshot surrounds
it with a status bar, an app header and a row of icons; a meme adds caption
bars; a collage puts it beside other photos.  PDQ of the whole upload is then
PDQ of a different picture.  What all these frames share is a *straight,
axis-aligned step*: the photo's edge is a line where the pixels change along
most of its length, which a natural photo rarely has at the same place on
four sides.

:func:`content_boxes` finds such lines (rows and columns where a step runs
along a large share of the line and stand out from their neighbours, and
where the detail stops), pairs them into boxes, scores each box by how much
of its four sides really is a step and how much quieter the frame beyond them
is (the canvas edge counts as a middling side, so an inset that touches the
canvas still wins), and returns the best few.  The caller hashes each box, so
a wrong guess only costs a lookup.

This runs on uploads only (the query side), never on the bank side: the
victim's browser does not need to reproduce it, so it may be as rich as it
needs to be.  Everything is integer or float comparison on the working copy
(long side <= 512), about 15 ms of numpy and Python a photo.
"""

from __future__ import annotations

import warnings

import numpy as np

# --- lines -------------------------------------------------------------------------
#: A pixel is on a step if some channel changes by more than this between the
#: two rows (columns) either side of the line (each side the mean of 2 lines).
STEP = 18
#: A row or column is a candidate line if this share of its pixels are on a step ...
LINE_SHARE = 0.15
#: ... and it stands out by as much from the lines 3 to NEAR away on one side of it.
NEAR = 8
#: How many candidate lines per axis are paired into boxes.
LINES_PER_AXIS = 8
#: A line belongs to the detailed part of the upload if its detail share is this share of the busiest line's.
DETAIL_SHARE = 0.15

# --- boxes -------------------------------------------------------------------------
#: A box must leave out at least this share of the upload on some side to be a frame's content.
MIN_FRAME_SHARE = 0.02
#: Boxes narrower or lower than this share of the upload are not photos.
MIN_SIDE_SHARE = 0.2
#: A side lying on the canvas edge counts as this strong.
CANVAS_SIDE = 0.45
#: Detail is compared in bands this share of the image deep either side of a box's side.
BAND_SHARE = 0.04
#: A side's score: this much its step share, the rest how much quieter it is just outside.
STEP_WEIGHT = 0.7
#: A framed box: its sides' mean score at least MIN_SCORE, its outside at most (1 - MIN_QUIET)
#: of its inside's detail density, and the two added at least MIN_TOTAL (story insets and
#: screenshots keep their box; about one unedited dev photo in five gets one, a lookup more
#: of a crop of itself).
MIN_SCORE = 0.55
MIN_QUIET = 0.3
MIN_TOTAL = 1.45
#: Or a photo between bars: their edges steps along at least BAR_SIDE of the width (height),
#: each bar at least BAR_SOLID one colour.
BAR_SIDE = 0.7
BAR_SOLID = 0.6
#: Boxes are ranked by their sides' mean score plus this much their overall quietness outside.
QUIET_WEIGHT = 0.5

# --- refinement ----------------------------------------------------------------------
#: Each side of a chosen box may move this share of the dimension to where it scores best.
REFINE_SHARE = 0.06
#: A solid frame inside a box is stripped up to this share of each dimension.
FRAME_SHARE = 0.04

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the image given


def _steps(p: np.ndarray) -> np.ndarray:
    """(n - 3, m) booleans: is there a step between lines i + 1 and i + 2 (of n) at each position.

    Each side of the line is the mean of two lines, so a boundary that a resize
    has spread over two pixels still reads as one step.
    """
    a = p[2:-1].astype(np.int16) + p[3:]
    b = p[:-3].astype(np.int16) + p[1:-2]
    return _any_channel_over(a - b, 2 * STEP)


def _candidates(steps: np.ndarray) -> list[int]:
    """Line positions (boundary index in the image) whose step share is a local peak."""
    share = steps.mean(axis=1)
    n = share.size
    # A frame's edge stands out from the lines on at least one side of it (the frame's);
    # a line inside an evenly busy texture does not.
    padded = np.concatenate([np.full(NEAR, np.nan), share, np.full(NEAR, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, NEAR - 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # lines at the canvas edge have one empty side
        above = np.nanmedian(windows[:n], axis=1)
        below = np.nanmedian(windows[NEAR + 3 : NEAR + 3 + n], axis=1)
    prominence = np.nan_to_num(share - np.fmin(above, below), nan=0.0)  # fmin: the side that exists
    order = np.argsort(-share, kind="stable")
    chosen: list[int] = []
    for i in order:
        if share[i] < LINE_SHARE or len(chosen) == LINES_PER_AXIS:
            break
        if prominence[i] < LINE_SHARE:
            continue
        if all(abs(int(i) - c) > 2 for c in chosen):
            chosen.append(int(i))
    return [c + 2 for c in chosen]  # row c of steps is the boundary above image line c + 2


class _Lines:
    """The step map of one axis, with running sums of its lines (one line of slack either way)
    so that the step share of any stretch of any line is two lookups."""

    def __init__(self, steps: np.ndarray) -> None:
        self.steps = steps
        near = steps.copy()
        near[1:] |= steps[:-1]
        near[:-1] |= steps[1:]
        self.cum = np.zeros((near.shape[0], near.shape[1] + 1), dtype=np.int32)
        np.cumsum(near, axis=1, out=self.cum[:, 1:])

    def strength(self, line: int, lo: int, hi: int, edge: int) -> float:
        """Share of [lo, hi) along ``line`` that is a step; the canvas edge counts as CANVAS_SIDE."""
        if line in (0, edge):
            return CANVAS_SIDE
        i = min(max(line - 2, 0), self.cum.shape[0] - 1)
        return float(self.cum[i, hi] - self.cum[i, lo]) / (hi - lo) if hi > lo else 0.0


def content_boxes(rgb: np.ndarray, max_boxes: int = 2) -> list[tuple[Box, float]]:
    """The likeliest photo boxes inside ``rgb`` (not the whole frame), best first, with scores.

    An empty list means no frame was found: nearly every unedited photo.
    """
    h, w = rgb.shape[:2]
    if h < 16 or w < 16:
        return []
    rows = _Lines(_steps(rgb))  # (h - 3, w): horizontal lines
    cols = _Lines(_steps(rgb.transpose(1, 0, 2)))  # (w - 3, h): vertical lines
    detail_map = _detail(rgb)
    detail = _integral(detail_map)
    dy, dx = _detail_extent(detail_map)
    ys = sorted({0, h, *_candidates(rows.steps), *dy})
    xs = sorted({0, w, *_candidates(cols.steps), *dx})
    if len(ys) == 2 and len(xs) == 2:
        return []
    min_h, min_w = MIN_SIDE_SHARE * h, MIN_SIDE_SHARE * w
    bar_cache: dict[Box, bool] = {}
    scored: list[tuple[float, int, Box]] = []
    for a, y0 in enumerate(ys):
        for y1 in ys[a + 1 :]:
            if y1 - y0 < min_h:
                continue
            for b, x0 in enumerate(xs):
                for x1 in xs[b + 1 :]:
                    if x1 - x0 < min_w or max(x0 / w, y0 / h, 1 - x1 / w, 1 - y1 / h) < MIN_FRAME_SHARE:
                        continue  # (about) the whole upload, which is hashed anyway
                    box = (x0, y0, x1, y1)
                    score = _box_sides(rows, cols, detail, box, w, h)
                    # A frame's content: strong sides and a quiet outside (the gate weighs
                    # both alike; the ranking below favours the sides), or a photo between bars.
                    quiet = _quiet_outside(detail, box) if score >= MIN_SCORE else 0.0
                    framed = score >= MIN_SCORE and quiet >= MIN_QUIET and score + quiet >= MIN_TOTAL
                    if framed or _between_bars(rgb, rows, cols, box, w, h, bar_cache):
                        scored.append((score + QUIET_WEIGHT * quiet, (x1 - x0) * (y1 - y0), box))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    out: list[tuple[Box, float]] = []
    for score, _, box in scored[: 4 * max_boxes]:
        box = _strip_frame(rgb, _inset(_refine(rows, cols, detail, box, w, h), w, h))
        if all(_iou(box, other) < 0.8 for other, _ in out):
            out.append((box, score))
            if len(out) == max_boxes:
                break
    return out


def _box_sum(table: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> int:
    return int(table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0])


def _side_quiet(table: np.ndarray, inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> float:
    """1 - detail density of the band just outside a side over the band just inside it."""
    ain = (inner[2] - inner[0]) * (inner[3] - inner[1])
    aout = (outer[2] - outer[0]) * (outer[3] - outer[1])
    if ain <= 0 or aout <= 0:
        return 0.0
    din = _box_sum(table, *inner) / ain
    if din == 0:
        return 0.0
    return max(0.0, 1.0 - (_box_sum(table, *outer) / aout) / din)


def _box_sides(rows: _Lines, cols: _Lines, table: np.ndarray, box: Box, w: int, h: int) -> float:
    """Mean over the four sides of (step share along the side + how much quieter it is just outside) / 2."""
    x0, y0, x1, y1 = box
    by = max(3, round(BAND_SHARE * h))
    bx = max(3, round(BAND_SHARE * w))
    total = 0.0
    for line, edge, steps, inner, outer, lo, hi in (
        (y0, h, rows, (x0, y0, x1, min(y1, y0 + by)), (x0, max(0, y0 - by), x1, y0), x0, x1),
        (y1, h, rows, (x0, max(y0, y1 - by), x1, y1), (x0, y1, x1, min(h, y1 + by)), x0, x1),
        (x0, w, cols, (x0, y0, min(x1, x0 + bx), y1), (max(0, x0 - bx), y0, x0, y1), y0, y1),
        (x1, w, cols, (max(x0, x1 - bx), y0, x1, y1), (x1, y0, min(w, x1 + bx), y1), y0, y1),
    ):
        if line in (0, edge):
            total += CANVAS_SIDE
        else:
            total += STEP_WEIGHT * steps.strength(line, lo, hi, edge) + (1 - STEP_WEIGHT) * _side_quiet(
                table, inner, outer
            )
    return total / 4


def _refine(rows: _Lines, cols: _Lines, table: np.ndarray, box: Box, w: int, h: int) -> Box:
    """Move each side to the nearby position (canvas edge included) where it scores best.

    Candidate lines come from whole-canvas profiles, where a side that spans
    only part of the canvas, or has little contrast, can rank below lines
    inside the photo; along the box's own extent it stands out.  Where the
    detail stops within the box's own rows (columns) is tried too, however far:
    a username under a story inset stretches the whole canvas's detail wider
    than the photo, and a low-contrast edge gives no line.
    """
    best = list(box)
    for side in range(4):
        edge = w if side in (0, 2) else h
        reach = max(3, round(REFINE_SHARE * edge))
        lo, hi = max(0, best[side] - reach), min(edge, best[side] + reach)
        x0, y0, x1, y1 = best
        if side in (0, 2):  # detail per column within the box's rows, from the summed-area table
            share = np.diff(table[y1] - table[y0]) / max(1, y1 - y0)
        else:
            share = np.diff(table[:, x1] - table[:, x0]) / max(1, x1 - x0)
        on = np.flatnonzero(share >= DETAIL_SHARE * max(float(share.max()), 1e-9))
        far = [int(on[0]) if side in (0, 1) else int(on[-1]) + 1] if on.size else []
        scores = []
        for pos in [*range(lo, hi + 1), *far]:
            trial = list(best)
            trial[side] = pos
            x0, y0, x1, y1 = trial
            if x1 - x0 < MIN_SIDE_SHARE * w or y1 - y0 < MIN_SIDE_SHARE * h:
                continue
            scores.append((_box_sides(rows, cols, table, (x0, y0, x1, y1), w, h), -abs(pos - best[side]), pos))
        if scores:
            best[side] = max(scores)[2]
    return (best[0], best[1], best[2], best[3])


def _inset(box: Box, w: int, h: int) -> Box:
    """One pixel in from every side that is not the canvas edge: a resized photo's edge line mixes in the frame."""
    x0, y0, x1, y1 = box
    return (x0 + (x0 > 0), y0 + (y0 > 0), x1 - (x1 < w), y1 - (y1 < h))


def _between_bars(rgb: np.ndarray, rows: _Lines, cols: _Lines, box: Box, w: int, h: int, cache: dict[Box, bool]) -> bool:
    """A box spanning the whole width (height) whose other sides are clean full-length steps.

    Caption bars carry big text, so their detail is no quieter than the
    photo's; but the photo's edge against the bar is a step along its whole length,
    and most of the bar is one colour.
    """
    if box not in cache:
        cache[box] = _bars_around(rgb, rows, cols, box, w, h)
    return cache[box]


def _bars_around(rgb: np.ndarray, rows: _Lines, cols: _Lines, box: Box, w: int, h: int) -> bool:
    x0, y0, x1, y1 = box
    if (x0, x1) == (0, w):
        sides = [rows.strength(y, 0, w, h) for y in (y0, y1) if y not in (0, h)]
        bars = [rgb[:y0], rgb[y1:]]
    elif (y0, y1) == (0, h):
        sides = [cols.strength(x, 0, h, w) for x in (x0, x1) if x not in (0, w)]
        bars = [rgb[:, :x0], rgb[:, x1:]]
    else:
        return False
    if not sides or min(sides) < BAR_SIDE:
        return False
    return all(_solid_share(bar) >= BAR_SOLID for bar in bars if bar.size)


def _solid_share(region: np.ndarray) -> float:
    """Share of the region's pixels within 24 of its median colour on every channel (a bar's background)."""
    pixels = region[::3, ::3].reshape(-1, 3).astype(np.int16)  # every 9th pixel tells the share well enough
    ref = np.median(pixels, axis=0)
    return float((np.abs(pixels - ref) <= 24).all(axis=1).mean())


def _strip_frame(rgb: np.ndarray, box: Box) -> Box:
    """Remove a thin solid frame (white or dark border around an inset photo) inside the box.

    Bounded to FRAME_SHARE of each side, so a photo's own sky or wall at its
    edge loses at most that much.
    """
    x0, y0, x1, y1 = box
    for _ in range(2):
        for side in range(4):
            limit = max(1, round(FRAME_SHARE * ((x1 - x0) if side in (0, 2) else (y1 - y0))))
            for _ in range(limit):
                line = (rgb[y0:y1, x0], rgb[y0, x0:x1], rgb[y0:y1, x1 - 1], rgb[y1 - 1, x0:x1])[side].astype(np.int16)
                ref = np.median(line, axis=0)
                if (np.abs(line - ref) <= 24).all(axis=1).mean() < 0.9 or min(x1 - x0, y1 - y0) < 16:
                    break
                if side == 0:
                    x0 += 1
                elif side == 1:
                    y0 += 1
                elif side == 2:
                    x1 -= 1
                else:
                    y1 -= 1
    return (x0, y0, x1, y1)


def _detail(rgb: np.ndarray) -> np.ndarray:
    """"Detail" pixels: where some channel steps by more than STEP to a neighbour (none in a blurred fill)."""
    p = rgb.astype(np.int16)
    d = np.zeros(p.shape[:2], dtype=bool)
    d[:, :-1] |= _any_channel_over(p[:, 1:] - p[:, :-1], STEP)
    d[:-1, :] |= _any_channel_over(p[1:, :] - p[:-1, :], STEP)
    return d


def _any_channel_over(diff: np.ndarray, limit: int) -> np.ndarray:
    """|diff| > limit on some channel (three elementwise maxima: numpy's reduction over an
    axis of 3 costs several times more)."""
    np.abs(diff, out=diff)
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > limit


def _integral(d: np.ndarray) -> np.ndarray:
    """Summed-area table, so any box's count of detail pixels is four lookups."""
    table = np.zeros((d.shape[0] + 1, d.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = d.cumsum(axis=0).cumsum(axis=1)
    return table


def _detail_extent(d: np.ndarray) -> tuple[list[int], list[int]]:
    """Where the detail starts and ends along each axis: a blurred fill's inset has no step line
    of its own where the photo's edge matches the fill's colour, but its detail still stops there."""
    out = []
    for axis in (1, 0):
        share = d.mean(axis=axis)
        on = np.flatnonzero(share >= DETAIL_SHARE * max(float(share.max()), 1e-9))
        out.append([int(on[0]), int(on[-1]) + 1] if on.size else [])
    return out[0], out[1]


def _quiet_outside(table: np.ndarray, box: Box) -> float:
    """How much less detail there is outside the box than inside it: 1 for a blurred or flat frame, ~0 inside a photo."""
    x0, y0, x1, y1 = box
    inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    area_in = (x1 - x0) * (y1 - y0)
    area_out = (table.shape[0] - 1) * (table.shape[1] - 1) - area_in
    if area_out <= 0 or inside == 0:
        return 0.0
    density_in = inside / area_in
    density_out = (table[-1, -1] - inside) / area_out
    return float(max(0.0, 1.0 - density_out / density_in))


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
