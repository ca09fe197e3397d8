/**
 * The app's full route map and the types the bridge is typed with. Main registers one handler per
 * entry, the preload refuses any name not in it.
 */
import type { z } from 'zod'
import { routeMap, type InvokeResult } from './contract.ts'
import { appRoutes } from './app.ts'
import { projectRoutes } from './project.ts'
import { galleryRoutes } from './gallery.ts'
import { reviewRoutes } from './review.ts'
import { jobRoutes } from './jobs.ts'
import { exportRoutes } from './exports.ts'
import { labelRoutes } from './labels.ts'
import type { AppEvent, AppEventOf, AppEventType } from './events.ts'
export { APP_EVENT_TYPES } from './events.ts'

export const ROUTES = routeMap([
  ...appRoutes,
  ...projectRoutes,
  ...galleryRoutes,
  ...reviewRoutes,
  ...jobRoutes,
  ...exportRoutes,
  ...labelRoutes,
] as const)

export type Routes = typeof ROUTES
export type RouteName = keyof Routes
/** What the caller passes (defaults not yet applied). */
export type RouteInput<N extends RouteName> = z.input<Routes[N]['input']>
/** What the handler receives (after parsing, defaults applied). */
export type RouteParsedInput<N extends RouteName> = z.output<Routes[N]['input']>
export type RouteOutput<N extends RouteName> = z.output<Routes[N]['output']>

export function isRouteName(name: unknown): name is RouteName {
  return typeof name === 'string' && Object.hasOwn(ROUTES, name)
}

/**
 * `full`: the image itself; `thumb`: the gallery thumbnail at 2× (340×268, HiDPI screens); `thumb1x`:
 * at 1× (170×134), a quarter of the pixels to decode where devicePixelRatio is 1.
 */
export type ImageVariant = 'full' | 'thumb' | 'thumb1x'

/** The bridge the preload (or the test host's shim) puts on `window.camlabel`. */
export interface CamlabelBridge {
  /**
   * Calls a route. Resolves to the result envelope rather than rejecting: errors are data at the
   * boundary, and Electron's contextBridge would keep only the message of a thrown Error.
   */
  invoke<N extends RouteName>(route: N, input: RouteInput<N>): Promise<InvokeResult<RouteOutput<N>>>
  on<T extends AppEventType>(type: T, callback: (event: AppEventOf<T>) => void): () => void
  /** URL of a project image (`full`) or its thumbnail, served by the custom protocol. */
  imageUrl(imageId: number, variant: ImageVariant): string
}

export type { AppEvent, AppEventOf, AppEventType }
export * from './contract.ts'
export * from './common.ts'
