/** Routes for reviewing one image: read it, save the review, recompute proposals from its CAM. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import {
  boxSchema,
  boxStatusSchema,
  camSchema,
  imageStatusSchema,
  proposalOptionsSchema,
  upscaleModeSchema,
} from './common.ts'

/** One box as the review screen edits it. `id` is the renderer's key, stable across saves. */
export const reviewBoxSchema = z.object({
  id: z.string().min(1).max(64),
  label: z.string().min(1),
  box: boxSchema,
  status: boxStatusSchema,
  /** The proposal's score; null for boxes the user drew or imported annotations. */
  score: z.number().nullable(),
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
  cams: z.array(camSchema),
  /** The project's upscaling mode: how its pending proposals were computed (bilinear or guided). */
  upscale: upscaleModeSchema,
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
    threshold: z.number().min(0).max(1),
    boxes: z.array(reviewBoxSchema).max(10_000),
  }),
  z.object({ savedAt: z.string(), status: imageStatusSchema, revision: z.number().int() }),
)

/** New proposals for the image's labels from its stored CAMs at another threshold (no inference). */
export const imageRecompute = defineRoute(
  'image.recompute',
  proposalOptionsSchema.extend({ imageId: z.number().int() }),
  z.object({
    proposals: z.array(
      z.object({ label: z.string(), box: boxSchema, score: z.number(), rank: z.number() }),
    ),
    /** Time spent computing in main, to tell transport from compute in the benchmark. */
    computeMs: z.number(),
  }),
)

const proposalSchema = z.object({
  label: z.string(),
  box: boxSchema,
  score: z.number(),
  rank: z.number(),
})

/**
 * The guided (F-CAM) full-resolution maps of the image's labels and the proposals they give at
 * `threshold` (issue 6). The maps are at the working resolution (longest side 512), values 0..1,
 * sent as base64 of their little-endian Float32 bytes: 700 kB of floats would be 3 MB as JSON numbers.
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
        data: z.string(),
        proposals: z.array(proposalSchema),
      }),
    ),
    /** Decoding the guide image (cached for the last image) and refining, in main. */
    decodeMs: z.number(),
    refineMs: z.number(),
  }),
)

export const reviewRoutes = [imageGet, imageSave, imageRecompute, imageRefined] as const
