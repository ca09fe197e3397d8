/** Everything main pushes to the renderer, one discriminated union on one event channel. */
import { z } from 'zod'
import { errorDataSchema } from './contract.ts'

/**
 * `importing`: images read into a project; `features`: the pooled-feature pass before learning a
 * head (in the worker); `learning`: training the head; `recompute`: boxes recomputed from stored
 * CAMs (no inference); `review-cells`: the feature cells of newly reviewed images (learning from
 * reviewed boxes).
 */
export const jobStageSchema = z.enum([
  'importing',
  'loading-model',
  'features',
  'learning',
  'recompute',
  'review-cells',
  'proposing',
  'saving',
])
export type JobStage = z.infer<typeof jobStageSchema>

/**
 * `propose`: a proposal run; `learn`: the "learn classes" job (features, then the head); `review`:
 * the background update of proposals from reviewed boxes.
 */
export const jobKindSchema = z.enum(['propose', 'learn', 'review'])
export type JobKind = z.infer<typeof jobKindSchema>

export const appEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('job.progress'),
    jobId: z.string(),
    kind: jobKindSchema,
    stage: jobStageSchema,
    done: z.number().int(),
    total: z.number().int(),
    failed: z.number().int(),
    /** Images per second over the current stage so far. */
    rate: z.number(),
    /** Seconds left at the current rate; null before the first image. */
    eta: z.number().nullable(),
    /** The execution provider in use (e.g. 'cpu', 'cuda'), once the model is loaded. */
    provider: z.string().nullable(),
    model: z.string(),
  }),
  z.object({
    type: z.literal('job.done'),
    jobId: z.string(),
    kind: jobKindSchema,
    done: z.number().int(),
    failed: z.number().int(),
    seconds: z.number(),
    cancelled: z.boolean(),
    provider: z.string().nullable(),
    /** What else the job did, in a line (a head learned, labels re-proposed, a warning). */
    message: z.string().optional(),
  }),
  z.object({ type: z.literal('job.failed'), jobId: z.string(), error: errorDataSchema }),
  z.object({
    type: z.literal('project.changed'),
    reason: z.enum([
      'opened',
      'imported',
      'proposed',
      'learned',
      'mapping',
      'labels',
      'reviewed',
      'closed',
    ]),
    imageIds: z.array(z.number().int()).optional(),
  }),
])
export type AppEvent = z.infer<typeof appEventSchema>
/** Every event type, for the preload's check of what the page subscribes to. */
export const APP_EVENT_TYPES: readonly AppEvent['type'][] = appEventSchema.options.map(
  (o) => o.shape.type.value,
)
export type AppEventType = AppEvent['type']
export type AppEventOf<T extends AppEventType> = Extract<AppEvent, { type: T }>
