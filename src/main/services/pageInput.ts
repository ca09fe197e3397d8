/**
 * What the page may name. The page is not trusted with the file system: it names models by their
 * manifest id only, never by a path.
 */
import { CamlabelError } from '../../shared/errors.ts'
import { isModelPath, modelIdentity, type ModelIdentity } from '../engine/modelIdentity.ts'

/** The identity of a model the page asked for (a manifest id; none: the default model). */
export function pageModel(model: string | undefined): ModelIdentity {
  if (model !== undefined && isModelPath(model)) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `'${model}' is not one of the app's models`,
      'Choose a model from the list in the app.',
    )
  }
  return modelIdentity(model)
}
