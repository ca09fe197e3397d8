/**
 * From an (upscaled) CAM to proposal boxes: threshold at a fraction of the max, 8-connected
 * components, the box around the largest component as the main proposal and a few further
 * components as lower-scored extras. Pure functions over typed arrays.
 */
import { clipBox, type Box } from '../box.ts'
import { invalidParameter } from '../errors.ts'
import type { Map2D, ProposalOptions, RawProposal } from './types.ts'

/** A connected component of a mask: its label in `labels`, pixel count and bounding box. */
export interface Component {
  /** 1.. in the order of the component's first pixel in raster order (0 is background). */
  label: number
  area: number
  /** In mask pixels, x1/y1 exclusive. */
  box: Box
  /** Sum of the map's values over the component, when values were given. */
  sum?: number
}

/**
 * 1 where value ≥ fraction · max (max over the whole map), else 0. A map whose max is ≤ 0 (or NaN
 * everywhere) has nothing to localise and gives an empty mask. NaN pixels are background.
 */
export function thresholdMask(map: Map2D, fraction: number): Uint8Array {
  if (!(fraction >= 0 && fraction <= 1))
    throw invalidParameter('fraction', 'a number in [0, 1]', fraction)
  const n = map.width * map.height
  const data = map.data
  const mask = new Uint8Array(n)
  let max = -Infinity
  for (let i = 0; i < n; i++) if (data[i]! > max) max = data[i]!
  if (!(max > 0)) return mask
  const t = fraction * max
  for (let i = 0; i < n; i++) mask[i] = data[i]! >= t ? 1 : 0
  return mask
}

function find(parent: Int32Array, x: number): number {
  let r = x
  while (parent[r] !== r) r = parent[r]!
  // Path compression, iteratively.
  while (parent[x] !== r) {
    const next = parent[x]!
    parent[x] = r
    x = next
  }
  return r
}

function union(parent: Int32Array, a: number, b: number): number {
  const ra = find(parent, a)
  const rb = find(parent, b)
  if (ra === rb) return ra
  // The smaller provisional label becomes the root, so final labels follow raster order.
  if (ra < rb) {
    parent[rb] = ra
    return ra
  }
  parent[ra] = rb
  return rb
}

