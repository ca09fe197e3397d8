/**
 * The one module that owns ONNX Runtime sessions: open a model (a manifest id or a user's .onnx
 * file), pick the execution provider, run forward passes that return the scores, the feature map
 * and the class maps, and release the session. `session.run` blocks the calling thread: callers in
 * the app run this inside the inference worker.
 */
import { existsSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import * as ort from 'onnxruntime-node'
import { CamlabelError } from '../../shared/errors.ts'
import { numberedClasses, parseClasses } from './classes.ts'
import { float16ToFloat32, float32ToFloat16 } from './float16.ts'
import { detectCamHead, graphInputs, withExtraOutputs } from './graph.ts'
import { classesAsset, type ModelSpec } from './manifest.ts'
import { modelIdentity, type ModelIdentity } from './modelIdentity.ts'
import { DataType, decodeModel } from './onnxProto.ts'
import type { CamHead, FeatureMaps, ForwardResult, ModelClass, Preprocessing } from './types.ts'

/**
 * float16 inputs as Uint16Array bit patterns, wherever the runtime has Float16Array. onnxruntime's
 * JS side turns a Uint16Array given for a float16 tensor into a Float16Array view when the runtime
 * has that type (Node 23+, so Electron's Node 24), and onnxruntime-node 1.30's binding then reads
 * that view as 0 bytes ("not enough space: expected 301056, got 0": microsoft/onnxruntime#32323):
 * float16 models — the default SqueezeNet — would fail in the app. The type check runs once, at the
 * first Tensor; made with Float16Array out of sight, it maps float16 to Uint16Array for good.
 */
function float16AsUint16(): void {
  const g = globalThis as { Float16Array?: unknown }
  const f16 = g.Float16Array
  if (f16 === undefined) return
  delete g.Float16Array
  try {
    new ort.Tensor('float32', new Float32Array(1), [1])
  } finally {
    g.Float16Array = f16
  }
}
float16AsUint16()

/** Which execution providers to use; 'auto' picks the platform's GPU provider when it works. */
export type ProviderChoice = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml'

export interface OpenOptions {
  providers?: ProviderChoice
  /** Folder with the manifest's model files (default: models/ or env CAMLABEL_MODELS_DIR). */
  modelsDir?: string
  /** Threads of one CPU forward pass (0 or absent: onnxruntime's own choice, one per physical core). */
  threads?: number
}

/** What the engine knows about an opened model, from the manifest or read from the graph. */
export interface LoadedSpec {
  id: string
  name: string
  /** Absolute path of the .onnx file. */
  file: string
  preprocessing: Preprocessing
  /** False for a user's own model (preprocessing defaults, classes numbered or from a sibling file). */
  fromManifest: boolean
  /** The input's fixed batch size, when the graph fixes it (SqueezeNet fp16: 1). */
  fixedBatch?: number
}

/** An opened model, ready for forward passes. */
export interface LoadedModel {
  /** The manifest id, or the file name of a user's model (for messages). */
  id: string
  identity: ModelIdentity
  spec: LoadedSpec
  classes: ModelClass[]
  head: CamHead
  /** The execution provider in use: 'cpu', 'cuda', 'dml' or 'coreml'. */
  provider: string
  /** Why a requested GPU provider is not in use (undefined when nothing fell back). */
  providerNote?: string
  inputName: string
  /** One image, NCHW at the model's size; Uint16Array holds float16 bits for float16 models. */
  forward(input: Float32Array | Uint16Array): Promise<ForwardResult>
  /** `batch` images stacked in one NCHW tensor; one result per image. */
  forwardBatch(input: Float32Array | Uint16Array, batch: number): Promise<ForwardResult[]>
  dispose(): Promise<void>
}

const FETCH_HINT = (id: string): string =>
  `Fetch it with: npm run models -- ${id}   (offline: npm run models -- ${id} --from DIR)`

/** Defaults for a user's own model: torchvision-style input. */
const USER_DEFAULTS = {
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
} as const

/** Runs `read`, prefixing a domain error's message with the model file's name so the user knows which. */
function namingFile<T>(file: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    if (!(err instanceof CamlabelError)) throw err
    throw new CamlabelError(err.code, `${path.basename(file)}: ${err.message}`, err.hint, {
      cause: err,
    })
  }
}

