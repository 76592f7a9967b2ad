// The frame table of an MP4 or MOV file (ISO base media), read in the browser from the box
// headers: how many frames the video track has, when each one is shown, its frame rate
// and size. Phones record MP4 (Android) and MOV (iPhone); both are this format.
//
// Why read it at all: vPDQ samples by *frame number* (every int(rate)-th decoded frame,
// matcher/video/decoding.py), and a <video> element knows times only. The sample table
// says which time each frame number has, so the page can seek to the middle of exactly
// the frames Python decodes. Only the boxes are read (the `moov` box, through
// Blob.slice); no sample data is touched.
//
// The rules are FFmpeg's as PyAV reports them (the tests compare with PyAV on the same
// files): the frame rate is the average rate (timescale x frames / total duration; one
// duration when the table has a single entry, or a single entry and a last odd frame);
// the declared duration is the sum of the frames' durations;
// frames are in presentation order (decoding times plus composition offsets); the first
// edit of the edit list cuts the frames shown before its start, as FFmpeg drops them.
//
// Not handled (readVideoTrack throws, the page then sends the file's MD5 only):
// fragmented MP4 (`mvex`: a streaming recording), WebM, MKV, AVI and everything else.

const MAX_MOOV_BYTES = 64 << 20; // a 30-minute 120 fps track's tables are a few MB

export class Mp4Error extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code; // "not_mp4" | "unsupported" | "corrupt"
  }
}

async function read(blob, start, length) {
  return new DataView(await blob.slice(start, start + length).arrayBuffer());
}

function type(view, at) {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

function u64(view, at) {
  const value = view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
  if (!Number.isSafeInteger(value)) throw new Mp4Error("corrupt", "a 64-bit field past 2^53");
  return value;
}

/** The top-level boxes, from the file's own headers: [{type, start, size, header}]. */
async function topLevel(blob) {
  const boxes = [];
  let at = 0;
  while (at + 8 <= blob.size && boxes.length < 10_000) {
    const head = await read(blob, at, 16);
    let size = head.getUint32(0);
    let header = 8;
    if (size === 1) {
      if (head.byteLength < 16) break;
      size = u64(head, 8);
      header = 16;
    } else if (size === 0) {
      size = blob.size - at;
    }
    if (size < header) throw new Mp4Error("corrupt", "a box smaller than its header");
    boxes.push({ type: type(head, 4), start: at, size, header });
    at += size;
  }
  return boxes;
}

/** Child boxes of the bytes view[start, end). */
function children(view, start, end) {
  const out = [];
  let at = start;
  while (at + 8 <= end) {
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      size = u64(view, at + 8);
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) throw new Mp4Error("corrupt", "a box runs past its parent");
    out.push({ type: type(view, at + 4), body: at + header, end: at + size });
    at += size;
  }
  return out;
}

const child = (view, box, name) => children(view, box.body, box.end).find((b) => b.type === name);

function fullBoxVersion(view, box) {
  return view.getUint8(box.body);
}

