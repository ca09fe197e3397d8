/**
 * Label sources: per label, where its CAM comes from and what the next run redoes (the label
 * planner's describeLabels), and the user's mapping, validated against the model's classes before
 * it is stored.
 */
import { CamlabelError } from '../../shared/errors.ts'
import { describeModel } from '../engine/modelInfo.ts'
import { modelIdentity } from '../engine/modelIdentity.ts'
import { checkMappings, describeLabels } from '../project/labelPlan.ts'
import { projectModel } from '../project/settings.ts'
import type { ServiceContext } from './context.ts'
import { pageModel } from './pageInput.ts'
import type { Handlers } from './router.ts'

export function createLabelRoutes(
  ctx: ServiceContext,
): Pick<
  Handlers,
  | 'labels.sources'
  | 'labels.setMapping'
  | 'labels.add'
  | 'labels.rename'
  | 'labels.usage'
  | 'labels.remove'
> {
  const classes = () =>
    ctx
      .requireProject()
      .labels.classes()
      .map((c) => c.name)
  const changed = () => ctx.emit({ type: 'project.changed', reason: 'labels' })
  return {
    'labels.add': ({ label }) => {
      ctx.requireProject().labels.ensureClass(label)
      changed()
      return { classes: classes() }
    },
    'labels.rename': ({ from, to }) => {
      const r = ctx.requireProject().labels.rename(from, to)
      changed()
      return { classes: classes(), ...r }
    },
    'labels.usage': ({ label }) => ctx.requireProject().labels.usage(label),
    'labels.remove': ({ label }) => {
      const r = ctx.requireProject().labels.remove(label)
      changed()
      return { classes: classes(), ...r }
    },
    'labels.sources': ({ model }) => {
      if (model !== undefined) pageModel(model)
      return describeLabels(ctx.requireProject(), model)
    },
    'labels.setMapping': async ({ label, mapping, model }) => {
      const store = ctx.requireProject()
      if (!store.labels.classes().some((c) => c.name === label)) {
        throw new CamlabelError(
          'NOT_FOUND',
          `The project has no label '${label}'`,
          'Choose one of the labels listed in Classes.',
        )
      }
      if (model !== undefined) pageModel(model)
      const chosen = model ?? projectModel(store)
      const info = await describeModel(modelIdentity(chosen))
      checkMappings([[label, mapping]], info.classes)
      if (store.labels.setMapping(label, mapping))
        ctx.emit({ type: 'project.changed', reason: 'mapping' })
      return describeLabels(store, chosen)
    },
  }
}
