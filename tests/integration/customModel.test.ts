/**
 * A user's own ONNX classifier, with no manifest entry, through the whole `propose` command: the
 * engine reads the graph to find the features and classifier, preprocesses with the defaults, and
 * the boxes follow the image content the tiny model responds to.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, test } from 'vitest'
import {
  FEATURES,
  SIZE,
  W2,
  gapGemmModel,
  handFeatures,
  noPoolingModel,
  writeModel,
} from '../fixtures/tinyModels.ts'
import { camFromFeatures } from '../../src/main/engine/cam.ts'
import { prepareImage } from '../../src/main/engine/preprocess.ts'
import { proposalsFromCam } from '../../src/main/engine/propose.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../src/main/engine/types.ts'
import { runCamlabel } from '../helpers/cli.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-custom-'))

/** A 64×48 grey image with a saturated red square at x 32..48, y 8..24. */
async function redSquareImage(file: string): Promise<void> {
  const data = Buffer.alloc(64 * 48 * 3, 128)
  for (let y = 8; y < 24; y++) for (let x = 32; x < 48; x++) data.set([255, 0, 0], (y * 64 + x) * 3)
  await sharp(data, { raw: { width: 64, height: 48, channels: 3 } })
    .png()
    .toFile(file)
}

/** Runs `camlabel propose` on the square image labelled `labels`, with `model`. */
async function proposeSquare(model: string, labels: string[], out: string) {
  await redSquareImage(path.join(dir, 'square.png'))
  const csv = path.join(dir, 'labels.csv')
  writeFileSync(csv, 'file,label\n' + labels.map((l) => `square.png,${l}\n`).join(''))
  const { code, err } = await runCamlabel([
    'propose',
    '--images',
    dir,
    '--labels',
    csv,
    '--out',
    out,
    '--model',
    model,
  ])
  return { code, err }
}

describe('a user model without a manifest entry', () => {
  test('propose finds its CAM tensors, names classes from a sibling file, and boxes the content', async () => {
    const model = writeModel(dir, 'tiny.onnx', gapGemmModel())
    writeFileSync(path.join(dir, 'tiny.classes.txt'), 'alpha\nbeta\ngamma\n')
    const out = path.join(dir, 'out.json')
    const { code, err } = await proposeSquare(model, ['beta', 'Gamma'], out)
    expect(code, err).toBe(0)
    const coco = JSON.parse(readFileSync(out, 'utf8')) as {
      images: { width: number; height: number }[]
      annotations: { bbox: number[]; category_id: number; score: number }[]
      info: { camlabel: { labelSources: Record<string, string[]> } }
    }
    expect(coco.info.camlabel.labelSources.model.sort()).toEqual(['Gamma', 'beta'])
    expect(coco.images[0]).toMatchObject({ width: 64, height: 48 })
    expect(coco.annotations.length).toBeGreaterThanOrEqual(2)
    // Golden check of the wiring: the main box for 'beta' (class 1) is the one a hand computation
    // of the tiny network's class-1 CAM on the same input tensor gives.
    const prepared = await prepareImage(path.join(dir, 'square.png'), {
      width: SIZE,
      height: SIZE,
      channelOrder: 'RGB',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      dtype: 'float32',
    })
    const features = {
      data: handFeatures(prepared.tensor as Float32Array),
      channels: FEATURES,
      width: SIZE,
      height: SIZE,
    }
    const cam = camFromFeatures(features, W2.subarray(FEATURES, 2 * FEATURES))
    const max = Math.max(...cam.data)
    const expected = proposalsFromCam(
      { ...cam, data: cam.data.map((v) => v / max) },
      64,
      48,
      DEFAULT_PROPOSAL_OPTIONS,
      1,
    )[0]!.box
    const betaId = (
      coco as unknown as { categories: { id: number; name: string }[] }
    ).categories.find((c) => c.name === 'beta')!.id
    const main0 = coco.annotations
      .filter((a) => a.category_id === betaId)
      .sort((a, b) => b.score - a.score)[0]!
    expect(main0.bbox).toEqual([
      expected.x0,
      expected.y0,
      expected.x1 - expected.x0,
      expected.y1 - expected.y0,
    ])
  })

  test('a model whose head is not pooling → linear is refused with the reason', async () => {
    const model = writeModel(dir, 'flat.onnx', noPoolingModel())
    const { code, err } = await proposeSquare(model, ['class-1'], path.join(dir, 'o.json'))
    expect(code).toBe(1)
    expect(err).toMatch(/pooling/i)
  })

  test('a file that is not a model at all is refused clearly', async () => {
    const model = path.join(dir, 'fake.onnx')
    writeFileSync(model, 'this is not a model')
    const { code, err } = await proposeSquare(model, ['x'], path.join(dir, 'o2.json'))
    expect(code).toBe(1)
    expect(err).toMatch(/fake\.onnx/)
  })
})
