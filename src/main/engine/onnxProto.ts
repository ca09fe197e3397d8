/**
 * Reading ONNX models (ModelProto) without the onnx Python package: the part of onnx.proto the
 * engine reads to find a classifier's CAM tensors, parsed by protobufjs at load time. Fields it does
 * not name are skipped when reading, which is harmless: the engine never re-encodes a user's model
 * (graph.ts withExtraOutputs appends to the original bytes), so nothing of the file is lost.
 * encodeModel builds new models (tests' tiny models, the appended outputs).
 *
 * Decoded messages are kept as protobufjs message objects (int64 fields stay `Long`), so values
 * such as INT64_MAX in Slice attributes read exactly.
 */
import protobuf from 'protobufjs'
import { CamlabelError } from '../../shared/errors.ts'
import { float16ToFloat32, float32ToFloat16 } from './float16.ts'

// proto2, as onnx.proto: repeated scalars are unpacked unless marked packed, as in the original.
const ONNX_SCHEMA = `
syntax = "proto2";
package onnx;

message StringStringEntryProto { optional string key = 1; optional string value = 2; }

message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }

message TensorAnnotation {
  optional string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message TensorProto {
  message Segment { optional int64 begin = 1; optional int64 end = 2; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value { int64 dim_value = 1; string dim_param = 2; }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  message Sequence { optional TypeProto elem_type = 1; }
  message Map { optional int32 key_type = 1; optional TypeProto value_type = 2; }
  message Optional { optional TypeProto elem_type = 1; }
  message SparseTensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Optional optional_type = 9;
    SparseTensor sparse_tensor_type = 8;
  }
  optional string denotation = 6;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message AttributeProto {
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional int32 type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  optional SparseTensorProto sparse_tensor = 22;
  optional TypeProto tp = 14;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
  repeated TypeProto type_protos = 15;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  optional string overload = 8;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated AttributeProto attribute_proto = 11;
  repeated NodeProto node = 7;
  optional string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
  optional string overload = 13;
  repeated ValueInfoProto value_info = 12;
  repeated StringStringEntryProto metadata_props = 14;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
  repeated FunctionProto functions = 25;
}
`

const root = protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root
const ModelProtoType = root.lookupType('onnx.ModelProto')

/** TensorProto.DataType values the engine deals with. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const

/** AttributeProto.AttributeType values. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const

/** An int64 as protobufjs gives it: a number, or a Long-like object. */
export type Int64 = number | { toNumber(): number; low: number; high: number }

export interface TensorProto {
  dims: Int64[]
  data_type?: number
  name?: string
  raw_data?: Uint8Array
  float_data: number[]
  int32_data: number[]
  int64_data: Int64[]
  double_data: number[]
  external_data: { key?: string; value?: string }[]
  data_location?: number
}

export interface AttributeProto {
  name?: string
  type?: number
  f?: number
  i?: Int64
  s?: Uint8Array
  t?: TensorProto
  floats: number[]
  ints: Int64[]
}

export interface NodeProto {
  input: string[]
  output: string[]
  name?: string
  op_type?: string
  domain?: string
  attribute: AttributeProto[]
}

export interface DimensionProto {
  dim_value?: Int64
  dim_param?: string
}

export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: { dim: DimensionProto[] } }
}

export interface ValueInfoProto {
  name?: string
  type?: TypeProto
}

export interface GraphProto {
  node: NodeProto[]
  name?: string
  initializer: TensorProto[]
  input: ValueInfoProto[]
  output: ValueInfoProto[]
  value_info: ValueInfoProto[]
}

export interface ModelProto {
  ir_version?: Int64
  opset_import: { domain?: string; version?: Int64 }[]
  producer_name?: string
  graph?: GraphProto
}

/** An int64 field as a JS number (exact up to 2^53, which covers every dimension). */
export function toNumber(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0
  return typeof v === 'number' ? v : v.toNumber()
}

