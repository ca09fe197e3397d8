/**
 * Maps the user's labels onto CAM sources. A label the model knows (its wnid, or any name on the
 * class's synset line) uses that class's CAM; a label with a learned head uses the head's weights; any
 * other label falls back to the class-agnostic CAM of the model's own top predictions, and the output
 * says so. A mapping chosen by the user overrides that for its labels: onto one or several model
 * classes ("dog" onto the model's dog breeds), onto the learned head, or onto the agnostic CAM.
 */
import { CamlabelError } from '../../shared/errors.ts'
import { resolveLabel } from './classes.ts'
import type { ModelClass } from './types.ts'

/** How one label gets its CAM. */
export type LabelSource =
  | { kind: 'model'; classIndices: number[] }
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
 * The user's choice for a label: model classes (each a wnid, a class name, or `#N` / `#N-M` for
 * class indices), or `learn` / `agnostic`.
 */
export type LabelMapping = string[] | 'learn' | 'agnostic'

/**
 * Decides the CAM source of every label. With `learn`, labels without learned weights fall back to
 * agnostic; with `model`, labels the model does not know fall back to agnostic. Mapped labels follow
 * their mapping whatever the mode.
 */
export function resolveLabelSources(
  labels: Iterable<string>,
  classes: ModelClass[],
  mode: HeadMode = 'auto',
  learned: ReadonlyMap<string, LearnedWeights> = new Map(),
  mappings: ReadonlyMap<string, MappingChoice> = new Map(),
): Map<string, LabelSource> {
  const sources = new Map<string, LabelSource>()
  const learnedSource = (label: string): LabelSource => {
    const head = learned.get(label)
    return head ? { kind: 'learned', weights: head.weights, bias: head.bias } : { kind: 'agnostic' }
  }
  for (const label of labels) {
    if (sources.has(label)) continue
    const mapping = mappings.get(label) ?? 'auto'
    if (mapping === 'learn') sources.set(label, learnedSource(label))
    else if (mapping === 'agnostic') sources.set(label, { kind: 'agnostic' })
    else if (mapping !== 'auto')
      sources.set(label, { kind: 'model', classIndices: mappedClasses(label, mapping, classes) })
    else {
      const modelClass =
        mode === 'model' || mode === 'auto' ? resolveLabel(label, classes) : undefined
      if (modelClass) sources.set(label, { kind: 'model', classIndices: [modelClass.index] })
      else if (mode === 'learn' || mode === 'auto') sources.set(label, learnedSource(label))
      else sources.set(label, { kind: 'agnostic' })
    }
  }
  return sources
}

/** The class indices a mapping names; an unknown name is an error that says which and what to do. */
export function mappedClasses(
  label: string,
  names: readonly string[],
  classes: ModelClass[],
): number[] {
  const indices = new Set<number>()
  for (const name of names) {
    const range = /^#(\d+)(?:-(\d+))?$/.exec(name.trim())
    if (range) {
      const from = Number(range[1])
      const to = Number(range[2] ?? range[1])
      if (from > to || to >= classes.length) {
        throw new CamlabelError(
          'INVALID_ARGUMENT',
          `The mapping of '${label}' names classes ${name}, but the model has classes #0-${classes.length - 1}`,
        )
      }
      for (let i = from; i <= to; i++) indices.add(i)
      continue
    }
    const modelClass = resolveLabel(name, classes)
    if (!modelClass) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `The mapping of '${label}' names '${name}', which is not a class of this model`,
        'Use a wnid (n02123045), a class name from the synsets file, or #N / #N-M class indices.',
      )
    }
    indices.add(modelClass.index)
  }
  if (indices.size === 0) {
    throw new CamlabelError('INVALID_ARGUMENT', `The mapping of '${label}' names no class`)
  }
  return [...indices]
}

/** What a user may choose for a label: a mapping, or `auto` for the default (no mapping). */
export type MappingChoice = LabelMapping | 'auto'

/**
 * Parses `LABEL=CLASS[,CLASS…]`, `LABEL=learn`, `LABEL=agnostic` or `LABEL=auto` (the `--map`
 * option). Classes
 * are separated by `,` or `+`; a class name itself never holds a comma (commas separate the
 * synonyms of a synset line).
 */
export function parseMapping(text: string): [string, MappingChoice] {
  const eq = text.indexOf('=')
  const label = eq > 0 ? text.slice(0, eq).trim() : ''
  const target = eq > 0 ? text.slice(eq + 1).trim() : ''
  if (!label || !target) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `--map expects LABEL=CLASS[+CLASS…], LABEL=learn, LABEL=agnostic or LABEL=auto, got '${text}'`,
    )
  }
  if (target === 'learn' || target === 'agnostic' || target === 'auto') return [label, target]
  return [
    label,
    target
      .split(/[,+]/)
      .map((t) => t.trim())
      .filter(Boolean),
  ]
}
