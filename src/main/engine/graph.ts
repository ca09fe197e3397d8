/**
 * Reading a classifier's graph to find where a Class Activation Map can come from (Zhou et al.
 * 2016): the feature map that global average pooling reduces, and the linear classifier after the
 * pooling — or, SqueezeNet-style, a 1×1 convolution before the pooling whose output already is a
 * map per class. Also adds internal tensors as graph outputs so ONNX Runtime returns them.
 */
import { CamlabelError } from '../../shared/errors.ts'
import type { CamHead, LinearClassifier } from './types.ts'
import {
  DataType,
  decodeModel,
  encodeModel,
  getAttribute,
  intAttribute,
  intsAttribute,
  tensorDims,
  tensorToFloat32,
  valueInfo,
  valueInfoShape,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnxProto.ts'

const UNUSABLE_HINT =
  'camlabel needs a CNN classifier whose last layers are global average pooling followed by a ' +
  'linear layer (Gemm/MatMul), or a 1×1 convolution followed by global average pooling. ' +
  'Pick one of `npm run models -- --list`, or export your model with such a head.'

/** A constant tensor resolved from the graph: initializer, Constant node, or folded Cast/Dequantize. */
interface Constant {
  data: Float32Array
  dims: number[]
}

/** Ops that pass values through unchanged (at inference) or only change the shape. */
const PASS_THROUGH = new Set([
  'Identity',
  'Dropout',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Cast',
])
/** Quantisation wrappers: also value-preserving up to rounding. */
const QUANT = new Set(['QuantizeLinear', 'DequantizeLinear'])

/** An index over a model's graph: producers, consumers, constants. */
class GraphIndex {
  readonly producer = new Map<string, NodeProto>()
  readonly consumers = new Map<string, NodeProto[]>()
  readonly initializers = new Map<string, TensorProto>()
  readonly shapes = new Map<string, (number | null)[]>()
  private readonly constants = new Map<string, Constant | null>()

  constructor(readonly model: ModelProto) {
    const g = model.graph!
    for (const t of g.initializer) this.initializers.set(t.name ?? '', t)
    for (const n of g.node) {
      for (const o of n.output) if (o) this.producer.set(o, n)
      for (const i of n.input) {
        if (!i) continue
        const list = this.consumers.get(i) ?? []
        list.push(n)
        this.consumers.set(i, list)
      }
    }
    for (const v of [...g.value_info, ...g.input, ...g.output]) {
      const s = valueInfoShape(v)
      if (v.name && s) this.shapes.set(v.name, s)
    }
  }

  isConstant(name: string): boolean {
    return this.constant(name) !== undefined
  }

  /** The value of a constant tensor, following Cast, DequantizeLinear and Identity. */
  constant(name: string): Constant | undefined {
    if (this.constants.has(name)) return this.constants.get(name) ?? undefined
    this.constants.set(name, null) // guards against cycles
    const value = this.resolveConstant(name)
    this.constants.set(name, value ?? null)
    return value
  }

  private resolveConstant(name: string): Constant | undefined {
    const init = this.initializers.get(name)
    if (init) return { data: tensorToFloat32(init), dims: tensorDims(init) }
    const node = this.producer.get(name)
    if (!node) return undefined
    switch (node.op_type) {
      case 'Constant': {
        const t = getAttribute(node, 'value')?.t
        return t ? { data: tensorToFloat32(t), dims: tensorDims(t) } : undefined
      }
      case 'Cast':
      case 'Identity':
        return this.constant(node.input[0]!)
      case 'DequantizeLinear': {
        const q = this.constant(node.input[0]!)
        const scale = this.constant(node.input[1]!)
        const zp = node.input[2] ? this.constant(node.input[2]) : undefined
        if (!q || !scale) return undefined
        const axis = intAttribute(node, 'axis', 1)
        return { data: dequantize(q, scale.data, zp?.data, axis), dims: q.dims }
      }
      default:
        return undefined
    }
  }

  /** The one input of a node that is not a constant (its data input), or undefined. */
  dataInput(node: NodeProto): string | undefined {
    const inputs = node.input.filter((i) => i && !this.isConstant(i))
    return inputs.length === 1 ? inputs[0] : undefined
  }

  describe(name: string): string {
    const s = this.shapes.get(name)
    return s ? `[${s.map((d) => d ?? '?').join(',')}]` : ''
  }
}

/**
 * (q − zero_point) × scale with per-tensor or per-axis parameters, as DequantizeLinear and the
 * QLinear* ops define it.
 */
export function dequantize(
  q: Constant,
  scale: Float32Array,
  zeroPoint: Float32Array | undefined,
  axis: number,
): Float32Array {
  const out = new Float32Array(q.data.length)
  if (scale.length <= 1) {
    const s = scale[0] ?? 1
    const z = zeroPoint?.[0] ?? 0
    for (let i = 0; i < out.length; i++) out[i] = (q.data[i]! - z) * s
    return out
  }
  const dims = q.dims
  const ax = axis < 0 ? axis + dims.length : axis
  const inner = dims.slice(ax + 1).reduce((a, b) => a * b, 1)
  const axisLen = dims[ax]!
  if (axisLen !== scale.length) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `Per-axis quantisation with ${scale.length} scales does not match axis ${ax} of [${dims.join(',')}]`,
    )
  }
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / inner) % axisLen
    out[i] = (q.data[i]! - (zeroPoint?.[c] ?? 0)) * scale[c]!
  }
  return out
}