/**
 * Decodes ONNX model bytes. A file that is not a protobuf ModelProto with a graph is refused with
 * MODEL_UNUSABLE, since protobuf decoding alone accepts many random byte strings.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto
  try {
    model = ModelProtoType.decode(bytes) as unknown as ModelProto
  } catch (err) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `Not an ONNX model: the file could not be decoded as a ModelProto (${(err as Error).message})`,
      'Choose an .onnx file exported from a classifier (e.g. torch.onnx.export).',
      { cause: err },
    )
  }
  if (!model.graph || model.graph.node.length === 0) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      'Not an ONNX model: the file has no graph with nodes',
      'Choose an .onnx file exported from a classifier (e.g. torch.onnx.export).',
    )
  }
  return model
}

/** Encodes a model (a decoded one, possibly changed, or one built with `createModel`). */
export function encodeModel(model: ModelProto): Uint8Array {
  return ModelProtoType.encode(model as unknown as protobuf.Message).finish()
}

/** Plain-object description of a model to build (tests' tiny models, mostly). */
export interface ModelSpec {
  opset?: number
  irVersion?: number
  inputs: { name: string; elemType: number; shape: (number | string)[] }[]
  outputs: { name: string; elemType: number; shape?: (number | string)[] }[]
  nodes: {
    op: string
    inputs: string[]
    outputs: string[]
    name?: string
    attrs?: Record<string, number | number[] | string>
  }[]
  initializers: TensorProto[]
  /** Declared types/shapes of internal tensors (optional, as in exported models). */
  valueInfos?: { name: string; elemType: number; shape?: (number | string)[] }[]
}

/** A ValueInfoProto for a tensor; without `shape` ONNX Runtime infers it. */
export function valueInfo(
  name: string,
  elemType: number,
  shape?: (number | string)[],
): ValueInfoProto {
  const tensorType: NonNullable<TypeProto['tensor_type']> = { elem_type: elemType }
  if (shape) {
    tensorType.shape = {
      dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
    }
  }
  return { name, type: { tensor_type: tensorType } }
}

function attribute(name: string, value: number | number[] | string): AttributeProto {
  if (typeof value === 'string') {
    return {
      name,
      type: AttributeType.STRING,
      s: new TextEncoder().encode(value),
      floats: [],
      ints: [],
    }
  }
  if (Array.isArray(value)) {
    const allInt = value.every((v) => Number.isInteger(v))
    return allInt
      ? { name, type: AttributeType.INTS, ints: value, floats: [] }
      : { name, type: AttributeType.FLOATS, floats: value, ints: [] }
  }
  return Number.isInteger(value)
    ? { name, type: AttributeType.INT, i: value, floats: [], ints: [] }
    : { name, type: AttributeType.FLOAT, f: value, floats: [], ints: [] }
}

/**
 * Builds a ModelProto from a plain description. Integer-valued numbers become INT/INTS attributes,
 * others FLOAT/FLOATS (write 1.0 as a float by using e.g. `alpha: 1.0000001` only if it matters).
 */
