/**
 * The guided (F-CAM) view of one image for the annotate screen (issue 6): the image decoded at the
 * working resolution as the guide, each label's stored low-resolution CAM refined with `refineCam`
 * exactly as a guided proposal run does (src/main/engine/propose.ts), and the boxes at a threshold.
 *
 * The guide of the last image is cached: flipping labels or thresholds on one image decodes once.
 * `refineCam` is synchronous, tens of milliseconds at 512 (measured in the route's `refineMs`), run
 * on demand for one image, so it stays on the main process rather than a worker round trip.
 */
import { performance } from 'node:perf_hooks'
import { proposalsFromMap } from '../../shared/cam/boxes.ts'
import { normaliseByMax } from '../../shared/cam/proposals.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D } from '../../shared/cam/types.ts'
import type { RouteOutput } from '../../shared/contracts/index.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { defaultModel, findModel } from '../engine/manifest.ts'
import { prepareImage } from '../engine/preprocess.ts'
import { guidedMap } from '../engine/propose.ts'
import type { GuideImage } from '../engine/refine.ts'
import type { ProjectStore, StoredCam } from '../store/projectStore.ts'

type Refined = RouteOutput<'image.refined'>

/** A map's Float32 bytes as base64 (little-endian, as every platform Electron runs on). */
export function encodeFloat32(data: Float32Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')
}

/** The newest stored CAM of each label (the store lists every model revision, newest first). */
export function latestCams(cams: StoredCam[]): StoredCam[] {
  const seen = new Map<string, StoredCam>()
  for (const c of cams) if (!seen.has(c.label)) seen.set(c.label, c)
  return [...seen.values()]
}

/** Computes guided maps and boxes; holds the guide of the last image asked for. */
export function createRefiner(): (
  store: ProjectStore,
  input: { imageId: number; threshold: number; labels?: string[] | undefined },
) => Promise<Refined> {
  let cached: { key: string; guide: GuideImage } | null = null

  return async (store, { imageId, threshold, labels }) => {
    const image = store.image(imageId)
    if (!image) throw new CamlabelError('NOT_FOUND', `No image with id ${imageId} in this project`)
    const cams = latestCams(store.cams(imageId)).filter((c) => !labels || labels.includes(c.label))
    if (cams.length === 0) {
      throw new CamlabelError(
        'NOT_FOUND',
        `${image.file} has no stored CAM${labels ? ` for ${labels.join(', ')}` : ''}`,
        'Run “Propose boxes” first.',
      )
    }
    const workingSize = DEFAULT_PROPOSAL_OPTIONS.workingSize
    const file = store.imagePath(image.file)
    const key = `${store.file}\n${imageId}\n${image.hash}\n${workingSize}`
    let started = performance.now()
    if (cached?.key !== key) {
      const spec = findModel(cams[0]!.model) ?? defaultModel()
      const prepared = await prepareImage(file, spec.preprocessing, { guideSize: workingSize })
      if (!prepared.guide) throw new CamlabelError('INTERNAL', 'The guide image was not decoded')
      cached = { key, guide: prepared.guide }
    }
    const guide = cached.guide
    const decodeMs = performance.now() - started
    started = performance.now()
    const options = { ...DEFAULT_PROPOSAL_OPTIONS, threshold }
    const maps = cams.map((c) => {
      const map: Map2D = guidedMap(normaliseByMax(c.cam), guide, options)
      const proposals = proposalsFromMap(map, options, image.width, image.height, c.confidence)
      return {
        label: c.label,
        confidence: c.confidence,
        data: encodeFloat32(map.data),
        proposals: proposals.map((p) => ({ label: c.label, ...p })),
      }
    })
    return {
      width: guide.width,
      height: guide.height,
      maps,
      decodeMs,
      refineMs: performance.now() - started,
    }
  }
}
