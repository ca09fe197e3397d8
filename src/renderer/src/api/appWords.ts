/**
 * Errors in the app's own words. Main's errors are shared with the command line, so their hints
 * may name its flags (--overwrite, --labels) or commands (camlabel init, npm run models); here the
 * error's code picks what to do in the app, and a hint written for the terminal is never shown.
 */

/** What a person does in the app about an error of each code (undefined: the hint as it is). */
const APP_HINT: Partial<Record<string, string>> = {
  ALREADY_EXISTS: 'Choose another name, or tick “Replace” where the dialog offers it.',
  NOT_FOUND: 'Choose it again with “Choose…”.',
  UNKNOWN_MODEL: 'Pick a model listed under Model.',
  MODEL_FETCH_FAILED:
    'The model could not be downloaded. Copy the model files into the models folder, then restart camlabel.',
  OFFLINE:
    'camlabel cannot reach the internet. Copy the model files into the models folder, then restart camlabel.',
  CHECKSUM_MISMATCH: 'The model file is damaged. Copy it again into the models folder.',
  PROJECT_BUSY:
    'Another camlabel window or command is using this project: wait for it, then retry.',
  PROJECT_TOO_NEW: 'Update camlabel to open this project.',
  DISK_FULL: 'Free some space on the disk and try again; nothing was lost.',
  READ_ONLY: 'Choose a place you can write to.',
  CANCELLED: '',
}

/** A hint written for the command line: it names a flag or a command. */
function forTerminal(hint: string): boolean {
  return /(^|\s|\()--[a-z]|camlabel (init|propose|export|learn|status|models)\b|npm run\b/.test(
    hint,
  )
}

/** The message of an error for the app: main's message, and a hint in the app's words. */
export function appErrorText(code: string | undefined, message: string, hint?: string): string {
  const mapped = code !== undefined ? APP_HINT[code] : undefined
  const shown = mapped !== undefined ? mapped : hint && !forTerminal(hint) ? hint : ''
  const text = message.replace(/\s*\(--[a-z-]+\)/g, '')
  return shown ? `${text} — ${shown}` : text
}
