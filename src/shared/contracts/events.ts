/** Everything main pushes to the renderer, one discriminated union on one event channel. */
import { z } from 'zod'
import { errorDataSchema } from './contract.ts'

export const jobStageSchema = z.enum(['loading-model', 'proposing', 'saving'])

export const appEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('job.progress'),
    jobId: z.string(),
    stage: jobStageSchema,
    done: z.number().int(),
    total: z.number().int(),
    failed: z.number().int(),
    /** Images per second over the job so far. */
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
    done: z.number().int(),
    failed: z.number().int(),
    seconds: z.number(),
    cancelled: z.boolean(),
    provider: z.string().nullable(),
  }),
  z.object({ type: z.literal('job.failed'), jobId: z.string(), error: errorDataSchema }),
  z.object({
    type: z.literal('project.changed'),
    reason: z.enum(['opened', 'imported', 'proposed', 'reviewed', 'closed']),
    imageIds: z.array(z.number().int()).optional(),
  }),
])
export type AppEvent = z.infer<typeof appEventSchema>
export type AppEventType = AppEvent['type']
export type AppEventOf<T extends AppEventType> = Extract<AppEvent, { type: T }>
