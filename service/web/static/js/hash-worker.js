// The page's hashing worker: turns a chosen File into the hashes that will be sent,
// off the main thread so the page stays responsive with 50 photos. One file at a time,
// so at most one decoded picture is in memory.
//
// Photos: decoded by the browser with the EXIF orientation applied and no colour-profile
// conversion (matcher.loading applies the orientation and, like Pillow, ignores ICC
// profiles), drawn onto a white canvas (transparency flattened on white, as
// matcher.loading does), then the hash group of group.js under the server's strategy.
// Videos (and anything the page is told to treat as a file): streamed MD5 of the bytes.
// A video's frames: the page seeks its <video> element (only the main thread has one)
// and sends each sampled frame here, PDQ-hashed from the pixels Python would see: a
// WebCodecs VideoFrame in I420 is converted by yuv.js as swscale does (BT.601); any other
// frame (another layout, or a browser without WebCodecs: an ImageBitmap) is drawn on an
// OffscreenCanvas, the browser's colour conversion (or, where a worker has no
// OffscreenCanvas, the page sends the ImageData it drew);
// each frame is answered before the page sends the next but one, so memory holds one or
// two frames whatever the video's length.
//
// Messages in:  {type: "strategy", strategy}  then  {type: "hash", id, file, kind}
//               {type: "frame", id, seq, videoFrame | bitmap | pixels}
// Messages out: {type: "progress", id, fraction}
//               {type: "done", id, kind, hashes: [{signal, hash, quality?, structure?, variant?}]}
//               (PDQ hashes carry quality and structure, PDQ's gradient energy uncapped,
//               which the bank's thresholds depend on; MD5 digests neither)
//               {type: "failed", id, code}   code: "undecodable" | "too_plain" | "no_strategy"
//               {type: "frame-hash", id, seq, pdq, quality, structure, converted}
//               | {type: "frame-failed", id, seq}     converted: "yuv" (yuv.js) or "canvas"

import { bankGroup } from "./group.js";
import { md5Blob } from "./md5.js";
import { pdqHash } from "./pdq.js";
import { videoFrameToRgb } from "./yuv.js";

let strategy = null;
const queue = [];
let busy = false;

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "strategy") {
    strategy = message.strategy;
  } else if (message.type === "hash") {
    queue.push(message);
    pump();
  } else if (message.type === "frame") {
    hashFrame(message);
  }
};

let frameCanvas = null;

/** One sampled video frame: its PDQ hash, quality and structure (matcher.video's FrameHash). */
async function hashFrame({ id, seq, videoFrame, bitmap, pixels }) {
  let converted = pixels ? "canvas" : "yuv";
  try {
    if (videoFrame) {
      pixels = await videoFrameToRgb(videoFrame).catch(() => null);
      if (!pixels) bitmap = videoFrame; // another layout: drawn like a bitmap below
    }
    if (bitmap) {
      converted = "canvas";
      const width = bitmap.displayWidth ?? bitmap.width;
      const height = bitmap.displayHeight ?? bitmap.height;
      if (!frameCanvas || frameCanvas.width !== width || frameCanvas.height !== height) {
        frameCanvas = new OffscreenCanvas(width, height);
      }
      const context = frameCanvas.getContext("2d", { willReadFrequently: true, alpha: false });
      context.drawImage(bitmap, 0, 0, width, height);
      pixels = context.getImageData(0, 0, width, height);
    }
    const { hex, quality, structure } = pdqHash(pixels);
    self.postMessage({ type: "frame-hash", id, seq, pdq: hex, quality, structure, converted });
  } catch {
    self.postMessage({ type: "frame-failed", id, seq });
  } finally {
    bitmap?.close(); // an ImageBitmap, or the VideoFrame (closing twice is harmless)
    videoFrame?.close();
  }
}

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) {
    const job = queue.shift();
    try {
      const result = job.kind === "file" ? await hashFile(job) : await hashPhoto(job);
      self.postMessage({ type: "done", id: job.id, ...result });
    } catch (error) {
      self.postMessage({ type: "failed", id: job.id, code: error.code || "undecodable" });
    }
  }
  busy = false;
}

function failure(code) {
  const error = new Error(code);
  error.code = code;
  return error;
}

async function hashFile({ id, file }) {
  const hex = await md5Blob(file, {
    chunkSize: 4 << 20,
    onProgress: (done, total) => self.postMessage({ type: "progress", id, fraction: total ? done / total : 1 }),
  });
  return { kind: "file", hashes: [{ signal: "md5", hash: hex }] };
}

/** The pixels as RGBA ImageData, flattened on white, the way matcher.loading sees them. */
export async function decodeOnWhite(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none" });
  } catch {
    throw failure("undecodable");
  }
  try {
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, width, height);
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, width, height);
  } finally {
    bitmap.close();
  }
}

async function hashPhoto({ id, file }) {
  if (!strategy) throw failure("no_strategy");
  const pixels = await decodeOnWhite(file);
  self.postMessage({ type: "progress", id, fraction: 0.2 });
  const records = bankGroup(pixels, strategy, {
    onVariant: (done, total) => self.postMessage({ type: "progress", id, fraction: 0.2 + (0.8 * done) / total }),
  });
  if (!records.length) throw failure("too_plain");
  return {
    kind: "image",
    width: pixels.width,
    height: pixels.height,
    hashes: records.map((r) => ({
      signal: "pdq",
      hash: r.pdq,
      quality: r.quality,
      structure: r.structure,
      variant: r.variant,
    })),
  };
}