export function createModel(spec: ModelSpec): ModelProto {
  const plain = {
    ir_version: spec.irVersion ?? 7,
    producer_name: 'camlabel',
    opset_import: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.op}_${i}`,
        op_type: n.op,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: spec.initializers,
      input: spec.inputs.map((i) => valueInfo(i.name, i.elemType, i.shape)),
      output: spec.outputs.map((o) => valueInfo(o.name, o.elemType, o.shape)),
      value_info: (spec.valueInfos ?? []).map((v) => valueInfo(v.name, v.elemType, v.shape)),
    },
  }
  return ModelProtoType.fromObject(plain) as unknown as ModelProto
}

/** A float32 (or, with `dtype` FLOAT16, float16-in-raw_data) initializer tensor. */
export function floatTensor(
  name: string,
  dims: number[],
  values: ArrayLike<number>,
  dtype: number = DataType.FLOAT,
): TensorProto {
  const f32 = Float32Array.from(values)
  const raw =
    dtype === DataType.FLOAT16
      ? new Uint8Array(float32ToFloat16(f32).buffer)
      : new Uint8Array(f32.buffer)
  return tensor(name, dims, dtype, raw)
}

/** An initializer with raw little-endian bytes of the given data type. */
export function tensor(
  name: string,
  dims: number[],
  dataType: number,
  raw: Uint8Array,
): TensorProto {
  return {
    name,
    dims,
    data_type: dataType,
    raw_data: raw,
    float_data: [],
    int32_data: [],
    int64_data: [],
    double_data: [],
    external_data: [],
  }
}

/** An int64 initializer (Reshape shapes, ReduceMean axes). */
export function int64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  const raw = new BigInt64Array(values.map((v) => BigInt(v)))
  return tensor(name, dims, DataType.INT64, new Uint8Array(raw.buffer))
}

/** Dimensions of a tensor as numbers. */
export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => toNumber(d))
}

function elementCount(t: TensorProto): number {
  return tensorDims(t).reduce((a, b) => a * b, 1)
}

/** Little-endian bytes of raw_data, copied into an aligned buffer. */
function rawBytes(t: TensorProto): Uint8Array {
  const r = t.raw_data!
  const copy = new Uint8Array(r.byteLength)
  copy.set(r)
  return copy
}

/**
 * Reads a numeric tensor (an initializer, a Constant's value) as Float32Array. Handles float,
 * float16 (in raw_data or int32_data as the spec stores it), double, int8/uint8, int32, int64.
 * Tensors with external data are refused with a clear reason.
 */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const n = elementCount(t)
  const type = t.data_type ?? 0
  const hasRaw = t.raw_data !== undefined && t.raw_data !== null && t.raw_data.byteLength > 0
  if (t.data_location === 1 || t.external_data.length > 0) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `Tensor '${t.name}' keeps its data in an external file, which camlabel does not read`,
      'Save the model with all tensors inside the .onnx file (onnx.save(..., save_as_external_data=False)).',
    )
  }
  let out: Float32Array
  switch (type) {
    case DataType.FLOAT:
      out = hasRaw ? new Float32Array(rawBytes(t).buffer) : Float32Array.from(t.float_data)
      break
    case DataType.FLOAT16:
      out = float16ToFloat32(
        hasRaw ? new Uint16Array(rawBytes(t).buffer) : Uint16Array.from(t.int32_data),
      )
      break
    case DataType.DOUBLE:
      out = Float32Array.from(hasRaw ? new Float64Array(rawBytes(t).buffer) : t.double_data)
      break
    case DataType.INT8:
      out = Float32Array.from(hasRaw ? new Int8Array(rawBytes(t).buffer) : t.int32_data)
      break
    case DataType.UINT8:
      out = Float32Array.from(hasRaw ? rawBytes(t) : t.int32_data)
      break
    case DataType.INT32:
      out = Float32Array.from(hasRaw ? new Int32Array(rawBytes(t).buffer) : t.int32_data)
      break
    case DataType.INT64:
      out = hasRaw
        ? Float32Array.from(new BigInt64Array(rawBytes(t).buffer), (v) => Number(v))
        : Float32Array.from(t.int64_data, (v) => toNumber(v))
      break
    default:
      throw new CamlabelError(
        'MODEL_UNUSABLE',
        `Tensor '${t.name}' has data type ${type}, which camlabel cannot read as numbers`,
      )
  }
  if (out.length !== n && !(n === 1 && out.length === 1)) {
    throw new CamlabelError(
      'MODEL_UNUSABLE',
      `Tensor '${t.name}' holds ${out.length} values for dims [${tensorDims(t).join(',')}]`,
    )
  }
  return out
}

/** The value of a node attribute by name, or undefined. */
export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name)
}

/** An INT attribute, or the fallback. */
export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name)
  return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : fallback
}

/** An INTS attribute, or undefined. */
export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name)
  return a ? a.ints.map((v) => toNumber(v)) : undefined
}

/** The dims of a ValueInfo's tensor type: numbers, or null for symbolic/unknown dims. */
export function valueInfoShape(v: ValueInfoProto): (number | null)[] | undefined {
  const shape = v.type?.tensor_type?.shape
  if (!shape) return undefined
  return shape.dim.map((d) =>
    d.dim_value !== undefined && d.dim_value !== null && toNumber(d.dim_value) > 0
      ? toNumber(d.dim_value)
      : null,
  )
}
