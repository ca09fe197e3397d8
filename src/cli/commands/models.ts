/**
 * `camlabel models [ids…] [--from DIR] [--all] [--list]`: fetches known models (and their class
 * lists) into models/, verified by sha256. Without ids, the default model.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { toErrorData } from '../../shared/errors.ts'
import {
  defaultModel,
  loadManifest,
  modelPath,
  modelsDir,
  requireModel,
} from '../../main/engine/manifest.ts'
import { ensureModel } from '../../main/engine/modelFetch.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'

const usage = `Usage: camlabel models [ids…] [--from DIR] [--all] [--list]

Fetches models into ${path.relative(process.cwd(), modelsDir()) || 'models'}/ and checks their sha256.
  ids          model ids from the manifest (default: the default model)
  --all        every model of the manifest
  --from DIR   copy the files from DIR instead of downloading (env CAMLABEL_MODELS_FROM)
  --list       list the known models and whether each is present`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { from: { type: 'string' }, all: { type: 'boolean' }, list: { type: 'boolean' } },
    'models',
  )
  const manifest = loadManifest()
  if (values.list) {
    const def = defaultModel(manifest).id
    for (const m of manifest.models) {
      const present = existsSync(modelPath(m)) ? 'present' : 'missing'
      const size = `${(m.size / 1e6).toFixed(1)} MB`
      io.stdout(
        `${m.id.padEnd(22)} ${size.padStart(9)}  ${present.padEnd(8)} ${m.name}${m.id === def ? ' (default)' : ''}\n`,
      )
    }
    return 0
  }
  const ids = values.all
    ? manifest.models.map((m) => m.id)
    : positionals.length > 0
      ? positionals
      : [defaultModel(manifest).id]
  for (const id of ids) requireModel(id, manifest) // unknown ids fail before anything is fetched
  const from = values.from ? path.resolve(io.cwd, values.from) : undefined
  let failed = 0
  for (const id of ids) {
    try {
      await ensureModel(id, {
        manifest,
        log: (line) => io.stderr(`${line}\n`),
        ...(from ? { from } : {}),
      })
    } catch (err) {
      failed++
      const data = toErrorData(err)
      io.stderr(`camlabel models: ${id}: ${data.message}\n`)
      if (data.hint) io.stderr(`  ${data.hint}\n`)
    }
  }
  if (failed > 0) {
    io.stderr(`${failed} of ${ids.length} model(s) could not be fetched\n`)
    return 1
  }
  io.stderr(`${ids.length} model(s) ready in ${modelsDir()}\n`)
  return 0
}

export const command: Command = {
  usage,
  run,
}
