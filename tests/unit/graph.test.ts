import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { CamlabelError } from '../../src/shared/errors.ts'
import { detectCamHead, withExtraOutputs } from '../../src/main/engine/graph.ts'
import { decodeModel, encodeModel, tensorToFloat32 } from '../../src/main/engine/onnxProto.ts'
import { openModel } from '../../src/main/engine/session.ts'
import { float16ToFloat32, float32ToFloat16 } from '../../src/main/engine/float16.ts'
import {
  B2,
  CLASSES,
  FEATURES,
  SIZE,
  W2,
  fp16Model,
  gapGemmModel,
  handFeatures,
  handLogits,
  handSoftmax,
  int8DequantModel,
  noPoolingModel,
  quantisedW2,
  squeezeStyleModel,
  tinyInput,
  writeModel,
} from '../fixtures/tinyModels.ts'

const shared = path.resolve(import.meta.dirname, '../../../shared/models')
const squeezenet = path.join(shared, 'squeezenet1.1-fp16.onnx')
const mobilenet = path.join(shared, 'mobilenetv2-12-int8.onnx')

function requireShared(): void {
  if (!existsSync(squeezenet) || !existsSync(mobilenet)) {
    throw new Error(
      `The real models are missing: expected them in ${shared} (see ../shared/models/README.md)`,
    )
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    expect(
      Math.abs(actual[i]! - expected[i]!),
      `index ${i}: ${actual[i]} vs ${expected[i]}`,
    ).toBeLessThanOrEqual(tol)
  }
}

