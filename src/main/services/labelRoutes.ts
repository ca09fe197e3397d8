/**
 * Label sources (issue 5): per label, where its CAM comes from (model classes, the learned head
 * with its cross-validated accuracy, class-agnostic, negatives), how many of its images a proposal
 * run would redo because that source changed, and the user's mapping, validated against the
 * model's classes before it is stored.
 */
import type { LabelSources } from '../../shared/contracts/labels.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { headSources, isBackgroundLabel, oneClassWarning } from '../engine/head.ts'
import { resolveLabelSources } from '../engine/labels.ts'
import {
  checkMapping,
  MODEL_META,
  projectLabelSources,
  projectModelInfo,
  sourceKey,
} from '../project/learnProject.ts'
import { modelRevision } from '../project/modelRevision.ts'
import type { ProjectStore } from '../store/projectStore.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

/** Builds the labels.sources answer for the open project. */
export async function labelSources(store: ProjectStore, model?: string): Promise<LabelSources> {
  const chosen = model ?? store.getMeta(MODEL_META)
  const out = await projectLabelSources(store, chosen ? { model: chosen } : {})
  const info = await projectModelInfo(out.model)
  const { revision } = modelRevision(out.model)
  // The same resolution a run (mode auto) makes, to count the images it would redo per label.
  const learned = out.head ? headSources(out.head) : new Map()
  const sources = resolveLabelSources(
    out.labels.filter((l) => !isBackgroundLabel(l.label)).map((l) => l.label),
    info.classes,
    'auto',
    learned,
    store.labelMappings(),
  )
  const keys = new Map([...sources].map(([l, s]) => [l, sourceKey(s, out.head)]))
  const stale = new Map<string, number>()
  const staleImages = store.staleLabelImages(out.model, revision, keys)
  for (const image of staleImages)
    for (const l of image.labels) stale.set(l, (stale.get(l) ?? 0) + 1)

  const q = out.head?.quality
  const withImages = out.labels.filter((l) => l.images > 0)
  // Project-wide warnings only: a class's own warning is shown on its row. A single label the
  // model knows needs no head, so no negatives either.
  const warnings: string[] = []
  const only = withImages.length === 1 ? withImages[0]! : undefined
  if (only && only.source !== 'model') warnings.push(oneClassWarning(only.label))
  const classWarnings = new Set(q?.classes.map((c) => c.warning).filter(Boolean))
  for (const w of q?.warnings ?? [])
    if (!classWarnings.has(w) && !warnings.includes(w)) warnings.push(w)
  return {
    model: out.model,
    head:
      out.head && q
        ? {
            kind: out.head.mode,
            lambda: out.head.lambda,
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
            trainedAt: out.head.createdAt,
          }
        : null,
    labels: out.labels.map((l) => {
      const warning = q?.classes.find((c) => c.name === l.label)?.warning
      return {
        label: l.label,
        images: l.images,
        mapping: l.mapping,
        source: l.source,
        ...(l.modelClasses ? { modelClasses: l.modelClasses } : {}),
        ...(l.cvAccuracy !== undefined ? { cvAccuracy: l.cvAccuracy } : {}),
        needsHead: l.needsHead,
        proposedWith: l.proposedWith,
        staleImages: stale.get(l.label) ?? 0,
        ...(warning ? { warning } : {}),
      }
    }),
    staleImages: staleImages.length,
    warnings,
  }
}

export function createLabelRoutes(
  ctx: ServiceContext,
): Pick<Handlers, 'labels.sources' | 'labels.setMapping'> {
  return {
    'labels.sources': ({ model }) => labelSources(ctx.requireProject(), model),
    'labels.setMapping': async ({ label, mapping, model }) => {
      const store = ctx.requireProject()
      const known = store.counts().byClass.some((c) => c.label === label)
      if (!known) {
        throw new CamlabelError(
          'NOT_FOUND',
          `The project has no label '${label}'`,
          'Choose one of the labels listed in Classes.',
        )
      }
      const chosen = model ?? store.getMeta(MODEL_META)
      const info = await projectModelInfo(chosen)
      checkMapping(label, mapping, info.classes)
      if (store.setLabelMapping(label, mapping))
        ctx.emit({ type: 'project.changed', reason: 'mapping' })
      return labelSources(store, chosen)
    },
  }
}
