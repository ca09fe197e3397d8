/**
 * The objectness head learned from reviewed boxes (engine/objectness.ts): pure, on small synthetic
 * feature maps whose "object" channel is known, so what the head must learn is known too.
 */
import { describe, expect, it } from 'vitest'
import type { Box } from '../../src/shared/box.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../src/shared/cam/types.ts'
import {
  cellCoverage,
  fitObjectness,
  imageCells,
  objectnessMap,
  sampleCells,
  trainObjectness,
  type ReviewedImage,
} from '../../src/main/engine/objectness.ts'

const W = 13
const H = 13
const C = 8

/** An image whose channel 0 is high inside `box` (in cells) and channel 1 outside, plus noise. */
function image(id: number, box: { x0: number; y0: number; x1: number; y1: number }): ReviewedImage {
  const data = new Float32Array(C * W * H)
  let seed = id * 7919
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 0.3
  const cam = new Float32Array(W * H)
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inside = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1
      for (let c = 0; c < C; c++) data[c * W * H + y * W + x] = noise()
      data[0 * W * H + y * W + x] += inside ? 2 : 0
      data[1 * W * H + y * W + x] += inside ? 0 : 1
      // A CAM that spills over a ring around the object (what the head must trim).
      const ring = x >= box.x0 - 2 && x < box.x1 + 2 && y >= box.y0 - 2 && y < box.y1 + 2
      cam[y * W + x] = inside ? 1 : ring ? 0.8 : 0.05
    }
  const px: Box = { x0: box.x0 * 20, y0: box.y0 * 20, x1: box.x1 * 20, y1: box.y1 * 20 }
  return {
    id,
    features: { data, channels: C, width: W, height: H },
    boxes: [px],
    width: W * 20,
    height: H * 20,
    cams: new Map([['thing', { data: cam, width: W, height: H }]]),
    boxesByLabel: new Map([['thing', [px]]]),
  }
}

const images = Array.from({ length: 12 }, (_, i) =>
  image(i + 1, { x0: 2 + (i % 4), y0: 3, x1: 7 + (i % 4), y1: 9 }),
)

describe('objectness head', () => {
  it('covers cells by the share of them inside the boxes', () => {
    const cover = cellCoverage([{ x0: 0, y0: 0, x1: 50, y1: 100 }], 100, 100, 4, 4)
    // Columns 0-1 inside, 2-3 outside, on every row.
    expect(Array.from(cover)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0])
  })

  it('learns where objects are: high inside reviewed-like boxes, low outside', () => {
    const head = trainObjectness(sampleCells(images))!
    const test = image(99, { x0: 4, y0: 2, x1: 9, y1: 8 })
    const map = objectnessMap(test.features, head)
    expect(map.data[5 * W + 6]).toBeGreaterThan(0.9)
    expect(map.data[11 * W + 1]).toBeLessThan(0.1)
  })

  it('samples the same cells every time, and a smaller budget picks among a larger one', () => {
    const im = images[0]!
    expect(imageCells(im, 16)).toEqual(imageCells(im, 16))
    const pool = new Set(imageCells(im, 16).cells)
    for (const budget of [8, 10, 12, 16]) {
      for (const c of imageCells(im, budget).cells) expect(pool.has(c)).toBe(true)
    }
  })

  it('cuts boxes at a level chosen on held-out images, and reuses held-out scores while its folds stay', () => {
    const proposal = { ...DEFAULT_PROPOSAL_OPTIONS, workingSize: 96 }
    const samples = sampleCells(images)
    const first = fitObjectness(samples, images, proposal)!
    expect(first.validation!.images).toBe(12)
    // The CAM's ring is trimmed: boxes on held-out images fit their truth.
    expect(first.validation!.meanIou).toBeGreaterThan(0.6)
    const full = fitObjectness(samples, images, proposal, { previous: first })!
    const reused = fitObjectness(samples, images.slice(0, 4), proposal, {
      previous: first,
      boxed: 12,
      held: first.held.filter((h) => h.id > 4),
    })!
    // The same scores, summed in another order.
    const { meanIou, ...rest } = full.validation!
    expect(reused.validation).toMatchObject(rest)
    expect(reused.validation!.meanIou).toBeCloseTo(meanIou, 12)
    expect(reused.head.level).toBe(full.head.level)
  })
})
