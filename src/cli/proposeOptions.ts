/**
 * The options both forms of `camlabel propose` share (folder and PROJECT), parsed and checked in one
 * place so they mean the same thing in each.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError } from '../shared/errors.ts'
import { parseMapping, type HeadMode, type MappingChoice } from '../main/engine/labels.ts'
import { requireModel } from '../main/engine/manifest.ts'
import type { UpscaleMode } from '../main/engine/propose.ts'
import type { ProviderChoice } from '../main/engine/session.ts'
import type { ReadyInfo } from '../main/jobs/protocol.ts'
import { choiceOption, numberOption } from './args.ts'

export const PROPOSE_OPTIONS = {
  model: { type: 'string' },
  threshold: { type: 'string' },
  upscale: { type: 'string' },
  head: { type: 'string' },
  'working-size': { type: 'string' },
  provider: { type: 'string' },
  map: { type: 'string', multiple: true },
} as const

export interface ProposeSettings {
  /** A manifest id or an absolute .onnx path, checked to exist; undefined: the default model. */
  model: string | undefined
  /** Undefined when not given (a project run then keeps its stored threshold). */
  threshold: number | undefined
  workingSize: number | undefined
  /** Undefined when not given: a project then uses its own setting, a folder run bilinear. */
  upscale: UpscaleMode | undefined
  head: HeadMode
  providers: ProviderChoice
  /** `--map LABEL=…` choices, by label (`auto`: back to the default). */
  mappings: Map<string, MappingChoice>
}

type Values = Partial<Record<Exclude<keyof typeof PROPOSE_OPTIONS, 'map'>, string>> & {
  map?: string[]
}

/** Checks the shared options; the model is checked before any image is read, so a typo fails at once. */
export function readProposeSettings(values: Values, cwd: string): ProposeSettings {
  return {
    model: values.model === undefined ? undefined : resolveModelArg(values.model, cwd),
    threshold:
      values.threshold === undefined
        ? undefined
        : numberOption(values.threshold, 'threshold', 0.2, [0.01, 0.99]),
    workingSize:
      values['working-size'] === undefined
        ? undefined
        : numberOption(values['working-size'], 'working-size', 512, [16, 8192], true),
    upscale:
      values.upscale === undefined
        ? undefined
        : choiceOption<UpscaleMode>(values.upscale, ['bilinear', 'guided'], 'upscale', 'bilinear'),
    head: choiceOption(values.head, ['auto', 'model', 'learn', 'agnostic'], 'head', 'auto'),
    providers: choiceOption(
      values.provider,
      ['auto', 'cpu', 'cuda', 'dml', 'coreml'],
      'provider',
      'auto',
    ),
    mappings: new Map((values.map ?? []).map(parseMapping)),
  }
}

/** A model argument is a path when it ends in .onnx, else a manifest id. */
function resolveModelArg(value: string, cwd: string): string {
  if (!value.endsWith('.onnx')) return requireModel(value).id
  const file = path.resolve(cwd, value)
  if (!existsSync(file)) {
    throw new CamlabelError('NOT_FOUND', `Model file not found: ${file}`, 'Check the --model path.')
  }
  return file
}

/** The line saying which model runs on which execution provider, and why not on a GPU. */
export function readyLine(info: ReadyInfo): string {
  return `model ${info.modelId} on ${info.provider}${info.providerNote ? ` (${info.providerNote})` : ''}\n`
}
