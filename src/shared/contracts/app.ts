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

/** Opens the native file/folder chooser (Electron only; the test host answers `null`). */
export const appPickPath = defineRoute(
  'app.pickPath',
  z.object({ kind: z.enum(['folder', 'file', 'save']), title: z.string().max(200).optional() }),
  z.object({ path: z.string().nullable() }),
)

export const appRoutes = [appInfo, appPickPath] as const
