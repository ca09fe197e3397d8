/**
 * Maps the user's labels onto CAM sources. A label the model knows (its wnid, or any name on the
 * class's synset line) uses that class's CAM; a label with a learned head uses the head's weights; any
 * other label falls back to the class-agnostic CAM of the model's own top predictions, and the output
 * says so.
 */
import { resolveLabel } from './classes.ts'
import type { ModelClass } from './types.ts'

/** How one label gets its CAM. */
export type LabelSource =
  | { kind: 'model'; classIndex: number }
  | { kind: 'learned'; weights: Float32Array; bias: number }
  | { kind: 'agnostic' }

/** Which sources a run may use: `auto` = model class when the label is one, learned head else. */
export type HeadMode = 'auto' | 'model' | 'learn' | 'agnostic'

/** A learned head's weights for one label, over the raw (un-standardised) feature maps. */
export interface LearnedWeights {
  weights: Float32Array
  bias: number
}

/**
 * Decides the CAM source of every label. With `learn`, labels without learned weights fall back to
 * agnostic; with `model`, labels the model does not know fall back to agnostic.
 */
export function resolveLabelSources(
  labels: Iterable<string>,
  classes: ModelClass[],
  mode: HeadMode = 'auto',
  learned: ReadonlyMap<string, LearnedWeights> = new Map(),
): Map<string, LabelSource> {
  const sources = new Map<string, LabelSource>()
  for (const label of labels) {
    if (sources.has(label)) continue
    const modelClass =
      mode === 'model' || mode === 'auto' ? resolveLabel(label, classes) : undefined
    const head = mode === 'learn' || mode === 'auto' ? learned.get(label) : undefined
    if (modelClass) sources.set(label, { kind: 'model', classIndex: modelClass.index })
    else if (head) sources.set(label, { kind: 'learned', weights: head.weights, bias: head.bias })
    else sources.set(label, { kind: 'agnostic' })
  }
  return sources
}

/** Labels grouped by the kind of source they use, for the run's summary. */
export function summariseSources(
  sources: ReadonlyMap<string, LabelSource>,
): Record<LabelSource['kind'], string[]> {
  const out: Record<LabelSource['kind'], string[]> = { model: [], learned: [], agnostic: [] }
  for (const [label, source] of sources) out[source.kind].push(label)
  return out
}
