// YUV 4:2:0 to RGB as vPDQ's frames are made: FFmpeg's swscale converting a decoded frame
// to rgb24 under ITU-R BT.601 limited range, whatever the video's own colour tags
// (matcher/video/decoding.py asks for exactly that, as Meta's vpdq does).
//
// A canvas would convert with the browser's choice instead (Chromium takes BT.709 for
// untagged HD video, and interpolates the chroma), which moves 720p frames' PDQ by up to
// 6 bits; converting the decoder's own planes here gives Python's pixels.
//
// The arithmetic is swscale's unscaled fixed-point path as PyAV runs it on x86-64: each
// chroma sample covers its 2x2 pixels (no interpolation); the coefficients are BT.601's
// (1.164383, 1.596027, 0.391762, 0.812968, 2.017232) in units of 1/8192; each term is
// (8 * (sample - offset) * coefficient) >> 16, truncated on its own; the sum is clamped
// to 0-255. Checked against PyAV's rgb24 on 315,373 distinct (Y, U, V) triples of
// synthetic H.264 frames: equal on every one (tests/web/test_js_video.py checks it on
// each run). A build of FFmpeg with another conversion path (another CPU) may round
// differently by one step on some pixels: PDQ then moves by a bit or two, no more.

const CY = 9539; // 1.164383 * 8192
const CRV = 13075; // 1.596027 * 8192
const CGU = 3209; // 0.391762 * 8192
const CGV = 6660; // 0.812968 * 8192
const CBU = 16525; // 2.017232 * 8192

/** Math.floor(x / 65536) for the integers here (|x| < 2^31): an arithmetic shift. */
const shr16 = (x) => x >> 16;

/**
 * Packed RGB (Uint8Array, width * height * 3) of an 8-bit 4:2:0 frame.
 * `planes`: {y, u, v} (Uint8Array views) and {yStride, uStride, vStride} in bytes.
 */
export function i420ToRgb({ y, u, v, yStride, uStride, vStride }, width, height) {
  const out = new Uint8Array(width * height * 3);
  const luma = new Int32Array(256);
  const red = new Int32Array(256);
  const greenU = new Int32Array(256);
  const greenV = new Int32Array(256);
  const blue = new Int32Array(256);
  for (let k = 0; k < 256; k++) {
    luma[k] = shr16(CY * (8 * k - 128));
    red[k] = shr16(CRV * (8 * k - 1024));
    greenU[k] = shr16(-CGU * (8 * k - 1024));
    greenV[k] = shr16(-CGV * (8 * k - 1024));
    blue[k] = shr16(CBU * (8 * k - 1024));
  }
  const clamp = (x) => (x < 0 ? 0 : x > 255 ? 255 : x);
  let o = 0;
  for (let row = 0; row < height; row++) {
    const yRow = row * yStride;
    const cRowU = (row >> 1) * uStride;
    const cRowV = (row >> 1) * vStride;
    for (let col = 0; col < width; col++) {
      const l = luma[y[yRow + col]];
      const cu = u[cRowU + (col >> 1)];
      const cv = v[cRowV + (col >> 1)];
      out[o++] = clamp(l + red[cv]);
      out[o++] = clamp(l + greenU[cu] + greenV[cv]);
      out[o++] = clamp(l + blue[cu]);
    }
  }
  return out;
}

/**
 * Packed RGB of a WebCodecs VideoFrame in I420 (or I420A), converted as above;
 * null for any other layout (NV12 from a hardware decoder, 10-bit, RGB), which the
 * caller draws on a canvas instead.
 */
export async function videoFrameToRgb(frame) {
  if (frame.format !== "I420" && frame.format !== "I420A") return null;
  const { width, height } = frame.visibleRect;
  const buffer = new Uint8Array(frame.allocationSize());
  const [yPlane, uPlane, vPlane] = await frame.copyTo(buffer);
  const planes = {
    y: buffer.subarray(yPlane.offset),
    u: buffer.subarray(uPlane.offset),
    v: buffer.subarray(vPlane.offset),
    yStride: yPlane.stride,
    uStride: uPlane.stride,
    vStride: vPlane.stride,
  };
  return { data: i420ToRgb(planes, width, height), width, height };
}
