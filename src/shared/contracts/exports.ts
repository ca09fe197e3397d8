/** The export route: reviewed boxes (optionally pending proposals) to COCO, VOC or YOLO. */
import { z } from 'zod'
import { pathTokenSchema } from './app.ts'
import { defineRoute } from './contract.ts'

export const exportFormatSchema = z.enum(['coco', 'voc', 'yolo'])

export const exportRun = defineRoute(
  'export.run',
  z.object({
    format: exportFormatSchema,
    /** Where to write, as chosen in the save dialog: a .json file for COCO, a folder for VOC and YOLO. */
    out: pathTokenSchema,
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