/** Transposes a row-major [rows × cols] matrix. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length)
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!
  return out
}

/** Options of `detectCamHead`. */
export interface DetectOptions {
  /** Name of the scores output to start from; default: the model's first output. */
  scoresTensor?: string
}

interface LinearFound {
  classifier: LinearClassifier
  /** The tensor the linear layer reads (the pooled features, maybe reshaped). */
  input: string
  chain: string[]
}

/**
 * Finds the CAM head of a classifier graph. Walks back from the scores output through Softmax,
 * shape-only and (de)quantisation ops to a linear layer (Gemm, MatMul(+Add), QLinearMatMul
 * (+QLinearAdd), or a 1×1 Conv on pooled features), then on to the global average pooling, whose
 * input is the feature map. When the pooling reads a 1×1 convolution (optionally through Relu), that
 * convolution's output is the class-map tensor and its weights are the classifier.
 *
 * Throws MODEL_UNUSABLE saying what was found instead when the graph has no such head.
 */
export function detectCamHead(model: ModelProto, opts: DetectOptions = {}): CamHead {
  const ix = new GraphIndex(model)
  const g = model.graph!
  const scoresTensor = opts.scoresTensor ?? g.output[0]?.name
  if (!scoresTensor) throw unusable('the model has no outputs')

  const chain: string[] = []
  let name = scoresTensor
  let softmax = false
  // 1. From the scores back to the classifier (or straight to the pooling, SqueezeNet-style).
  for (let guard = 0; guard < 64; guard++) {
    const node = ix.producer.get(name)
    if (!node) throw unusable(`the scores output '${scoresTensor}' is not computed by any node`)
    const op = node.op_type ?? ''
    if (op === 'Softmax' || op === 'LogSoftmax') {
      softmax = op === 'Softmax'
      chain.unshift(op)
      name = node.input[0]!
      continue
    }
    if (PASS_THROUGH.has(op) || QUANT.has(op)) {
      chain.unshift(op)
      name = node.input[0]!
      continue
    }
    const linear = readLinear(ix, node)
    if (linear) {
      chain.unshift(...linear.chain)
      const pool = findPooling(ix, linear.input, chain)
      return {
        featureTensor: floatTensorOf(ix, pool.input),
        classifier: checkFeatures(ix, linear.classifier, pool.input),
        scoresTensor,
        scoresKind: softmax ? 'probabilities' : 'logits',
      }
    }
    if (isPooling(ix, node)) {
      // SqueezeNet-style: pooling right after a 1×1 conv (+ Relu): the conv output is the class map.
      chain.unshift(op)
      const classMap = node.input[0]!
      let convOut = classMap
      let producer = ix.producer.get(convOut)
      if (producer?.op_type === 'Relu' || producer?.op_type === 'Identity') {
        convOut = producer.input[0]!
        producer = ix.producer.get(convOut)
      }
      const conv = producer && producer.op_type === 'Conv' ? readConv1x1(ix, producer) : undefined
      if (!conv) {
        throw unusable(
          `found ${[producer?.op_type ?? 'input', ...chain].join('→')}: the pooling is not preceded by a ` +
            'linear 1×1 convolution nor followed by a linear classifier',
        )
      }
      return {
        featureTensor: floatTensorOf(ix, conv.input),
        classMapTensor: classMap,
        classifier: conv.classifier,
        scoresTensor,
        scoresKind: softmax ? 'probabilities' : 'logits',
      }
    }
    throw unusable(
      `found ${[op, ...chain].join('→')} at the end of the graph, where a linear classifier ` +
        '(Gemm/MatMul) after global average pooling was expected',
    )
  }
  throw unusable('the classifier head is too long to follow')
}

