/**
 * The proposal job: images of the open project without proposals from this model revision go to
 * the inference worker (runProposalJob); each result is persisted as it arrives (a crash loses at
 * most the image in flight, and a new job resumes), and progress events carry count, rate, ETA and
 * the execution provider.
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { defaultModel, requireModel } from '../engine/manifest.ts'
import { preprocessingRevision } from '../engine/revision.ts'
import { runProposalJob } from '../jobs/proposalJob.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../engine/types.ts'
import { projectUpscale, type ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

const PROGRESS_INTERVAL_MS = 150

export function createJobRoutes(ctx: ServiceContext): Pick<Handlers, 'job.propose' | 'job.cancel'> {
  const running = new Map<string, AbortController>()

  return {
    'job.propose': ({ model, threshold, upscale }) => {
      const store = ctx.requireProject()
      if (running.size > 0) {
        throw new CamlabelError(
          'INVALID_ARGUMENT',
          'A proposal job is already running',
          'Wait for it or cancel it.',
        )
      }
      const spec = model ? requireModel(model) : defaultModel()
      const run = {
        model: spec.id,
        revision: preprocessingRevision(spec.id, spec.preprocessing),
        threshold: threshold ?? DEFAULT_PROPOSAL_OPTIONS.threshold,
      }
      const todo = store.imagesToPropose(run.model, run.revision).filter((t) => t.labels.length > 0)
      const jobId = randomUUID()
      if (todo.length === 0) return { jobId, total: 0 }
      const controller = new AbortController()
      running.set(jobId, controller)
      const dbJob = store.startJob('propose', run, todo.length)
      const started = performance.now()
      let provider: string | null = null
      let done = 0
      let failed = 0
      let lastSent = 0
      const progress = (stage: 'loading-model' | 'proposing', force = false): void => {
        const now = performance.now()
        if (!force && now - lastSent < PROGRESS_INTERVAL_MS) return
        lastSent = now
        const seconds = (now - started) / 1000
        const rate = done > 0 ? done / seconds : 0
        ctx.emit({
          type: 'job.progress',
          jobId,
          stage,
          done,
          total: todo.length,
          failed,
          rate,
          eta: rate > 0 ? (todo.length - done) / rate : null,
          provider,
          model: run.model,
        })
      }
      progress('loading-model', true)

      void (async () => {
        try {
          const tasks = todo.map((t) => ({
            key: String(t.id),
            path: store.imagePath(t.file),
            labels: t.labels,
          }))
          const results = runProposalJob(tasks, {
            model: spec.id,
            proposal: { threshold: run.threshold },
            upscale: upscale ?? projectUpscale(store),
            signal: controller.signal,
            onReady: (info) => {
              provider = info.provider
              progress('proposing', true)
            },
          })
          for await (const r of results) {
            const imageId = Number(r.key)
            if (r.error) {
              store.markRunFailed(imageId, run, r.error.message)
              failed++
            } else {
              store.saveProposals(imageId, run, r.labels)
            }
            done++
            store.progressJob(dbJob, done, failed)
            progress('proposing', done === todo.length)
          }
          store.finishJob(dbJob, 'done')
          ctx.emit({
            type: 'job.done',
            jobId,
            done,
            failed,
            seconds: (performance.now() - started) / 1000,
            cancelled: false,
            provider,
          })
        } catch (err) {
          const e = toErrorData(err)
          if (e.code === 'CANCELLED' || controller.signal.aborted) {
            store.finishJob(dbJob, 'cancelled')
            ctx.emit({
              type: 'job.done',
              jobId,
              done,
              failed,
              seconds: (performance.now() - started) / 1000,
              cancelled: true,
              provider,
            })
          } else {
            store.finishJob(dbJob, 'failed', e.message)
            ctx.emit({ type: 'job.failed', jobId, error: e })
          }
        } finally {
          running.delete(jobId)
          ctx.emit({ type: 'project.changed', reason: 'proposed' })
        }
      })()
      return { jobId, total: todo.length }
    },
    'job.cancel': ({ jobId }) => {
      const c = running.get(jobId)
      c?.abort()
      return { cancelled: c !== undefined }
    },
  }
}
