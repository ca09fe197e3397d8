import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { readLabelsCsv } from '../../src/main/formats/labelsCsv.ts'
import { trainHead } from '../../src/main/engine/head.ts'
import { describeModel } from '../../src/main/engine/modelInfo.ts'
import { modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import type { ImageResult, ImageTask } from '../../src/main/engine/propose.ts'
import type { ReadyInfo } from '../../src/main/jobs/protocol.ts'
import { InferenceWorker } from '../../src/main/jobs/worker.ts'
import { planLabels } from '../../src/main/project/labelPlan.ts'
import { runCamlabel } from '../helpers/cli.ts'
import { repoRoot, shared } from '../helpers/shared.ts'

async function imagenetTasks(n: number) {
  const csv = await readLabelsCsv(
    shared('data/imagenet-val-dev/labels.csv'),
    shared('data/imagenet-val-dev/images'),
  )
  return csv.rows.slice(0, n).map((r) => ({ key: r.file, path: r.path, labels: [r.label] }))
}

describe('the proposal job in the inference worker', () => {
  const worker = new InferenceWorker()
  afterAll(() => worker.close())
  const model = modelIdentity('squeezenet1.1-fp16')
  const sourcesFor = async (tasks: ImageTask[]) => {
    const info = await describeModel(model)
    const labels = tasks.flatMap((t) => t.labels)
    return planLabels(labels, { classes: info.classes, mode: 'auto', mappings: new Map() }).sources
  }

  test('reports the provider, then one result per image in order, each label from its planned source', async () => {
    const tasks = await imagenetTasks(5)
    tasks[1]!.labels.push('not-a-model-class')
    let ready: ReadyInfo | undefined
    const results: ImageResult[] = []
    for await (const r of worker.propose(tasks, {
      model,
      providers: 'cpu',
      sources: await sourcesFor(tasks),
      onReady: (i) => (ready = i),
    }))
      results.push(r)
    expect(ready).toMatchObject({ provider: 'cpu', reused: false })
    expect(results.map((r) => r.key)).toEqual(tasks.map((t) => t.key))
    expect(results[1]!.labels.map((l) => l.source)).toEqual(['model', 'agnostic'])
    // The stored low-res CAM is SqueezeNet's 13×13 class map, normalised to max 1.
    const cam = results[0]!.labels[0]!.cam
    expect([cam.width, cam.height]).toEqual([13, 13])
    expect(Math.max(...cam.data)).toBeCloseTo(1, 5)
  })

  test('cancelling stops the run after the image in flight and throws AbortError', async () => {
    const tasks = await imagenetTasks(60)
    const abort = new AbortController()
    const results: ImageResult[] = []
    const run = async () => {
      for await (const r of worker.propose(tasks, {
        model,
        providers: 'cpu',
        sources: await sourcesFor(tasks),
        signal: abort.signal,
      })) {
        results.push(r)
        if (results.length === 3) abort.abort()
      }
    }
    await expect(run()).rejects.toMatchObject({ name: 'AbortError' })
    expect(results.length).toBeGreaterThanOrEqual(3)
    expect(results.length).toBeLessThan(tasks.length)
  })

  test('leaving the loop early stops cleanly (no crash of this process); the next job reuses the loaded model', async () => {
    const tasks = await imagenetTasks(30)
    const sources = await sourcesFor(tasks)
    let seen = 0
    for await (const r of worker.propose(tasks, { model, providers: 'cpu', sources })) {
      expect(r.error).toBeUndefined()
      if (++seen === 2) break
    }
    const again: ImageResult[] = []
    let ready: ReadyInfo | undefined
    for await (const r of worker.propose(tasks.slice(0, 2), {
      model,
      providers: 'cpu',
      sources,
      onReady: (i) => (ready = i),
    }))
      again.push(r)
    expect(again.map((r) => r.key)).toEqual(tasks.slice(0, 2).map((t) => t.key))
    expect(ready?.reused).toBe(true)
  })

  test('a model loaded ahead (load) is the one the next batch uses; a model that cannot load says why', async () => {
    const fresh = new InferenceWorker()
    try {
      const mobile = modelIdentity('mobilenetv2-12-int8')
      expect(await fresh.load(mobile, 'cpu')).toMatchObject({
        modelId: 'mobilenetv2-12-int8',
        provider: 'cpu',
        reused: false,
      })
      const tasks = await imagenetTasks(2)
      const info = await describeModel(mobile)
      const { sources } = planLabels(
        tasks.flatMap((t) => t.labels),
        { classes: info.classes, mode: 'auto', mappings: new Map() },
      )
      let ready: ReadyInfo | undefined
      const results = await collect(
        fresh.propose(tasks, {
          model: mobile,
          providers: 'cpu',
          sources,
          onReady: (i) => (ready = i),
        }),
      )
      expect(ready?.reused).toBe(true)
      expect(results.every((r) => r.labels[0]!.proposals.length > 0)).toBe(true)
      const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-load-'))
      writeFileSync(path.join(dir, 'fake.onnx'), 'not a model')
      await expect(
        fresh.load(modelIdentity(path.join(dir, 'fake.onnx')), 'cpu'),
      ).rejects.toMatchObject({ code: 'MODEL_UNUSABLE' })
    } finally {
      await fresh.close()
    }
  })

  test('an unknown model is refused before the worker; a file that is not a model fails the job, and the worker goes on', async () => {
    expect(() => modelIdentity('nope-model')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_MODEL' }),
    )
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-worker-'))
    const fake = path.join(dir, 'fake.onnx')
    writeFileSync(fake, 'not a model')
    const tasks = await imagenetTasks(1)
    const run = async () => {
      for await (const _ of worker.propose(tasks, {
        model: modelIdentity(fake),
        providers: 'cpu',
        sources: new Map(),
      }))
        void _
    }
    await expect(run()).rejects.toMatchObject({ code: 'MODEL_UNUSABLE' })
    const after: ImageResult[] = []
    for await (const r of worker.propose(tasks, {
      model,
      providers: 'cpu',
      sources: await sourcesFor(tasks),
    }))
      after.push(r)
    expect(after).toHaveLength(1)
  })

  test('head training and guided refinement run in the worker thread, not on this one', async () => {
    const samples = [0, 1, 2, 3, 4, 5].map((i) => ({
      features: new Float32Array([i % 2, 1 - (i % 2), i / 10]),
      labels: [i % 2 ? 'cat' : 'dog'],
    }))
    const head = await worker.train(samples, { folds: 2 })
    expect(head).toEqual(trainHead(samples, { folds: 2 }))
    const tasks = await imagenetTasks(1)
    const [r] = await collect(
      worker.propose(tasks, { model, providers: 'cpu', sources: await sourcesFor(tasks) }),
    )
    const label = r!.labels[0]!
    const refined = await worker.refine({
      path: r!.path,
      cacheKey: 'test',
      preprocessing: model.spec!.preprocessing,
      width: r!.width,
      height: r!.height,
      workingSize: 512,
      threshold: 0.2,
      cams: [{ label: label.label, cam: label.cam, confidence: label.confidence }],
    })
    expect(refined.maps[0]!.map).toMatchObject({ width: r!.width, height: r!.height })
    expect(refined.maps[0]!.proposals.length).toBeGreaterThan(0)
  })
})

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('camlabel propose without --labels', () => {
  test('sub-folders of --images are the labels (folder-per-class)', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'camlabel-folders-'))
    const csv = await readLabelsCsv(
      shared('data/imagenet-val-dev/labels.csv'),
      shared('data/imagenet-val-dev/images'),
    )
    for (const row of csv.rows.slice(0, 4)) {
      mkdirSync(path.join(root, 'photos', row.label), { recursive: true })
      cpSync(row.path, path.join(root, 'photos', row.label, row.file))
    }
    const out = path.join(root, 'out.json')
    const { code, err } = await runCamlabel([
      'propose',
      '--images',
      path.join(root, 'photos'),
      '--out',
      out,
    ])
    expect(code, err).toBe(0)
    const coco = JSON.parse(readFileSync(out, 'utf8')) as {
      images: { file_name: string }[]
      categories: { name: string }[]
    }
    expect(coco.categories.map((c) => c.name)).toEqual(
      [...new Set(csv.rows.slice(0, 4).map((r) => r.label))].sort(),
    )
    expect(coco.images[0]!.file_name).toMatch(/^n\d{8}\/ILSVRC2012_val_\d+\.JPEG$/)
    // Writing again over the same file is refused unless asked.
    const again = await runCamlabel([
      'propose',
      '--images',
      path.join(root, 'photos'),
      '--out',
      out,
    ])
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/exists/i)
  })
})

describe('camlabel propose interrupted with Ctrl-C', () => {
  test('writes what it has, marked partial, and exits 130', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'camlabel-sigint-')), 'partial.json')
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'bin/camlabel.mjs'),
        'propose',
        '--images',
        shared('data/imagenet-val-dev/images'),
        '--labels',
        shared('data/imagenet-val-dev/labels.csv'),
        '--out',
        out,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let err = ''
    let interrupted = false
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      // Once the model runs, give it a moment, then interrupt once, as a user would (a second
      // Ctrl-C would quit at once).
      if (err.includes(' on cpu') && !interrupted) {
        interrupted = true
        setTimeout(() => child.kill('SIGINT'), 1500)
      }
    })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code, err).toBe(130)
    const partial = JSON.parse(readFileSync(out, 'utf8')) as {
      images: unknown[]
      info: { camlabel: { cancelled: boolean; notProposed: number } }
    }
    expect(partial.info.camlabel.cancelled).toBe(true)
    expect(partial.images.length).toBeGreaterThan(0)
    expect(partial.images.length + partial.info.camlabel.notProposed).toBe(300)
    expect(err).toMatch(/cancelled: \d+ images not proposed/)
  })
})