/** Walks back from the linear layer's input to the global pooling, through shape-only ops. */
function findPooling(ix: GraphIndex, start: string, chain: string[]): { input: string } {
  let name = start
  for (let guard = 0; guard < 16; guard++) {
    const node = ix.producer.get(name)
    if (!node) break
    const op = node.op_type ?? ''
    if (isPooling(ix, node)) return { input: node.input[0]! }
    if (PASS_THROUGH.has(op) || QUANT.has(op)) {
      chain.unshift(op)
      name = node.input[0]!
      continue
    }
    const shape = ix.shapes.get(name) ?? ix.shapes.get(node.input[0] ?? '')
    const over =
      shape && shape.length === 4 && shape[2] && shape[3]
        ? ` over a ${shape[2]}×${shape[3]} map`
        : ''
    throw unusable(
      `no global average pooling before the classifier: found ${[op, ...chain].join('→')}${over}`,
    )
  }
  throw unusable(
    `no global average pooling before the classifier: found ${['input', ...chain].join('→')}`,
  )
}

/** GlobalAveragePool, its quantised form, ReduceMean over H and W, or an AveragePool that is global. */
function isPooling(ix: GraphIndex, node: NodeProto): boolean {
  const op = node.op_type
  if (op === 'GlobalAveragePool' || op === 'QLinearGlobalAveragePool') return true
  if (op === 'ReduceMean') {
    const axes = intsAttribute(node, 'axes') ?? ix.constant(node.input[1] ?? '')?.data
    if (!axes) return false
    const set = new Set(Array.from(axes, (a) => (a < 0 ? a + 4 : a)))
    return set.size === 2 && set.has(2) && set.has(3)
  }
  if (op === 'AveragePool') {
    // Caffe-converted models (GoogLeNet) pool with a fixed 7×7 kernel over a 7×7 map; accept it
    // when the map size is unknown or matches the kernel.
    const kernel = intsAttribute(node, 'kernel_shape')
    const shape = ix.shapes.get(node.input[0] ?? '')
    if (!kernel || kernel.length !== 2) return false
    if (!shape || shape[2] === null || shape[3] === null) return true
    return shape[2] === kernel[0] && shape[3] === kernel[1]
  }
  return false
}

