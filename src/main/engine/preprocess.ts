/**
 * Image → network input, with sharp (libvips). One module owns decoding, so every image the engine
 * sees went through the same checks: a byte budget and a pixel budget read from the header before
 * anything is decoded, EXIF orientation, alpha flattened onto white, any colour space or bit depth
 * converted to 8-bit sRGB.
 *
 * Resize: sharp's `linear` kernel with `fit: 'fill'` (aspect ratio not kept, as the models were
 * trained). The Python reference used OpenCV INTER_LINEAR, which samples only the 2×2 nearest source
 * pixels; libvips widens the kernel when shrinking (anti-aliasing). For the 227→224 ImageNet photos
 * the two differ by 0.37/255 on average (at most 5/255); for a 650×417 photo shrunk to 224 by about
 * 2/255 on average, where libvips is the less aliased of the two.
 *
 * Truncated files: refused with IMAGE_UNREADABLE (libvips' `failOn: 'truncated'`), not decoded
 * partially: a half-grey photo would give confident-looking boxes over missing pixels. Other decoder
 * warnings (stray bytes, odd markers, common in camera JPEGs) are tolerated.
 */
import { readFile, stat } from 'node:fs/promises'
import sharp from 'sharp'
import type { Metadata, OutputInfo, Sharp, SharpOptions } from 'sharp'
import { IMAGE_FORMAT_NAMES } from '../formats/paths.ts'
import { CamlabelError, invalidParameter } from '../../shared/errors.ts'
import { toHalf } from './float16.ts'
import type { Preprocessing } from './types.ts'
import { workingSize } from '../../shared/cam/upscale.ts'

/** Bumped whenever this module's output for the same input changes (part of the revision stamp). */
export const PREPROCESS_VERSION = 1

export const DEFAULT_MAX_PIXELS = 100_000_000
export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024

export interface PrepareOptions {
  /** Refuse images with more pixels than this, read from the header before decoding. */
  maxPixels?: number
  /** Refuse files larger than this many bytes before reading them. */
  maxBytes?: number
  /** When given, also return the RGB image at workingSize(w, h, guideSize) (for guided upscaling). */
  guideSize?: number
  /** A name for messages when `input` is a Buffer. */
  name?: string
}

export interface PreparedImage {
  /** Size as displayed, after EXIF orientation. */
  width: number
  height: number
  /** NCHW; Uint16Array holds float16 bit patterns when the model's input is float16. */
  tensor: Float32Array | Uint16Array
  dims: [1, 3, number, number]
  /** Things the user may want to know (converted colour space, extreme aspect ratio, …). */
  warnings: string[]
  /** RGB interleaved, 8-bit, at workingSize(width, height, guideSize). */
  guide?: { data: Uint8Array; width: number; height: number }
}

const WHITE = { r: 255, g: 255, b: 255 }

const UNREADABLE_HINT =
  `Check that the file is a complete ${IMAGE_FORMAT_NAMES} image (copy or export it ` +
  'again); the other images are processed.'
const TOO_LARGE_HINT =
  'Downscale the image, or raise the pixel limit if this machine has the memory for it.'

/**
 * Decodes one image and turns it into the model's input tensor. Throws CamlabelError:
 * IMAGE_TOO_LARGE (over the byte or pixel budget, checked before decoding), NOT_FOUND (no such
 * file), IMAGE_UNREADABLE (empty, not an image, truncated or corrupt).
 */
