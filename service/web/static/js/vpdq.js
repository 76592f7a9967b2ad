// vPDQ's frame selection, as matcher/video/decoding.py and vpdq.py make it: which frames
// of a video are hashed and the time each one is sent with. Pure functions over the
// frame table of mp4.js, so node can test them against Python.
//
// Python keeps every int(interval * frame_rate)-th decoded frame (each one if that is 0),
// numbered from 0, and its time is float32(number) / float32(frame_rate), computed in
// float32, sent rounded to the millisecond (Python's round(x, 3): half to even).

export const DEFAULT_INTERVAL = 1.0;

/** Python's round(x, 3) of a float32 value: correctly rounded, ties to even. */
export function round3(x) {
  // x is a float32, so x * 2000 is exact in float64: an exact tie is an odd integer there.
  const twice = x * 2000;
  if (Number.isInteger(twice) && Math.abs(twice % 2) === 1) {
    const down = (twice - 1) / 2;
    return (down % 2 === 0 ? down : down + 1) / 1000;
  }
  return Number(x.toFixed(3)); // toFixed rounds the exact binary value: correct off ties
}

/** The time Python gives frame `number` at `frameRate`: float32 division, then round3. */
export function frameTime(number, frameRate) {
  return round3(Math.fround(Math.fround(number) / Math.fround(frameRate)));
}

/**
 * The frames to hash: [{frame, time, seek}] where `seek` is a time inside that frame
 * on the <video> element's timeline (half-way to the next frame, away from rounding),
 * and `time` the time Python sends.
 * `track` is mp4.js's readVideoTrack result.
 */
export function samplePlan(track, interval = DEFAULT_INTERVAL) {
  const step = Math.max(1, Math.trunc(interval * track.frameRate));
  const { times } = track;
  const plan = [];
  for (let n = 0; n < track.frames; n += step) {
    const next = n + 1 < times.length ? times[n + 1] : times[n] + 1 / track.frameRate;
    plan.push({ frame: n, time: frameTime(n, track.frameRate), seek: (times[n] + next) / 2, shown: times[n] });
  }
  return plan;
}

/**
 * Why a video cannot be hashed under the service's limits (null if it can):
 * "too_long" (seconds or sampled frames) or "too_large" (pixels a frame).
 * `limits`: {max_video_seconds, max_video_pixels, max_video_frames} from /v1/limits.
 */
export function overLimits(track, plan, limits) {
  if (!limits) return null;
  const seconds = Math.max(track.duration || 0, track.frames / track.frameRate);
  if (seconds > limits.max_video_seconds) return "too_long";
  if (plan.length > limits.max_video_frames) return "too_long";
  if (track.width * track.height > limits.max_video_pixels) return "too_large";
  return null;
}
