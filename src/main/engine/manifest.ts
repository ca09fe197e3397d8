/**
 * The manifest of known models (models/manifest.json): where to download each file, its sha256 and
 * size, how to prepare its input and where its CAM comes from. Validated with zod when loaded.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { CamlabelError } from '../../shared/errors.ts'
import type { Preprocessing } from './types.ts'

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256')

const assetSchema = z.object({
  file: z.string().min(1),
  url: z.url(),
  sha256,
  size: z.number().int().positive(),
  license: z.string(),
  source: z.string(),
  notes: z.string().optional(),
})

const preprocessingSchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  channelOrder: z.enum(['RGB', 'BGR']),
  scale: z.number().positive(),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  dtype: z.enum(['float32', 'float16']),
})

const camSchema = z.object({
  featureTensor: z.string().min(1),
  classMapTensor: z.string().min(1).optional(),
  scoresTensor: z.string().min(1),
  scoresKind: z.enum(['probabilities', 'logits']).optional(),
})

const modelSchema = assetSchema.extend({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  name: z.string(),
  default: z.boolean().optional(),
  classes: z.string(),
  input: z.object({
    name: z.string().optional(),
    layout: z.literal('NCHW'),
    /** A fixed batch size when the graph has one (SqueezeNet fp16: 1). */
    batch: z.number().int().positive().optional(),
  }),
  preprocessing: preprocessingSchema,
  cam: camSchema.optional(),
})

const manifestSchema = z.object({
  version: z.literal(1),
  assets: z.record(z.string(), assetSchema),
  models: z.array(modelSchema).min(1),
})

/** A downloadable file of the manifest (a model or a classes list). */
export type ManifestAsset = z.infer<typeof assetSchema>
/** Where the CAM comes from, by tensor name; the classifier weights are read from the graph. */
export type ManifestCam = z.infer<typeof camSchema>
/** One known model. `preprocessing` is the engine's `Preprocessing`. */
export type ModelSpec = z.infer<typeof modelSchema> & { preprocessing: Preprocessing }
export type Manifest = z.infer<typeof manifestSchema> & { models: ModelSpec[] }

/**
 * The folder that holds `models/manifest.json`, found by walking up from this module: the sources
 * (src/main/engine), the bundled app (out/main, out/main/chunks) and the worker bundle sit at
 * different depths below it.
 */
const shippedModels = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = path.join(dir, 'models')
    if (existsSync(path.join(candidate, 'manifest.json'))) return candidate
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(fileURLToPath(import.meta.url), '../../../../models')
    dir = parent
  }
})()

/** Where model files are: `CAMLABEL_MODELS_DIR` when set (the app's user data), else models/. */
export function modelsDir(): string {
  return process.env.CAMLABEL_MODELS_DIR
    ? path.resolve(process.env.CAMLABEL_MODELS_DIR)
    : shippedModels
}

/** The manifest shipped with the code: `CAMLABEL_MANIFEST` when set (a packaged app), else models/. */
export function manifestPath(): string {
  return process.env.CAMLABEL_MANIFEST
    ? path.resolve(process.env.CAMLABEL_MANIFEST)
    : path.join(shippedModels, 'manifest.json')
}

let cached: { file: string; manifest: Manifest } | undefined

/** Reads and validates models/manifest.json (cached after the first call, per file). */
export function loadManifest(file = manifestPath()): Manifest {
  if (cached?.file === file) return cached.manifest
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new CamlabelError(
      'PARSE_ERROR',
      `Cannot read the model manifest ${file}: ${(err as Error).message}`,
    )
  }
  const parsed = manifestSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new CamlabelError(
      'PARSE_ERROR',
      `The model manifest ${file} is invalid at ${issue.path.join('.')}: ${issue.message}`,
    )
  }
  const manifest = parsed.data as Manifest
  for (const m of manifest.models) {
    if (!manifest.assets[m.classes]) {
      throw new CamlabelError(
        'PARSE_ERROR',
        `Model ${m.id} names an unknown classes asset '${m.classes}'`,
      )
    }
  }
  cached = { file, manifest }
  return manifest
}

/** The model with this id, or undefined. */
export function findModel(id: string, manifest = loadManifest()): ModelSpec | undefined {
  return manifest.models.find((m) => m.id === id)
}

/** The model with this id; UNKNOWN_MODEL listing the known ids otherwise. */
export function requireModel(id: string, manifest = loadManifest()): ModelSpec {
  const spec = findModel(id, manifest)
  if (!spec) {
    throw new CamlabelError(
      'UNKNOWN_MODEL',
      `Unknown model '${id}'. Known models: ${manifest.models.map((m) => m.id).join(', ')}`,
      'Pass one of these ids, or the path of your own .onnx file.',
    )
  }
  return spec
}

/** The default model (the one marked `"default": true`, else the first). */
export function defaultModel(manifest = loadManifest()): ModelSpec {
  return manifest.models.find((m) => m.default) ?? manifest.models[0]!
}

/** The classes asset of a model. */
export function classesAsset(spec: ModelSpec, manifest = loadManifest()): ManifestAsset {
  return manifest.assets[spec.classes]!
}

/** Where a model's (or asset's) file lives in the models folder. */
export function modelPath(spec: ManifestAsset, dir = modelsDir()): string {
  return path.join(dir, spec.file)
}