export async function prepareImage(
  input: string | Buffer,
  pre: Preprocessing,
  opts: PrepareOptions = {},
): Promise<PreparedImage> {
  checkPreprocessing(pre)
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
  const name = typeof input === 'string' ? input : (opts.name ?? 'image')
  const buffer = await readInput(input, name, maxBytes)
  const meta = await readHeader(buffer, name)
  const { width, height } = meta
  if (width * height > maxPixels) {
    throw new CamlabelError(
      'IMAGE_TOO_LARGE',
      `${name}: ${width}×${height} pixels is over the limit of ${formatMegapixels(maxPixels)}`,
      TOO_LARGE_HINT,
    )
  }

  const decodeOptions = { limitInputPixels: maxPixels, failOn: 'truncated' } as const
  const base =
    meta.depth === 'ushort'
      ? await sixteenBitTo8(buffer, decodeOptions, meta, name)
      : sharp(buffer, decodeOptions).rotate().flatten({ background: WHITE }).toColourspace('srgb')
  const guideDims = opts.guideSize ? workingSize(width, height, opts.guideSize) : undefined
  let decoded: { data: Buffer; info: OutputInfo }
  let guideDecoded: { data: Buffer; info: OutputInfo } | undefined
  try {
    if (guideDims && guideDims.width === width && guideDims.height === height) {
      // The guide is the whole image: decode it once and resize those pixels for the network.
      // Byte-identical to resizing from the file on every shared photo; only a JPEG over twice the
      // network's size on both sides (448–512 px here) could differ, by libvips' shrink-on-load.
      guideDecoded = await base.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
      const { info } = guideDecoded
      decoded = await sharp(guideDecoded.data, {
        raw: { width: info.width, height: info.height, channels: info.channels },
      })
        .resize(pre.width, pre.height, { fit: 'fill', kernel: 'linear' })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true })
    } else {
      const network = base
        .clone()
        .resize(pre.width, pre.height, { fit: 'fill', kernel: 'linear' })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true })
      const guide = guideDims
        ? base
            .clone()
            .resize(guideDims.width, guideDims.height, { fit: 'fill', kernel: 'linear' })
            .raw({ depth: 'uchar' })
            .toBuffer({ resolveWithObject: true })
        : undefined
      ;[decoded, guideDecoded] = await Promise.all([network, guide])
    }
  } catch (err) {
    throw decodeError(err, name)
  }

  const tensor = toTensor(decoded.data, decoded.info.channels, pre)
  const result: PreparedImage = {
    width,
    height,
    tensor,
    dims: [1, 3, pre.height, pre.width],
    warnings: meta.warnings,
  }
  if (guideDecoded) {
    result.guide = {
      data: toRgb(guideDecoded.data, guideDecoded.info.channels),
      width: guideDecoded.info.width,
      height: guideDecoded.info.height,
    }
  }
  return result
}

/**
 * The size of an image as displayed (EXIF orientation applied), from its header only: cheap enough
 * for importing thousands of files. Throws like prepareImage for missing or unreadable files.
 */
export async function decodeForDisplaySize(
  path: string,
): Promise<{ width: number; height: number }> {
  const buffer = await readInput(path, path, DEFAULT_MAX_BYTES)
  const { width, height } = await readHeader(buffer, path)
  return { width, height }
}

function checkPreprocessing(pre: Preprocessing): void {
  for (const key of ['width', 'height'] as const) {
    if (!Number.isInteger(pre[key]) || pre[key] < 1 || pre[key] > 8192) {
      throw invalidParameter(`preprocessing.${key}`, 'an integer in 1..8192', pre[key])
    }
  }
  if (pre.channelOrder !== 'RGB' && pre.channelOrder !== 'BGR') {
    throw invalidParameter('preprocessing.channelOrder', "'RGB' or 'BGR'", pre.channelOrder)
  }
  if (!Number.isFinite(pre.scale))
    throw invalidParameter('preprocessing.scale', 'a number', pre.scale)
  for (let c = 0; c < 3; c++) {
    if (!Number.isFinite(pre.mean[c]))
      throw invalidParameter('preprocessing.mean', '3 numbers', pre.mean)
    if (!Number.isFinite(pre.std[c]) || pre.std[c] === 0) {
      throw invalidParameter('preprocessing.std', '3 non-zero numbers', pre.std)
    }
  }
  if (pre.dtype !== 'float32' && pre.dtype !== 'float16') {
    throw invalidParameter('preprocessing.dtype', "'float32' or 'float16'", pre.dtype)
  }
}

async function readInput(input: string | Buffer, name: string, maxBytes: number): Promise<Buffer> {
  let size: number
  if (typeof input === 'string') {
    try {
      const s = await stat(input)
      if (!s.isFile()) throw unreadable(name, 'not a file')
      size = s.size
    } catch (err) {
      if (err instanceof CamlabelError) throw err
      throw fileError(err, name)
    }
  } else {
    size = input.length
  }
  if (size === 0) throw unreadable(name, 'the file is empty (0 bytes)')
  if (size > maxBytes) {
    throw new CamlabelError(
      'IMAGE_TOO_LARGE',
      `${name}: the file is ${formatBytes(size)}, over the limit of ${formatBytes(maxBytes)}`,
      TOO_LARGE_HINT,
    )
  }
  if (typeof input !== 'string') return input
  try {
    return await readFile(input)
  } catch (err) {
    throw fileError(err, name)
  }
}

