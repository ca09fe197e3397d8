/**
 * The app's inference jobs, both run through the project services the command line uses:
 * `job.propose` calls proposeProject (learned heads for labels the model does not know, the user's
 * per-label mappings, labels whose source changed re-proposed, re-thresholding from stored CAMs,
 * resumable per-image persistence) and `job.learn` calls learnProjectHead (the feature pass in the
 * worker, then training). Both push progress events (count, rate, ETA per stage, the execution
 * provider), stop on job.cancel, and end with job.done or job.failed. One job runs at a time: both
 * use the inference worker and write the same project.
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { AppEventOf } from '../../shared/contracts/index.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { defaultModel, requireModel } from '../engine/manifest.ts'
import { learnProjectHead } from '../project/learnProject.ts'
import { modelRevision } from '../project/modelRevision.ts'
import { proposeProject } from '../project/proposeProject.ts'
import { projectUpscale } from '../project/settings.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'
import type { ProjectStore } from '../store/projectStore.ts'

const PROGRESS_INTERVAL_MS = 150

type Stage = AppEventOf<'job.progress'>['stage']
type JobKind = 'propose' | 'learn'

/** What a job body reports back to the runner. */
interface JobReporter {
  /** Reports progress of the current stage; a new stage restarts the rate and ETA clock. */
  progress(stage: Stage, done: number, total: number, failed?: number): void
  setProvider(provider: string): void
  readonly signal: AbortSignal
}

/** The summary a job body returns for its job.done event. */
interface JobOutcome {
  done: number
  failed: number
  cancelled: boolean
  message?: string
}

export function createJobRoutes(
  ctx: ServiceContext,
): Pick<Handlers, 'job.propose' | 'job.learn' | 'job.cancel'> {
  const running = new Map<string, AbortController>()

  /**
   * Starts `body` in the background and answers at once with the job id; events follow. The
   * runner owns the stage clock (rate and ETA are per stage: a feature pass and a proposal pass
   * run at different speeds) and turns a thrown CANCELLED, or any error after cancel, into a
   * cancelled job.done.
   */
  function start(
    kind: JobKind,
    model: string,
    body: (store: ProjectStore, r: JobReporter) => Promise<JobOutcome>,
  ): string {
    const store = ctx.requireProject()
    if (running.size > 0) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        'A job is already running',
        'Wait for it to finish or cancel it from the job bar.',
      )
    }
    const jobId = randomUUID()
    const controller = new AbortController()
    running.set(jobId, controller)
    const started = performance.now()
    let provider: string | null = null
    let stage: Stage = 'loading-model'
    let stageStart = started
    let lastSent = 0
    let last = { done: 0, total: 0, failed: 0 }
    const reporter: JobReporter = {
      signal: controller.signal,
      setProvider(p) {
        provider = p
      },
      progress(next, done, total, failed = 0) {
        const now = performance.now()
        const changed = next !== stage
        if (changed) {
          stage = next
          stageStart = now
        }
        last = { done, total, failed }
        if (!changed && done !== total && now - lastSent < PROGRESS_INTERVAL_MS) return
        lastSent = now
        const rate = done > 0 ? done / ((now - stageStart) / 1000) : 0
        ctx.emit({
          type: 'job.progress',
          jobId,
          kind,
          stage,
          done,
          total,
          failed,
          rate,
          eta: rate > 0 ? (total - done) / rate : null,
          provider,
          model,
        })
      },
    }
    reporter.progress('loading-model', 0, 0)
    const finish = (o: JobOutcome): void => {
      ctx.emit({
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
    void (async () => {
      try {
        finish(await body(store, reporter))
      } catch (err) {
        const e = toErrorData(err)
        if (e.code === 'CANCELLED' || controller.signal.aborted)
          finish({ done: last.done, failed: last.failed, cancelled: true })
        else ctx.emit({ type: 'job.failed', jobId, error: e })
      } finally {
        running.delete(jobId)
        ctx.emit({ type: 'project.changed', reason: kind === 'learn' ? 'learned' : 'proposed' })
      }
    })()
    return jobId
  }

  return {
    'job.propose': ({ model, threshold, upscale }) => {
      const spec = model ? requireModel(model) : defaultModel()
      const store = ctx.requireProject()
      const { revision } = modelRevision(spec.id)
      // An estimate for the reply: the images without proposals. The progress events carry the
      // run's real count (re-proposed labels and recomputed images included).
      const total = store
        .imagesToPropose(spec.id, revision)
        .filter((t) => t.labels.length > 0).length
      const jobId = start('propose', spec.id, async (s, r) => {
        let failedFeatures = 0
        const result = await proposeProject(
          s,
          {
            model: spec.id,
            ...(threshold !== undefined ? { threshold } : {}),
            upscale: upscale ?? projectUpscale(s),
            onReady: (info) => {
              r.setProvider(info.provider)
              r.progress('proposing', 0, 0)
            },
            onFeatureProgress: (p) => {
              failedFeatures = p.failed
              r.progress('features', p.done, p.total, p.failed)
            },
            onLearned: (_learn, labels) =>
              r.progress('learning', labels.length, labels.length, failedFeatures),
          },
          (p) =>
            r.progress(
              p.stage === 'recompute' ? 'recompute' : 'proposing',
              p.done,
              p.total,
              p.failed,
            ),
          r.signal,
        )
        if (result.provider) r.setProvider(result.provider)
        const notes: string[] = []
        if (result.learnedLabels.length)
          notes.push(`learned head for ${result.learnedLabels.length} labels`)
        if (result.resourced) notes.push(`${result.resourced} re-proposed for a changed source`)
        if (result.recomputed) notes.push(`${result.recomputed} recomputed from stored CAMs`)
        if (result.learn?.warning) notes.push(result.learn.warning)
        return {
          done: result.done,
          failed: result.failed,
          cancelled: result.cancelled,
          ...(notes.length ? { message: notes.join(' · ') } : {}),
        }
      })
      return { jobId, total }
    },
    'job.learn': ({ model, force }) => {
      const spec = model ? requireModel(model) : defaultModel()
      const store = ctx.requireProject()
      const jobId = start('learn', spec.id, async (s, r) => {
        let features = { done: 0, total: 0, failed: 0 }
        const out = await learnProjectHead(s, {
          model: spec.id,
          force,
          signal: r.signal,
          onProgress: (p) => {
            features = p
            r.progress('features', p.done, p.total, p.failed)
          },
        })
        if (out.features?.provider) r.setProvider(out.features.provider)
        if (out.features?.cancelled) return { ...features, cancelled: true }
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
        return {
          done: out.features?.extracted ?? 0,
          failed: out.features?.failed ?? 0,
          cancelled: false,
          message,
        }
      })
      return { jobId, total: store.imageCount() }
    },
    'job.cancel': ({ jobId }) => {
      const c = running.get(jobId)
      c?.abort()
      return { cancelled: c !== undefined }
    },
  }
}
