/** Routes for reviewing one image: read it, save the review, its guided maps. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import {
  boxSchema,
  boxStatusSchema,
  camSchema,
  floatsSchema,
  imageStatusSchema,
  labelSchema,
  proposalOptionsSchema,
  thresholdSchema,
  upscaleModeSchema,
} from './common.ts'

/** What annotation formats record of an object beside its box (VOC, CVAT), set per box. */
export const boxAttributesSchema = z.object({
  difficult: z.boolean().optional(),
  truncated: z.boolean().optional(),
  occluded: z.boolean().optional(),
  pose: z.string().max(40).optional(),
})
export type BoxAttributesInput = z.infer<typeof boxAttributesSchema>

/** One box as the review screen edits it. `id` is the renderer's key, stable across saves. */
export const reviewBoxSchema = z.object({
  id: z.string().min(1).max(64),
  label: labelSchema,
  box: boxSchema,
  status: boxStatusSchema,
  /** The proposal's score; null for boxes the user drew or imported annotations. */
  score: z.number().nullable(),
  /** Absent for none (a proposal has none until it is kept). */
  attributes: boxAttributesSchema.optional(),
})
export type ReviewBox = z.infer<typeof reviewBoxSchema>

export const imageDetailSchema = z.object({
  id: z.number().int(),
  file: z.string(),
  width: z.number(),
  height: z.number(),
  labels: z.array(z.string()),
  status: imageStatusSchema,
  threshold: z.number(),
  boxes: z.array(reviewBoxSchema),
  /** The low-resolution CAMs of the run that made the pending proposals (one per label). */
  cams: z.array(camSchema),
  /**
   * How that run made boxes from them — upscaling mode and working size (the project's settings
   * when no run processed the image yet) — so the slider recomputes the boxes the run stored.
   */
  upscale: upscaleModeSchema,
  workingSize: z.number().int().positive(),
  /** Version counter of the stored review, to notice a concurrent change. */
  revision: z.number().int(),
})
export type ImageDetail = z.infer<typeof imageDetailSchema>

export const imageGet = defineRoute(
  'image.get',
  z.object({ imageId: z.number().int() }),
  imageDetailSchema,
)

/**
 * Replaces the image's review with the renderer's state: the renderer owns undo/redo of the open
 * image and saves whole states, so a save is idempotent and a retry after a crash is safe.
 */
export const imageSave = defineRoute(
  'image.save',
  z.object({
    imageId: z.number().int(),
    threshold: thresholdSchema,
    boxes: z.array(reviewBoxSchema).max(10_000),
  }),
  z.object({ savedAt: z.string(), status: imageStatusSchema, revision: z.number().int() }),
)

const proposalSchema = z.object({
  label: z.string(),
  box: boxSchema,
  score: z.number(),
  rank: z.number(),
})

/**
 * The guided (F-CAM) full-resolution maps of the image's labels and the proposals they give at
 * `threshold`, computed in the inference worker. The maps are at the working resolution of the
 * image's run (longest side 512 by default), values 0..1, as base64 Float32 (see floatsSchema).
 */
export const imageRefined = defineRoute(
  'image.refined',
  proposalOptionsSchema.extend({
    imageId: z.number().int(),
    /** Labels to refine; all the image's CAMs when omitted. */
    labels: z.array(z.string()).optional(),
  }),
  z.object({
    width: z.number().int(),
    height: z.number().int(),
    maps: z.array(
      z.object({
        label: z.string(),
        confidence: z.number(),
        data: floatsSchema,
        proposals: z.array(proposalSchema),
      }),
    ),
    /** Decoding the guide image (cached for the last image) and refining, in the worker. */
    decodeMs: z.number(),
    refineMs: z.number(),
  }),
)

export const reviewRoutes = [imageGet, imageSave, imageRefined] as const
