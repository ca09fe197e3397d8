/** The running proposal job: progress, rate, ETA, provider, cancel. Fed by job events. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { AppEventOf } from '../../../shared/contracts/index.ts'
import { errorText, invoke, onEvent } from '../api/client.ts'

type Progress = AppEventOf<'job.progress'>

export const useJobsStore = defineStore('jobs', () => {
  const jobId = ref<string | null>(null)
  const progress = ref<Progress | null>(null)
  const provider = ref<string | null>(null)
  const lastResult = ref<{
    done: number
    failed: number
    seconds: number
    cancelled: boolean
  } | null>(null)
  const error = ref<string | null>(null)
  const running = computed(() => jobId.value !== null)
  const fraction = computed(() =>
    progress.value && progress.value.total > 0 ? progress.value.done / progress.value.total : 0,
  )

  const unsubscribers: (() => void)[] = []

  /** Subscribes to job events once; safe to call again. */
  function listen(): void {
    if (unsubscribers.length) return
    unsubscribers.push(
      onEvent('job.progress', (e) => {
        if (jobId.value === null) jobId.value = e.jobId
        if (e.jobId !== jobId.value) return
        progress.value = e
        if (e.provider) provider.value = e.provider
      }),
      onEvent('job.done', (e) => {
        if (e.jobId !== jobId.value) return
        lastResult.value = {
          done: e.done,
          failed: e.failed,
          seconds: e.seconds,
          cancelled: e.cancelled,
        }
        if (e.provider) provider.value = e.provider
        jobId.value = null
        progress.value = null
      }),
      onEvent('job.failed', (e) => {
        if (e.jobId !== jobId.value) return
        error.value = e.error.hint ? `${e.error.message} — ${e.error.hint}` : e.error.message
        jobId.value = null
        progress.value = null
      }),
    )
  }

  async function propose(model: string | undefined, threshold?: number): Promise<void> {
    listen()
    error.value = null
    lastResult.value = null
    try {
      const input: { model?: string; threshold?: number; scope: 'missing' } = { scope: 'missing' }
      if (model) input.model = model
      if (threshold !== undefined) input.threshold = threshold
      const out = await invoke('job.propose', input)
      if (out.total === 0) {
        lastResult.value = { done: 0, failed: 0, seconds: 0, cancelled: false }
        return
      }
      jobId.value = out.jobId
    } catch (err) {
      error.value = errorText(err)
    }
  }

  async function cancel(): Promise<void> {
    if (jobId.value) await invoke('job.cancel', { jobId: jobId.value })
  }

  return {
    jobId,
    progress,
    provider,
    lastResult,
    error,
    running,
    fraction,
    listen,
    propose,
    cancel,
  }
})
