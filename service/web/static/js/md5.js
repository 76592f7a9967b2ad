// Streaming MD5 for the victim's browser: the exact-match signal for any file,
// videos included (StopNCII sends MD5 for videos). WebCrypto has no MD5, so it
// is here, in plain JS (RFC 1321). Videos run to hundreds of MB, so the file is
// read in chunks (Blob.slice) and fed through update(); only 64 bytes of state
// are ever buffered. tests/web/test_js_hashing.py compares it with hashlib.

// Per-round shift amounts and the sine-derived constants of RFC 1321.
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;

function asBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("MD5 takes an ArrayBuffer or a typed array");
}

export class Md5 {
  constructor() {
    this.state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.block = new Uint8Array(64); // a partial block carried between updates
    this.blockWords = new Int32Array(16);
    this.pending = 0;
    this.length = 0; // bytes hashed so far (exact up to 2^53)
    this.finished = null;
  }

  /** Hash more bytes: an ArrayBuffer or any typed array view, of any size. */
  update(chunk) {
    if (this.finished) throw new Error("MD5 already finalised");
    const bytes = asBytes(chunk);
    this.length += bytes.length;
    let at = 0;
    if (this.pending) {
      const take = Math.min(64 - this.pending, bytes.length);
      this.block.set(bytes.subarray(0, take), this.pending);
      this.pending += take;
      at = take;
      if (this.pending < 64) return this;
      this._compress(this.block, 0);
      this.pending = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this._compress(bytes, at);
    if (at < bytes.length) {
      this.block.set(bytes.subarray(at), 0);
      this.pending = bytes.length - at;
    }
    return this;
  }

  /** The 16-byte digest (finalises the hash; further calls return the same digest). */
  digest() {
    if (this.finished) return this.finished.slice();
    const bitsLow = (this.length * 8) >>> 0;
    const bitsHigh = Math.floor(this.length / 2 ** 29) >>> 0;
    const tail = new Uint8Array(this.pending < 56 ? 64 : 128);
    tail.set(this.block.subarray(0, this.pending));
    tail[this.pending] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, bitsLow, true);
    view.setUint32(tail.length - 4, bitsHigh, true);
    for (let at = 0; at < tail.length; at += 64) this._compress(tail, at);
    const out = new Uint8Array(16);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 4; i++) outView.setInt32(i * 4, this.state[i], true);
    this.finished = out;
    return out.slice();
  }

  /** The digest as 32 lowercase hex digits, like Python's hashlib.md5().hexdigest(). */
  hex() {
    let s = "";
    for (const b of this.digest()) s += b.toString(16).padStart(2, "0");
    return s;
  }

  _compress(bytes, at) {
    const x = this.blockWords;
    for (let i = 0; i < 16; i++) {
      const p = at + i * 4;
      x[i] = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
    }
    const s = this.state;
    let a = s[0];
    let b = s[1];
    let c = s[2];
    let d = s[3];
    for (let i = 0; i < 64; i++) {
      let f;
      let g;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const sum = (a + f + K[i] + x[g]) | 0;
      const shift = SHIFTS[((i >> 4) << 2) | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    s[0] = (s[0] + a) | 0;
    s[1] = (s[1] + b) | 0;
    s[2] = (s[2] + c) | 0;
    s[3] = (s[3] + d) | 0;
  }
}

/** MD5 of bytes already in memory, as hex. */
export function md5Hex(bytes) {
  return new Md5().update(bytes).hex();
}

/**
 * MD5 of a Blob or File (as hex), read in `chunkSize` slices so a large video
 * never sits in memory whole. `onProgress(doneBytes, totalBytes)` after each slice.
 */
export async function md5Blob(blob, { chunkSize = 8 << 20, onProgress } = {}) {
  const md5 = new Md5();
  for (let at = 0; at < blob.size; at += chunkSize) {
    md5.update(await blob.slice(at, at + chunkSize).arrayBuffer());
    if (onProgress) onProgress(Math.min(at + chunkSize, blob.size), blob.size);
  }
  return md5.hex();
}

/** SHA-256 of a Blob or bytes (as hex), through WebCrypto (needs a secure context). */
export async function sha256Hex(blobOrBytes) {
  const bytes = typeof Blob !== "undefined" && blobOrBytes instanceof Blob ? await blobOrBytes.arrayBuffer() : blobOrBytes;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let s = "";
  for (const b of digest) s += b.toString(16).padStart(2, "0");
  return s;
}
