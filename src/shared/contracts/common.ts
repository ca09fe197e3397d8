/** Schemas shared by several route domains. */
import { z } from 'zod'

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

/** A low-resolution CAM as stored (e.g. 13×13, max 1), for the overlay and live re-thresholding. */
export const camSchema = z.object({
  label: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  data: z.array(z.number()),
  confidence: z.number(),
  source: z.string(),
})
export type CamData = z.infer<typeof camSchema>

export const proposalOptionsSchema = z.object({
  threshold: z.number().min(0.01).max(0.99),
})

/** How a CAM is upscaled to the working resolution before boxes: bilinear, or guided by the image (F-CAM). */
export const upscaleModeSchema = z.enum(['bilinear', 'guided'])
export type UpscaleModeName = z.infer<typeof upscaleModeSchema>