/** Reads the header: displayed size and what the decode will have to convert. */
async function readHeader(
  buffer: Buffer,
  name: string,
): Promise<{
  width: number
  height: number
  warnings: string[]
  depth?: string | undefined
  channels?: number | undefined
}> {
  let meta: Metadata
  try {
    // Header only (no pixel decode), so no pixel limit here: the limit is checked by the caller
    // with the real size in the message, and again by libvips when decoding.
    meta = await sharp(buffer, { limitInputPixels: false }).metadata()
  } catch (err) {
    throw decodeError(err, name)
  }
  if (!meta.width || !meta.height) throw unreadable(name, 'the image has no size in its header')
  const swap = (meta.orientation ?? 1) >= 5
  const width = meta.autoOrient?.width ?? (swap ? meta.height : meta.width)
  const height = meta.autoOrient?.height ?? (swap ? meta.width : meta.height)
  const warnings: string[] = []
  if (meta.space === 'cmyk') warnings.push('converted from CMYK to sRGB')
  if (meta.depth && meta.depth !== 'uchar' && meta.depth !== 'char' && meta.depth !== 'ushort') {
    warnings.push(`${meta.depth} samples converted to 8-bit`)
  }
  if ((meta.pages ?? 1) > 1) warnings.push(`only the first of ${meta.pages} pages is used`)
  if (Math.min(width, height) < 8) {
    warnings.push(`the image is only ${width}×${height} pixels: its boxes cannot be precise`)
  }
  const aspect = Math.max(width, height) / Math.min(width, height)
  if (aspect > 10) {
    warnings.push(
      `aspect ratio ${Math.round(aspect)}:1 is squeezed into the model's square input: ` +
        'boxes may be coarse',
    )
  }
  return { width, height, warnings, depth: meta.depth, channels: meta.channels }
}

/**
 * 16-bit images, decoded at full size in 16 bits and reduced to 8 bits here rather than by libvips
 * (which keeps the top 8 bits). Many 16-bit files hold fewer significant bits: 12-bit sensor or
 * microscope data, or 8-bit values written into a 16-bit container (bad-inputs/sixteen-bit.png has
 * a max of 246/65535), which a plain >> 8 turns into a black image. So the samples are scaled as
 * n-bit data, n the smallest of 8, 10, 12, 14, 16 that holds the image's max, with a warning.
 */
