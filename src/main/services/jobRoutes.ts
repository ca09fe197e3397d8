/**
 * The app's inference jobs, run through the same project services as the command line:
 * `job.propose` runs proposeProject (learned heads for labels the model does not know, per-label
 * mappings, labels whose source changed re-proposed, re-thresholding from stored CAMs, resumable
 * per-image persistence) and `job.learn` runs learnProjectHead (the feature pass and training, both
 * in the worker). The job runner (jobs/runner.ts) owns the single-job lock, progress and the end
 * events; both jobs use the app's one inference worker, so the model is loaded once per app run.
 */
import { learnProjectHead } from '../project/learnProject.ts'
import { proposeProject } from '../project/proposeProject.ts'
import { describeReviewModel } from '../project/reviewLearning.ts'
import type { ServiceContext } from './context.ts'
import { pageModel } from './pageInput.ts'
import type { Handlers } from './router.ts'

export function createJobRoutes(
  ctx: ServiceContext,
): Pick<Handlers, 'job.propose' | 'job.learn' | 'job.cancel'> {
  const changed = (reason: 'proposed' | 'learned') => () =>
    ctx.emit({ type: 'project.changed', reason })
  return {
    'job.propose': async ({ model, threshold, upscale }) => {
      const store = ctx.requireProject()
      await ctx.reviewUpdates.yieldTo()
      const identity = pageModel(model)
      // An estimate for the reply: the labelled images without proposals. The progress events
      // carry the run's real count (re-proposed labels and recomputed images included).
      const total = store.runs
        .toPropose(identity.ref, identity.revision)
        .filter((t) => t.labels.length > 0).length
      const jobId = ctx.jobs.start(
        'propose',
        identity.ref,
        async (report, signal) => {
          const r = await proposeProject(store, {
            model: identity,
            ...(threshold !== undefined ? { threshold } : {}),
            ...(upscale ? { upscale } : {}),
            worker: ctx.worker,
            signal,
            report,
          })
          const notes: string[] = []
          if (r.learnedLabels.length)
            notes.push(`learned head for ${r.learnedLabels.length} labels`)
          if (r.resourced) notes.push(`${r.resourced} re-proposed for a changed source`)
          if (r.recomputed) notes.push(`${r.recomputed} recomputed from stored CAMs`)
          if (r.learn?.warning) notes.push(r.learn.warning)
          if (r.review?.model)
            notes.push(`${describeReviewModel(r.review.model)} (${r.fromReviewImages} images)`)
          if (r.failed > 0) {
            const files = store.runs.errors(identity.ref).map((e) => e.file)
            const named = files.slice(0, 3).join(', ') + (files.length > 3 ? ', …' : '')
            notes.push(
              `${r.failed} image${r.failed === 1 ? '' : 's'} could not be read${named ? `: ${named}` : ''} (filter “Could not be read”)`,
            )
          }
          return {
            done: r.done,
            failed: r.failed,
            cancelled: r.cancelled,
            ...(notes.length ? { message: notes.join(' · ') } : {}),
          }
        },
        changed('proposed'),
      )
      return { jobId, total }
    },
    'job.learn': async ({ model, force }) => {
      const store = ctx.requireProject()
      await ctx.reviewUpdates.yieldTo()
      const identity = pageModel(model)
      const jobId = ctx.jobs.start(
        'learn',
        identity.ref,
        async (report, signal) => {
          const out = await learnProjectHead(store, {
            model: identity,
            force,
            worker: ctx.worker,
            signal,
            report,
          })
          const f = out.features
          if (f?.cancelled) return { done: f.extracted, failed: f.failed, cancelled: true }
          const q = out.head?.quality
          const accuracy =
            q?.cvAccuracy !== null && q?.cvAccuracy !== undefined
              ? ` · CV accuracy ${Math.round(q.cvAccuracy * 100)}%`
              : ''
          const message = out.warning
            ? out.warning
            : out.trained
              ? `Trained a head for ${q?.classes.length ?? 0} classes in ${Math.round(out.trainMs ?? 0)} ms${accuracy}`
              : `The learned head is up to date${accuracy}`
          return { done: f?.extracted ?? 0, failed: f?.failed ?? 0, cancelled: false, message }
        },
        changed('learned'),
      )
      return { jobId, total: store.images.count() }
    },
    'job.cancel': ({ jobId }) => ({ cancelled: ctx.jobs.cancel(jobId) }),
  }
}