describe('detectCamHead on tiny models', () => {
  it('finds GAP → Flatten → Gemm → Softmax with the Gemm weights as the classifier', () => {
    const head = detectCamHead(decodeModel(gapGemmModel()))
    expect(head.featureTensor).toBe('feat')
    expect(head.classMapTensor).toBeUndefined()
    expect(head.scoresTensor).toBe('prob')
    expect(head.scoresKind).toBe('probabilities')
    expect(head.classifier.numClasses).toBe(CLASSES)
    expect(head.classifier.numFeatures).toBe(FEATURES)
    expectClose(head.classifier.weights, W2, 1e-7)
    expectClose(head.classifier.bias, B2, 1e-7)
  })

  it('finds a 1×1 conv + Relu before the pooling as class maps (SqueezeNet-style)', () => {
    const head = detectCamHead(decodeModel(squeezeStyleModel()))
    expect(head.featureTensor).toBe('feat')
    expect(head.classMapTensor).toBe('cmap')
    expectClose(head.classifier.weights, W2, 1e-7)
  })

  it('reads float16 MatMul weights transposed to [classes × features], logits without softmax', () => {
    const head = detectCamHead(decodeModel(fp16Model()))
    expect(head.scoresKind).toBe('logits')
    expect(head.classifier.numClasses).toBe(CLASSES)
    expectClose(head.classifier.weights, W2, 1e-3)
    expectClose(head.classifier.bias, B2, 1e-3)
  })

  it('follows DequantizeLinear with per-class zero point and scale, and ReduceMean pooling', () => {
    const head = detectCamHead(decodeModel(int8DequantModel()))
    const { q, scale, zeroPoint } = quantisedW2()
    const expected = new Float32Array(CLASSES * FEATURES)
    for (let c = 0; c < CLASSES; c++)
      for (let k = 0; k < FEATURES; k++)
        expected[c * FEATURES + k] = (q[k * CLASSES + c]! - zeroPoint[c]!) * scale[c]!
    expectClose(head.classifier.weights, expected, 1e-7)
    // and the dequantised weights are close to the float ones they came from
    expectClose(head.classifier.weights, W2, 0.01)
    expect(head.featureTensor).toBe('feat')
  })

  it('refuses a classifier without global pooling, saying what it found', () => {
    let error: unknown
    try {
      detectCamHead(decodeModel(noPoolingModel()))
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(CamlabelError)
    expect((error as CamlabelError).code).toBe('MODEL_UNUSABLE')
    expect((error as CamlabelError).message).toContain(
      'no global average pooling before the classifier: found Relu→Flatten→Gemm over a 6×6 map',
    )
    expect((error as CamlabelError).hint).toBeTruthy()
  })

  it('refuses bytes that are not an ONNX model', () => {
    expect(() => decodeModel(new TextEncoder().encode('hello, I am not a model'))).toThrow(
      /Not an ONNX model/,
    )
  })
})

describe('tiny models through ONNX Runtime equal a hand computation', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-graph-'))
  const x = tinyInput()
  const feat = handFeatures(x)

  it('gap-gemm: probabilities and the feature map', async () => {
    const model = await openModel(writeModel(dir, 'gap-gemm.onnx', gapGemmModel()), {
      providers: 'cpu',
    })
    try {
      expect(model.provider).toBe('cpu')
      expect(model.classes.map((c) => c.id)).toEqual(['class-0', 'class-1', 'class-2'])
      expect(model.spec.preprocessing).toMatchObject({
        width: SIZE,
        height: SIZE,
        dtype: 'float32',
        channelOrder: 'RGB',
      })
      const r = await model.forward(x)
      expect(r.features).toMatchObject({ channels: FEATURES, height: SIZE, width: SIZE })
      expectClose(r.features.data, feat, 1e-5)
      expectClose(r.probabilities, handSoftmax(handLogits(feat)), 1e-5)
      expect(r.classMaps).toBeUndefined()
    } finally {
      await model.dispose()
    }
  })

  it('squeeze-style: class maps equal relu(W2 · F + b2) per pixel', async () => {
    const model = await openModel(writeModel(dir, 'squeeze.onnx', squeezeStyleModel()), {
      providers: 'cpu',
    })
    try {
      const r = await model.forward(x)
      const hw = SIZE * SIZE
      const cam = new Float32Array(CLASSES * hw)
      for (let c = 0; c < CLASSES; c++)
        for (let p = 0; p < hw; p++) {
          let v = B2[c]!
          for (let k = 0; k < FEATURES; k++) v += W2[c * FEATURES + k]! * feat[k * hw + p]!
          cam[c * hw + p] = Math.max(0, v)
        }
      expect(r.classMaps).toMatchObject({ channels: CLASSES, height: SIZE, width: SIZE })
      expectClose(r.classMaps!.data, cam, 1e-5)
      const pooled = Float32Array.from(
        { length: CLASSES },
        (_, c) => cam.slice(c * hw, (c + 1) * hw).reduce((a, b) => a + b, 0) / hw,
      )
      expectClose(r.probabilities, handSoftmax(pooled), 1e-5)
    } finally {
      await model.dispose()
    }
  })

  it('fp16: float16 input and outputs, logits turned into probabilities', async () => {
    const model = await openModel(writeModel(dir, 'fp16.onnx', fp16Model()), { providers: 'cpu' })
    try {
      expect(model.spec.preprocessing.dtype).toBe('float16')
      const half = float32ToFloat16(x)
      const r = await model.forward(half)
      const featHalf = handFeatures(float16ToFloat32(half))
      expectClose(r.features.data, featHalf, 0.01)
      expectClose(r.probabilities, handSoftmax(handLogits(featHalf)), 0.01)
    } finally {
      await model.dispose()
    }
  })

  it('int8-dequant: logits from the dequantised weights', async () => {
    const model = await openModel(writeModel(dir, 'int8.onnx', int8DequantModel()), {
      providers: 'cpu',
    })
    try {
      const r = await model.forward(x)
      // ONNX Runtime's optimiser may fold DequantizeLinear into a quantised MatMul: small rounding.
      expectClose(
        r.probabilities,
        handSoftmax(handLogits(feat, model.head.classifier.weights)),
        1e-3,
      )
    } finally {
      await model.dispose()
    }
  })

  it('a model without pooling cannot be opened, with the reason', async () => {
    const file = writeModel(dir, 'nopool.onnx', noPoolingModel())
    await expect(openModel(file)).rejects.toMatchObject({ code: 'MODEL_UNUSABLE' })
  })

  it('a random file cannot be opened, with the reason', async () => {
    const file = writeModel(
      dir,
      'random.onnx',
      Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 255),
    )
    await expect(openModel(file)).rejects.toMatchObject({ code: 'MODEL_UNUSABLE' })
  })
})

describe('extra outputs keep the model as it was', () => {
  it("fields outside the engine's ONNX schema survive, and ONNX Runtime returns the new outputs", async () => {
    // ModelProto field 20 (training_info, a TrainingInfoProto) is in onnx.proto but not in the
    // engine's reading schema; a decode/re-encode would drop it. Here: an empty one, tag 0xA2 0x01.
    const trainingInfo = Uint8Array.of(0xa2, 0x01, 0x00)
    const base = gapGemmModel()
    const bytes = new Uint8Array(base.length + trainingInfo.length)
    bytes.set(base)
    bytes.set(trainingInfo, base.length)
    const extra = withExtraOutputs(bytes, ['feat'])
    expect(Buffer.from(extra.subarray(0, bytes.length)).equals(Buffer.from(bytes))).toBe(true)
    const session = await ort.InferenceSession.create(extra, { logSeverityLevel: 3 })
    expect(session.outputNames).toEqual(['prob', 'feat'])
    const x = tinyInput()
    const out = await session.run({ x: new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]) })
    expect(out.feat?.dims).toEqual([1, FEATURES, SIZE, SIZE])
    expectClose(out.feat!.data as Float32Array, handFeatures(x), 1e-5)
    await session.release()
    // Nothing to add: the very same bytes.
    expect(withExtraOutputs(bytes, ['prob'])).toBe(bytes)
  })
})