/**
 * Opens a model: a manifest id (`squeezenet1.1-fp16`), the path of a user's .onnx classifier, or
 * an identity already resolved (see modelIdentity.ts). Throws UNKNOWN_MODEL, NOT_FOUND (file not
 * fetched yet, with the command that fetches it) or MODEL_UNUSABLE (not an ONNX classifier with a
 * CAM-able head, saying why).
 */
export async function openModel(
  which: string | ModelIdentity,
  opts: OpenOptions = {},
): Promise<LoadedModel> {
  const identity =
    typeof which === 'string'
      ? modelIdentity(which, opts.modelsDir ? { modelsDir: opts.modelsDir } : {})
      : which
  const manifestSpec = identity.spec
  const file = identity.file
  const dir = path.dirname(file)
  const bytes = await readModelFile(file, manifestSpec?.id)

  const model = namingFile(file, () => decodeModel(bytes))
  const detected = namingFile(file, () =>
    detectCamHead(model, manifestSpec?.cam ? { scoresTensor: manifestSpec.cam.scoresTensor } : {}),
  )
  const head = manifestSpec?.cam ? mergeHead(detected, manifestSpec) : detected
  const input = graphInputs(model)[0]
  if (!input) throw new CamlabelError('MODEL_UNUSABLE', `${file} has no input tensor`)
  if (input.shape.length !== 4 || (input.shape[1] !== null && input.shape[1] !== 3)) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `This model cannot take images: its input '${input.name}' has shape [${input.shape.map((d) => d ?? '?').join(',')}], expected [N,3,H,W]`,
      'camlabel needs a CNN classifier with an NCHW RGB image input.',
    )
  }

  const spec: LoadedSpec = manifestSpec
    ? {
        id: manifestSpec.id,
        name: manifestSpec.name,
        file,
        preprocessing: manifestSpec.preprocessing,
        fromManifest: true,
      }
    : {
        id: path.basename(file, '.onnx'),
        name: path.basename(file),
        file,
        preprocessing: {
          width: input.shape[3] ?? 224,
          height: input.shape[2] ?? 224,
          ...USER_DEFAULTS,
          mean: [...USER_DEFAULTS.mean],
          std: [...USER_DEFAULTS.std],
          dtype: input.elemType === DataType.FLOAT16 ? 'float16' : 'float32',
        },
        fromManifest: false,
      }
  if (input.shape[0] !== null && input.shape[0] !== undefined) spec.fixedBatch = input.shape[0]

  const classes = manifestSpec
    ? await manifestClasses(manifestSpec, dir)
    : await userClasses(file, head.classifier.numClasses)
  if (classes.length !== head.classifier.numClasses) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `The classes list has ${classes.length} entries but the model scores ${head.classifier.numClasses} classes`,
      'Use a classes file with one line per model output, in output order.',
    )
  }

  const outputs = [head.featureTensor, ...(head.classMapTensor ? [head.classMapTensor] : [])]
  const runBytes = withExtraOutputs(bytes, outputs)
  const { session, provider, note } = await createSession(
    runBytes,
    opts.providers ?? 'auto',
    opts.threads,
  )
  const inputName = input.name
  const fetches = [head.scoresTensor, ...outputs]

  async function runBatch(
    data: Float32Array | Uint16Array,
    batch: number,
  ): Promise<ForwardResult[]> {
    const pre = spec.preprocessing
    const expected = batch * 3 * pre.height * pre.width
    if (data.length !== expected) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `Input has ${data.length} values, expected ${expected} for ${batch}×3×${pre.height}×${pre.width}`,
      )
    }
    if (spec.fixedBatch !== undefined && batch !== spec.fixedBatch) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `Model ${spec.id} takes batches of exactly ${spec.fixedBatch}, got ${batch}`,
      )
    }
    const tensor =
      pre.dtype === 'float16'
        ? new ort.Tensor('float16', toUint16(data), [batch, 3, pre.height, pre.width])
        : new ort.Tensor('float32', toFloat32(data), [batch, 3, pre.height, pre.width])
    const out = await session.run({ [inputName]: tensor }, fetches)
    const scores = tensorData(out[head.scoresTensor]!)
    const features = out[head.featureTensor]!
    const classMaps = head.classMapTensor ? out[head.classMapTensor]! : undefined
    const numClasses = head.classifier.numClasses
    const results: ForwardResult[] = []
    for (let b = 0; b < batch; b++) {
      let probabilities: Float32Array = scores.slice(b * numClasses, (b + 1) * numClasses)
      if (head.scoresKind === 'logits') probabilities = softmax(probabilities)
      const result: ForwardResult = { probabilities, features: new OutputMaps(features, b) }
      if (classMaps) result.classMaps = new OutputMaps(classMaps, b)
      results.push(result)
    }
    return results
  }

  const loaded: LoadedModel = {
    id: spec.id,
    identity,
    spec,
    classes,
    head,
    provider,
    inputName,
    async forward(data) {
      return (await runBatch(data, 1))[0]!
    },
    forwardBatch: runBatch,
    async dispose() {
      await session.release()
    },
  }
  if (note) loaded.providerNote = note
  return loaded
}

