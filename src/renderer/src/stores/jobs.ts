/**
 * The running job (a proposal run or "learn classes"): progress, rate, ETA, provider, cancel. Fed
 * by job events. A job can end before its start call returns (nothing to do, a quick learn), and
 * its progress can arrive before that answer too: every job that ended is remembered, so neither a
 * late answer nor a late event makes an ended job run again.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { AppEventOf } from '../../../shared/contracts/index.ts'
import type { JobKind } from '../../../shared/contracts/events.ts'
import { errorText, invoke, onEvent } from '../api/client.ts'
import { appErrorText } from '../api/appWords.ts'

type Progress = AppEventOf<'job.progress'>
type Ended = AppEventOf<'job.done'> | AppEventOf<'job.failed'>

export interface JobResult {
  kind: JobKind
  done: number
  failed: number
  seconds: number
  cancelled: boolean
  message?: string
}

export const useJobsStore = defineStore('jobs', () => {
  const jobId = ref<string | null>(null)
  const kind = ref<JobKind | null>(null)
  const progress = ref<Progress | null>(null)
  const provider = ref<string | null>(null)
  const lastResult = ref<JobResult | null>(null)
  const error = ref<string | null>(null)
  /** Counts finished jobs, so views can reload what a job changed. */
  const finished = ref(0)
  const running = computed(() => jobId.value !== null)
  const fraction = computed(() =>
    progress.value && progress.value.total > 0 ? progress.value.done / progress.value.total : 0,
  )
  /** Ends of jobs this store has not been told about yet (see the file comment). */
  const early = new Map<string, Ended>()
  /** Jobs that ended: their late progress and their start's late answer are ignored. */
  const ended = new Set<string>()

  const unsubscribers: (() => void)[] = []

  function end(e: Ended): void {
    ended.add(e.jobId)
    if (e.type === 'job.done') {
      lastResult.value = {
        kind: e.kind,
        done: e.done,
        failed: e.failed,
        seconds: e.seconds,
        cancelled: e.cancelled,
        ...(e.message ? { message: e.message } : {}),
      }
      if (e.provider) provider.value = e.provider
    } else {
      error.value = appErrorText(e.error.code, e.error.message, e.error.hint)
    }
    jobId.value = null
    kind.value = null
    progress.value = null
    finished.value++
  }

  /** Subscribes to job events once; safe to call again. */
  function listen(): void {
    if (unsubscribers.length) return
    const onEnd = (e: Ended): void => {
      if (e.jobId === jobId.value) end(e)
      else early.set(e.jobId, e)
    }
    unsubscribers.push(
      onEvent('job.progress', (e) => {
        if (ended.has(e.jobId)) return
        if (jobId.value === null && !early.has(e.jobId)) {
          jobId.value = e.jobId
          kind.value = e.kind
        }
        if (e.jobId !== jobId.value) return
        progress.value = e
        if (e.provider) provider.value = e.provider
      }),
      onEvent('job.done', onEnd),
      onEvent('job.failed', onEnd),
    )
  }

  async function start(
    which: JobKind,
    call: () => Promise<{ jobId: string; total: number }>,
  ): Promise<void> {
    listen()
    error.value = null
    lastResult.value = null
    try {
      const out = await call()
      // Ended already, and shown: by its end event (before this answer), or kept in `early`.
      if (ended.has(out.jobId)) return
      const endedEarly = early.get(out.jobId)
      early.delete(out.jobId)
      jobId.value = out.jobId
      kind.value = which
      if (endedEarly) end(endedEarly)
    } catch (err) {
      error.value = errorText(err)
    }
  }

  /** Proposes boxes for the images and labels that need it (see job.propose). */
  async function propose(model: string | undefined, threshold?: number): Promise<void> {
    const input: { model?: string; threshold?: number; scope: 'missing' } = { scope: 'missing' }
    if (model) input.model = model
    if (threshold !== undefined) input.threshold = threshold
    await start('propose', () => invoke('job.propose', input))
  }

  /** Extracts missing features and trains the learned head (see job.learn). */
  async function learn(model: string | undefined, force = false): Promise<void> {
    await start('learn', () => invoke('job.learn', model ? { model, force } : { force }))
  }

  async function cancel(): Promise<void> {
    if (jobId.value) await invoke('job.cancel', { jobId: jobId.value })
  }

  return {
    jobId,
    kind,
    progress,
    provider,
    lastResult,
    error,
    finished,
    running,
    fraction,
    listen,
    propose,
    learn,
    cancel,
  }
})
