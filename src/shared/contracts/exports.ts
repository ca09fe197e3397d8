/** The export route: reviewed boxes (optionally pending proposals) to COCO, VOC or YOLO. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'

export const exportFormatSchema = z.enum(['coco', 'voc', 'yolo'])

export const exportRun = defineRoute(
  'export.run',
  z.object({
    format: exportFormatSchema,
    /** A .json file for COCO, a folder for VOC and YOLO. */
    outPath: z.string().min(1),
    includeProposals: z.boolean().default(false),
    overwrite: z.boolean().default(false),
    /** YOLO only: fraction of images for validation, split by a seeded shuffle. */
    valFraction: z.number().min(0).max(0.9).optional(),
    seed: z.number().int().optional(),
  }),
  z.object({
    outPath: z.string(),
    images: z.number().int(),
    boxes: z.number().int(),
    files: z.number().int(),
  }),
)

export const exportRoutes = [exportRun] as const
