/**
 * Progress on stderr with count, rate and ETA. On a terminal the line is redrawn in place; in logs
 * (CI, pipes) a line is written at most every few seconds so logs stay readable.
 */
import type { CommandIO } from './io.ts'

export interface ProgressLine {
  update(done: number, total: number, failed: number): void
  finish(): void
}

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const s = Math.round(seconds)
  if (s >= 3600)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

export function progressLine(
  io: CommandIO,
  what: string,
  now: () => number = performance.now.bind(performance),
): ProgressLine {
  const started = now()
  let lastPrinted = -Infinity
  let last = ''
  return {
    update(done, total, failed) {
      const t = now()
      const elapsed = (t - started) / 1000
      const rate = elapsed > 0 ? done / elapsed : 0
      const eta = rate > 0 ? (total - done) / rate : Infinity
      last =
        `${what} ${done}/${total}` +
        (failed ? ` (${failed} failed)` : '') +
        ` · ${rate.toFixed(1)} images/s · ETA ${formatDuration(eta)}`
      if (io.isTTY) io.stderr(`\r${last}\x1b[K`)
      else if (t - lastPrinted >= 5000 || done === total) {
        io.stderr(last + '\n')
        lastPrinted = t
      }
    },
    finish() {
      if (io.isTTY && last) io.stderr('\n')
    },
  }
}
