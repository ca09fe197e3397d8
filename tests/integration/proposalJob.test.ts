import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { readLabelsCsv } from '../../src/main/formats/labelsCsv.ts'
import type { ImageResult } from '../../src/main/engine/propose.ts'
import { runProposalJob } from '../../src/main/jobs/proposalJob.ts'
import type { ReadyInfo } from '../../src/main/jobs/protocol.ts'
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
  test('reports the provider and label sources, then one result per image in order', async () => {
    const tasks = await imagenetTasks(5)
    tasks[1]!.labels.push('not-a-model-class')
    let ready: ReadyInfo | undefined
    const results: ImageResult[] = []
    for await (const r of runProposalJob(tasks, {
      model: 'squeezenet1.1-fp16',
      onReady: (i) => (ready = i),
    }))
      results.push(r)
    expect(ready?.provider).toBe('cpu')
    expect(ready?.sources.agnostic).toEqual(['not-a-model-class'])
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
      for await (const r of runProposalJob(tasks, {
        model: 'squeezenet1.1-fp16',
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

  test('leaving the loop early stops the worker cleanly (no crash of this process), and a new job runs', async () => {
    const tasks = await imagenetTasks(30)
    let seen = 0
    for await (const r of runProposalJob(tasks, { model: 'squeezenet1.1-fp16' })) {
      expect(r.error).toBeUndefined()
      if (++seen === 2) break
    }
    const again: ImageResult[] = []
    for await (const r of runProposalJob(tasks.slice(0, 2), { model: 'squeezenet1.1-fp16' }))
      again.push(r)
    expect(again.map((r) => r.key)).toEqual(tasks.slice(0, 2).map((t) => t.key))
  })

  test('an unknown model fails the job with a clear error', async () => {
    const run = async () => {
      for await (const _ of runProposalJob(await imagenetTasks(1), { model: 'nope-model' })) void _
    }
    await expect(run()).rejects.toMatchObject({ code: 'UNKNOWN_MODEL' })
  })
})

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
