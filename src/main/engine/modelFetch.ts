/**
 * Getting model files into models/: downloaded by URL, or copied from a local folder (an offline
 * workstation's USB stick, CI's ../shared/models). Every file is checked against the manifest's
 * sha256 (and size for downloads) before it is moved into place with an atomic rename, so a
 * half-downloaded or wrong file is never left where the engine would load it.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CamlabelError } from '../../shared/errors.ts'
import {
  classesAsset,
  loadManifest,
  modelsDir,
  requireModel,
  type Manifest,
  type ManifestAsset,
} from './manifest.ts'

/** What happened to one file. */
export type FetchStatus = 'up-to-date' | 'copied' | 'downloaded'

export interface FetchOptions {
  /** Copy from this folder instead of downloading (default: env CAMLABEL_MODELS_FROM). */
  from?: string
  /** Target folder (default: models/, or env CAMLABEL_MODELS_DIR). */
  dir?: string
  /** Progress lines (no trailing newline). */
  log?: (line: string) => void
  manifest?: Manifest
  signal?: AbortSignal
}

export interface EnsuredModel {
  id: string
  path: string
  classesPath: string
  status: FetchStatus
  classesStatus: FetchStatus
}

/** sha256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile()
  } catch {
    return false
  }
}

/**
 * Makes sure the model `id` and its classes file are in the models folder with the right sha256,
 * fetching or copying what is missing or wrong. Throws UNKNOWN_MODEL, NOT_FOUND (missing in the
 * --from folder), OFFLINE, MODEL_FETCH_FAILED or CHECKSUM_MISMATCH.
 */
export async function ensureModel(id: string, opts: FetchOptions = {}): Promise<EnsuredModel> {
  const manifest = opts.manifest ?? loadManifest()
  const spec = requireModel(id, manifest)
  const classes = classesAsset(spec, manifest)
  const status = await ensureAsset(spec, opts)
  const classesStatus = await ensureAsset(classes, opts)
  const dir = opts.dir ?? modelsDir()
  return {
    id,
    path: path.join(dir, spec.file),
    classesPath: path.join(dir, classes.file),
    status,
    classesStatus,
  }
}

/** Places one manifest file (model or classes list) in the models folder, verified. */
export async function ensureAsset(
  asset: ManifestAsset,
  opts: FetchOptions = {},
): Promise<FetchStatus> {
  const dir = opts.dir ?? modelsDir()
  const from = opts.from ?? (process.env.CAMLABEL_MODELS_FROM || undefined)
  const log = opts.log ?? (() => {})
  const target = path.join(dir, asset.file)
  if ((await exists(target)) && (await sha256File(target)) === asset.sha256) {
    log(`${asset.file}: up to date`)
    return 'up-to-date'
  }
  await mkdir(dir, { recursive: true })
  const temp = path.join(dir, `${asset.file}.${process.pid}.${Date.now().toString(36)}.tmp`)
  try {
    let status: FetchStatus
    if (from) {
      await copyInto(asset, path.resolve(from), temp, log)
      status = 'copied'
    } else {
      await downloadInto(asset, temp, log, opts.signal)
      status = 'downloaded'
    }
    await rename(temp, target)
    log(`${asset.file}: ${status}, sha256 verified`)
    return status
  } finally {
    await rm(temp, { force: true })
  }
}

/** Streams `source` through a sha256 hash into `temp`; returns the digest and byte count. */
async function hashedCopy(
  source: Readable,
  temp: string,
  onBytes?: (n: number) => void,
): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk)
      bytes += chunk.length
      onBytes?.(bytes)
      done(null, chunk)
    },
  })
  await pipeline(source, tap, createWriteStream(temp))
  return { digest: hash.digest('hex'), bytes }
}

function verify(
  asset: ManifestAsset,
  got: { digest: string; bytes: number },
  origin: string,
): void {
  if (got.digest !== asset.sha256) {
    throw new CamlabelError(
      'CHECKSUM_MISMATCH',
      `Checksum mismatch for ${asset.file} from ${origin}: expected sha256 ${asset.sha256}, got ${got.digest} ` +
        `(${got.bytes} bytes, expected ${asset.size}). The file was not placed.`,
      'The source holds a different or damaged file: fetch it again, or from another source.',
    )
  }
}

async function copyInto(
  asset: ManifestAsset,
  fromDir: string,
  temp: string,
  log: (line: string) => void,
): Promise<void> {
  const source = path.join(fromDir, asset.file)
  if (!(await exists(source))) {
    throw new CamlabelError(
      'NOT_FOUND',
      `${asset.file} is not in ${fromDir}`,
      `Put ${asset.file} (sha256 ${asset.sha256}) in that folder, or download it from ${asset.url}`,
    )
  }
  log(`${asset.file}: copying from ${fromDir}`)
  const got = await hashedCopy(createReadStream(source), temp)
  verify(asset, got, source)
}

const OFFLINE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNRESET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
])

function causeCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown } | undefined
  for (let i = 0; e && i < 4; i++) {
    if (typeof e.code === 'string') return e.code
    e = e.cause as typeof e
  }
  return undefined
}

async function downloadInto(
  asset: ManifestAsset,
  temp: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const host = new URL(asset.url).host
  log(`${asset.file}: downloading ${(asset.size / 1e6).toFixed(1)} MB from ${host}`)
  let response: Response
  try {
    response = await fetch(asset.url, signal ? { signal } : {})
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    const code = causeCode(err)
    throw new CamlabelError(
      code && OFFLINE_CODES.has(code) ? 'OFFLINE' : 'MODEL_FETCH_FAILED',
      `Cannot reach ${host} to download ${asset.file} (${code ?? (err as Error).message})`,
      'Without internet access, copy the files from a folder instead: npm run models -- --from DIR',
      { cause: err },
    )
  }
  if (!response.ok || !response.body) {
    throw new CamlabelError(
      'MODEL_FETCH_FAILED',
      `Download of ${asset.file} failed: HTTP ${response.status} ${response.statusText} from ${asset.url}`,
      'Try again later, or copy the file from a folder: npm run models -- --from DIR',
    )
  }
  let nextReport = 0.1
  const started = Date.now()
  const body = Readable.fromWeb(
    response.body as import('node:stream/web').ReadableStream<Uint8Array>,
  )
  const got = await hashedCopy(body, temp, (bytes) => {
    const fraction = bytes / asset.size
    if (fraction >= nextReport && fraction < 1) {
      const rate = bytes / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)
      log(`${asset.file}: ${Math.round(fraction * 100)}% (${rate.toFixed(1)} MB/s)`)
      nextReport += 0.1
    }
  }).catch((err: unknown) => {
    // A connection that drops mid-download; a full disk keeps its own error.
    if ((err as Error).name === 'AbortError' || err instanceof CamlabelError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw err
    throw new CamlabelError(
      'MODEL_FETCH_FAILED',
      `Download of ${asset.file} from ${host} broke off: ${(err as Error).message}; the file was not placed`,
      'Run the command again, or copy the file from a folder: npm run models -- --from DIR',
      { cause: err },
    )
  })
  if (got.bytes !== asset.size) {
    throw new CamlabelError(
      'MODEL_FETCH_FAILED',
      `Download of ${asset.file} is ${got.bytes} bytes, expected ${asset.size}; the file was not placed`,
      'The connection may have dropped: run the command again.',
    )
  }
  verify(asset, got, asset.url)
}
