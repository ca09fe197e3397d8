/**
 * What the main side needs to know of a model without running it: its classes (to resolve labels)
 * and its feature tensor and key (to cache features and learn heads). A manifest model with its CAM
 * tensors in the manifest is described from the manifest and its class list; any other model is
 * opened once on the CPU and released. Cached per model revision.
 */
import { readFile } from 'node:fs/promises'
import { CamlabelError } from '../../shared/errors.ts'
import { parseClasses } from './classes.ts'
import { classesAsset, modelPath } from './manifest.ts'
import { featureKey, type ModelIdentity } from './modelIdentity.ts'
import type { ModelClass } from './types.ts'

/** A model as the planner and the feature cache see it. */
export interface ModelInfo {
  identity: ModelIdentity
  featureTensor: string
  /** The key its pooled features are cached under. */
  featureKey: string
  classes: ModelClass[]
}

const cache = new Map<string, ModelInfo>()

/** Describes a model (see the module comment). @throws CamlabelError NOT_FOUND, MODEL_UNUSABLE */
export async function describeModel(identity: ModelIdentity): Promise<ModelInfo> {
  const cacheKey = `${identity.ref}\n${identity.revision}`
  const cached = cache.get(cacheKey)
  if (cached) return cached
  let info: ModelInfo
  const spec = identity.spec
  if (spec?.cam) {
    let text: string
    try {
      text = await readFile(modelPath(classesAsset(spec)), 'utf8')
    } catch (err) {
      throw new CamlabelError(
        'NOT_FOUND',
        `The class list of model ${spec.id} is missing`,
        `Fetch it with: npm run models -- ${spec.id}`,
        { cause: err },
      )
    }
    const featureTensor = spec.cam.featureTensor
    info = {
      identity,
      featureTensor,
      featureKey: featureKey(identity, featureTensor),
      classes: parseClasses(text),
    }
  } else {
    // Loaded here only: a manifest model is described from its class list, so `camlabel status`
    // and the planner never load onnxruntime, sharp or the graph parser for it.
    const { openModel } = await import('./session.ts')
    const loaded = await openModel(identity, { providers: 'cpu' })
    try {
      const featureTensor = loaded.head.featureTensor
      info = {
        identity,
        featureTensor,
        featureKey: featureKey(identity, featureTensor),
        classes: loaded.classes,
      }
    } finally {
      await loaded.dispose()
    }
  }
  cache.set(cacheKey, info)
  return info
}
