/**
 * The image threads (jobs/imagePool.ts): decoding and the box stage moved off the inference thread
 * must give exactly what they give on it, fail one image at a time, and survive a thread's death.
 */
import { afterAll, describe, expect, test } from 'vitest'
import { readLabelsCsv } from '../../src/main/formats/labelsCsv.ts'
import { describeModel } from '../../src/main/engine/modelInfo.ts'
import { modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import { prepareImage } from '../../src/main/engine/preprocess.ts'
import { boxesFor, proposeImages, type ImageResult } from '../../src/main/engine/propose.ts'
import { openModel } from '../../src/main/engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../src/main/engine/types.ts'
import { ImagePool } from '../../src/main/jobs/imagePool.ts'
import { InferenceWorker } from '../../src/main/jobs/worker.ts'
import { planLabels } from '../../src/main/project/labelPlan.ts'
import { shared } from '../helpers/shared.ts'

async function tasksOf(dataset: string, n: number) {
  const csv = await readLabelsCsv(
    shared(`data/${dataset}/labels.csv`),
    shared(`data/${dataset}/images`),
  )
  return csv.rows.slice(0, n).map((r) => ({ key: r.file, path: r.path, labels: [r.label] }))
}

const model = modelIdentity('squeezenet1.1-fp16')
const pre = model.spec!.preprocessing

describe('the image threads', () => {
  const pool = new ImagePool(2)
  afterAll(() => pool.close())

  test('decode to the same tensor and guide as this thread, and refuse a broken file with its own error', async () => {
    const [task] = await tasksOf('raccoon', 1)
    const here = await prepareImage(task!.path, pre, { guideSize: 512 })
    const there = await pool.prepare(task!.path, pre, { guideSize: 512 })
    expect(there.tensor).toEqual(here.tensor)
    expect(there.guide).toEqual(here.guide)
    expect([there.width, there.height, there.warnings]).toEqual([
      here.width,
      here.height,
      here.warnings,
    ])
    await expect(
      pool.prepare(shared('data/bad-inputs/images/truncated.jpg'), pre, {}),
    ).rejects.toMatchObject({ code: 'IMAGE_UNREADABLE', message: /truncated/ })
  })

  test('a thread that dies fails only its open jobs; the next job gets a new thread', async () => {
    const [task] = await tasksOf('imagenet-val-dev', 1)
    const open = Array.from({ length: 4 }, () => pool.prepare(task!.path, pre, {}))
    // The pool's own threads, ended from outside as a crash would end them.
    const slots = (pool as unknown as { slots: { thread?: { terminate(): Promise<number> } }[] })
      .slots
    await slots[0]!.thread!.terminate()
    const settled = await Promise.allSettled(open)
    expect(settled.some((s) => s.status === 'rejected')).toBe(true)
    const again = await pool.prepare(task!.path, pre, {})
    expect(again.width).toBeGreaterThan(0)
  })
})

describe('proposals through the image threads', () => {
  const worker = new InferenceWorker()
  afterAll(() => worker.close())

  test.each([
    { id: 'squeezenet1.1-fp16', upscale: 'bilinear' },
    { id: 'squeezenet1.1-fp16', upscale: 'guided' },
    // Batched forward passes in the worker (this model takes any batch size), one at a time inline.
    { id: 'mobilenetv2-12-int8', upscale: 'bilinear' },
  ] as const)(
    '$id, $upscale: the worker gives exactly the boxes of the pipeline run image by image on one thread',
    async ({ id, upscale }) => {
      const model = modelIdentity(id)
      const tasks = [
        ...(await tasksOf('imagenet-val-dev', 6)),
        ...(await tasksOf('raccoon', 4)),
        {
          key: 'broken',
          path: shared('data/bad-inputs/images/truncated.jpg'),
          labels: ['raccoon'],
        },
      ]
      const info = await describeModel(model)
      const { sources } = planLabels(
        tasks.flatMap((t) => t.labels),
        { classes: info.classes, mode: 'auto', mappings: new Map() },
      )
      const viaWorker: ImageResult[] = []
      for await (const r of worker.propose(tasks, { model, providers: 'cpu', sources, upscale }))
        viaWorker.push(r)
      const loaded = await openModel(model, { providers: 'cpu' })
      const inline: ImageResult[] = []
      for await (const r of proposeImages(loaded, tasks, {
        proposal: DEFAULT_PROPOSAL_OPTIONS,
        sources: (l) => sources.get(l) ?? { kind: 'agnostic' },
        upscale,
      }))
        inline.push(r)
      await loaded.dispose()
      expect(viaWorker.map((r) => r.key)).toEqual(tasks.map((t) => t.key))
      expect(viaWorker.at(-1)!.error).toMatchObject({ code: 'IMAGE_UNREADABLE' })
      const boxes = (rs: ImageResult[]) =>
        rs.map((r) => r.labels.map((l) => [l.label, l.confidence, l.proposals]))
      expect(boxes(viaWorker)).toEqual(boxes(inline))
      expect(viaWorker.slice(0, -1).every((r) => r.labels[0]!.proposals.length > 0)).toBe(true)
    },
  )

  test('a box job that cannot run fails its image with the reason', async () => {
    const pool = new ImagePool(1)
    try {
      const job = {
        width: 10,
        height: 10,
        maps: [{ cam: { data: new Float32Array(4), width: 2, height: 2 }, confidence: 1 }],
        proposal: DEFAULT_PROPOSAL_OPTIONS,
        upscale: 'guided' as const,
      }
      expect(() => boxesFor(job)).toThrow(/guide/)
      await expect(pool.boxes(job)).rejects.toMatchObject({ code: 'INTERNAL', message: /guide/ })
    } finally {
      await pool.close()
    }
  })
})
