// The straightforward reference that issue 15 compares whole processes with: what a plain Python
// script with onnxruntime + OpenCV + numpy does, one image at a time, in plain JavaScript (no PyPI
// here): decode, resize to the network, forward, the true class's CAM, bilinear resize to the image
// size, threshold at 20% of the max, the box of the largest 8-connected component. Its model is the
// graph with the class-map tensor already made an output (bench setup writes it, as a Python user
// would with onnx once). Usage: node bench/reference.mjs MODEL.onnx SYNSETS.txt LABELS.csv OUT.json
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'

const [modelFile, synsetsFile, labelsFile, outFile] = process.argv.slice(2)
const classOf = new Map(
  readFileSync(synsetsFile, 'utf8')
    .split(/\r?\n/)
    .filter(Boolean)
    .map((line, i) => [line.split(' ')[0], i]),
)
const rows = readFileSync(labelsFile, 'utf8')
  .trim()
  .split(/\r?\n/)
  .slice(1)
  .map((l) => l.split(','))
const session = await ort.InferenceSession.create(modelFile, { executionProviders: ['cpu'] })
const MEAN_BGR = [104, 117, 123]

// numpy's astype(np.float16): float32 → half bits, round to nearest even.
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
function half(v) {
  f32[0] = v
  const x = u32[0]
  const sign = (x >>> 16) & 0x8000
  const e = ((x >>> 23) & 0xff) - 112
  if (e <= 0) return sign
  let h = (e << 10) | ((x >>> 13) & 0x3ff)
  const rem = x & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++
  return sign | h
}
function fromHalf(h) {
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  const v = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15)
  return h & 0x8000 ? -v : v
}

// cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR): pixel centres aligned.
function resizeLinear(src, sw, sh, w, h) {
  const out = new Float32Array(w * h)
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * (sh / h) - 0.5, 0), sh - 1)
    const y0 = Math.floor(fy)
    const y1 = Math.min(y0 + 1, sh - 1)
    const dy = fy - y0
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * (sw / w) - 0.5, 0), sw - 1)
      const x0 = Math.floor(fx)
      const x1 = Math.min(x0 + 1, sw - 1)
      const dx = fx - x0
      const top = src[y0 * sw + x0] * (1 - dx) + src[y0 * sw + x1] * dx
      const bottom = src[y1 * sw + x0] * (1 - dx) + src[y1 * sw + x1] * dx
      out[y * w + x] = top * (1 - dy) + bottom * dy
    }
  }
  return out
}

// cv2.connectedComponentsWithStats(mask, connectivity=8): the bounding box of the largest one.
function largestBox(mask, w, h) {
  const seen = new Uint8Array(w * h)
  const stack = new Int32Array(w * h)
  let best = null
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || seen[start]) continue
    let top = 0
    stack[top++] = start
    seen[start] = 1
    let area = 0
    let x0 = w
    let y0 = h
    let x1 = 0
    let y1 = 0
    while (top > 0) {
      const i = stack[--top]
      const x = i % w
      const y = (i - x) / w
      area++
      if (x < x0) x0 = x
      if (x > x1) x1 = x
      if (y < y0) y0 = y
      if (y > y1) y1 = y
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx
          const ny = y + dy
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue
          const j = ny * w + nx
          if (mask[j] && !seen[j]) {
            seen[j] = 1
            stack[top++] = j
          }
        }
      }
    }
    if (!best || area > best.area) best = { area, box: [x0, y0, x1 - x0 + 1, y1 - y0 + 1] }
  }
  return best?.box
}

const results = []
for (const [file, label] of rows) {
  const image = path.resolve(path.dirname(labelsFile), file)
  const { width, height } = await sharp(image).metadata()
  const pixels = await sharp(image).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer()
  const input = new Uint16Array(3 * 224 * 224)
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 224 * 224; i++)
      input[c * 224 * 224 + i] = half(pixels[i * 3 + 2 - c] - MEAN_BGR[c])
  }
  const out = await session.run({ data_0: new ort.Tensor('float16', input, [1, 3, 224, 224]) })
  const maps = out.conv10_2
  const [, , mh, mw] = maps.dims
  const k = classOf.get(label)
  const cam = new Float32Array(mh * mw)
  for (let i = 0; i < mh * mw; i++) cam[i] = fromHalf(maps.data[k * mh * mw + i])
  const full = resizeLinear(cam, mw, mh, width, height)
  let max = -Infinity
  for (const v of full) if (v > max) max = v
  const mask = new Uint8Array(full.length)
  for (let i = 0; i < full.length; i++) mask[i] = full[i] >= 0.2 * max ? 1 : 0
  results.push({ file, label, box: max > 0 ? largestBox(mask, width, height) : null })
}
writeFileSync(outFile, JSON.stringify(results))
