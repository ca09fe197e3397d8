/**
 * The model id and revision proposal runs are keyed by, in a module of its own so that
 * proposeProject.ts and learnProject.ts both use it without importing each other.
 */
import path from 'node:path'
import { modelFileRevision } from '../engine/features.ts'
import { defaultModel, requireModel } from '../engine/manifest.ts'
import { preprocessingRevision } from '../engine/revision.ts'

/**
 * The model id and revision a run is keyed by (what makes a resumed run skip an image): a manifest
 * model by its id and preprocessing revision; a user's .onnx file by its absolute path and file
 * revision (path, size, modification time: a model retrained in place is a new revision).
 * @throws CamlabelError NOT_FOUND (no such file or manifest id)
 */
export function modelRevision(model: string | undefined): { model: string; revision: string } {
  if (model && model.endsWith('.onnx')) {
    const abs = path.resolve(model)
    return { model: abs, revision: modelFileRevision(abs) }
  }
  const spec = model ? requireModel(model) : defaultModel()
  return { model: spec.id, revision: preprocessingRevision(spec.id, spec.preprocessing) }
}
