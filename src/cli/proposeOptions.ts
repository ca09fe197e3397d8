/**
 * The options both forms of `camlabel propose` share (folder and PROJECT), parsed and checked in one
 * place so they mean the same thing in each.
 */
import { CamlabelError } from '../shared/errors.ts'
import { THRESHOLD_RANGE, UPSCALE_MODES, type UpscaleMode } from '../shared/cam/types.ts'
import { parseMapping, type HeadMode, type MappingChoice } from '../main/engine/labels.ts'
import { modelIdentity, type ModelIdentity } from '../main/engine/modelIdentity.ts'
import type { ProviderChoice } from '../main/engine/session.ts'
import type { FromReview } from '../main/project/settings.ts'
import { choiceOption, numberOption } from './args.ts'

export const PROPOSE_OPTIONS = {
  model: { type: 'string' },
  threshold: { type: 'string' },
  upscale: { type: 'string' },
  head: { type: 'string' },
  'working-size': { type: 'string' },
  provider: { type: 'string' },
  map: { type: 'string', multiple: true },
  'from-review': { type: 'string' },
} as const

export const PROVIDERS = ['auto', 'cpu', 'cuda', 'dml', 'coreml'] as const

export interface ProposeSettings {
  /** The model, checked to exist; undefined when not given (the default model). */
  model: ModelIdentity | undefined
  /** Undefined when not given (a project run then keeps its stored threshold). */
  threshold: number | undefined
  workingSize: number | undefined
  /** Undefined when not given: a project then uses its own setting, a folder run bilinear. */
  upscale: UpscaleMode | undefined
  head: HeadMode
  providers: ProviderChoice
  /** `--map LABEL=…` choices, by label (`auto`: back to the default). */
  mappings: Map<string, MappingChoice>
  /** `--from-review auto|off`; undefined when not given (a project keeps its setting). */
  fromReview: FromReview | undefined
}

type Values = Partial<Record<Exclude<keyof typeof PROPOSE_OPTIONS, 'map'>, string>> & {
  map?: string[]
}

/** A `--model ID|PATH` value as a model identity, checked before any image is read. */
export function modelOption(value: string, cwd: string): ModelIdentity {
  try {
    return modelIdentity(value, { cwd })
  } catch (err) {
    if (err instanceof CamlabelError && err.code === 'NOT_FOUND')
      throw new CamlabelError('NOT_FOUND', err.message, 'Check the --model path.', { cause: err })
    throw err
  }
}

/** Checks the shared options; the model is checked before any image is read, so a typo fails at once. */
export function readProposeSettings(values: Values, cwd: string): ProposeSettings {
  return {
    model: values.model === undefined ? undefined : modelOption(values.model, cwd),
    threshold:
      values.threshold === undefined
        ? undefined
        : numberOption(values.threshold, 'threshold', 0.2, [
            THRESHOLD_RANGE.min,
            THRESHOLD_RANGE.max,
          ]),
    workingSize:
      values['working-size'] === undefined
        ? undefined
        : numberOption(values['working-size'], 'working-size', 512, [16, 8192], true),
    upscale:
      values.upscale === undefined
        ? undefined
        : choiceOption<UpscaleMode>(values.upscale, UPSCALE_MODES, 'upscale', 'bilinear'),
    head: choiceOption(values.head, ['auto', 'model', 'learn', 'agnostic'], 'head', 'auto'),
    providers: choiceOption(values.provider, PROVIDERS, 'provider', 'auto'),
    mappings: new Map((values.map ?? []).map(parseMapping)),
    fromReview:
      values['from-review'] === undefined
        ? undefined
        : choiceOption<FromReview>(values['from-review'], ['auto', 'off'], 'from-review', 'auto'),
  }
}
