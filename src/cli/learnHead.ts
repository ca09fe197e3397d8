/**
 * `camlabel propose --head learn|auto`: before proposing, learn a CAM head for the labels that need
 * one (all labels with `learn`; with `auto` those the model does not know) from the images' own
 * labels. A first pass through the inference worker collects every image's pooled features; the
 * head is trained here (well under a second for hundreds of images) and its quality report printed.
 */
import type { CommandIO } from './io.ts'
import { progressLine } from './progress.ts'
import {
  formatHeadQuality,
  oneClassWarning,
  headSources,
  trainHead,
  type HeadSample,
  type LearnedHead,
} from '../main/engine/head.ts'
import type { HeadMode, MappingChoice, LearnedWeights } from '../main/engine/labels.ts'
import type { ImageTask } from '../main/engine/propose.ts'
import type { LearnProjectResult } from '../main/project/learnProject.ts'
import type { ProviderChoice } from '../main/engine/session.ts'
import { runFeatureJob } from '../main/jobs/proposalJob.ts'

export interface LearnForProposeOptions {
  model: string
  providers: ProviderChoice
  head: HeadMode
  /** The user's per-label choices: labels mapped onto model classes need no head. */
  mappings?: ReadonlyMap<string, MappingChoice>
  signal?: AbortSignal
  io: CommandIO
}

export interface LearnForProposeResult {
  /** Weights by label for resolveLabelSources; empty when nothing was (or could be) learned. */
  learned: Map<string, LearnedWeights>
  head?: LearnedHead
}

/** Runs the feature pass and trains the head when the mode and the labels call for one. */
export async function learnHeadForPropose(
  tasks: readonly ImageTask[],
  options: LearnForProposeOptions,
): Promise<LearnForProposeResult> {
  if (options.head !== 'learn' && options.head !== 'auto') return { learned: new Map() }
  const { io } = options
  const allLabels = [...new Set(tasks.flatMap((t) => t.labels))]
  if (allLabels.length === 1) {
    // Every image has the same single label: nothing to discriminate, so no feature pass either.
    io.stderr(`warning: ${oneClassWarning(allLabels[0]!)}\n`)
    return { learned: new Map() }
  }
  // Our own controller: with `auto` and only model classes, the pass stops as soon as that is known.
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let needed: string[] = []
  const samples: HeadSample[] = []
  const progress = progressLine(io, 'features')
  const labelsOf = new Map(tasks.map((t) => [t.key, t.labels]))
  try {
    let done = 0
    let failed = 0
    for await (const result of runFeatureJob(tasks, {
      model: options.model,
      providers: options.providers,
      head: 'model',
      ...(options.mappings ? { mappings: options.mappings } : {}),
      signal: stop.signal,
      onReady: (info) => {
        needed = options.head === 'learn' ? allLabels : info.sources.agnostic
        if (needed.length === 0) stop.abort()
        else io.stderr(`learning a CAM head for: ${needed.join(', ')}\n`)
      },
    })) {
      done++
      if (result.features && !result.error)
        samples.push({ features: result.features, labels: labelsOf.get(result.key) ?? [] })
      else failed++
      progress.update(done, tasks.length, failed)
    }
  } catch (err) {
    if (!(stop.signal.aborted && !options.signal?.aborted && needed.length === 0)) throw err
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    progress.finish()
  }
  if (needed.length === 0 || samples.length === 0) return { learned: new Map() }
  const started = performance.now()
  const head = trainHead(samples, { ...(options.signal ? { signal: options.signal } : {}) })
  io.stderr(
    `${formatHeadQuality(head).join('\n')}\ntrained in ${(performance.now() - started).toFixed(0)} ms (with the cross-validation)\n`,
  )
  const learned = new Map<string, LearnedWeights>()
  for (const [label, source] of headSources(head))
    if (needed.includes(label)) learned.set(label, source)
  return { learned, head }
}

/**
 * Reports a project's learned head on stderr: the feature pass (or that cached features were
 * reused), the quality table when the head was trained now, else one line on the stored head.
 */
export function reportProjectHead(learn: LearnProjectResult, io: CommandIO): void {
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
