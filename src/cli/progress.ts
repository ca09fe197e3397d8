/**
 * A job's progress on stderr: one line per stage with count, rate and ETA (from the jobs' stage
 * clock, the same figures the app shows), the model and provider once loaded, and the learned
 * head's report. On a terminal the line is redrawn in place; in logs (CI, pipes) a line is written
 * at most every few seconds so logs stay readable.
 */
import { formatHeadQuality } from '../main/engine/head.ts'
import { progressClock, type JobStage, type Report } from '../main/jobs/progress.ts'
import type { ReadyInfo } from '../main/jobs/protocol.ts'
import type { LearnProjectResult } from '../main/project/learnProject.ts'
import type { CommandIO } from './io.ts'

/** How each stage is named on its progress line. */
const STAGE_NAMES: Partial<Record<JobStage, string>> = {
  importing: 'import',
  features: 'features',
  recompute: 'recompute',
  'review-cells': 'reviewed images',
  proposing: 'propose',
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

/** The line saying which model runs on which execution provider, and why not on a GPU. */
export function readyLine(info: ReadyInfo): string {
  return `model ${info.modelId} on ${info.provider}${info.providerNote ? ` (${info.providerNote})` : ''}\n`
}

/**
 * Reports a project's learned head on stderr: the feature pass (or that cached features were
 * reused), the quality table when the head was trained now, else one line on the stored head.
 */
export function reportLearned(learn: LearnProjectResult, io: CommandIO): void {
  const f = learn.features
  if (f) {
    if (f.total === 0) io.stderr(`features: all ${f.cached} images cached (no feature pass)\n`)
    else
      io.stderr(
        `features: ${f.extracted} extracted, ${f.failed} failed, ${f.cached} cached before` +
          `${f.cancelled ? '; cancelled — run again to resume' : ''}\n`,
      )
    for (const e of f.errors.slice(0, 20)) io.stderr(`error: ${e.file}: ${e.error}\n`)
  }
  if (learn.warning) io.stderr(`warning: ${learn.warning}\n`)
  const head = learn.head
  if (!head) return
  if (learn.trained) {
    io.stderr(
      `${formatHeadQuality(head).join('\n')}\ntrained in ${(learn.trainMs ?? 0).toFixed(0)} ms (with the cross-validation)\n`,
    )
  } else {
    const acc = head.quality.cvAccuracy
    io.stderr(
      `using the stored head (${head.quality.images} images, ` +
        `${acc === null ? 'no cross-validation' : `CV accuracy ${(100 * acc).toFixed(1)}%`}; ` +
        `labels and images unchanged since it was trained)\n`,
    )
    for (const w of head.quality.warnings) io.stderr(`warning: ${w}\n`)
  }
}

/** A Report that prints a job's events on stderr; `finish` ends the last progress line. */
export function cliReport(
  io: CommandIO,
  now: () => number = () => performance.now(),
): Report & { finish(): void } {
  const clock = progressClock(now)
  let stage: JobStage | undefined
  let last = ''
  let lastPrinted = -Infinity
  const endLine = () => {
    if (io.isTTY && last) io.stderr('\n')
    last = ''
  }
  const report = (e: Parameters<Report>[0]): void => {
    if (e.type === 'ready') {
      endLine()
      io.stderr(readyLine(e.info))
      return
    }
    if (e.type === 'learning') {
      endLine()
      io.stderr(`learning a CAM head for: ${e.labels.join(', ')}\n`)
      return
    }
    if (e.type === 'learned') {
      endLine()
      if (e.learn.head) io.stderr(`learned CAM head for: ${e.labels.join(', ')}\n`)
      reportLearned(e.learn, io)
      return
    }
    const name = STAGE_NAMES[e.stage]
    if (!name) return
    if (e.stage !== stage) {
      endLine()
      stage = e.stage
      lastPrinted = -Infinity
    }
    const m = clock.measure(e)
    last =
      `${name} ${m.done}/${m.total}` +
      (m.failed ? ` (${m.failed} failed)` : '') +
      ` · ${m.rate.toFixed(1)} images/s · ETA ${formatDuration(m.eta ?? Infinity)}`
    const t = now()
    if (io.isTTY) io.stderr(`\r${last}\x1b[K`)
    else if (t - lastPrinted >= 5000 || m.done === m.total) {
      io.stderr(last + '\n')
      lastPrinted = t
    }
  }
  return Object.assign(report, { finish: endLine })
}
