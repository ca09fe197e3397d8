/** Routes of the gallery and review domains: pages, id sequences, one image, save, recompute. */
import { performance } from 'node:perf_hooks'
import { proposalsFromCam } from '../engine/propose.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../engine/types.ts'
import { projectUpscale } from '../project/settings.ts'
import type { ServiceContext } from './context.ts'
import { createRefiner, latestCams } from './refined.ts'
import type { Handlers } from './router.ts'

export function createReviewRoutes(
  ctx: ServiceContext,
): Pick<
  Handlers,
  'gallery.page' | 'gallery.ids' | 'image.get' | 'image.save' | 'image.recompute' | 'image.refined'
> {
  const refine = createRefiner()
  return {
    'gallery.page': (q) => ctx.requireProject().galleryPage(q),
    'gallery.ids': (q) => ({ ids: ctx.requireProject().galleryIds(q) }),
    'image.get': ({ imageId }) => {
      const d = ctx.requireProject().imageDetail(imageId)
      return {
        id: d.image.id,
        file: d.image.file,
        width: d.image.width,
        height: d.image.height,
        labels: d.labels,
        status: d.image.status,
        threshold: d.image.threshold ?? DEFAULT_PROPOSAL_OPTIONS.threshold,
        boxes: d.boxes,
        cams: latestCams(d.cams).map((c) => ({
          label: c.label,
          width: c.cam.width,
          height: c.cam.height,
          // Exact float32 values (a double holds them exactly), so the renderer's recompute from
          // these equals main's to the pixel.
          data: Array.from(c.cam.data),
          confidence: c.confidence,
          source: c.source,
        })),
        upscale: projectUpscale(ctx.requireProject()),
        revision: d.image.revision,
      }
    },
    'image.save': ({ imageId, threshold, boxes }) => {
      const out = ctx.requireProject().saveReview(imageId, { threshold, boxes })
      return { savedAt: new Date().toISOString(), status: out.status, revision: out.revision }
    },
    'image.recompute': ({ imageId, threshold }) => {
      const store = ctx.requireProject()
      const started = performance.now()
      const image = store.image(imageId)
      if (!image) return { proposals: [], computeMs: 0 }
      const options = { ...DEFAULT_PROPOSAL_OPTIONS, threshold }
      const proposals = latestCams(store.cams(imageId)).flatMap((c) =>
        proposalsFromCam(c.cam, image.width, image.height, options, c.confidence).map((p) => ({
          label: c.label,
          box: p.box,
          score: p.score,
          rank: p.rank,
        })),
      )
      return { proposals, computeMs: performance.now() - started }
    },
    'image.refined': (input) => refine(ctx.requireProject(), input),
  }
}
