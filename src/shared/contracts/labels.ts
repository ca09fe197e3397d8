/**
 * Routes about where each label's CAM comes from (issue 5): the model's own classes, a head learned
 * on the project's pooled features, or the class-agnostic CAM; and the user's mapping per label.
 */
import { z } from 'zod'
import { labelSchema } from './common.ts'
import { defineRoute } from './contract.ts'

/**
 * A label's mapping: `auto` (model class when the label is one, learned head otherwise), `learn`,
 * `agnostic`, or model classes, each a wnid, a class name, or `#N` / `#N-M` class indices.
 */
export const labelMappingSchema = z.union([
  z.enum(['auto', 'learn', 'agnostic']),
  z.array(z.string().trim().min(1).max(200)).min(1).max(1000),
])
export type LabelMappingInput = z.infer<typeof labelMappingSchema>

/** Where a label's CAM comes from now; `negatives` for a 'background' label (trained, not proposed). */
export const labelSourceKindSchema = z.enum(['model', 'learned', 'agnostic', 'negatives'])
export type LabelSourceKind = z.infer<typeof labelSourceKindSchema>

export const labelSourceInfoSchema = z.object({
  label: z.string(),
  images: z.number().int(),
  mapping: labelMappingSchema,
  source: labelSourceKindSchema,
  /** For `model`: the names of the model classes used. */
  modelClasses: z.array(z.string()).optional(),
  /** For a learned label: the head's cross-validated accuracy on its images (null: no CV). */
  cvAccuracy: z.number().nullable().optional(),
  /** A proposal run learns a head for this label first (it stays class-agnostic until then). */
  needsHead: z.boolean(),
  /** The source kinds of the label's stored proposals. */
  proposedWith: z.array(z.string()),
  /** Images whose proposals of this label came from another source: the next run redoes them. */
  staleImages: z.number().int(),
  /** Why this label's learned CAM may be poor (too few images…). */
  warning: z.string().optional(),
})
export type LabelSourceInfo = z.infer<typeof labelSourceInfoSchema>

export const headClassQualitySchema = z.object({
  name: z.string(),
  background: z.boolean(),
  images: z.number().int(),
  cvAccuracy: z.number().nullable(),
  cvFalsePositiveRate: z.number().nullable(),
  warning: z.string().optional(),
})

/** The project's stored learned head and its honest quality report. */
export const headSummarySchema = z.object({
  kind: z.enum(['softmax', 'ovr']),
  lambda: z.number(),
  images: z.number().int(),
  folds: z.number().int(),
  cvAccuracy: z.number().nullable(),
  usable: z.boolean(),
  warnings: z.array(z.string()),
  classes: z.array(headClassQualitySchema),
  /** When it was trained (ms since the epoch). */
  trainedAt: z.number(),
})
export type HeadSummary = z.infer<typeof headSummarySchema>

export const labelSourcesSchema = z.object({
  model: z.string(),
  head: headSummarySchema.nullable(),
  labels: z.array(labelSourceInfoSchema),
  /** Images (distinct) the next proposal run redoes for some label whose source changed. */
  staleImages: z.number().int(),
  /** Project-wide warnings (one class only: add negatives; the head's own warnings). */
  warnings: z.array(z.string()),
})
export type LabelSources = z.infer<typeof labelSourcesSchema>

export const labelsSources = defineRoute(
  'labels.sources',
  z.object({ model: z.string().min(1).optional() }),
  labelSourcesSchema,
)

/**
 * Sets a label's mapping (validated against the model's classes: an unknown class is an error that
 * names it). The next proposal run re-proposes the label's pending proposals; decisions are kept.
 */
export const labelsSetMapping = defineRoute(
  'labels.setMapping',
  z.object({
    label: labelSchema,
    mapping: labelMappingSchema,
    model: z.string().min(1).optional(),
  }),
  labelSourcesSchema,
)

/** Adds a label to the project (for boxes of a class no image is labelled with yet). */
export const labelsAdd = defineRoute(
  'labels.add',
  z.object({ label: labelSchema }),
  z.object({ classes: z.array(z.string()) }),
)

/**
 * Renames a label, keeping its boxes, proposals and image labels; onto another label's name, the
 * two are merged.
 */
export const labelsRename = defineRoute(
  'labels.rename',
  z.object({ from: z.string(), to: labelSchema }),
  z.object({ classes: z.array(z.string()), merged: z.boolean(), images: z.number().int() }),
)

/** What deleting a label would delete, for the confirmation. */
export const labelsUsage = defineRoute(
  'labels.usage',
  z.object({ label: z.string() }),
  z.object({ images: z.number().int(), boxes: z.number().int(), proposals: z.number().int() }),
)

/** Deletes a label with its image labels, proposals, CAMs and boxes. */
export const labelsRemove = defineRoute(
  'labels.remove',
  z.object({ label: z.string() }),
  z.object({ classes: z.array(z.string()), images: z.number().int(), boxes: z.number().int() }),
)

export const labelRoutes = [
  labelsSources,
  labelsSetMapping,
  labelsAdd,
  labelsRename,
  labelsUsage,
  labelsRemove,
] as const
