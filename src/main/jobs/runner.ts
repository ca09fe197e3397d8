/**
 * The app's job runner: one job at a time per open project (a second is PROJECT_BUSY: both would
 * use the inference worker and write the same project), started in the background with an id the
 * start call answers at once; progress, rate and ETA (progress.ts) go out as `job.progress` events,
 * at most every PROGRESS_INTERVAL_MS within a stage, and every job ends with exactly one
 * `job.done` (its result, or cancelled) or `job.failed` (its error).
 */
import { randomUUID } from 'node:crypto'
import type { AppEvent, JobKind } from '../../shared/contracts/events.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { progressClock, type JobEvent, type Report, type StageProgress } from './progress.ts'

const PROGRESS_INTERVAL_MS = 150

/** What a job body returns for its job.done event. */
export interface JobOutcome {
  done: number
  failed: number
  cancelled: boolean
  /** What else the job did, in a line (a head learned, labels re-proposed, a warning). */
  message?: string
}

/** A job body: does the work, reports progress, stops on the signal. */
export type JobBody = (report: Report, signal: AbortSignal) => Promise<JobOutcome>

export class JobRunner {
  private current:
    { id: string; kind: JobKind; controller: AbortController; ended: Promise<void> } | undefined

  constructor(private readonly emit: (event: AppEvent) => void) {}

  /** True while a job runs. */
  get busy(): boolean {
    return this.current !== undefined
  }

  /** The kind of the running job, if any. */
  get kind(): JobKind | undefined {
    return this.current?.kind
  }

  /**
   * Starts `body` in the background and returns its job id; events follow (see the module
   * comment). `onEnd` runs after the job's last event.
   * @throws CamlabelError PROJECT_BUSY when a job is already running
   */
  start(kind: JobKind, model: string, body: JobBody, onEnd?: () => void): string {
    if (this.current) {
      throw new CamlabelError(
        'PROJECT_BUSY',
        'A job is already running on this project',
        'Wait for it to finish, or cancel it from the job bar.',
      )
    }
    const jobId = randomUUID()
    const controller = new AbortController()
    const started = performance.now()
    const clock = progressClock()
    let provider: string | null = null
    let last: StageProgress = { stage: 'loading-model', done: 0, total: 0, failed: 0 }
    let lastSent = -Infinity
    const send = (p: StageProgress, force: boolean): void => {
      const changed = p.stage !== last.stage
      last = p
      const { rate, eta } = clock.measure(p)
      const now = performance.now()
      if (!force && !changed && p.done !== p.total && now - lastSent < PROGRESS_INTERVAL_MS) return
      lastSent = now
      this.emit({ type: 'job.progress', jobId, kind, ...p, rate, eta, provider, model })
    }
    const report = (e: JobEvent): void => {
      if (e.type === 'progress')
        send({ stage: e.stage, done: e.done, total: e.total, failed: e.failed }, false)
      else if (e.type === 'ready') {
        provider = e.info.provider
        send(last, true)
      } else
        send({ stage: 'learning', done: e.labels.length, total: e.labels.length, failed: 0 }, true)
    }
    const finish = (o: JobOutcome): void => {
      this.emit({
        type: 'job.done',
        jobId,
        kind,
        done: o.done,
        failed: o.failed,
        seconds: (performance.now() - started) / 1000,
        cancelled: o.cancelled,
        provider,
        ...(o.message ? { message: o.message } : {}),
      })
    }
    send(last, true)
    const ended = (async () => {
      // One turn first: the start call answers before any job event but the first progress.
      await new Promise(setImmediate)
      try {
        finish(await body(report, controller.signal))
      } catch (err) {
        const e = toErrorData(err)
        if (e.code === 'CANCELLED' || controller.signal.aborted)
          finish({ done: last.done, failed: last.failed, cancelled: true })
        else this.emit({ type: 'job.failed', jobId, error: e })
      } finally {
        this.current = undefined
        onEnd?.()
      }
    })()
    this.current = { id: jobId, kind, controller, ended }
    return jobId
  }

  /** Cancels the job; false when it is not (or no longer) running. */
  cancel(jobId: string): boolean {
    if (this.current?.id !== jobId) return false
    this.current.controller.abort()
    return true
  }

  /** Cancels the running job, if any, and waits for its end (closing a project or the app). */
  async stop(): Promise<void> {
    const job = this.current
    if (!job) return
    job.controller.abort()
    await job.ended
  }
}
