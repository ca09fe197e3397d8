/**
 * The label planner: the one place that decides, for each label of a project, where its CAM comes
 * from — the model's own classes (the label's wnid or a synset name), classes the user mapped it
 * onto, a head learned from the project's image labels, or the class-agnostic CAM — and what a run
 * must redo because that changed. Proposal runs, the learn job, the Classes view and `camlabel
 * status` all ask it; the inference worker receives its resolved sources and never resolves again.
 *
 * 'background' labels are negatives: they train a head and never get proposals.
 */
import type { LabelSourceInfo, LabelSources } from '../../shared/contracts/labels.ts'
import { isBackgroundLabel } from '../../shared/labels.ts'
import { headSources, oneClassWarning, type LearnedHead } from '../engine/head.ts'
import {
  mappedClasses,
  resolveLabelSources,
  type HeadMode,
  type LabelMapping,
  type LabelSource,
  type MappingChoice,
} from '../engine/labels.ts'
import { describeModel } from '../engine/modelInfo.ts'
import { modelIdentity } from '../engine/modelIdentity.ts'
import type { ModelClass } from '../engine/types.ts'
import type { ProjectStore, StoredHead } from '../store/projectStore.ts'
import { projectModel } from './settings.ts'

/** What a plan depends on besides the labels. */
export interface PlanInput {
  classes: ModelClass[]
  mode: HeadMode
  mappings: ReadonlyMap<string, LabelMapping>
  /** The project's learned head, when one is trained. */
  head?: (LearnedHead & Pick<StoredHead, 'fingerprint'>) | undefined
}

/** Per label: its CAM source, the key of that source, and whether it waits for a learned head. */
export interface LabelPlan {
  /** Labels that get proposals, with their resolved source. */
  sources: Map<string, LabelSource>
  /** The source key of each proposed label (compared with the stored CAMs' keys). */
  keys: Map<string, string>
  /** Labels this mode learns a head for (class-agnostic until one is trained). */
  needHead: string[]
  /** 'background' labels: negatives for a head, never proposed. */
  negatives: string[]
}

/** The labels that get proposals (every label but 'background'). */
export function proposable(labels: readonly string[]): string[] {
  return labels.filter((l) => !isBackgroundLabel(l))
}

/** The key that says exactly what makes a label's CAM: compared with the stored CAMs' keys. */
export function sourceKey(source: LabelSource, head?: Pick<StoredHead, 'fingerprint'>): string {
  if (source.kind === 'model')
    return `model:${[...source.classIndices].sort((a, b) => a - b).join(',')}`
  if (source.kind === 'learned') return `learned:${head?.fingerprint.slice(5, 21) ?? 'unknown'}`
  return 'agnostic'
}

/** Plans the CAM source of every label (see the module comment). */
export function planLabels(labels: Iterable<string>, input: PlanInput): LabelPlan {
  const all = [...new Set(labels)]
  const proposed = proposable(all)
  // Which labels would be learned if a head knew every one of them.
  const everyLearned = new Map(proposed.map((l) => [l, { weights: new Float32Array(0), bias: 0 }]))
  const wouldLearn = resolveLabelSources(
    proposed,
    input.classes,
    input.mode,
    everyLearned,
    input.mappings,
  )
  const learned = input.head ? headSources(input.head) : new Map()
  const sources = resolveLabelSources(proposed, input.classes, input.mode, learned, input.mappings)
  return {
    sources,
    keys: new Map([...sources].map(([l, s]) => [l, sourceKey(s, input.head)])),
    needHead: proposed.filter((l) => wouldLearn.get(l)?.kind === 'learned'),
    negatives: all.filter(isBackgroundLabel),
  }
}

/** Labels by the kind of source they use, for a run's summary. */
export function sourcesByKind(plan: LabelPlan): Record<LabelSource['kind'], string[]> {
  const out: Record<LabelSource['kind'], string[]> = { model: [], learned: [], agnostic: [] }
  for (const [label, source] of plan.sources) out[source.kind].push(label)
  return out
}

