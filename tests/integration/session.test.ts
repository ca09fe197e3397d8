import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureModel } from '../../src/main/engine/modelFetch.ts'
import { prepareImage } from '../../src/main/engine/preprocess.ts'
import { openModel, type LoadedModel } from '../../src/main/engine/session.ts'

const shared = path.resolve(import.meta.dirname, '../../../shared')
const dataDir = path.join(shared, 'data/imagenet-val-dev')
const modelsFrom = path.join(shared, 'models')

function requireShared(): void {
  for (const p of [dataDir, modelsFrom]) {
    if (!existsSync(p))
      throw new Error(`Missing ${p}: the integration tests need ../shared (models and data)`)
  }
}

function labelRows(): { file: string; label: string }[] {
  return readFileSync(path.join(dataDir, 'labels.csv'), 'utf8')
    .split(/\r?\n/)
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const [file, label] = l.trim().split(',')
      return { file: file!, label: label! }
    })
}

function top1(p: Float32Array): number {
  let best = 0
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i
  return best
}

/** Photos of imagenet-val-dev with unambiguous subjects (bittern, odometer, pier, ox, bee, ...). */
const KNOWN = [
  { file: 'images/ILSVRC2012_val_00000363.JPEG', label: 'n02011460', name: 'bittern' },
  { file: 'images/ILSVRC2012_val_00003383.JPEG', label: 'n02447366', name: 'badger' },
  { file: 'images/ILSVRC2012_val_00004375.JPEG', label: 'n01532829', name: 'house finch' },
  { file: 'images/ILSVRC2012_val_00005847.JPEG', label: 'n07802026', name: 'hay' },
  { file: 'images/ILSVRC2012_val_00006969.JPEG', label: 'n02002556', name: 'white stork' },
]

describe.each([
  {
    id: 'squeezenet1.1-fp16',
    minTop1: 0.6,
    featureShape: [512, 13, 13],
    classMaps: [1000, 13, 13],
  },
  { id: 'mobilenetv2-12-int8', minTop1: 0.65, featureShape: [1280, 7, 7], classMaps: undefined },
])('$id on real photos', ({ id, minTop1, featureShape, classMaps }) => {
  let model: LoadedModel
  beforeAll(async () => {
    requireShared()
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-models-'))
    await ensureModel(id, { from: modelsFrom, dir })
    model = await openModel(id, { modelsDir: dir, providers: 'auto' })
  })
  afterAll(async () => {
    await model?.dispose()
  })

  it('reports the provider actually used and the model facts', () => {
    expect(['cpu', 'cuda', 'dml', 'coreml']).toContain(model.provider)
    expect(model.classes).toHaveLength(1000)
    expect(model.head.classifier.numClasses).toBe(1000)
    expect(model.head.classifier.numFeatures).toBe(featureShape[0])
  })

  it.each(KNOWN)('classifies $name ($file) right', async ({ file, label }) => {
    const prepared = await prepareImage(path.join(dataDir, file), model.spec.preprocessing)
    const r = await model.forward(prepared.tensor)
    expect(model.classes[top1(r.probabilities)]!.id).toBe(label)
    expect(r.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2)
    expect([r.features.channels, r.features.height, r.features.width]).toEqual(featureShape)
    if (classMaps) {
      expect([r.classMaps!.channels, r.classMaps!.height, r.classMaps!.width]).toEqual(classMaps)
      // SqueezeNet's scores are softmax(GAP(class maps)): the maps returned are the ones it scored with.
      const hw = classMaps[1]! * classMaps[2]!
      const pooled = Float32Array.from(
        { length: 1000 },
        (_, k) => r.classMaps!.data.subarray(k * hw, (k + 1) * hw).reduce((a, b) => a + b, 0) / hw,
      )
      const max = Math.max(...pooled)
      const e = pooled.map((v) => Math.exp(v - max))
      const sum = e.reduce((a, b) => a + b, 0)
      const c = model.classes.findIndex((k) => k.id === label)
      expect(top1(pooled)).toBe(c)
      expect(Math.abs(e[c]! / sum - r.probabilities[c]!)).toBeLessThan(0.01)
    } else {
      expect(r.classMaps).toBeUndefined()
    }
  })

  it(`gets top-1 of at least ${minTop1 * 100}% over all of imagenet-val-dev`, async () => {
    const rows = labelRows()
    let right = 0
    for (const row of rows) {
      const prepared = await prepareImage(path.join(dataDir, row.file), model.spec.preprocessing)
      const r = await model.forward(prepared.tensor)
      if (model.classes[top1(r.probabilities)]!.id === row.label) right++
    }
    expect(rows.length).toBe(300)
    expect(right / rows.length).toBeGreaterThanOrEqual(minTop1)
  })
})

describe('opening models', () => {
  it('batches give the same results as single images (MobileNetV2 takes any batch)', async () => {
    requireShared()
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-models-'))
    await ensureModel('mobilenetv2-12-int8', { from: modelsFrom, dir })
    const model = await openModel('mobilenetv2-12-int8', { modelsDir: dir, providers: 'cpu' })
    try {
      const images = await Promise.all(
        KNOWN.slice(0, 2).map((k) =>
          prepareImage(path.join(dataDir, k.file), model.spec.preprocessing),
        ),
      )
      const n = images[0]!.tensor.length
      const stacked = new Float32Array(2 * n)
      images.forEach((im, i) => stacked.set(im.tensor as Float32Array, i * n))
      const batch = await model.forwardBatch(stacked, 2)
      for (let i = 0; i < 2; i++) {
        const single = await model.forward(images[i]!.tensor)
        expect(top1(batch[i]!.probabilities)).toBe(top1(single.probabilities))
        let maxDiff = 0
        for (let j = 0; j < single.features.data.length; j++) {
          maxDiff = Math.max(
            maxDiff,
            Math.abs(single.features.data[j]! - batch[i]!.features.data[j]!),
          )
        }
        expect(maxDiff).toBeLessThan(1e-4)
      }
    } finally {
      await model.dispose()
    }
  })

  it('a model not fetched yet is NOT_FOUND with the command that fetches it', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'camlabel-empty-'))
    await expect(openModel('squeezenet1.1-fp16', { modelsDir: empty })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      hint: expect.stringContaining('npm run models -- squeezenet1.1-fp16'),
    })
  })

  it('an unknown id is UNKNOWN_MODEL listing the known ones', async () => {
    await expect(openModel('resnet-9000')).rejects.toMatchObject({
      code: 'UNKNOWN_MODEL',
      message: expect.stringContaining('squeezenet1.1-fp16'),
    })
  })

  it('asking for CUDA uses it where it works, else falls back to CPU and says why', async () => {
    requireShared()
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-models-'))
    await ensureModel('squeezenet1.1-fp16', { from: modelsFrom, dir })
    const model = await openModel('squeezenet1.1-fp16', { modelsDir: dir, providers: 'cuda' })
    try {
      if (model.provider === 'cpu') expect(model.providerNote).toMatch(/cuda/i)
      else expect(model.provider).toBe('cuda')
      const r = await model.forward(
        (await prepareImage(path.join(dataDir, KNOWN[0]!.file), model.spec.preprocessing)).tensor,
      )
      expect(model.classes[top1(r.probabilities)]!.id).toBe(KNOWN[0]!.label)
    } finally {
      await model.dispose()
    }
  })
})
