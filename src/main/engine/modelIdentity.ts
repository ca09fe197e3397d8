/**
 * Model identity: which model a run, a CAM, a feature cache or a project setting refers to, and
 * when its results go stale. The one place that decides whether a model argument is a path, and
 * that derives the keys from it:
 *
 * - `ref`: what runs, CAMs and settings are keyed by — a manifest id (`squeezenet1.1-fp16`), or the
 *   absolute path of a user's own .onnx file;
 * - `revision`: a stamp of everything that decides what the model computes from a photo — its
 *   weights (the manifest's sha256, or the user file's path, size and modification time, so a
 *   model retrained in place is a new revision) and the pixels it sees (the preprocessing, the
 *   engine's preprocessing version, sharp and libvips);
 * - featureKey: the key cached pooled features are stored under (identity and feature tensor).
 */
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { defaultModel, modelPath, modelsDir, requireModel, type ModelSpec } from './manifest.ts'
import { pipelineStamp, preprocessingRevision } from './revision.ts'

/** Which model, and its revision (see the module comment). */
export interface ModelIdentity {
  ref: string
  /** The manifest entry; undefined for a user's own file. */
  spec: ModelSpec | undefined
  /** Absolute path of the .onnx file (a manifest model's may not be fetched yet). */
  file: string
  revision: string
}

/** A model argument names a file (rather than a manifest id) when it ends in .onnx or has a separator. */
export function isModelPath(value: string): boolean {
  return value.toLowerCase().endsWith('.onnx') || value.includes('/') || value.includes('\\')
}

const hex16 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16)

/**
 * The identity of a model argument: a manifest id, an .onnx path (relative to `cwd`), or nothing
 * for the manifest's default model.
 * @throws CamlabelError UNKNOWN_MODEL (no such manifest id), NOT_FOUND (no such file)
 */
export function modelIdentity(
  model?: string,
  options: { cwd?: string; modelsDir?: string } = {},
): ModelIdentity {
  if (model !== undefined && isModelPath(model)) {
    const file = path.resolve(options.cwd ?? process.cwd(), model)
    let st
    try {
      st = statSync(file)
    } catch {
      throw new CamlabelError(
        'NOT_FOUND',
        `No model file at ${file}`,
        'Choose an existing .onnx file, or one of the known models.',
      )
    }
    const revision = `file-${hex16(`${file}\n${st.size}\n${Math.round(st.mtimeMs)}\n${pipelineStamp()}`)}`
    return { ref: file, spec: undefined, file, revision }
  }
  const spec = model === undefined ? defaultModel() : requireModel(model)
  const pixels = preprocessingRevision(spec.id, spec.preprocessing)
  return {
    ref: spec.id,
    spec,
    file: modelPath(spec, options.modelsDir ?? modelsDir()),
    revision: hex16(`${pixels}\nweights=${spec.sha256}`),
  }
}

/**
 * The key cached features are stored under: the model, the tensor the features come from and the
 * model's revision, so features computed from other weights, other pixels or another layer are
 * never mixed into a training set.
 */
export function featureKey(identity: ModelIdentity, featureTensor: string): string {
  return `${identity.ref}:${featureTensor}:${identity.revision}`
}

/** The model's name for messages: its manifest id, or its file name. */
export function modelName(identity: ModelIdentity): string {
  return identity.spec?.id ?? path.basename(identity.file)
}
