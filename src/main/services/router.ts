/**
 * The route registry: one handler per contract, merged from each domain's `create<Domain>Routes`.
 * Refuses a route registered twice and a contract left without a handler. `dispatch` validates the
 * input with the contract (again, after the preload did), runs the handler and returns errors as
 * data, so Electron's IPC and the test host's HTTP answer the same thing.
 */
import {
  ROUTES,
  describeZodError,
  isRouteName,
  type InvokeResult,
  type RouteName,
  type RouteOutput,
  type RouteParsedInput,
} from '../../shared/contracts/index.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'

export type Handler<N extends RouteName> = (
  input: RouteParsedInput<N>,
) => Promise<RouteOutput<N>> | RouteOutput<N>
export type Handlers = { [N in RouteName]: Handler<N> }

export interface Router {
  dispatch(route: unknown, input: unknown): Promise<InvokeResult<unknown>>
  names(): RouteName[]
}

/** Merges domain handler maps into a router; throws on a duplicate or a missing route. */
export function createRouter(
  parts: Partial<Handlers>[],
  options: { checkOutput?: boolean } = {},
): Router {
  const table = new Map<RouteName, Handler<RouteName>>()
  for (const part of parts) {
    for (const [name, handler] of Object.entries(part)) {
      if (!isRouteName(name)) throw new Error(`Handler for unknown route '${name}'`)
      if (table.has(name)) throw new Error(`Route '${name}' registered twice`)
      table.set(name, handler as Handler<RouteName>)
    }
  }
  const missing = (Object.keys(ROUTES) as RouteName[]).filter((n) => !table.has(n))
  if (missing.length) throw new Error(`Routes without a handler: ${missing.join(', ')}`)

  return {
    names: () => [...table.keys()],
    async dispatch(route, input) {
      try {
        if (!isRouteName(route)) {
          throw new CamlabelError('INVALID_ARGUMENT', `Unknown route ${JSON.stringify(route)}`)
        }
        const contract = ROUTES[route]
        const parsed = contract.input.safeParse(input ?? {})
        if (!parsed.success)
          throw new CamlabelError('INVALID_ARGUMENT', describeZodError(route, parsed.error))
        const value = await table.get(route)!(parsed.data as never)
        if (options.checkOutput) {
          const out = contract.output.safeParse(value)
          if (!out.success) {
            throw new CamlabelError(
              'INTERNAL',
              `Route '${route}' answered outside its contract: ${describeZodError(route, out.error)}`,
            )
          }
        }
        return { ok: true, value }
      } catch (err) {
        const e = toErrorData(err)
        return { ok: false, error: e.hint === undefined ? { code: e.code, message: e.message } : e }
      }
    },
  }
}