async function readModelFile(file: string, id: string | undefined): Promise<Uint8Array> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CamlabelError(
        'NOT_FOUND',
        id ? `Model ${id} is not fetched yet: ${file} does not exist` : `No model file at ${file}`,
        id ? FETCH_HINT(id) : 'Check the path of the .onnx file.',
      )
    }
    throw err
  }
}

/** The manifest's tensor names win over detection; detection supplies the classifier weights. */
function mergeHead(detected: CamHead, spec: ModelSpec): CamHead {
  const cam = spec.cam!
  const head: CamHead = {
    featureTensor: cam.featureTensor,
    classifier: detected.classifier,
    scoresTensor: cam.scoresTensor,
    scoresKind: cam.scoresKind ?? detected.scoresKind,
  }
  const classMap = cam.classMapTensor ?? detected.classMapTensor
  if (classMap) head.classMapTensor = classMap
  return head
}

async function manifestClasses(spec: ModelSpec, dir: string): Promise<ModelClass[]> {
  const asset = classesAsset(spec)
  const file = path.join(dir, asset.file)
  try {
    return parseClasses(await readFile(file, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CamlabelError(
        'NOT_FOUND',
        `The class list ${file} of model ${spec.id} is missing`,
        FETCH_HINT(spec.id),
      )
    }
    throw err
  }
}

/**
 * A user's model: classes from `<file>.classes.txt`, `<stem>.classes.txt`, or a synsets/labels file
 * beside it whose line count matches; else numbered `class-0…`.
 */
async function userClasses(file: string, numClasses: number): Promise<ModelClass[]> {
  const dir = path.dirname(file)
  const stem = path.basename(file, '.onnx')
  const named = [`${file}.classes.txt`, path.join(dir, `${stem}.classes.txt`)]
  for (const candidate of named) {
    if (existsSync(candidate)) return parseClasses(await readFile(candidate, 'utf8'))
  }
  const generic = ['synset.txt', 'synsets.txt', 'imagenet-synsets.txt', 'labels.txt', 'classes.txt']
  for (const name of generic) {
    const candidate = path.join(dir, name)
    if (!existsSync(candidate)) continue
    const classes = parseClasses(await readFile(candidate, 'utf8'))
    if (classes.length === numClasses) return classes
  }
  return numberedClasses(numClasses)
}

/** Where onnxruntime-node keeps its native libraries (to see whether the CUDA provider is there). */
function ortLibraryDirs(): string[] {
  try {
    const require = createRequire(import.meta.url)
    const root = path.resolve(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin')
    return readdirSync(root)
      .filter((d) => d.startsWith('napi-'))
      .map((d) => path.join(root, d, process.platform, process.arch))
  } catch {
    return []
  }
}

function cudaLibraryPresent(): boolean {
  const lib =
    process.platform === 'win32'
      ? 'onnxruntime_providers_cuda.dll'
      : 'libonnxruntime_providers_cuda.so'
  return ortLibraryDirs().some((d) => existsSync(path.join(d, lib)))
}

/** The GPU providers to try for a choice, in order, before CPU. */
function candidates(choice: ProviderChoice): { list: string[]; skipped: string[] } {
  if (choice === 'cpu') return { list: [], skipped: [] }
  if (choice !== 'auto') return { list: [choice], skipped: [] }
  const list: string[] = []
  const skipped: string[] = []
  if ((process.platform === 'linux' || process.platform === 'win32') && process.arch === 'x64') {
    if (cudaLibraryPresent()) list.push('cuda')
    else skipped.push('CUDA provider library not installed with onnxruntime-node')
  }
  if (process.platform === 'win32') list.push('dml')
  if (process.platform === 'darwin') list.push('coreml')
  return { list, skipped }
}

async function createSession(
  bytes: Uint8Array,
  choice: ProviderChoice,
  threads: number | undefined,
): Promise<{ session: ort.InferenceSession; provider: string; note?: string }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(threads ? { intraOpNumThreads: threads } : {}),
  }
  const { list, skipped } = candidates(choice)
  const failures: string[] = [...skipped]
  for (const ep of list) {
    try {
      const session = await ort.InferenceSession.create(bytes, {
        ...base,
        executionProviders: [ep, 'cpu'],
      })
      return { session, provider: ep }
    } catch (err) {
      failures.push(`${ep}: ${(err as Error).message.split('\n')[0]}`)
    }
  }
  let session: ort.InferenceSession
  try {
    session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] })
  } catch (err) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `ONNX Runtime cannot load this model: ${(err as Error).message.split('\n')[0]}`,
      'The model may need a newer ONNX Runtime or use operators it does not have.',
      { cause: err },
    )
  }
  const note =
    choice === 'cpu' || failures.length === 0 ? undefined : `Using CPU: ${failures.join('; ')}`
  return note ? { session, provider: 'cpu', note } : { session, provider: 'cpu' }
}

