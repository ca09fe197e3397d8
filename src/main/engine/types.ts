/**
 * Types shared by the engine's modules. Maps are row-major Float32Array with explicit sizes; a
 * "map" of width w and height h has data[y * w + x].
 */
// The map and proposal types are shared with the renderer (it recomputes boxes from stored CAMs).
export type { Map2D, ProposalOptions, RawProposal } from '../../shared/cam/types.ts'
export { DEFAULT_PROPOSAL_OPTIONS } from '../../shared/cam/types.ts'

/** A stack of feature maps, [channels, height, width], as the network produced them. */
export interface FeatureMaps {
  data: Float32Array
  channels: number
  height: number
  width: number
  /** Channel `index` alone, copied; a forward pass's outputs convert only that channel. */
  plane?(index: number): Float32Array
}

/** How a model wants its input prepared (from the manifest, or defaults for a user's own model). */
export interface Preprocessing {
  /** Network input size in pixels; images are resized to it without keeping the aspect ratio. */
  width: number
  height: number
  channelOrder: 'RGB' | 'BGR'
  /** Pixel values 0..255 are multiplied by this first (1/255 for [0,1] models, 1 for Caffe-style). */
  scale: number
  /** Subtracted after scaling, per channel in `channelOrder`. */
  mean: [number, number, number]
  /** Divided by after subtracting the mean, per channel in `channelOrder`. */
  std: [number, number, number]
  dtype: 'float32' | 'float16'
}

/** A linear classifier over pooled features: logits = W · f + b, W is [numClasses × numFeatures]. */
export interface LinearClassifier {
  weights: Float32Array
  bias: Float32Array
  numClasses: number
  numFeatures: number
}

/**
 * Where the CAM comes from, resolved from the manifest or by reading a user's graph.
 * - `classMapTensor`: a tensor [1, C, h, w] that already is the per-class map (SqueezeNet's conv10_2).
 * - otherwise the CAM of class c is Σ_k W[c,k] · F[k] over `featureTensor` with `classifier`.
 * `featureTensor` (the last feature map before the classifier) is always known: learned heads use it.
 */
export interface CamHead {
  featureTensor: string
  classifier: LinearClassifier
  classMapTensor?: string
  /** The model's class scores output and whether it already is a probability (softmax) or logits. */
  scoresTensor: string
  scoresKind: 'probabilities' | 'logits'
}

/** One class of a model: index in the output, wnid (or the model's own id) and its names. */
export interface ModelClass {
  index: number
  id: string
  names: string[]
}

/** What one forward pass gives the CAM stage. */
export interface ForwardResult {
  /** Class probabilities (softmax applied if the model gives logits), length = number of classes. */
  probabilities: Float32Array
  /** The feature maps before the classifier. */
  features: FeatureMaps
  /** Per-class maps when the model has them (SqueezeNet), else undefined. */
  classMaps?: FeatureMaps
}
