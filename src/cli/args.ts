import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CamlabelError } from '../shared/errors.ts'

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * Parses a command's arguments strictly; an unknown or malformed option becomes an
 * INVALID_ARGUMENT error that names it and points at --help.
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, command: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      (err as Error).message,
      `Run 'camlabel ${command} --help' for the options.`,
    )
  }
}

/** Parses a number option, with a clear error naming the option when it is not one. */
export function numberOption(
  value: string | undefined,
  name: string,
  fallback: number,
  range: [number, number] = [-Infinity, Infinity],
  integer = false,
): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n < range[0] || n > range[1] || (integer && !Number.isInteger(n))) {
    const what = integer ? 'a whole number' : 'a number'
    const span = Number.isFinite(range[0]) ? ` from ${range[0]} to ${range[1]}` : ''
    throw new CamlabelError('INVALID_ARGUMENT', `--${name} must be ${what}${span}, got '${value}'`)
  }
  return n
}

/** Parses an option that takes one of a few words, with a clear error listing them. */
export function choiceOption<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
  fallback: T,
): T {
  if (value === undefined) return fallback
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new CamlabelError(
    'INVALID_ARGUMENT',
    `--${name} must be one of ${allowed.join(', ')}, got '${value}'`,
  )
}