/**
 * 8-connected components of a 0/1 mask (any non-zero byte is foreground), by the classic two-pass
 * union-find labelling: no recursion, so a 512×512 blob is as safe as a dot. `labels` holds 0 for
 * background and the component's label elsewhere; `components[i].label === i + 1`. With `values`
 * (a map of the same size), each component also gets the sum of its values.
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  values?: Float32Array,
): { labels: Int32Array; components: Component[] } {
  if (!Number.isInteger(width) || width < 0)
    throw invalidParameter('width', 'an integer ≥ 0', width)
  if (!Number.isInteger(height) || height < 0)
    throw invalidParameter('height', 'an integer ≥ 0', height)
  const n = width * height
  if (mask.length < n) throw invalidParameter('mask', `${n} values`, mask.length)
  if (values && values.length < n) throw invalidParameter('values', `${n} values`, values.length)
  const labels = new Int32Array(n)
  // A new provisional label starts only at a pixel with no foreground W/NW/N/NE neighbour, so such
  // pixels are pairwise non-adjacent: at most ceil(w/2)·ceil(h/2) of them.
  const parent = new Int32Array(Math.ceil(width / 2) * Math.ceil(height / 2) + 1)
  let next = 1

  for (let y = 0; y < height; y++) {
    const row = y * width
    const up = row - width
    for (let x = 0; x < width; x++) {
      const i = row + x
      if (mask[i] === 0) continue
      // Decision tree over the scanned neighbours (Wu, Otsu & Suzuki 2009): N touches W, NW and
      // NE, so if N is labelled it alone decides; otherwise only NE can need joining with W or NW
      // (which touch each other). At most one union per pixel, usually none.
      const north = y > 0 ? labels[up + x]! : 0
      let l: number
      if (north !== 0) l = north
      else {
        const ne = y > 0 && x + 1 < width ? labels[up + x + 1]! : 0
        const nw = y > 0 && x > 0 ? labels[up + x - 1]! : 0
        const w = x > 0 ? labels[i - 1]! : 0
        const left = w !== 0 ? w : nw
        if (ne !== 0) l = left !== 0 ? union(parent, ne, left) : ne
        else l = left
      }
      if (l === 0) {
        l = next++
        parent[l] = l
      }
      labels[i] = l
    }
  }

  // Resolve provisional labels to consecutive final ones (1.., raster order of first pixel).
  const final = new Int32Array(next)
  let count = 0
  for (let l = 1; l < next; l++) {
    const r = find(parent, l)
    final[l] = r === l ? ++count : final[r]!
  }
  const area = new Float64Array(count + 1)
  const sum = new Float64Array(count + 1)
  const x0 = new Int32Array(count + 1).fill(width)
  const y0 = new Int32Array(count + 1).fill(height)
  const x1 = new Int32Array(count + 1)
  const y1 = new Int32Array(count + 1)
  for (let y = 0; y < height; y++) {
    const row = y * width
    for (let x = 0; x < width; x++) {
      const i = row + x
      const p = labels[i]!
      if (p === 0) continue
      const l = final[p]!
      labels[i] = l
      area[l]!++
      if (values) sum[l]! += values[i]!
      if (x < x0[l]!) x0[l] = x
      if (x >= x1[l]!) x1[l] = x + 1
      if (y < y0[l]!) y0[l] = y
      y1[l] = y + 1
    }
  }
  const components: Component[] = []
  for (let l = 1; l <= count; l++) {
    const c: Component = {
      label: l,
      area: area[l]!,
      box: { x0: x0[l]!, y0: y0[l]!, x1: x1[l]!, y1: y1[l]! },
    }
    if (values) c.sum = sum[l]!
    components.push(c)
  }
  return { labels, components }
}

/**
 * Proposal boxes from a CAM: threshold at `options.threshold` of the max, 8-connected components,
 * the box around the largest component (by area; ties by activation mass, then raster order) as
 * the main proposal (rank 0), then up to `options.maxExtra` further components of at least
 * `options.minExtraFraction` of the largest one's area, largest first (rank 1..). Boxes are scaled
 * from the map's size to imageWidth × imageHeight and clipped to the image.
 *
 * Scores: with share_i = the component's activation mass / the mass of all components above the
 * threshold, and trust = (1 + confidence) / 2 (the user asserted the label, so a classifier that
 * doubts it lowers the score but never zeroes it: SqueezeNet gives some true classes < 1e-5), the
 * main proposal scores trust · (1 + share) / 2, in [0.25, 1] (exactly trust when it is the only
 * component), and an extra trust · share / 2, below trust / 2. So the main proposal
 * always outranks the extras, and each says how much of the evidence its region holds.
 * A map with nothing above zero gives [].
 */
export function proposalsFromMap(
  map: Map2D,
  options: ProposalOptions,
  imageWidth: number,
  imageHeight: number,
  confidence = 1,
): RawProposal[] {
  if (!(imageWidth > 0)) throw invalidParameter('imageWidth', 'a positive number', imageWidth)
  if (!(imageHeight > 0)) throw invalidParameter('imageHeight', 'a positive number', imageHeight)
  if (!(confidence >= 0 && confidence <= 1)) {
    throw invalidParameter('confidence', 'a number in [0, 1]', confidence)
  }
  const mask = thresholdMask(map, options.threshold)
  const { components } = connectedComponents(mask, map.width, map.height, map.data)
  if (components.length === 0) return []

  const bySize = components
    .slice()
    .sort((a, b) => b.area - a.area || b.sum! - a.sum! || a.label - b.label)
  let total = 0
  for (const c of components) total += c.sum!
  const share = (c: Component): number => (total > 0 ? Math.max(0, c.sum!) / total : 0)

  const main = bySize[0]!
  const maxExtra = Math.max(0, Math.floor(options.maxExtra))
  const extras = bySize
    .slice(1)
    .filter((c) => c.area >= options.minExtraFraction * main.area)
    .slice(0, maxExtra)

  const sx = imageWidth / map.width
  const sy = imageHeight / map.height
  const toImage = (b: Box): Box =>
    clipBox({ x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy }, imageWidth, imageHeight)

  const trust = (1 + confidence) / 2
  const out: RawProposal[] = [
    { box: toImage(main.box), score: (trust * (1 + share(main))) / 2, rank: 0 },
  ]
  extras.forEach((c, i) => {
    out.push({ box: toImage(c.box), score: (trust * share(c)) / 2, rank: i + 1 })
  })
  return out
}
