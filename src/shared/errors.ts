/**
 * Domain errors carry a stable `code` so the CLI, the IPC routes and the UI can show a clear message
 * and a way out. `hint` says what the user can do about it.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNKNOWN_MODEL'
  | 'MODEL_UNUSABLE'
  | 'MODEL_FETCH_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'OFFLINE'
  | 'IMAGE_UNREADABLE'
  | 'IMAGE_TOO_LARGE'
  | 'PARSE_ERROR'
  | 'PATH_OUTSIDE_ROOT'
  | 'PROJECT_TOO_NEW'
  | 'PROJECT_BUSY'
  | 'ALREADY_EXISTS'
  | 'DISK_FULL'
  | 'READ_ONLY'
  | 'CANCELLED'
  | 'INTERNAL'

export class CamlabelError extends Error {
  readonly code: ErrorCode
  readonly hint: string | undefined

  constructor(code: ErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CamlabelError'
    this.code = code
    this.hint = hint
  }
}

/** A plain-object form of an error, safe to send over IPC or print as JSON. */
export interface ErrorData {
  code: ErrorCode
  message: string
  hint?: string
}

/** The error an ErrorData stands for, as thrown on the side that receives it (a worker's reply). */
export function fromErrorData(data: ErrorData): CamlabelError {
  return new CamlabelError(data.code, data.message, data.hint)
}

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof CamlabelError) {
    return err.hint === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, hint: err.hint }
  }
  if (err instanceof Error && err.name === 'AbortError')
    return { code: 'CANCELLED', message: 'Cancelled' }
  const e = err as { code?: string; message?: string }
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT' || e?.code === 'SQLITE_FULL') {
    return {
      code: 'DISK_FULL',
      message: 'The disk is full',
      hint: 'Free some space and try again; nothing was lost.',
    }
  }
  if (e?.code === 'SQLITE_BUSY' || e?.code === 'SQLITE_LOCKED') {
    return {
      code: 'PROJECT_BUSY',
      message: 'The project is busy: another camlabel process is writing it',
      hint: 'Try again in a moment; nothing was lost.',
    }
  }
  if (typeof e?.code === 'string' && e.code.startsWith('SQLITE_READONLY')) {
    return {
      code: 'READ_ONLY',
      message: 'The project file cannot be written (it, or its folder, is read-only)',
      hint: 'Copy the project and its images to a folder you can write to, or fix its permissions.',
    }
  }
  if (e?.code === 'EROFS' || e?.code === 'EACCES' || e?.code === 'EPERM') {
    return {
      code: 'READ_ONLY',
      message: `Not allowed to write: ${e.message ?? ''}`.trim(),
      hint: 'Choose a place you can write to, or fix its permissions.',
    }
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) }
}

/** Throws INVALID_ARGUMENT naming the parameter, what was expected and what came. */
export function invalidParameter(name: string, expected: string, actual: unknown): CamlabelError {
  return new CamlabelError(
    'INVALID_ARGUMENT',
    `Expected ${expected} for ${name} but received ${JSON.stringify(actual)}`,
  )
}
