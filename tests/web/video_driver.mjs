// Test driver for the page's video modules under node (tests/web/test_js_video.py):
//
//   node video_driver.mjs JOB.json
//
// JOB.json: {"plans": [video file paths]}       -> plans: [{frameRate, duration, frames, width, height, plan: [[frame, time]]} | {error}]
//           {"yuv": [{file, width, height, yStride, uStride, vStride, uOffset, vOffset, out}]}
//                                                -> writes packed RGB to each `out`
//           {"round3": [numbers]}                -> round3: [numbers]
import { readFileSync, writeFileSync } from "node:fs";
import { readVideoTrack } from "../../service/web/static/js/mp4.js";
import { samplePlan, round3 } from "../../service/web/static/js/vpdq.js";
import { i420ToRgb } from "../../service/web/static/js/yuv.js";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};
if (job.plans) {
  out.plans = [];
  for (const path of job.plans) {
    try {
      const track = await readVideoTrack(new Blob([readFileSync(path)]));
      const { frameRate, duration, frames, width, height } = track;
      out.plans.push({ frameRate, duration, frames, width, height, plan: samplePlan(track).map((f) => [f.frame, f.time]) });
    } catch (error) {
      out.plans.push({ error: error.code || String(error) });
    }
  }
}
if (job.yuv) {
  for (const item of job.yuv) {
    const bytes = new Uint8Array(readFileSync(item.file));
    const planes = {
      y: bytes,
      u: bytes.subarray(item.uOffset),
      v: bytes.subarray(item.vOffset),
      yStride: item.yStride,
      uStride: item.uStride,
      vStride: item.vStride,
    };
    writeFileSync(item.out, i420ToRgb(planes, item.width, item.height));
  }
}
if (job.round3) out.round3 = job.round3.map(round3);
console.log(JSON.stringify(out));