/** Reads a linear layer ending at `node`: Add(MatMul), Gemm, QLinearAdd(QLinearMatMul), 1×1 Conv. */
function readLinear(ix: GraphIndex, node: NodeProto): LinearFound | undefined {
  const op = node.op_type
  if (op === 'Add' || op === 'QLinearAdd') {
    const quant = op === 'QLinearAdd'
    const dataIdx = quant ? [0, 3] : [0, 1]
    const [a, b] = dataIdx.map((i) => node.input[i]!)
    const biasName = ix.isConstant(a!) ? a! : ix.isConstant(b!) ? b! : undefined
    const other = biasName === a ? b! : a!
    if (!biasName) return undefined
    const mm = ix.producer.get(other)
    if (!mm) return undefined
    const inner = readLinear(ix, mm)
    if (!inner) return undefined
    let bias = ix.constant(biasName)!.data
    if (quant) {
      const biasIdx = biasName === a ? 0 : 3
      const scale = ix.constant(node.input[biasIdx + 1]!)?.data
      const zp = ix.constant(node.input[biasIdx + 2]!)?.data
      if (!scale) return undefined
      bias = dequantize({ data: bias, dims: [bias.length] }, scale, zp, 0)
    }
    if (bias.length !== inner.classifier.numClasses) return undefined
    const sum = inner.classifier.bias.map((v, i) => v + bias[i]!)
    return {
      ...inner,
      classifier: { ...inner.classifier, bias: sum },
      chain: [...inner.chain, op!],
    }
  }
  if (op === 'Gemm') {
    const a = node.input[0]!
    const w = ix.constant(node.input[1]!)
    if (!w || w.dims.length !== 2 || ix.isConstant(a)) return undefined
    const transB = intAttribute(node, 'transB', 0) === 1
    const alphaAttr = getAttribute(node, 'alpha')
    const betaAttr = getAttribute(node, 'beta')
    const alpha = alphaAttr?.f ?? 1
    const beta = betaAttr?.f ?? 1
    const [r, c] = w.dims as [number, number]
    const weights = transB ? w.data.slice() : transpose(w.data, r, c)
    const numClasses = transB ? r : c
    const numFeatures = transB ? c : r
    if (alpha !== 1) for (let i = 0; i < weights.length; i++) weights[i]! *= alpha
    const bias = new Float32Array(numClasses)
    const cName = node.input[2]
    if (cName) {
      const cv = ix.constant(cName)
      if (!cv) return undefined
      for (let i = 0; i < numClasses; i++) bias[i] = beta * cv.data[cv.data.length === 1 ? 0 : i]!
    }
    return { classifier: { weights, bias, numClasses, numFeatures }, input: a, chain: ['Gemm'] }
  }
  if (op === 'MatMul' || op === 'QLinearMatMul') {
    const quant = op === 'QLinearMatMul'
    const a = node.input[0]!
    const bName = node.input[quant ? 3 : 1]!
    let w = ix.constant(bName)
    if (!w || w.dims.length !== 2 || ix.isConstant(a)) return undefined
    if (quant) {
      const scale = ix.constant(node.input[4]!)?.data
      const zp = ix.constant(node.input[5]!)?.data
      if (!scale) return undefined
      // B is [K, N]: per-column (per-class) parameters run along axis 1.
      w = { data: dequantize(w, scale, zp, 1), dims: w.dims }
    }
    const [k, n] = w.dims as [number, number]
    return {
      classifier: {
        weights: transpose(w.data, k, n),
        bias: new Float32Array(n),
        numClasses: n,
        numFeatures: k,
      },
      input: a,
      chain: [op!],
    }
  }
  if (op === 'Conv') {
    // A 1×1 conv on pooled [N,C,1,1] features is a linear layer (Caffe2-converted models).
    const conv = readConv1x1(ix, node)
    if (!conv) return undefined
    return { classifier: conv.classifier, input: conv.input, chain: ['Conv'] }
  }
  return undefined
}

/** A Conv with a 1×1 kernel, stride 1, group 1 and constant weights, as a linear classifier. */
function readConv1x1(
  ix: GraphIndex,
  node: NodeProto,
): { classifier: LinearClassifier; input: string } | undefined {
  const w = ix.constant(node.input[1] ?? '')
  if (!w || w.dims.length !== 4 || w.dims[2] !== 1 || w.dims[3] !== 1) return undefined
  if (intAttribute(node, 'group', 1) !== 1) return undefined
  const [numClasses, numFeatures] = w.dims as [number, number]
  const bias = node.input[2] ? ix.constant(node.input[2])?.data : new Float32Array(numClasses)
  if (!bias) return undefined
  return {
    classifier: { weights: w.data.slice(), bias: Float32Array.from(bias), numClasses, numFeatures },
    input: node.input[0]!,
  }
}

/**
 * The float tensor that holds the features. For a quantised graph the pooling reads a uint8
 * tensor; its DequantizeLinear output (MobileNetV2 int8 has one: '627') is the float form.
 */
function floatTensorOf(ix: GraphIndex, name: string): string {
  const producer = ix.producer.get(name)
  if (producer?.op_type === 'QuantizeLinear') return producer.input[0]!
  const elem = inferElemType(ix, name)
  if (elem === DataType.FLOAT || elem === DataType.FLOAT16 || elem === undefined) {
    if (!producer?.op_type?.startsWith('QLinear')) return name
  }
  const deq = (ix.consumers.get(name) ?? []).find((n) => n.op_type === 'DequantizeLinear')
  if (deq) return deq.output[0]!
  throw unusable(`the feature map '${name}' is quantised and the graph never dequantises it`)
}

function checkFeatures(ix: GraphIndex, c: LinearClassifier, features: string): LinearClassifier {
  const shape = ix.shapes.get(features)
  if (shape && shape.length === 4 && shape[1] !== null && shape[1] !== c.numFeatures) {
    throw unusable(
      `the classifier reads ${c.numFeatures} features but the pooled map '${features}' has ${shape[1]} channels`,
    )
  }
  return c
}

