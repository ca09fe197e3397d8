/** Routes that page through the project's images for the gallery. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'
import { boxSchema, boxStatusSchema, imageStatusSchema } from './common.ts'

export const galleryFilterSchema = z.object({
  status: imageStatusSchema.optional(),
  label: z.string().optional(),
  /** Only the images the last run could not read. */
  unreadable: z.boolean().optional(),
  /** Only images whose path holds this text. */
  search: z.string().max(200).optional(),
  /** 'score': lowest proposal score first, so doubtful images are reviewed first. */
  sort: z.enum(['name', 'score']).default('name'),
})
export type GalleryFilter = z.infer<typeof galleryFilterSchema>

export const galleryItemSchema = z.object({
  id: z.number().int(),
  file: z.string(),
  width: z.number(),
  height: z.number(),
  status: imageStatusSchema,
  labels: z.array(z.string()),
  minScore: z.number().nullable(),
  boxes: z.array(z.object({ box: boxSchema, status: boxStatusSchema, label: z.string() })),
  /** Why the last run could not read the image, or null. */
  error: z.string().nullable(),
})
export type GalleryItem = z.infer<typeof galleryItemSchema>

export const galleryPage = defineRoute(
  'gallery.page',
  galleryFilterSchema.extend({
    offset: z.number().int().min(0),
    limit: z.number().int().min(1).max(1000),
  }),
  z.object({ total: z.number().int(), items: z.array(galleryItemSchema) }),
)

/** Every image id matching a filter, in order: the review sequence of "next image". */
export const galleryIds = defineRoute(
  'gallery.ids',
  galleryFilterSchema,
  z.object({ ids: z.array(z.number().int()) }),
)

export const galleryRoutes = [galleryPage, galleryIds] as const