/** Checks mappings against the model's classes (throws INVALID_ARGUMENT naming what is wrong). */
export function checkMappings(
  mappings: Iterable<[string, MappingChoice]>,
  classes: ModelClass[],
): void {
  for (const [label, mapping] of mappings)
    if (Array.isArray(mapping)) mappedClasses(label, mapping, classes)
}

/**
 * Every label of the project with where its CAM comes from in a default run (mode auto), the
 * user's mapping, the stored head's cross-validated accuracy where it learns the label, how many of
 * its images the next run redoes because that source changed, and the project's warnings: what
 * the Classes view and `camlabel status` show.
 */
export async function describeLabels(store: ProjectStore, model?: string): Promise<LabelSources> {
  const identity = modelIdentity(model ?? projectModel(store))
  const info = await describeModel(identity)
  const head = store.learning.head(info.featureKey)
  const mappings = store.labels.mappings()
  const withImages = store.labels.withImages()
  const counts = new Map(withImages.map((l) => [l.label, l.images]))
  const names = [...new Set([...counts.keys(), ...mappings.keys()])]
  const plan = planLabels(names, { classes: info.classes, mode: 'auto', mappings, head })
  const stale = new Map<string, number>()
  const staleImages = store.runs.staleLabelImages(identity.ref, identity.revision, plan.keys)
  for (const image of staleImages)
    for (const l of image.labels) stale.set(l, (stale.get(l) ?? 0) + 1)
  const stored = store.runs.storedSourceKinds()
  // A single label has nothing to be told apart from: no head is learned for it.
  const learnable = withImages.length >= 2
  const q = head?.quality
  const labels = names.map((label): LabelSourceInfo => {
    const source = plan.sources.get(label)
    const quality = q?.classes.find((c) => c.name === label)
    const entry: LabelSourceInfo = {
      label,
      images: counts.get(label) ?? 0,
      mapping: mappings.get(label) ?? 'auto',
      source: source?.kind ?? 'negatives',
      needsHead: learnable && plan.needHead.includes(label),
      proposedWith: [...(stored.get(label) ?? [])],
      staleImages: stale.get(label) ?? 0,
    }
    if (source?.kind === 'model')
      entry.modelClasses = source.classIndices.map((i) => info.classes[i]?.names[0] ?? `#${i}`)
    if (quality && (source === undefined || source.kind === 'learned'))
      entry.cvAccuracy = quality.cvAccuracy
    if (quality?.warning) entry.warning = quality.warning
    return entry
  })
  // Project-wide warnings only: a class's own warning is shown on its row. A single label the
  // model knows needs no head, so no negatives either.
  const warnings: string[] = []
  const only = withImages.length === 1 ? labels.find((l) => l.images > 0) : undefined
  if (only && only.source !== 'model') warnings.push(oneClassWarning(only.label))
  const classWarnings = new Set(q?.classes.map((c) => c.warning).filter(Boolean))
  for (const w of q?.warnings ?? [])
    if (!classWarnings.has(w) && !warnings.includes(w)) warnings.push(w)
  return {
    model: identity.ref,
    head:
      head && q
        ? {
            kind: head.mode,
            lambda: head.lambda,
            images: q.images,
            folds: q.folds,
            cvAccuracy: q.cvAccuracy,
            usable: q.usable,
            warnings: q.warnings,
            classes: q.classes.map((c) => ({
              name: c.name,
              background: c.background,
              images: c.images,
              cvAccuracy: c.cvAccuracy,
              cvFalsePositiveRate: c.cvFalsePositiveRate,
              ...(c.warning ? { warning: c.warning } : {}),
            })),
            trainedAt: head.createdAt,
          }
        : null,
    labels,
    staleImages: staleImages.length,
    warnings,
  }
}