function unusable(why: string): CamlabelError {
  return new CamlabelError('MODEL_UNUSABLE', `This model cannot give CAMs: ${why}`, UNUSABLE_HINT)
}

/** The element type of a tensor: declared, or inferred from the node that produces it. */
function inferElemType(ix: GraphIndex, name: string, depth = 0): number | undefined {
  const g = ix.model.graph!
  const declared = [...g.value_info, ...g.input, ...g.output].find((v) => v.name === name)
  const t = declared?.type?.tensor_type?.elem_type
  if (t) return t
  const init = ix.initializers.get(name)
  if (init) return init.data_type
  const node = ix.producer.get(name)
  if (!node || depth > 64) return undefined
  switch (node.op_type) {
    case 'DequantizeLinear':
      return inferElemType(ix, node.input[1]!, depth + 1) ?? DataType.FLOAT
    case 'QuantizeLinear':
      return node.input[2] ? inferElemType(ix, node.input[2], depth + 1) : DataType.UINT8
    case 'Cast':
      return intAttribute(node, 'to', DataType.FLOAT)
    case 'Shape':
    case 'Size':
      return DataType.INT64
    case 'Constant':
      return getAttribute(node, 'value')?.t?.data_type
    default:
      if (node.op_type?.startsWith('QLinear')) {
        // Output zero point sets the type (QLinearConv input 7, QLinearAdd/Pool input 7 or 4).
        const zp = node.input[node.op_type === 'QLinearGlobalAveragePool' ? 4 : 7]
        return zp ? inferElemType(ix, zp, depth + 1) : DataType.UINT8
      }
      return node.input[0] ? inferElemType(ix, node.input[0], depth + 1) : undefined
  }
}

/**
 * Model bytes with the named internal tensors added as graph outputs (ONNX Runtime then returns
 * them from `run`). Outputs already present are left as they are. The element type comes from
 * value_info or is inferred from the producing node; no shape is declared, which ONNX Runtime
 * accepts.
 *
 * The model is not decoded and re-encoded: a second ModelProto holding only the new outputs is
 * appended to the bytes. Protobuf merges a repeated occurrence of an embedded message field into
 * the first one, appending its repeated fields, so a parser reads the original graph with these
 * outputs added; every byte of the user's model — fields this engine's schema does not name
 * (training_info, configurations, any later addition) included — is kept exactly.
 */
export function withExtraOutputs(bytes: Uint8Array, names: string[]): Uint8Array {
  const model = decodeModel(bytes)
  const g = model.graph!
  const ix = new GraphIndex(model)
  const present = new Set(g.output.map((o) => o.name))
  const added: ValueInfoProto[] = []
  for (const name of names) {
    if (present.has(name)) continue
    if (!ix.producer.has(name) && !g.input.some((i) => i.name === name)) {
      throw new CamlabelError(
        'MODEL_UNUSABLE',
        `The model has no tensor named '${name}'`,
        'Check the tensor names in the model manifest (models/manifest.json).',
      )
    }
    const elem = inferElemType(ix, name)
    if (elem === undefined) {
      throw new CamlabelError('MODEL_UNUSABLE', `Cannot tell the element type of tensor '${name}'`)
    }
    added.push(valueInfo(name, elem))
    present.add(name)
  }
  if (added.length === 0) return bytes
  const patch = encodeModel({
    opset_import: [],
    graph: { node: [], input: [], output: added, initializer: [], value_info: [] },
  })
  // (protobufjs itself keeps only the last occurrence, so these bytes go to ONNX Runtime only.)
  const out = new Uint8Array(bytes.length + patch.length)
  out.set(bytes, 0)
  out.set(patch, bytes.length)
  return out
}

/** The graph's real inputs (not initializers listed as inputs, as IR < 4 models do). */
export function graphInputs(
  model: ModelProto,
): { name: string; elemType: number; shape: (number | null)[] }[] {
  const g = model.graph!
  const inits = new Set(g.initializer.map((t) => t.name))
  return g.input
    .filter((i) => i.name && !inits.has(i.name))
    .map((i) => ({
      name: i.name!,
      elemType: i.type?.tensor_type?.elem_type ?? DataType.FLOAT,
      shape: valueInfoShape(i) ?? [],
    }))
}
