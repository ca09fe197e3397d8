/** Schemas shared by several route domains. */
import { z } from 'zod'
import { THRESHOLD_RANGE, UPSCALE_MODES } from '../cam/types.ts'
import { labelProblem } from '../labels.ts'

/** A class name: one short line (see labelProblem). */
export const labelSchema = z.string().superRefine((label, ctx) => {
  const problem = labelProblem(label)
  if (problem) ctx.addIssue({ code: 'custom', message: problem })
})

/** `{x0, y0, x1, y1}` in displayed-image pixels (see src/shared/box.ts). */
export const boxSchema = z.object({
  x0: z.number().finite(),
  y0: z.number().finite(),
  x1: z.number().finite(),
  y1: z.number().finite(),
})

/**
 * The review state of one box. `pending`: a proposal nobody has looked at; `accepted`: a proposal
 * kept as is; `edited`: a proposal moved or resized or re-classed; `manual`: drawn by the user;
 * `rejected`: a proposal the user refused (kept so a re-run does not bring it back).
 */
export const boxStatusSchema = z.enum(['pending', 'accepted', 'edited', 'manual', 'rejected'])
export type BoxStatus = z.infer<typeof boxStatusSchema>

/** An image's status in the gallery, derived from its boxes. */
export const imageStatusSchema = z.enum(['unproposed', 'pending', 'accepted', 'edited', 'rejected'])
export type ImageStatus = z.infer<typeof imageStatusSchema>

/**
 * A map's Float32 values as base64 of their little-endian bytes (see src/shared/floats.ts): exact,
 * and a quarter of the size of JSON numbers. Low-resolution CAMs and guided maps travel this way.
 */
export const floatsSchema = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')

/** A low-resolution CAM as stored (e.g. 13×13, max 1), for the overlay and live re-thresholding. */
export const camSchema = z.object({
  label: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  data: floatsSchema,
  confidence: z.number(),
  source: z.string(),
})
export type CamData = z.infer<typeof camSchema>

/** A box threshold: a fraction of the map's max, in THRESHOLD_RANGE. */
export const thresholdSchema = z.number().min(THRESHOLD_RANGE.min).max(THRESHOLD_RANGE.max)

export const proposalOptionsSchema = z.object({ threshold: thresholdSchema })

/** How a CAM is upscaled to the working resolution before boxes: bilinear, or guided by the image (F-CAM). */
export const upscaleModeSchema = z.enum(UPSCALE_MODES)
