// The hash group of a submitted image, computed in the victim's browser.
//
// One PDQ hash does not survive a few percent of crop or a small rotation, so
// a submission is stored as a *group*: PDQ of a fixed list of variants of the
// image (the full frame in its 8 dihedral orientations, side crops, centred
// crops, small rotations, the frame with its borders trimmed). The server
// matches uploads against every hash of the group (matcher/groups.py explains
// the design). The group must be the one Python's Strategy.bank_group makes
// from the same pixels, so every operation here is the exact integer or
// float64 arithmetic of matcher/groups.py, in the same order:
//   crop       integer box, each side floor(f * n + 0.5) clamped to [0, n];
//   reduce     every variant but the primary (full frame) works on a copy
//              reduced by averaging k x k blocks, k = max(1, floor(long side
//              / 512)), rounded half up in integers, remainder lines dropped;
//              the full frame is PDQ of the original pixels;
//   rotate     bilinear about the centre, pixel centres at i + 0.5, source
//              coordinates clamped to the image, rounded floor(v + 0.5);
//   trim       solid borders and caption bars, integer comparisons.
// tests/web/test_js_hashing.py checks each primitive and the whole group
// against Python, on the strategy Python serialises.
//
// Images are ImageData-like {data, width, height}: RGBA (alpha ignored:
// composite onto white first, as matcher.loading does) or packed RGB.
// Primitives that build pixels return packed RGB.

import { PdqAccumulator, MIN_QUALITY, MIN_HASHABLE_DIM, DIHEDRAL_NAMES } from "./pdq.js";

// --- the strategy (data, from the server) ----------------------------------------

/**
 * The strategy comes from the server, never from a copy here: it is
 * matcher.groups' Strategy as JSON (`dataclasses.asdict(strategy)`), so the
 * page always hashes the variants the bank currently stores. Fields used:
 * `name`, `bank` (a list of `{name, box: [x0, y0, x1, y1], angle, dihedral,
 * primary}`), `trim_bank`, `min_quality`, `min_trim_share`.
 */
export function parseStrategy(json) {
  const s = typeof json === "string" ? JSON.parse(json) : json;
  if (!s || !Array.isArray(s.bank) || !s.bank.length) throw new TypeError("a strategy needs a non-empty bank");
  const bank = s.bank.map((v) => {
    if (typeof v.name !== "string" || !Array.isArray(v.box) || v.box.length !== 4) {
      throw new TypeError("a variant needs a name and a box of 4 fractions");
    }
    return Object.freeze({
      name: v.name,
      box: Object.freeze(v.box.map(Number)),
      angle: Number(v.angle ?? 0),
      dihedral: Boolean(v.dihedral),
      primary: Boolean(v.primary),
    });
  });
  return Object.freeze({
    name: String(s.name ?? ""),
    bank: Object.freeze(bank),
    trimBank: Boolean(s.trim_bank),
    minQuality: Number(s.min_quality ?? MIN_QUALITY),
    minTrimShare: Number(s.min_trim_share ?? 0.02),
  });
}

// --- pixel operations -------------------------------------------------------------

function channelsOf(image) {
  const channels = image.data.length / (image.width * image.height);
  if (channels !== 4 && channels !== 3) throw new RangeError("pixels must be RGBA or packed RGB");
  return channels;
}

function px(f, n) {
  return Math.min(n, Math.max(0, Math.floor(f * n + 0.5)));
}

/** The integer pixel box [x0, y0, x1, y1] of a fractional box on a w x h image. */
export function cropBox(box, width, height) {
  return [px(box[0], width), px(box[1], height), px(box[2], width), px(box[3], height)];
}

/** Copy of the pixels inside a fractional box (packed RGB). */
export function crop(image, box) {
  const [x0, y0, x1, y1] = cropBox(box, image.width, image.height);
  return copyRect(image, x0, y0, Math.max(x1, x0), Math.max(y1, y0));
}

function copyRect(image, x0, y0, x1, y1) {
  const ch = channelsOf(image);
  const width = x1 - x0;
  const height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    let p = ((y0 + y) * image.width + x0) * ch;
    let q = y * width * 3;
    for (let x = 0; x < width; x++, p += ch, q += 3) {
      data[q] = image.data[p];
      data[q + 1] = image.data[p + 1];
      data[q + 2] = image.data[p + 2];
    }
  }
  return { data, width, height };
}

/**
 * The working copy of the non-primary variants: k x k block averages,
 * k = floor(long side / maxSide) (remainder lines dropped); the image itself if k = 1.
 */
