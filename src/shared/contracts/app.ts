/** Routes about the application itself: version, models, native dialogs. */
import { z } from 'zod'
import { defineRoute } from './contract.ts'

export const modelInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The model file is on this machine (a run works offline). */
  available: z.boolean(),
  isDefault: z.boolean(),
})
export type ModelInfo = z.infer<typeof modelInfoSchema>

export const appInfo = defineRoute(
  'app.info',
  z.object({}),
  z.object({
    version: z.string(),
    /** 'electron' in the app, 'test-host' when the renderer is served by the Node test host. */
    shell: z.enum(['electron', 'test-host']),
    models: z.array(modelInfoSchema),
  }),
)

/** The token of a path the user chose in main's picker (the page never sends a path itself). */
export const pathTokenSchema = z.string().regex(/^[0-9a-f]{32}$/, 'a path token from a chooser')

/** A chosen path: the token to send back to main, the path and name to show. */
export const pathChoiceSchema = z.object({
  token: pathTokenSchema,
  path: z.string(),
  name: z.string(),
})
export type PathChoice = z.infer<typeof pathChoiceSchema>

/**
 * Opens the native chooser: an existing folder or file, or where to save. `null` when the user
 * cancels. The answer's token is what the create, open and export routes take.
 */
export const appPickPath = defineRoute(
  'app.pickPath',
  z.object({
    kind: z.enum(['folder', 'file', 'save']),
    title: z.string().max(200).optional(),
    /** For `save`: the file name the dialog proposes. */
    defaultName: z.string().max(255).optional(),
  }),
  z.object({ choice: pathChoiceSchema.nullable() }),
)

export const appRoutes = [appInfo, appPickPath] as const