function readTrack(view, trak, movieTimescale) {
  const mdia = child(view, trak, "mdia");
  const hdlr = mdia && child(view, mdia, "hdlr");
  if (!hdlr || type(view, hdlr.body + 8) !== "vide") return null;
  const mdhd = child(view, mdia, "mdhd");
  const timescale = view.getUint32(mdhd.body + (fullBoxVersion(view, mdhd) === 1 ? 20 : 12));
  const stbl = child(view, child(view, mdia, "minf"), "stbl");
  const stsd = child(view, stbl, "stsd");
  // The first sample entry: 8-byte header, 6 reserved, 2 data reference, 16 of visual
  // pre-defined/reserved fields, then width and height.
  const entry = stsd.body + 8;
  const codec = type(view, entry + 4);
  const width = view.getUint16(entry + 8 + 24);
  const height = view.getUint16(entry + 8 + 26);

  const stts = child(view, stbl, "stts");
  const runs = view.getUint32(stts.body + 4);
  const counts = [];
  const deltas = [];
  let frames = 0;
  let total = 0;
  for (let k = 0; k < runs; k++) {
    const count = view.getUint32(stts.body + 8 + 8 * k);
    const delta = view.getUint32(stts.body + 12 + 8 * k);
    counts.push(count);
    deltas.push(delta);
    frames += count;
    total += count * delta;
  }
  if (!frames || !timescale) throw new Mp4Error("unsupported", "no frame in the video track's table");
  const dts = new Float64Array(frames);
  let clock = 0;
  let n = 0;
  for (let k = 0; k < runs; k++) {
    for (let j = 0; j < counts[k]; j++) {
      dts[n++] = clock;
      clock += deltas[k];
    }
  }
  const ctts = child(view, stbl, "ctts");
  if (ctts) {
    const entries = view.getUint32(ctts.body + 4);
    let s = 0;
    for (let k = 0; k < entries && s < frames; k++) {
      const count = view.getUint32(ctts.body + 8 + 8 * k);
      const offset = view.getInt32(ctts.body + 12 + 8 * k); // signed, as FFmpeg reads it
      for (let j = 0; j < count && s < frames; j++) dts[s++] += offset;
    }
  }
  const pts = dts; // now presentation times, in decoding order
  // The first edit that shows media (an empty edit, media_time -1, only delays the start).
  let editStart = null;
  let editLength = null; // in the movie's timescale
  const edts = child(view, trak, "edts");
  const elst = edts && child(view, edts, "elst");
  if (elst) {
    const ev1 = fullBoxVersion(view, elst) === 1;
    const entries = view.getUint32(elst.body + 4);
    const width8 = ev1 ? 20 : 12;
    for (let k = 0; k < entries; k++) {
      const at = elst.body + 8 + width8 * k;
      const segment = ev1 ? u64(view, at) : view.getUint32(at);
      const mediaTime = ev1 ? Number(view.getBigInt64(at + 8)) : view.getInt32(at + 4);
      if (mediaTime >= 0) {
        editStart = mediaTime;
        editLength = segment;
        break;
      }
    }
  }
  let shown = Array.from(pts).sort((a, b) => a - b);
  if (editStart !== null) {
    const end = editLength ? editStart + (editLength * timescale) / movieTimescale : Infinity;
    const kept = shown.filter((t) => t >= editStart && t < end);
    if (kept.length) shown = kept;
  }
  // FFmpeg's average rate: a constant-rate table gives timescale / duration exactly.
  const constant = runs === 1 || (runs === 2 && counts[1] === 1);
  const frameRate = constant ? timescale / deltas[0] : (timescale * frames) / total;
  const first = shown[0];
  return {
    codec,
    width,
    height,
    timescale,
    frameRate,
    frames: shown.length,
    // Seconds from the first shown frame: where the <video> element's timeline puts them.
    times: Float64Array.from(shown, (t) => (t - first) / timescale),
    // What PyAV declares (stream and container alike): the sum of the frames' durations.
    duration: total / timescale,
  };
}

/**
 * The video track of an MP4/MOV file (a Blob or File), or throws Mp4Error.
 * Returns {codec, width, height, frameRate, frames, times (Float64Array, seconds), duration}.
 */
export async function readVideoTrack(blob) {
  const boxes = await topLevel(blob);
  if (!boxes.length || boxes[0].type !== "ftyp") throw new Mp4Error("not_mp4", "not an MP4 or MOV file");
  const moovBox = boxes.find((b) => b.type === "moov");
  if (!moovBox) throw new Mp4Error("corrupt", "no movie box (a truncated recording?)");
  if (moovBox.size > MAX_MOOV_BYTES) throw new Mp4Error("unsupported", "the movie box is too large");
  const view = await read(blob, moovBox.start, moovBox.size);
  const moov = { body: moovBox.header, end: moovBox.size };
  if (child(view, moov, "mvex")) throw new Mp4Error("unsupported", "a fragmented MP4");
  const mvhd = child(view, moov, "mvhd");
  const v1 = fullBoxVersion(view, mvhd) === 1;
  const movieTimescale = view.getUint32(mvhd.body + (v1 ? 20 : 12));
  for (const trak of children(view, moov.body, moov.end).filter((b) => b.type === "trak")) {
    let track;
    try {
      track = readTrack(view, trak, movieTimescale || 1);
    } catch (error) {
      if (error instanceof Mp4Error) throw error;
      throw new Mp4Error("corrupt", "a damaged video track table");
    }
    if (track) return track;
  }
  throw new Mp4Error("unsupported", "no video track");
}