export function reduceToWorkingSize(image, maxSide = 512) {
  const { width: w, height: h } = image;
  const k = Math.max(1, Math.floor(Math.max(h, w) / maxSide));
  if (k === 1) return image;
  const ch = channelsOf(image);
  const ow = Math.floor(w / k);
  const oh = Math.floor(h / k);
  const sums = new Uint32Array(ow * 3);
  const data = new Uint8Array(ow * oh * 3);
  const area = k * k;
  for (let oy = 0; oy < oh; oy++) {
    sums.fill(0);
    for (let y = oy * k; y < oy * k + k; y++) {
      let p = y * w * ch;
      for (let ox = 0; ox < ow; ox++) {
        for (let dx = 0; dx < k; dx++, p += ch) {
          sums[ox * 3] += image.data[p];
          sums[ox * 3 + 1] += image.data[p + 1];
          sums[ox * 3 + 2] += image.data[p + 2];
        }
      }
    }
    for (let i = 0; i < ow * 3; i++) data[oy * ow * 3 + i] = Math.floor((sums[i] + (area >> 1)) / area);
  }
  return { data, width: ow, height: oh };
}

/**
 * Rotate counter-clockwise by `angle` degrees about the centre in a frame of
 * the same size, then crop to the fractional `box` (only its pixels are
 * computed; packed RGB out). Float64 operations in the order of
 * matcher.groups.rotate_bilinear, so the result is equal to the byte.
 */
export function rotateBilinear(image, angle, box = [0, 0, 1, 1]) {
  const { width: w, height: h } = image;
  const [bx0, by0, bx1, by1] = cropBox(box, w, h);
  const ow = Math.max(bx1 - bx0, 0);
  const oh = Math.max(by1 - by0, 0);
  const ch = channelsOf(image);
  const src = image.data;
  const t = angle * (Math.PI / 180); // as Python's math.radians
  const c = Math.cos(t);
  const s = Math.sin(t);
  const cx = w / 2;
  const cy = h / 2;
  const xMax = w > 1 ? w - 2 : 0;
  const yMax = h > 1 ? h - 2 : 0;
  const data = new Uint8Array(ow * oh * 3);
  for (let y = by0; y < by0 + oh; y++) {
    const Y = y + 0.5 - cy;
    for (let x = bx0; x < bx0 + ow; x++) {
      const X = x + 0.5 - cx;
      const sx = Math.min(Math.max(c * X - s * Y + cx - 0.5, 0), w - 1);
      const sy = Math.min(Math.max(s * X + c * Y + cy - 0.5, 0), h - 1);
      const x0 = Math.min(Math.floor(sx), xMax);
      const y0 = Math.min(Math.floor(sy), yMax);
      const fx = sx - x0;
      const fy = sy - y0;
      const x1 = Math.min(x0 + 1, w - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const p00 = (y0 * w + x0) * ch;
      const p01 = (y0 * w + x1) * ch;
      const p10 = (y1 * w + x0) * ch;
      const p11 = (y1 * w + x1) * ch;
      const q = ((y - by0) * ow + (x - bx0)) * 3;
      for (let k = 0; k < 3; k++) {
        const top = src[p00 + k] * (1 - fx) + src[p01 + k] * fx;
        const bot = src[p10 + k] * (1 - fx) + src[p11 + k] * fx;
        data[q + k] = Math.floor(top * (1 - fy) + bot * fy + 0.5);
      }
    }
  }
  return { data, width: ow, height: oh };
}

// --- border trimming (matcher.groups.trim_box) ---------------------------------------

/** A pixel belongs to a border if every channel is within this of the edge colour. */
export const TRIM_TOLERANCE = 24;
/** A line is border-coloured if this share of its pixels are. */
export const TRIM_LINE_SHARE = 0.95;
/** A border band may hold a caption: it stays at least this share border-coloured. */
export const TRIM_BAND_SHARE = 0.5;
/** Never trim more than this share of a dimension from one edge. */
export const TRIM_MAX_SHARE = 0.4;

/**
 * How many leading lines form a border band. `line(i)` gives, for the i-th line
 * from the edge, a function returning the offset of its j-th pixel; `m` is the
 * line length.
 */
function edgeRun(data, m, limit, pixelAt) {
  if (limit < 1) return 0;
  // Edge colour: per-channel median of the outermost line (numpy's median:
  // mean of the two middle values, then truncated to an integer).
  const ref = [0, 0, 0];
  const values = new Uint8Array(m);
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < m; j++) values[j] = data[pixelAt(0, j) + k];
    values.sort();
    ref[k] = m % 2 ? values[(m - 1) >> 1] : Math.trunc((values[m / 2 - 1] + values[m / 2]) / 2);
  }
  let solidCount = 0;
  let last = -1;
  for (let i = 0; i < limit; i++) {
    let near = 0;
    for (let j = 0; j < m; j++) {
      const p = pixelAt(i, j);
      if (
        Math.abs(data[p] - ref[0]) <= TRIM_TOLERANCE &&
        Math.abs(data[p + 1] - ref[1]) <= TRIM_TOLERANCE &&
        Math.abs(data[p + 2] - ref[2]) <= TRIM_TOLERANCE
      ) near++;
    }
    const solid = near / m >= TRIM_LINE_SHARE;
    if (i === 0 && !solid) return 0;
    if (solid) solidCount++;
    if (solid && solidCount >= TRIM_BAND_SHARE * (i + 1)) last = i;
  }
  return last + 1;
}