describe('the real models', () => {
  it('SqueezeNet fp16: class maps conv10_2 from conv10, features fire9/concat_2', () => {
    requireShared()
    const head = detectCamHead(decodeModel(readFileSync(squeezenet)))
    expect(head).toMatchObject({
      featureTensor: 'fire9/concat_2',
      classMapTensor: 'conv10_2',
      scoresTensor: 'softmaxout_1',
      scoresKind: 'probabilities',
    })
    expect(head.classifier).toMatchObject({ numClasses: 1000, numFeatures: 512 })
    const model = decodeModel(readFileSync(squeezenet))
    const w = tensorToFloat32(model.graph!.initializer.find((t) => t.name === 'conv10_w_0')!)
    expectClose(head.classifier.weights.subarray(0, 1024), w.subarray(0, 1024), 0)
  })

  it('MobileNetV2 int8: features 627, dequantised and transposed classifier', () => {
    requireShared()
    const model = decodeModel(readFileSync(mobilenet))
    const head = detectCamHead(model)
    expect(head).toMatchObject({
      featureTensor: '627',
      scoresTensor: 'output',
      scoresKind: 'logits',
    })
    expect(head.classMapTensor).toBeUndefined()
    expect(head.classifier).toMatchObject({ numClasses: 1000, numFeatures: 1280 })
    const init = (name: string) =>
      tensorToFloat32(model.graph!.initializer.find((t) => t.name === name)!)
    const q = init('classifier.1.weight_quantized')
    const scale = init('classifier.1.weight_scale')
    const zp = init('classifier.1.weight_zero_point')
    // W[c,k] = (q[k,c] − zp[c]) × scale[c], for a few (c, k)
    for (const [c, k] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [999, 1279],
      [417, 3],
    ] as const) {
      expect(head.classifier.weights[c * 1280 + k]).toBeCloseTo(
        (q[k * 1000 + c]! - zp[c]!) * scale[c]!,
        7,
      )
    }
  })

  it('re-encoding keeps the model loadable, and extra outputs have the right shapes', async () => {
    requireShared()
    const cases = [
      {
        file: squeezenet,
        names: ['fire9/concat_2', 'conv10_2'],
        dims: [
          [1, 512, 13, 13],
          [1, 1000, 13, 13],
        ],
        half: true,
      },
      { file: mobilenet, names: ['627'], dims: [[1, 1280, 7, 7]], half: false },
    ]
    for (const c of cases) {
      const bytes = readFileSync(c.file)
      const plain = encodeModel(decodeModel(bytes))
      const extra = withExtraOutputs(bytes, c.names)
      for (const b of [plain, extra]) {
        const session = await ort.InferenceSession.create(b, { logSeverityLevel: 3 })
        const n = 3 * 224 * 224
        const input = c.half
          ? new ort.Tensor('float16', new Uint16Array(n), [1, 3, 224, 224])
          : new ort.Tensor('float32', new Float32Array(n), [1, 3, 224, 224])
        const out = await session.run({ [session.inputNames[0]!]: input })
        if (b === extra) {
          c.names.forEach((name, i) => expect(out[name]?.dims).toEqual(c.dims[i]))
        } else {
          expect(Object.keys(out)).toHaveLength(1)
        }
        await session.release()
      }
    }
  })

  it('MobileNetV2: W · mean(features) + b reproduces the model logits', async () => {
    requireShared()
    const bytes = readFileSync(mobilenet)
    const head = detectCamHead(decodeModel(bytes))
    const session = await ort.InferenceSession.create(withExtraOutputs(bytes, ['627']), {
      logSeverityLevel: 3,
    })
    const x = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001) * 2)
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) })
    await session.release()
    const f = out['627']!.data as Float32Array
    const logits = out['output']!.data as Float32Array
    const { weights, bias } = head.classifier
    let maxErr = 0
    let scale = 0
    for (let c = 0; c < 1000; c++) {
      let v = bias[c]!
      for (let k = 0; k < 1280; k++) {
        let mean = 0
        for (let p = 0; p < 49; p++) mean += f[k * 49 + p]!
        v += weights[c * 1280 + k]! * (mean / 49)
      }
      maxErr = Math.max(maxErr, Math.abs(v - logits[c]!))
      scale = Math.max(scale, Math.abs(logits[c]!))
    }
    // The model requantises pooled features and logits to uint8: agreement within a few steps.
    expect(maxErr / scale).toBeLessThan(0.05)
  })
})
