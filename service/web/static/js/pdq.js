// PDQ, Meta's 256-bit perceptual hash, in the victim's browser.
//
// The photo never leaves the device, so the hash the page sends must be the
// hash the server side would have computed from the same pixels: this module
// follows matcher/pdq.py (itself equal to Meta's C++ reference) step for step,
// and tests/web/test_js_hashing.py checks it bit for bit against Python.
//
// The algorithm (see matcher/pdq.py for the derivation):
//   1. luma Y = 0.299 R + 0.587 G + 0.114 B;
//   2. two Jarosz box-filter passes per axis, window ceil(n / 128), with the
//      reference's shrinking windows at the edges;
//   3. decimation to 64x64 at int((i + 0.5) * n / 64);
//   4. quality from the 64x64 gradients (and, uncapped, the *structure* the
//      matching policy bands pairs by), a 16x16 DCT, one bit per coefficient
//      above the lower median.
// Steps 1-3 are linear and separable: per axis a banded 64 x n operator. Rows
// are streamed through the row operator (each input row touches one or two
// output rows), so an image can be fed in strips and nothing of full-image size
// is allocated here; the column operator then works on a 64 x 3W buffer.
//
// Plain ES module, no dependencies: browsers, Web Workers and node >= 20.

export const HASH_BITS = 256;
/** Hamming distance at or below which two PDQ hashes are the same picture. */
export const DEFAULT_THRESHOLD = 31;
/** Below this quality a hash carries too little structure to match safely. */
export const MIN_QUALITY = 50;
/** Thinner images hash to all zeros with quality (and structure) 0, as in the reference. */
export const MIN_HASHABLE_DIM = 5;
/** Order of the dihedral variants, as in the reference and matcher.pdq. */
export const DIHEDRAL_NAMES = Object.freeze([
  "original", "rotate90", "rotate180", "rotate270",
  "flipx", "flipy", "flip_plus1", "flip_minus1",
]);

const OUT = 64; // the downsampled buffer is OUT x OUT
const DCT = 16;
const LUMA = [0.299, 0.587, 0.114];

/** Full box-filter window the reference uses for an axis of `length` pixels. */
export function jaroszWindow(length) {
  return Math.floor((length + 2 * OUT - 1) / (2 * OUT));
}

/**
 * Exact weights of two box passes followed by decimation along one axis,
 * banded: output k reads inputs start[k] .. end[k] - 1 with weights
 * weight[k * band + (i - start[k])]. Computed in the same float64 operations,
 * in the same order, as matcher.pdq._axis_operator, so the weights are equal
 * to the last bit.
 */
function axisOperator(length) {
  const window = jaroszWindow(length);
  const half = (window + 2) >> 1;
  const lo = new Int32Array(length);
  const hi = new Int32Array(length);
  for (let o = 0; o < length; o++) {
    lo[o] = Math.max(o - (window - half), 0);
    hi[o] = Math.min(o + half, length);
  }
  const start = new Int32Array(OUT);
  const end = new Int32Array(OUT);
  let band = 0;
  for (let k = 0; k < OUT; k++) {
    const s = Math.floor(((k + 0.5) * length) / OUT);
    start[k] = lo[lo[s]];
    end[k] = hi[hi[s] - 1];
    band = Math.max(band, end[k] - start[k]);
  }
  const weight = new Float64Array(OUT * band);
  const diff = new Float64Array(length + 1);
  for (let k = 0; k < OUT; k++) {
    const s = Math.floor(((k + 0.5) * length) / OUT);
    const countS = hi[s] - lo[s];
    // Difference array, adds then subtractions, as numpy's add.at does them.
    diff.fill(0, start[k], end[k] + 1);
    for (let m = lo[s]; m < hi[s]; m++) diff[lo[m]] += 1.0 / countS / (hi[m] - lo[m]);
    for (let m = lo[s]; m < hi[s]; m++) diff[hi[m]] += -(1.0 / countS / (hi[m] - lo[m]));
    let running = 0;
    for (let i = start[k]; i < end[k]; i++) {
      running += diff[i];
      weight[k * band + (i - start[k])] = running;
    }
  }
  return { start, end, band, weight };
}

