/**
 * The bridge: the only thing the sandboxed page can reach. `invoke` refuses unknown routes and
 * validates the input with the route's zod schema before anything crosses to main (which validates
 * again); `on` delivers typed events and returns an unsubscribe; `imageUrl` builds the custom
 * protocol URL of a project image. No Node API, no ipcRenderer, reaches the page.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import {
  APP_EVENT_TYPES,
  EVENT_CHANNEL,
  INVOKE_CHANNEL,
  ROUTES,
  describeZodError,
  isRouteName,
  type AppEvent,
  type InvokeResult,
} from '../shared/contracts/index.ts'

const EVENT_TYPES: ReadonlySet<string> = new Set(APP_EVENT_TYPES)

function fail(code: string, message: string): InvokeResult<never> {
  return { ok: false, error: { code, message } }
}

const bridge = {
  async invoke(route: unknown, input: unknown): Promise<InvokeResult<unknown>> {
    if (!isRouteName(route))
      return fail('INVALID_ARGUMENT', `Unknown route ${JSON.stringify(route)}`)
    const parsed = ROUTES[route].input.safeParse(input ?? {})
    if (!parsed.success) return fail('INVALID_ARGUMENT', describeZodError(route, parsed.error))
    return (await ipcRenderer.invoke(INVOKE_CHANNEL, route, parsed.data)) as InvokeResult<unknown>
  },
  on(type: unknown, callback: unknown): () => void {
    if (typeof type !== 'string' || !EVENT_TYPES.has(type))
      throw new Error(`Unknown event ${JSON.stringify(type)}`)
    if (typeof callback !== 'function')
      throw new Error('on(type, callback): callback must be a function')
    const listener = (_e: IpcRendererEvent, event: AppEvent): void => {
      if (event?.type === type) (callback as (e: AppEvent) => void)(event)
    }
    ipcRenderer.on(EVENT_CHANNEL, listener)
    return () => void ipcRenderer.removeListener(EVENT_CHANNEL, listener)
  },
  imageUrl(imageId: unknown, variant: unknown): string {
    const id = Number(imageId)
    if (!Number.isInteger(id) || id < 0)
      throw new Error('imageUrl: imageId must be a non-negative integer')
    const kind = variant === 'thumb' || variant === 'thumb1x' ? variant : 'image'
    return `camlabel-image://${kind}/${id}`
  },
}

contextBridge.exposeInMainWorld('camlabel', bridge)
