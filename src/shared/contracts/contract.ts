/**
 * The shape of one route between the renderer and the main process: a name, a zod input and a zod
 * output. Both sides validate against the same schemas (the preload before sending, main again on
 * receipt), so a bad call fails at the boundary with a message naming the field.
 */
import { z } from 'zod'

/** The one channel every route is invoked through, and the one channel events come back on. */
export const INVOKE_CHANNEL = 'camlabel:invoke'
export const EVENT_CHANNEL = 'camlabel:event'

export interface RouteContract<
  Name extends string = string,
  In extends z.ZodType = z.ZodType,
  Out extends z.ZodType = z.ZodType,
> {
  name: Name
  input: In
  output: Out
}

/** Declares one route; the literal name types the renderer's client. */
export function defineRoute<Name extends string, In extends z.ZodType, Out extends z.ZodType>(
  name: Name,
  input: In,
  output: Out,
): RouteContract<Name, In, Out> {
  return { name, input, output }
}

/**
 * Builds the name → contract map, refusing two contracts with the same name: a silent override
 * would route calls to the wrong handler.
 */
export function routeMap<const T extends readonly RouteContract[]>(
  contracts: T,
): { [K in T[number] as K['name']]: K } {
  const map: Record<string, RouteContract> = {}
  for (const c of contracts) {
    if (Object.hasOwn(map, c.name)) throw new Error(`Duplicate route contract '${c.name}'`)
    map[c.name] = c
  }
  return map as { [K in T[number] as K['name']]: K }
}

/** The error a route returns: a stable code, a message and what the user can do. */
export const errorDataSchema = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
})

/**
 * What travels back on the invoke channel. Errors are data, not thrown exceptions, so their code and
 * hint survive the trip through Electron's IPC (which keeps only the message of a thrown Error).
 */
export type InvokeResult<T> =
  { ok: true; value: T } | { ok: false; error: z.infer<typeof errorDataSchema> }

/** Formats a zod error as one line: which field, what was wrong. */
export function describeZodError(route: string, err: z.ZodError): string {
  const parts = err.issues.map(
    (i) => `${i.path.length ? i.path.join('.') : '(input)'}: ${i.message}`,
  )
  return `Invalid input for route '${route}': ${parts.join('; ')}`
}