/**
 * Streaming PDQ: feed the image top to bottom in strips of whole rows
 * (RGBA like ImageData, or packed RGB), then ask for the hash.
 *
 *   const acc = new PdqAccumulator(width, height);
 *   acc.update(strip.data, rowsInStrip);   // as many times as needed
 *   const { hex, quality, structure } = acc.digest();
 *
 * Alpha is ignored: composite transparent images onto white first, as
 * matcher.loading does, or the hashes will not match the server's.
 */
export class PdqAccumulator {
  constructor(width, height) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new RangeError("PDQ needs a positive integer width and height");
    }
    this.width = width;
    this.height = height;
    this.row = 0; // next input row expected
    this.tooSmall = Math.min(width, height) < MIN_HASHABLE_DIM;
    if (this.tooSmall) return;
    const rows = axisOperator(height);
    // Each input row contributes to a contiguous range of output rows.
    this.firstOut = new Int32Array(height).fill(OUT);
    this.lastOut = new Int32Array(height).fill(-1);
    for (let k = 0; k < OUT; k++) {
      for (let i = rows.start[k]; i < rows.end[k]; i++) {
        this.firstOut[i] = Math.min(this.firstOut[i], k);
        this.lastOut[i] = Math.max(this.lastOut[i], k);
      }
    }
    // The Python side runs this pass in float32 (weights rounded to float32);
    // products of float32 weights and bytes are exact in float64, so summing
    // them in float64 and rounding once lands on, or next to, its result.
    this.rowOp = { start: rows.start, band: rows.band, weight: Float32Array.from(rows.weight) };
    this.acc = new Float64Array(OUT * width * 3);
  }

  /** Add `rows` whole rows of pixels; `data` holds exactly rows * width * (4 or 3) bytes. */
  update(data, rows) {
    if (rows === undefined) rows = Math.floor(data.length / (this.width * 4));
    const channels = data.length / (rows * this.width);
    if (channels !== 4 && channels !== 3) {
      throw new RangeError("a strip must hold rows * width RGBA (or RGB) pixels");
    }
    if (this.row + rows > this.height) throw new RangeError("more rows than the image height");
    this.reduced = null;
    if (this.tooSmall) {
      this.row += rows;
      return this;
    }
    const { width, acc, firstOut, lastOut } = this;
    const { start, band, weight } = this.rowOp;
    const stride = width * 3;
    for (let r = 0; r < rows; r++) {
      const y = this.row + r;
      const src = r * width * channels;
      for (let k = firstOut[y]; k <= lastOut[y]; k++) {
        const w = weight[k * band + (y - start[k])];
        if (w === 0) continue;
        let dst = k * stride;
        let p = src;
        if (channels === 4) {
          for (let x = 0; x < width; x++, p += 4, dst += 3) {
            acc[dst] += w * data[p];
            acc[dst + 1] += w * data[p + 1];
            acc[dst + 2] += w * data[p + 2];
          }
        } else {
          for (let x = 0; x < stride; x++) acc[dst + x] += w * data[p + x];
        }
      }
    }
    this.row += rows;
    return this;
  }

  /**
   * The 16x16 DCT coefficients (row-major Float64Array), the quality and the
   * structure (the quality uncapped, matcher.pdq._structure).
   * `x0`, `x1` hash only columns x0 .. x1 - 1: the row pass is per column, so
   * one accumulator serves every crop of the same rows, exactly as if the crop
   * had been fed on its own (the hash groups use this).
   */
  coefficients(x0 = 0, x1 = this.width) {
    if (this.row !== this.height) throw new Error(`only ${this.row} of ${this.height} rows were given`);
    if (!(Number.isInteger(x0) && Number.isInteger(x1) && x0 >= 0 && x1 <= this.width && x0 < x1)) {
      throw new RangeError("columns must satisfy 0 <= x0 < x1 <= width");
    }
    if (this.tooSmall || x1 - x0 < MIN_HASHABLE_DIM) {
      return { coefficients: new Float64Array(DCT * DCT), quality: 0, structure: 0 };
    }
    const buffer = this._columns(x0, x1);
    const s = structure(buffer);
    return { coefficients: dct2(buffer), quality: qualityOf(s), structure: s };
  }

  /**
   * `{hex, quality, structure}`: the 64-hex PDQ string (same bit order as Python),
   * quality 0-100 and structure (uncapped, an integer >= 0).
   */
  digest(x0 = 0, x1 = this.width) {
    const { coefficients, quality: q, structure: s } = this.coefficients(x0, x1);
    return { hex: toHex(bitsOf(coefficients)), quality: q, structure: s };
  }

  /** `{hexes, names, quality, structure}`: the 8 dihedral hashes in DIHEDRAL_NAMES order. */
  digestDihedral(x0 = 0, x1 = this.width) {
    const { coefficients, quality: q, structure: s } = this.coefficients(x0, x1);
    return {
      hexes: dihedralCoefficients(coefficients).map((c) => toHex(bitsOf(c))),
      names: DIHEDRAL_NAMES,
      quality: q,
      structure: s,
    };
  }

  // The column pass over columns x0 .. x1 - 1, luma folded in:
  // 64 x 3W (float32-rounded) -> 64 x 64 float64.
  _columns(x0, x1) {
    const { width, acc } = this;
    const cols = axisOperator(x1 - x0);
    const stride = width * 3;
    // The float32 step of the Python side, done once per accumulator.
    if (!this.reduced) this.reduced = Float32Array.from(acc);
    const reduced = this.reduced;
    const out = new Float64Array(OUT * OUT);
    const w3 = new Float64Array(cols.band * 3);
    for (let k = 0; k < OUT; k++) {
      const n = cols.end[k] - cols.start[k];
      for (let s = 0; s < n; s++) {
        for (let c = 0; c < 3; c++) w3[s * 3 + c] = cols.weight[k * cols.band + s] * LUMA[c];
      }
      const base = (x0 + cols.start[k]) * 3;
      for (let r = 0; r < OUT; r++) {
        let sum = 0;
        const row = r * stride + base;
        for (let j = 0; j < n * 3; j++) sum += reduced[row + j] * w3[j];
        out[r * OUT + k] = sum;
      }
    }
    return out;
  }
}

