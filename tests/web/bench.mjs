// Speed of the browser hashing modules under node (a measurement, not a test).
//
//   node tests/web/bench.mjs [strategy.json]
//
// strategy.json: matcher.groups.DEFAULT_STRATEGY as JSON, e.g.
//   python -c "import json, dataclasses; from matcher.groups import DEFAULT_STRATEGY as s; \
//              print(json.dumps(dataclasses.asdict(s)))" > strategy.json
// Prints milliseconds per image (median of a few runs after a warm-up).
import { readFileSync } from "node:fs";
import { pdqHash, pdqHashDihedral, PdqAccumulator } from "../../service/web/static/js/pdq.js";
import { Md5 } from "../../service/web/static/js/md5.js";
import { bankGroup } from "../../service/web/static/js/group.js";

function photoLike(width, height) {
  // Smooth structure plus noise, RGBA like ImageData.
  const data = new Uint8ClampedArray(width * height * 4);
  let seed = 12345;
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const base = 128 + 60 * Math.sin((x / width) * 7) + 60 * Math.cos((y / height) * 5) + ((seed >>> 24) % 20) - 10;
      data[p] = base;
      data[p + 1] = base * 0.7 + 30;
      data[p + 2] = 255 - base;
      data[p + 3] = 255;
    }
  }
  return { data, width, height };
}

function time(label, runs, fn) {
  fn();
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${samples[samples.length >> 1].toFixed(1).padStart(8)} ms`);
}

const strategy = process.argv[2] ? JSON.parse(readFileSync(process.argv[2], "utf8")) : null;
for (const [w, h, runs] of [[1024, 768, 21], [4000, 3000, 7], [3000, 4000, 7]]) {
  const image = photoLike(w, h);
  time(`pdq ${w}x${h}`, runs, () => pdqHash(image));
  time(`pdq + 8 dihedral ${w}x${h}`, runs, () => pdqHashDihedral(image));
  time(`pdq ${w}x${h}, strips of 256 rows`, runs, () => {
    const acc = new PdqAccumulator(w, h);
    for (let y = 0; y < h; y += 256) {
      const rows = Math.min(256, h - y);
      acc.update(image.data.subarray(y * w * 4, (y + rows) * w * 4), rows);
    }
    acc.digest();
  });
  if (strategy) time(`bank group (${strategy.name}) ${w}x${h}`, Math.min(runs, 3), () => bankGroup(image, strategy));
}
const bytes = new Uint8Array(256 << 20).map((_, i) => i * 7);
time("md5 256 MB in 8 MB chunks", 3, () => {
  const md5 = new Md5();
  for (let at = 0; at < bytes.length; at += 8 << 20) md5.update(bytes.subarray(at, at + (8 << 20)));
  md5.hex();
});