/** Pixel box [x0, y0, x1, y1] left after removing solid borders and caption bars. */
export function trimBox(image) {
  const { width: w, height: h, data } = image;
  const ch = channelsOf(image);
  let x0 = 0;
  let y0 = 0;
  let x1 = w;
  let y1 = h;
  const at = (x, y) => (y * w + x) * ch;
  for (let pass = 0; pass < 2; pass++) {
    let limit = Math.trunc((y1 - y0) * TRIM_MAX_SHARE);
    let bx0 = x0;
    let by0 = y0;
    let by1 = y1;
    const top = edgeRun(data, x1 - x0, limit, (i, j) => at(bx0 + j, by0 + i));
    const bottom = edgeRun(data, x1 - x0, limit, (i, j) => at(bx0 + j, by1 - 1 - i));
    y0 += top;
    y1 -= bottom;
    limit = Math.trunc((x1 - x0) * TRIM_MAX_SHARE);
    bx0 = x0;
    const bx1 = x1;
    by0 = y0;
    const m = y1 - y0;
    const left = m > 0 ? edgeRun(data, m, limit, (i, j) => at(bx0 + i, by0 + j)) : 0;
    const right = m > 0 ? edgeRun(data, m, limit, (i, j) => at(bx1 - 1 - i, by0 + j)) : 0;
    x0 += left;
    x1 -= right;
    if (Math.min(x1 - x0, y1 - y0) < 8) return [0, 0, w, h];
  }
  return [x0, y0, x1, y1];
}

// --- hashing ----------------------------------------------------------------------------

/** Rows y0 .. y1 - 1 of `image`, full width, through PDQ's row pass. */
function rowPass(image, y0, y1) {
  const ch = channelsOf(image);
  const rowBytes = image.width * ch;
  const acc = new PdqAccumulator(image.width, y1 - y0);
  return acc.update(image.data.subarray(y0 * rowBytes, y1 * rowBytes), y1 - y0);
}

/**
 * The hash group stored for a submitted image under `strategy` (see
 * parseStrategy): a list of `{variant, pdq, quality, structure, primary}`
 * records (the keys in the order of Python's HashGroup.records) in the order
 * Python's Strategy.bank_group makes them (variants of quality below the
 * strategy's minimum are dropped). `structure` is PDQ's gradient energy
 * uncapped (quality is it capped at 100): the bank bands pairs by it. `onVariant(done, total)` reports progress.
 *
 * Only primary variants (the full frame) are hashed at full resolution; the
 * others work on the reduced copy, and crops that share their rows share one
 * PDQ row pass.
 */
export function bankGroup(image, strategyJson, { onVariant } = {}) {
  const strategy = parseStrategy(strategyJson);
  const jobs = []; // {order, source, box, name, dihedral, primary}
  const work = reduceToWorkingSize(image);
  strategy.bank.forEach((v, order) => {
    let source = v.primary ? image : work;
    let box = cropBox(v.box, source.width, source.height);
    if (v.angle && !v.primary) {
      source = rotateBilinear(work, v.angle, v.box);
      box = [0, 0, source.width, source.height];
    }
    if (Math.min(box[2] - box[0], box[3] - box[1]) >= MIN_HASHABLE_DIM) {
      jobs.push({ order, source, box, name: v.name, dihedral: v.dihedral, primary: v.primary });
    }
  });
  if (strategy.trimBank) {
    const { width: w, height: h } = work;
    const box = trimBox(work);
    const [x0, y0, x1, y1] = box;
    if (Math.max(x0 / w, y0 / h, (w - x1) / w, (h - y1) / h) >= strategy.minTrimShare) {
      jobs.push({ order: strategy.bank.length, source: work, box, name: "trim", dihedral: false, primary: false });
    }
  }
  // One row pass per (source, first row, last row).
  const passes = new Map();
  const sources = [];
  for (const job of jobs) {
    if (!sources.includes(job.source)) sources.push(job.source);
    const key = `${sources.indexOf(job.source)}:${job.box[1]}:${job.box[3]}`;
    if (!passes.has(key)) passes.set(key, []);
    passes.get(key).push(job);
  }
  const results = [];
  let done = 0;
  for (const group of passes.values()) {
    const { source, box } = group[0];
    const acc = rowPass(source, box[1], box[3]);
    for (const job of group) {
      const [x0, , x1] = job.box;
      if (job.dihedral) {
        const { hexes, quality, structure } = acc.digestDihedral(x0, x1);
        hexes.forEach((hex, i) => {
          const variant = i === 0 ? job.name : `${job.name}/${DIHEDRAL_NAMES[i]}`;
          results.push({ order: job.order, sub: i, record: { variant, pdq: hex, quality, structure, primary: job.primary } });
        });
      } else {
        const { hex, quality, structure } = acc.digest(x0, x1);
        results.push({
          order: job.order,
          sub: 0,
          record: { variant: job.name, pdq: hex, quality, structure, primary: job.primary },
        });
      }
      if (onVariant) onVariant(++done, jobs.length);
    }
  }
  results.sort((a, b) => a.order - b.order || a.sub - b.sub);
  return results.map((r) => r.record).filter((record) => record.quality >= strategy.minQuality);
}