let dctMatrix = null;
function getDct() {
  if (dctMatrix) return dctMatrix;
  dctMatrix = new Float64Array(DCT * OUT);
  const scale = Math.sqrt(2.0 / OUT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < OUT; j++) {
      dctMatrix[i * OUT + j] = scale * Math.cos(((Math.PI / 2 / OUT) * (i + 1)) * (2 * j + 1));
    }
  }
  return dctMatrix;
}

/** D @ B @ D.T for the 64x64 buffer B: the 16x16 low-frequency block. */
function dct2(buffer) {
  const d = getDct();
  const tmp = new Float64Array(DCT * OUT);
  for (let i = 0; i < DCT; i++) {
    for (let c = 0; c < OUT; c++) {
      let sum = 0;
      for (let r = 0; r < OUT; r++) sum += d[i * OUT + r] * buffer[r * OUT + c];
      tmp[i * OUT + c] = sum;
    }
  }
  const out = new Float64Array(DCT * DCT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      let sum = 0;
      for (let c = 0; c < OUT; c++) sum += tmp[i * OUT + c] * d[j * OUT + c];
      out[i * DCT + j] = sum;
    }
  }
  return out;
}

/**
 * Gradient energy of the 64x64 buffer with the reference's float32 truncations,
 * uncapped (matcher.pdq._structure): PDQ's quality is this capped at 100. The
 * truncated terms are integers of at most 100 and there are 8064 of them, so
 * their sum is exact both here and in Python's float32 sum.
 */