async function sixteenBitTo8(
  buffer: Buffer,
  decodeOptions: SharpOptions,
  meta: { channels?: number | undefined; warnings: string[] },
  name: string,
): Promise<Sharp> {
  let decoded: { data: Buffer; info: OutputInfo }
  try {
    decoded = await sharp(buffer, decodeOptions)
      .rotate()
      .flatten({ background: WHITE })
      .toColourspace((meta.channels ?? 3) >= 3 ? 'rgb16' : 'grey16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true })
  } catch (err) {
    throw decodeError(err, name)
  }
  const { data, info } = decoded
  const bytes = data.byteOffset % 2 === 0 ? data : Buffer.from(data)
  const samples = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
  let max = 0
  for (let i = 0; i < samples.length; i++) if (samples[i]! > max) max = samples[i]!
  const bits = [8, 10, 12, 14, 16].find((b) => max < 2 ** b) ?? 16
  const factor = 255 / (2 ** bits - 1)
  const out = Buffer.alloc(samples.length)
  for (let i = 0; i < samples.length; i++) out[i] = Math.min(255, Math.round(samples[i]! * factor))
  meta.warnings.push(
    bits < 16
      ? `16-bit samples use only ${bits} bits (max ${max}): scaled as ${bits}-bit data`
      : '16-bit samples reduced to 8-bit',
  )
  // Already decoded within the pixel budget: no second limit on the raw re-input.
  return sharp(out, {
    raw: { width: info.width, height: info.height, channels: info.channels as 1 | 3 },
    limitInputPixels: false,
  }).toColourspace('srgb')
}

/** 8-bit interleaved pixels → NCHW tensor, through a per-channel lookup table of the 256 values. */
function toTensor(data: Buffer, channels: number, pre: Preprocessing): Float32Array | Uint16Array {
  const pixels = pre.width * pre.height
  const luts: Float32Array[] = []
  for (let c = 0; c < 3; c++) {
    const lut = new Float32Array(256)
    for (let v = 0; v < 256; v++) lut[v] = (v * pre.scale - pre.mean[c]) / pre.std[c]
    luts.push(lut)
  }
  // Source channel of each output channel: grey images (1 channel) replicate it.
  const source = (c: number): number => {
    const rgb = pre.channelOrder === 'RGB' ? c : 2 - c
    return channels >= 3 ? rgb : 0
  }
  if (pre.dtype === 'float16') {
    const out = new Uint16Array(3 * pixels)
    for (let c = 0; c < 3; c++) {
      const lut = new Uint16Array(256)
      for (let v = 0; v < 256; v++) lut[v] = toHalf(luts[c]![v]!)
      fillPlane(out, c * pixels, data, channels, source(c), pixels, lut)
    }
    return out
  }
  const out = new Float32Array(3 * pixels)
  for (let c = 0; c < 3; c++)
    fillPlane(out, c * pixels, data, channels, source(c), pixels, luts[c]!)
  return out
}

function fillPlane(
  out: Float32Array | Uint16Array,
  offset: number,
  data: Buffer,
  channels: number,
  channel: number,
  pixels: number,
  lut: Float32Array | Uint16Array,
): void {
  for (let i = 0, j = channel; i < pixels; i++, j += channels) out[offset + i] = lut[data[j]!]!
}

function toRgb(data: Buffer, channels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.length)
  const pixels = data.length / channels
  const out = new Uint8Array(pixels * 3)
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = data[i * channels + (channels >= 3 ? c : 0)]!
  }
  return out
}

function unreadable(name: string, reason: string): CamlabelError {
  return new CamlabelError('IMAGE_UNREADABLE', `${name}: ${reason}`, UNREADABLE_HINT)
}

function fileError(err: unknown, name: string): CamlabelError {
  const code = (err as { code?: string }).code
  if (code === 'ENOENT') {
    return new CamlabelError('NOT_FOUND', `${name}: no such file`, 'Check the path.', {
      cause: err,
    })
  }
  if (code === 'EISDIR') return unreadable(name, 'a folder, not a file')
  if (code === 'EACCES' || code === 'EPERM') {
    return new CamlabelError(
      'IMAGE_UNREADABLE',
      `${name}: permission denied`,
      'Check the file’s permissions.',
      {
        cause: err,
      },
    )
  }
  return unreadable(name, err instanceof Error ? err.message : String(err))
}

/** Maps libvips/sharp decode failures to a per-file error that says what is wrong. */
function decodeError(err: unknown, name: string): CamlabelError {
  if (err instanceof CamlabelError) return err
  // libvips may repeat a line (its error buffer is per thread and outlives one pipeline).
  const raw = err instanceof Error ? err.message : String(err)
  const message = [...new Set(raw.trim().split('\n'))].join('\n')
  if (/pixel limit/i.test(message)) {
    return new CamlabelError(
      'IMAGE_TOO_LARGE',
      `${name}: the image is over the pixel limit`,
      TOO_LARGE_HINT,
      { cause: err },
    )
  }
  let reason: string
  if (/unsupported image format/i.test(message))
    reason = 'not an image (unknown or unsupported format)'
  else if (/empty/i.test(message)) reason = 'the file is empty'
  else if (/premature end|truncated|end of file|unexpected end/i.test(message)) {
    reason = `the file is truncated (${message.trim()})`
  } else reason = `cannot be decoded (${message.trim()})`
  return new CamlabelError('IMAGE_UNREADABLE', `${name}: ${reason}`, UNREADABLE_HINT, {
    cause: err,
  })
}

function formatMegapixels(pixels: number): string {
  return `${Math.round(pixels / 1e5) / 10} megapixels`
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round(bytes / (1024 * 1024))} MiB`
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`
  return `${bytes} bytes`
}
