/** Routes that create, open and describe a project. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import { pathChoiceSchema, pathTokenSchema } from './app.ts'
import { imageStatusSchema, upscaleModeSchema } from './common.ts'

/** Where the image-level labels (or existing boxes) of a new project come from: chosen paths. */
export const labelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folders') }),
  z.object({ kind: z.literal('csv'), file: pathTokenSchema }),
  z.object({ kind: z.literal('coco'), file: pathTokenSchema }),
  z.object({ kind: z.literal('voc'), folder: pathTokenSchema }),
  z.object({ kind: z.literal('yolo'), folder: pathTokenSchema }),
])
export type LabelSourceInput = z.infer<typeof labelSourceSchema>

export const projectSummarySchema = z.object({
  path: z.string(),
  name: z.string(),
  imagesRoot: z.string(),
  imageCount: z.number().int(),
  classes: z.array(z.string()),
  byStatus: z.record(imageStatusSchema, z.number().int()),
  byClass: z.record(z.string(), z.number().int()),
  /** The upscaling mode proposal jobs of this project use (a project setting). */
  upscale: upscaleModeSchema,
  /** Extra proposals (not an image's best of a label) scoring below this are hidden in review. */
  minScore: z.number().min(0).max(1),
  /** Images the last run could not read. */
  unreadable: z.number().int(),
  /** Whether proposals learn from reviewed boxes (a project setting), and where that stands. */
  fromReview: z.object({ enabled: z.boolean(), text: z.string() }),
})
export type ProjectSummary = z.infer<typeof projectSummarySchema>

export const importReportSchema = z.object({
  imported: z.number().int(),
  skipped: z.number().int(),
  problems: z.array(z.object({ file: z.string(), message: z.string() })),
})

/** The last import's report as the project keeps it (its problems capped, their count kept). */
export const storedImportReportSchema = z.object({
  at: z.string(),
  imported: z.number().int(),
  existing: z.number().int(),
  skipped: z.number().int(),
  labels: z.number().int(),
  boxes: z.number().int(),
  problemCount: z.number().int(),
  problems: z.array(z.object({ file: z.string(), message: z.string() })),
})

export const projectImportReport = defineRoute(
  'project.importReport',
  z.object({}),
  storedImportReportSchema.nullable(),
)

export const projectCreate = defineRoute(
  'project.create',
  z.object({
    /** The image folder, as chosen. */
    images: pathTokenSchema,
    /** Where to save the project file; default: beside the image folder (project.defaultPath). */
    project: pathTokenSchema.optional(),
    labels: labelSourceSchema,
  }),
  z.object({ project: projectSummarySchema, report: importReportSchema }),
)

/** Where a new project of a chosen image folder is saved when no other place is chosen. */
export const projectDefaultPath = defineRoute(
  'project.defaultPath',
  z.object({ images: pathTokenSchema }),
  pathChoiceSchema,
)

export const projectOpen = defineRoute(
  'project.open',
  z.object({ project: pathTokenSchema }),
  projectSummarySchema,
)

export const projectSummary = defineRoute(
  'project.summary',
  z.object({}),
  projectSummarySchema.nullable(),
)

export const projectRecent = defineRoute(
  'project.recent',
  z.object({}),
  z.array(
    z.object({
      /** The token to open it with (project.open). */
      token: pathTokenSchema,
      path: z.string(),
      name: z.string(),
      openedAt: z.string(),
      exists: z.boolean(),
    }),
  ),
)

/** Changes the project's settings (stored in the project file). */
export const projectSettings = defineRoute(
  'project.settings',
  z.object({
    upscale: upscaleModeSchema.optional(),
    minScore: z.number().min(0).max(1).optional(),
    fromReview: z.boolean().optional(),
  }),
  projectSummarySchema,
)

export const projectRoutes = [
  projectCreate,
  projectImportReport,
  projectDefaultPath,
  projectOpen,
  projectSummary,
  projectRecent,
  projectSettings,
] as const
