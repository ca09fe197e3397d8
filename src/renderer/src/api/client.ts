/**
 * The renderer's one way out: a typed client over `window.camlabel` (the preload bridge, or the
 * test host's shim). Stores take the client through `setApiClient`, so they test without Electron.
 */
import type {
  AppEventOf,
  AppEventType,
  CamlabelBridge,
  RouteInput,
  RouteName,
  RouteOutput,
} from '../../../shared/contracts/index.ts'

import { appErrorText } from './appWords.ts'

export type ApiClient = CamlabelBridge

/** An error from a route, with the code and hint main sent. */
export class RouteError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
    this.name = 'RouteError'
  }
}

let current: ApiClient | null = null

/** Sets the client every store uses (the bridge in the app, a test double in unit tests). */
export function setApiClient(client: ApiClient): void {
  current = client
}

export function api(): ApiClient {
  if (current) return current
  const bridge = (globalThis as { camlabel?: CamlabelBridge }).camlabel
  if (!bridge)
    throw new Error('The camlabel bridge is missing: the page was opened outside the app.')
  current = bridge
  return bridge
}

/** Shorthands for the stores. */
export async function invoke<N extends RouteName>(
  route: N,
  input: RouteInput<N>,
): Promise<RouteOutput<N>> {
  const result = await api().invoke(route, input)
  if (result.ok) return result.value
  throw new RouteError(result.error.code, result.error.message, result.error.hint)
}

export function onEvent<T extends AppEventType>(
  type: T,
  cb: (e: AppEventOf<T>) => void,
): () => void {
  return api().on(type, cb)
}

/** A short user-facing text for any error a route threw, in the app's words (appWords.ts). */
export function errorText(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as { message: string; hint?: string; code?: string }
    return appErrorText(e.code, e.message, e.hint)
  }
  return String(err)
}
