/**
 * The export routes: reviewed images (and, when asked, unreviewed ones and pending proposals) to
 * COCO, COCO results, VOC or YOLO; and the counts the export dialog shows before writing.
 */
import { z } from 'zod'
import { pathTokenSchema } from './app.ts'
import { defineRoute } from './contract.ts'

export const exportFormatSchema = z.enum(['coco', 'coco-results', 'voc', 'yolo'])
export type ExportFormatName = z.infer<typeof exportFormatSchema>

export const exportRun = defineRoute(
  'export.run',
  z.object({
    format: exportFormatSchema,
    /**
     * Where to write, as chosen in the save dialog: a .json file for COCO and COCO results (a .zip
     * with `archive`), a folder for VOC and YOLO.
     */
    out: pathTokenSchema,
    includeProposals: z.boolean().default(false),
    /** Also images nobody reviewed yet, as negatives. */
    includeUnreviewed: z.boolean().default(false),
    overwrite: z.boolean().default(false),
    /** VOC and YOLO: fraction of images for validation (YOLO's default 0.2), by a seeded shuffle. */
    valFraction: z.number().min(0).max(0.9).optional(),
    seed: z.number().int().optional(),
    /** COCO: one .zip with the JSON and the images (CVAT, Label Studio). */
    archive: z.boolean().default(false),
    /** YOLO: Ultralytics' split folders, or Label Studio's one folder. */
    layout: z.enum(['ultralytics', 'flat']).default('ultralytics'),
  }),
  z.object({
    outPath: z.string(),
    images: z.number().int(),
    boxes: z.number().int(),
    files: z.number().int(),
    /** Images not reviewed yet in the project, and how many of them the export holds. */
    unreviewed: z.object({ images: z.number().int(), included: z.number().int() }),
    /** Images left out or written with a warning (unreadable, changed on disk). */
    problems: z.array(z.object({ file: z.string(), message: z.string() })),
  }),
)

/** What an export would write, for the dialog to say before anything is written. */
export const exportCounts = defineRoute(
  'export.counts',
  z.object({}),
  z.object({
    reviewed: z.number().int(),
    reviewedBoxes: z.number().int(),
    unreviewed: z.number().int(),
    unreviewedBoxes: z.number().int(),
    pendingProposals: z.number().int(),
    pendingImages: z.number().int(),
  }),
)

export const exportRoutes = [exportRun, exportCounts] as const
