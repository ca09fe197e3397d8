import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'
import type { CommandIO } from '../../src/cli/io.ts'
import type { Manifest, ModelSpec } from '../../src/main/engine/manifest.ts'
import { ensureModel } from '../../src/main/engine/modelFetch.ts'

const sharedModels = path.resolve(import.meta.dirname, '../../../shared/models')

const modelBytes = Buffer.from('pretend this is an onnx model '.repeat(4000))
const classBytes = Buffer.from('n01440764 tench, Tinca tinca\n')
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function manifestFor(url: string, modelSha = sha(modelBytes)): Manifest {
  const model = {
    id: 'tiny',
    name: 'Tiny',
    default: true,
    file: 'tiny.onnx',
    url,
    sha256: modelSha,
    size: modelBytes.length,
    license: 'MIT',
    source: 'test',
    classes: 'cls',
    input: { layout: 'NCHW' },
    preprocessing: {
      width: 8,
      height: 8,
      channelOrder: 'RGB',
      scale: 1,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      dtype: 'float32',
    },
  } as ModelSpec
  return {
    version: 1,
    assets: {
      cls: {
        file: 'tiny.txt',
        url: `${url}.txt`,
        sha256: sha(classBytes),
        size: classBytes.length,
        license: 'MIT',
        source: 'test',
      },
    },
    models: [model],
  }
}

function tempDirs(): { from: string; dir: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'camlabel-fetch-'))
  const from = path.join(root, 'usb')
  const dir = path.join(root, 'models')
  return { from, dir }
}

function stocked(): { from: string; dir: string } {
  const t = tempDirs()
  mkdirSync(t.from, { recursive: true })
  writeFileSync(path.join(t.from, 'tiny.onnx'), modelBytes)
  writeFileSync(path.join(t.from, 'tiny.txt'), classBytes)
  return t
}

describe('ensureModel from a local folder', () => {
  it('copies model and classes, verified, then reports them up to date', async () => {
    const { from, dir } = stocked()
    const lines: string[] = []
    const manifest = manifestFor('http://127.0.0.1:9/tiny.onnx')
    const first = await ensureModel('tiny', { from, dir, manifest, log: (l) => lines.push(l) })
    expect(first).toMatchObject({ status: 'copied', classesStatus: 'copied' })
    expect(readFileSync(path.join(dir, 'tiny.onnx'))).toEqual(modelBytes)
    expect(readFileSync(path.join(dir, 'tiny.txt'))).toEqual(classBytes)
    const second = await ensureModel('tiny', { from, dir, manifest, log: (l) => lines.push(l) })
    expect(second).toMatchObject({ status: 'up-to-date', classesStatus: 'up-to-date' })
    expect(lines).toContain('tiny.onnx: up to date')
  })

  it('refuses a file whose sha256 differs, saying expected and got, and places nothing', async () => {
    const { from, dir } = stocked()
    const wrong = 'ab'.repeat(32)
    const err = await ensureModel('tiny', {
      from,
      dir,
      manifest: manifestFor('http://127.0.0.1:9/x', wrong),
    }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CHECKSUM_MISMATCH' })
    expect(err.message).toContain(`expected sha256 ${wrong}, got ${sha(modelBytes)}`)
    expect(existsSync(path.join(dir, 'tiny.onnx'))).toBe(false)
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('replaces a damaged file already in place', async () => {
    const { from, dir } = stocked()
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'tiny.onnx'), 'damaged')
    const got = await ensureModel('tiny', {
      from,
      dir,
      manifest: manifestFor('http://127.0.0.1:9/x'),
    })
    expect(got.status).toBe('copied')
    expect(readFileSync(path.join(dir, 'tiny.onnx'))).toEqual(modelBytes)
  })

  it('says which file is missing from the folder', async () => {
    const { from, dir } = tempDirs()
    mkdirSync(from, { recursive: true })
    const err = await ensureModel('tiny', {
      from,
      dir,
      manifest: manifestFor('http://127.0.0.1:9/x'),
    }).catch((e) => e)
    expect(err).toMatchObject({ code: 'NOT_FOUND' })
    expect(err.message).toContain(`tiny.onnx is not in ${from}`)
  })

  it('refuses an unknown id, listing the known ones', async () => {
    const err = await ensureModel('nope', { manifest: manifestFor('http://127.0.0.1:9/x') }).catch(
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'UNKNOWN_MODEL' })
    expect(err.message).toContain('Known models: tiny')
  })
})