function toUint16(data: Float32Array | Uint16Array): Uint16Array {
  return data instanceof Uint16Array ? data : float32ToFloat16(data)
}

function toFloat32(data: Float32Array | Uint16Array): Float32Array {
  return data instanceof Float32Array ? data : float16ToFloat32(data)
}

/** A tensor's data as float32 (float16 outputs converted). */
function tensorData(t: ort.Tensor): Float32Array {
  if (t.type === 'float16') return float16ToFloat32(t.data as Uint16Array)
  if (t.type === 'float32') return t.data as Float32Array
  return Float32Array.from(t.data as ArrayLike<number>)
}

/**
 * Item b of an [N,C,H,W] (or [N,C]) output, converted to float32 only when read: all of it through
 * `data` (a copy, safe to transfer), or one channel through `plane`. A label's CAM needs one plane
 * of SqueezeNet's 1000-plane float16 class maps, and converting all of them cost more than the CAM.
 */
class OutputMaps implements FeatureMaps {
  readonly channels: number
  readonly height: number
  readonly width: number
  readonly #tensor: ort.Tensor
  readonly #item: number
  #data: Float32Array | undefined

  constructor(tensor: ort.Tensor, item: number) {
    const dims = tensor.dims
    this.channels = dims[1] ?? 1
    this.height = dims.length >= 4 ? dims[2]! : 1
    this.width = dims.length >= 4 ? dims[3]! : 1
    this.#tensor = tensor
    this.#item = item
  }

  get data(): Float32Array {
    const size = this.channels * this.height * this.width
    this.#data ??= valuesOf(this.#tensor, this.#item * size, size)
    return this.#data
  }

  plane(index: number): Float32Array {
    const size = this.height * this.width
    if (this.#data) return this.#data.slice(index * size, (index + 1) * size)
    return valuesOf(this.#tensor, (this.#item * this.channels + index) * size, size)
  }
}

/** `length` values of a tensor from `start`, as a float32 copy (float16 converted). */
function valuesOf(t: ort.Tensor, start: number, length: number): Float32Array {
  if (t.type === 'float16') {
    return float16ToFloat32((t.data as Uint16Array).subarray(start, start + length))
  }
  if (t.type === 'float32') return (t.data as Float32Array).slice(start, start + length)
  const data = t.data as ArrayLike<number>
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) out[i] = Number(data[start + i])
  return out
}

/** Numerically stable softmax. */
export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity
  for (const v of logits) if (v > max) max = v
  const out = new Float32Array(logits.length)
  let sum = 0
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max)
    sum += out[i]!
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum
  return out
}