function structure(buffer) {
  const f = Math.fround;
  const b = Float32Array.from(buffer);
  const hundred = f(100);
  const scale = f(255);
  let total = 0;
  for (let i = 0; i < OUT - 1; i++) {
    for (let j = 0; j < OUT; j++) {
      total += Math.abs(Math.trunc(f(f(f(b[i * OUT + j] - b[(i + 1) * OUT + j]) * hundred) / scale)));
    }
  }
  for (let i = 0; i < OUT; i++) {
    for (let j = 0; j < OUT - 1; j++) {
      total += Math.abs(Math.trunc(f(f(f(b[i * OUT + j] - b[i * OUT + j + 1]) * hundred) / scale)));
    }
  }
  return Math.floor(total / 90);
}

/** PDQ's quality (0-100) from the uncapped structure, as matcher.pdq.quality_of. */
export function qualityOf(structure) {
  return Math.min(structure, 100);
}

/**
 * Packed 32-byte hash: bit k (k = 16 i + j) is set where coefficient k is above
 * the lower median (the 128th smallest); bit 255 is the most significant bit of
 * byte 0, so the hex string reads as Python's bytes(code).hex().
 */
function bitsOf(coefficients) {
  const sorted = Float64Array.from(coefficients).sort();
  const median = sorted[HASH_BITS / 2 - 1];
  const bytes = new Uint8Array(HASH_BITS / 8);
  for (let k = 0; k < HASH_BITS; k++) {
    if (coefficients[k] > median) {
      const position = HASH_BITS - 1 - k;
      bytes[position >> 3] |= 0x80 >> (position & 7);
    }
  }
  return bytes;
}

/**
 * The 8 dihedral variants of the 16x16 block, without re-hashing pixels:
 * mirroring an axis negates its odd-frequency coefficients (row index 0 is
 * frequency 1), a transpose swaps the axes. Same order as matcher.pdq.
 */
function dihedralCoefficients(c) {
  const sign = (i) => (i % 2 === 0 ? -1 : 1);
  const make = (f) => {
    const out = new Float64Array(DCT * DCT);
    for (let i = 0; i < DCT; i++) for (let j = 0; j < DCT; j++) out[i * DCT + j] = f(i, j);
    return out;
  };
  const at = (i, j) => c[i * DCT + j];
  return [
    make((i, j) => at(i, j)), // original
    make((i, j) => at(j, i) * sign(i)), // rotate 90: mirrored columns, transposed
    make((i, j) => at(i, j) * sign(i) * sign(j)), // rotate 180
    make((i, j) => at(j, i) * sign(j)), // rotate 270: mirrored rows, transposed
    make((i, j) => at(i, j) * sign(i)), // flip x (top <-> bottom)
    make((i, j) => at(i, j) * sign(j)), // flip y (left <-> right)
    make((i, j) => at(j, i)), // flip +1 (transpose)
    make((i, j) => at(j, i) * sign(i) * sign(j)), // flip -1 (anti-transpose)
  ];
}

export function toHex(bytes) {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

function accumulate(image) {
  const { data, width, height } = image;
  return new PdqAccumulator(width, height).update(data, height);
}

/** PDQ of ImageData-like pixels `{data, width, height}` (RGBA, or packed RGB): `{hex, quality, structure}`. */
export function pdqHash(image) {
  return accumulate(image).digest();
}

/** The 8 dihedral PDQ hashes of ImageData-like pixels: `{hexes, names, quality, structure}`. */
export function pdqHashDihedral(image) {
  return accumulate(image).digestDihedral();
}

/** Hamming distance of two 64-hex PDQ strings. */
export function hammingDistance(hexA, hexB) {
  if (hexA.length !== hexB.length) throw new RangeError("hashes of different lengths");
  let d = 0;
  for (let i = 0; i < hexA.length; i += 8) {
    let x = (parseInt(hexA.slice(i, i + 8), 16) ^ parseInt(hexB.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      x &= x - 1;
      d++;
    }
  }
  return d;
}