describe('ensureModel by download', () => {
  let server: Server
  let base = ''
  let served = modelBytes
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/tiny.onnx') res.end(served)
      else if (req.url === '/broken.onnx') {
        // Announces the whole file, sends half, then the connection drops.
        res.writeHead(200, { 'content-length': modelBytes.length })
        res.write(modelBytes.subarray(0, modelBytes.length >> 1), () => res.destroy())
      } else if (req.url === '/tiny.onnx.txt') res.end(classBytes)
      else res.writeHead(404).end('not found')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('downloads, verifies and places the files', async () => {
    const { dir } = tempDirs()
    served = modelBytes
    const got = await ensureModel('tiny', {
      dir,
      from: '',
      manifest: manifestFor(`${base}/tiny.onnx`),
    })
    expect(got).toMatchObject({ status: 'downloaded', classesStatus: 'downloaded' })
    expect(readFileSync(got.path)).toEqual(modelBytes)
  })

  it('refuses a download of the wrong size and places nothing', async () => {
    const { dir } = tempDirs()
    served = modelBytes.subarray(0, 1000)
    const err = await ensureModel('tiny', {
      dir,
      from: '',
      manifest: manifestFor(`${base}/tiny.onnx`),
    }).catch((e) => e)
    served = modelBytes
    expect(err).toMatchObject({ code: 'MODEL_FETCH_FAILED' })
    expect(err.message).toContain('1000 bytes, expected')
    expect(existsSync(path.join(dir, 'tiny.onnx'))).toBe(false)
  })

  it('a connection that drops mid-download says so, with what to do, and places nothing', async () => {
    const { dir } = tempDirs()
    const err = await ensureModel('tiny', {
      dir,
      from: '',
      manifest: manifestFor(`${base}/broken.onnx`),
    }).catch((e) => e)
    expect(err).toMatchObject({ code: 'MODEL_FETCH_FAILED' })
    expect(err.message).toContain('broke off')
    expect(err.hint).toContain('Run the command again')
    expect(existsSync(path.join(dir, 'tiny.onnx'))).toBe(false)
  })

  it('reports an HTTP error', async () => {
    const { dir } = tempDirs()
    const err = await ensureModel('tiny', {
      dir,
      from: '',
      manifest: manifestFor(`${base}/missing.onnx`),
    }).catch((e) => e)
    expect(err).toMatchObject({ code: 'MODEL_FETCH_FAILED' })
    expect(err.message).toContain('HTTP 404')
  })

  it('an unreachable host is OFFLINE, with the hint to use --from DIR', async () => {
    const { dir } = tempDirs()
    // A local port nobody listens on (fetch itself refuses well-known ports such as 9).
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const url = `http://127.0.0.1:${port}/tiny.onnx`
    const err = await ensureModel('tiny', { dir, from: '', manifest: manifestFor(url) }).catch(
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'OFFLINE' })
    expect(err.message).toContain(`Cannot reach 127.0.0.1:${port}`)
    expect(err.message).toContain('ECONNREFUSED')
    expect(err.hint).toContain('--from DIR')
  })
})

describe('camlabel models', () => {
  function capture(cwd: string): { io: CommandIO; out: string[]; err: string[] } {
    const out: string[] = []
    const err: string[] = []
    return {
      io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd },
      out,
      err,
    }
  }

  it('copies the default model from --from and exits 0; unknown ids exit 1 listing the known ones', async () => {
    if (!existsSync(path.join(sharedModels, 'squeezenet1.1-fp16.onnx'))) {
      throw new Error(`The real models are missing from ${sharedModels}`)
    }
    const { dir } = tempDirs()
    const saved = process.env.CAMLABEL_MODELS_DIR
    process.env.CAMLABEL_MODELS_DIR = dir
    try {
      const ok = capture(process.cwd())
      expect(await main(['models', '--from', sharedModels], ok.io)).toBe(0)
      expect(ok.err.join('')).toContain('squeezenet1.1-fp16.onnx: copied, sha256 verified')
      expect(existsSync(path.join(dir, 'squeezenet1.1-fp16.onnx'))).toBe(true)
      expect(existsSync(path.join(dir, 'imagenet-synsets.txt'))).toBe(true)

      const list = capture(process.cwd())
      expect(await main(['models', '--list'], list.io)).toBe(0)
      expect(list.out.join('')).toMatch(/squeezenet1\.1-fp16\s+2\.5 MB\s+present.*\(default\)/)

      const bad = capture(process.cwd())
      expect(await main(['models', 'resnet-9000'], bad.io)).toBe(1)
      expect(bad.err.join('')).toContain(
        "Unknown model 'resnet-9000'. Known models: squeezenet1.1-fp16, mobilenetv2-12-int8",
      )
    } finally {
      if (saved === undefined) delete process.env.CAMLABEL_MODELS_DIR
      else process.env.CAMLABEL_MODELS_DIR = saved
    }
  })
})
