/** Routes that create, open and describe a project. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import { imageStatusSchema, upscaleModeSchema } from './common.ts'

/** Where the image-level labels (or existing boxes) of a new project come from. */
export const labelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folders') }),
  z.object({ kind: z.literal('csv'), path: z.string().min(1) }),
  z.object({ kind: z.literal('coco'), path: z.string().min(1) }),
  z.object({ kind: z.literal('voc'), dir: z.string().min(1) }),
  z.object({ kind: z.literal('yolo'), dir: z.string().min(1) }),
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
})
export type ProjectSummary = z.infer<typeof projectSummarySchema>

export const importReportSchema = z.object({
  imported: z.number().int(),
  skipped: z.number().int(),
  problems: z.array(z.object({ file: z.string(), message: z.string() })),
})

export const projectCreate = defineRoute(
  'project.create',
  z.object({
    imagesDir: z.string().min(1),
    /** The project file; default `<imagesDir>/camlabel.sqlite` is avoided: default is beside it. */
    projectPath: z.string().min(1).optional(),
    labels: labelSourceSchema,
  }),
  z.object({ project: projectSummarySchema, report: importReportSchema }),
)

export const projectOpen = defineRoute(
  'project.open',
  z.object({ path: z.string().min(1) }),
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
    z.object({ path: z.string(), name: z.string(), openedAt: z.string(), exists: z.boolean() }),
  ),
)

/** Changes the project's settings (stored in the project file). */
export const projectSettings = defineRoute(
  'project.settings',
  z.object({ upscale: upscaleModeSchema.optional() }),
  projectSummarySchema,
)

export const projectRoutes = [
  projectCreate,
  projectOpen,
  projectSummary,
  projectRecent,
  projectSettings,
] as const
