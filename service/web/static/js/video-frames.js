// A chosen video's vPDQ frames, made in the page: the file's frame table (mp4.js) says
// which frames Python hashes and when each is shown; a <video> element, playing nothing,
// is seeked to the middle of each of those frames in turn; the frame it then shows is
// handed to the worker and PDQ-hashed: as a WebCodecs VideoFrame (the decoder's own YUV
// planes, converted to RGB by yuv.js as Python's swscale does), else as an ImageBitmap
// drawn on an OffscreenCanvas (the browser's colour conversion: a few bits off Python's).
//
// The file never leaves the device: the element reads it through an object URL (blob:),
// revoked when done; the Content-Security-Policy allows media from blob: only.
// Memory stays bounded: the next frame is seeked while the worker hashes the last one, and
// no more than two wait in the worker, whatever the video's length.
//
// Each seek is checked: requestVideoFrameCallback tells the time of the frame the
// element shows, which must be the planned frame's (counted in `misaligned` otherwise).

import { readVideoTrack, Mp4Error } from "./mp4.js";
import { DEFAULT_INTERVAL, samplePlan, overLimits } from "./vpdq.js";

export class VideoFramesError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code; // "unsupported" (hash the file only) | "too_long" | "too_large" | "cancelled" | "undecodable"
  }
}

const SEEK_TIMEOUT_MS = 20_000;
const FRAME_TIMEOUT_MS = 1_000;
const IN_FLIGHT = 2;

function once(target, ok, bad, signal, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(reject, new VideoFramesError("undecodable", "the video stopped answering")), timeoutMs);
    const onOk = () => finish(resolve);
    const onBad = () => finish(reject, new VideoFramesError("unsupported", "the browser cannot decode this video"));
    const onAbort = () => finish(reject, new VideoFramesError("cancelled"));
    function finish(settle, value) {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      target.removeEventListener(bad, onBad);
      signal?.removeEventListener("abort", onAbort);
      settle(value);
    }
    target.addEventListener(ok, onOk);
    target.addEventListener(bad, onBad);
    signal?.addEventListener("abort", onAbort);
  });
}

/** The time of the next frame the element presents (null where the browser cannot say). */
function presentedTime(video) {
  if (!video.requestVideoFrameCallback) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), FRAME_TIMEOUT_MS);
    video.requestVideoFrameCallback((now, metadata) => {
      clearTimeout(timer);
      resolve(metadata.mediaTime);
    });
  });
}

/** The frame the element shows, ready to post to the worker: [message part, transfer list]. */
async function grab(video) {
  if (typeof VideoFrame !== "undefined") {
    try {
      const videoFrame = new VideoFrame(video);
      return [{ videoFrame }, [videoFrame]];
    } catch {
      /* a browser that cannot wrap this element's frame: the bitmap below */
    }
  }
  if (typeof OffscreenCanvas !== "undefined") {
    const bitmap = await createImageBitmap(video);
    return [{ bitmap }, [bitmap]];
  }
  // No OffscreenCanvas (older Safari): draw here, send the pixels.
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
  context.drawImage(video, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  return [{ pixels }, [pixels.data.buffer]];
}

/**
 * The vPDQ record of `file`: {interval, frame_rate, duration, frames: [{pdq, quality,
 * frame, time}]} (matcher.video.VideoHash.to_record()), plus `structures` (one a frame,
 * not sent: the wire's frames have no room for it), `misaligned` (seeks that showed
 * another frame than planned) and `conversions` (how frames became RGB: "yuv", "canvas").
 * `hashFrame(part, transfer)` sends one frame to the worker and resolves to {pdq, quality,
 * structure}. Throws VideoFramesError.
 */
export async function videoFrames(file, { limits, hashFrame, onProgress, signal }) {
  let track;
  try {
    track = await readVideoTrack(file);
  } catch (error) {
    if (error instanceof Mp4Error) throw new VideoFramesError("unsupported", error.message);
    throw error;
  }
  const interval = limits?.video_interval ?? DEFAULT_INTERVAL;
  const plan = samplePlan(track, interval);
  const over = overLimits(track, plan, limits);
  if (over) throw new VideoFramesError(over);
  onProgress?.(0, plan.length);

  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  const url = URL.createObjectURL(file);
  const pending = [];
  try {
    video.src = url;
    await once(video, "loadeddata", "error", signal, SEEK_TIMEOUT_MS);
    const frames = [];
    const structures = [];
    const conversions = new Set();
    let misaligned = 0;
    let offset = null; // the element's time of the first frame (0 in Chromium)
    let done = 0;
    for (const [k, planned] of plan.entries()) {
      if (signal?.aborted) throw new VideoFramesError("cancelled");
      const shown = presentedTime(video);
      const seeked = once(video, "seeked", "error", signal, SEEK_TIMEOUT_MS);
      video.currentTime = planned.seek + (offset ?? 0);
      await seeked;
      const at = await shown;
      if (at !== null) {
        if (offset === null) offset = at - planned.shown;
        else if (Math.abs(at - offset - planned.shown) > 0.25 / track.frameRate) misaligned++;
      }
      const [part, transfer] = await grab(video);
      const result = hashFrame(part, transfer).then((hash) => {
        frames[k] = { pdq: hash.pdq, quality: hash.quality, frame: planned.frame, time: planned.time };
        structures[k] = hash.structure;
        conversions.add(hash.converted);
        onProgress?.(++done, plan.length);
      });
      pending.push(result);
      if (pending.length >= IN_FLIGHT) await pending.shift();
    }
    while (pending.length) await pending.shift();
    return {
      vpdq: {
        interval,
        frame_rate: Number(track.frameRate.toFixed(6)),
        duration: Number(track.duration.toFixed(3)),
        frames,
      },
      structures,
      misaligned,
      conversions: [...conversions].sort(),
    };
  } finally {
    await Promise.allSettled(pending);
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}
