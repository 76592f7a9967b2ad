// Test driver: runs the browser hashing modules under node on raw pixels and
// bytes written by test_js_hashing.py, and prints the results as JSON.
//
//   node driver.mjs JOB.json
//
// JOB.json: {"pdq": [{file, offset, width, height, channels}], "md5": [{file, chunks: [sizes]}],
//            (out: pdq [{hexes, quality, structure, single: digest()}], helpers: pdqHash and
//            pdqHashDihedral of the first image)
//            "groups": {strategy: <dataclasses.asdict(Strategy)>, images: [{file, offset, width, height, channels}]},
//            "primitives": [{op: crop|reduce|rotate|trim, image, box, angle, maxSide}]}
import { readFileSync } from "node:fs";
import { PdqAccumulator, pdqHash, pdqHashDihedral } from "../../service/web/static/js/pdq.js";
import { Md5 } from "../../service/web/static/js/md5.js";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const files = new Map();
function bytesOf(file) {
  if (!files.has(file)) files.set(file, new Uint8Array(readFileSync(file)));
  return files.get(file);
}
function pixels({ file, offset = 0, width, height, channels = 4 }) {
  const data = bytesOf(file).subarray(offset, offset + width * height * channels);
  return { data, width, height };
}

const out = {};
if (job.pdq) {
  // The top-level helpers on the first image (each re-runs the row pass), then one
  // accumulator per image for both digests.
  out.helpers = job.pdq.slice(0, 1).map((item) => ({ single: pdqHash(pixels(item)), dihedral: pdqHashDihedral(pixels(item)) }));
  out.pdq = job.pdq.map((item) => {
    const image = pixels(item);
    const acc = new PdqAccumulator(image.width, image.height).update(image.data, image.height);
    const { hexes, quality, structure } = acc.digestDihedral();
    const single = acc.digest();
    return { hexes, quality, structure, single };
  });
}
if (job.md5) {
  out.md5 = job.md5.map(({ file, chunks }) => {
    const bytes = bytesOf(file);
    const md5 = new Md5();
    let at = 0;
    for (const size of chunks) {
      // Feed ArrayBuffers, as Blob.slice().arrayBuffer() gives them.
      md5.update(bytes.slice(at, at + size).buffer);
      at += size;
    }
    md5.update(bytes.subarray(at));
    return md5.hex();
  });
}
if (job.groups) {
  const { bankGroup } = await import("../../service/web/static/js/group.js");
  out.groups = job.groups.images.map((item) => bankGroup(pixels(item), job.groups.strategy));
}
if (job.primitives) {
  const g = await import("../../service/web/static/js/group.js");
  out.primitives = job.primitives.map(({ op, image, box, angle, maxSide }) => {
    const img = pixels(image);
    if (op === "trim") return { box: g.trimBox(img) };
    const res = op === "crop" ? g.crop(img, box) : op === "reduce" ? g.reduceToWorkingSize(img, maxSide) : g.rotateBilinear(img, angle, box);
    return { width: res.width, height: res.height, data: Buffer.from(res.data.buffer, res.data.byteOffset, res.data.byteLength).toString("base64") };
  });
}
process.stdout.write(JSON.stringify(out));
