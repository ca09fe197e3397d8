/** Routes that start and cancel proposal jobs. Progress comes back as events (events.ts). */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import { upscaleModeSchema } from './common.ts'

export const jobPropose = defineRoute(
  'job.propose',
  z.object({
    model: z.string().min(1).optional(),
    threshold: z.number().min(0.01).max(0.99).optional(),
    /** 'missing': only images without proposals (a resumed job); 'all': recompute everything pending. */
    scope: z.enum(['missing', 'all']).default('missing'),
    /** Overrides the project's upscaling mode for this run. */
    upscale: upscaleModeSchema.optional(),
  }),
  z.object({ jobId: z.string(), total: z.number().int() }),
)

/**
 * "Learn classes": extracts the pooled features of the project's images that have none (in the
 * worker, with progress; cancel keeps what is done) and trains the linear CAM head on the image
 * labels, unless the stored one was trained on the same images and labels (`force` retrains).
 * `total`: the project's images (those with cached features go by without inference).
 */
export const jobLearn = defineRoute(
  'job.learn',
  z.object({ model: z.string().min(1).optional(), force: z.boolean().default(false) }),
  z.object({ jobId: z.string(), total: z.number().int() }),
)

export const jobCancel = defineRoute(
  'job.cancel',
  z.object({ jobId: z.string() }),
  z.object({ cancelled: z.boolean() }),
)

export const jobRoutes = [jobPropose, jobLearn, jobCancel] as const
