/**
 * Routes of the gallery and review domains: pages, id sequences, one image with the settings of
 * the run that made its proposals, the review screen's save, and the guided maps (computed in the
 * inference worker, off the main thread).
 */
import { isReviewed } from '../store/review.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../shared/cam/types.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { encodeFloats } from '../../shared/floats.ts'
import { defaultModel } from '../engine/manifest.ts'
import { imageFiles } from '../project/imageFiles.ts'
import { projectUpscale } from '../project/settings.ts'
import type { ProjectStore, StoredCam } from '../store/projectStore.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

/** The newest stored CAM of each label (the store lists them newest first). */
function latestCams(cams: StoredCam[]): StoredCam[] {
  const seen = new Map<string, StoredCam>()
  for (const c of cams) if (!seen.has(c.label)) seen.set(c.label, c)
  return [...seen.values()]
}

/** An image's CAMs and how boxes were made from them: its run's, else the project's settings. */
function reviewSource(store: ProjectStore, imageId: number) {
  const run = store.runs.ofImage(imageId)
  return {
    cams: latestCams(store.runs.cams(imageId, run)),
    upscale: run?.upscale ?? projectUpscale(store),
    workingSize: run?.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
  }
}

export function createReviewRoutes(
  ctx: ServiceContext,
): Pick<Handlers, 'gallery.page' | 'gallery.ids' | 'image.get' | 'image.save' | 'image.refined'> {
  return {
    'gallery.page': (q) => ctx.requireProject().gallery.page(q),
    'gallery.ids': (q) => ({ ids: ctx.requireProject().gallery.ids(q) }),
    'image.get': ({ imageId }) => {
      const store = ctx.requireProject()
      const image = store.images.require(imageId)
      ctx.reviewUpdates.opened({ id: image.id, file: image.file })
      const source = reviewSource(store, imageId)
      return {
        id: image.id,
        file: image.file,
        width: image.width,
        height: image.height,
        labels: store.labels.of(imageId),
        status: image.status,
        threshold: image.threshold ?? DEFAULT_PROPOSAL_OPTIONS.threshold,
        boxes: store.review.boxes(imageId),
        cams: source.cams.map((c) => ({
          label: c.label,
          width: c.cam.width,
          height: c.cam.height,
          data: encodeFloats(c.cam.data),
          confidence: c.confidence,
          source: c.source,
        })),
        upscale: source.upscale,
        workingSize: source.workingSize,
        revision: image.revision,
      }
    },
    'image.save': ({ imageId, threshold, boxes }) => {
      const out = ctx.requireProject().review.save(imageId, { threshold, boxes })
      // A reviewed image teaches the proposals of the others (see reviewUpdates.ts).
      if (isReviewed(out.status)) ctx.reviewUpdates.schedule()
      return { savedAt: new Date().toISOString(), status: out.status, revision: out.revision }
    },
    'image.refined': async ({ imageId, threshold, labels }) => {
      const store = ctx.requireProject()
      const image = store.images.require(imageId)
      const source = reviewSource(store, imageId)
      const cams = source.cams.filter((c) => !labels || labels.includes(c.label))
      if (cams.length === 0) {
        throw new CamlabelError(
          'NOT_FOUND',
          `${image.file} has no stored CAM${labels ? ` for ${labels.join(', ')}` : ''}`,
          'Run “Propose boxes” first.',
        )
      }
      const out = await ctx.worker.refine({
        path: await imageFiles(store).resolve(image.file),
        cacheKey: `${store.file}\n${imageId}\n${image.hash}\n${source.workingSize}`,
        // Only the guide (the image at the working size) is decoded for; any model's settings do.
        preprocessing: defaultModel().preprocessing,
        width: image.width,
        height: image.height,
        workingSize: source.workingSize,
        threshold,
        cams: cams.map((c) => ({ label: c.label, cam: c.cam, confidence: c.confidence })),
      })
      const first = out.maps[0]!.map
      return {
        width: first.width,
        height: first.height,
        maps: out.maps.map((m) => ({
          label: m.label,
          confidence: m.confidence,
          data: encodeFloats(m.map.data),
          proposals: m.proposals.map((p) => ({ label: m.label, ...p })),
        })),
        decodeMs: out.decodeMs,
        refineMs: out.refineMs,
      }
    },
  }
}
