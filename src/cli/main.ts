/**
 * The `camlabel` command: dispatches to src/cli/commands/<name>.ts, loaded only when that command
 * runs (they bring onnxruntime, sharp and SQLite), so `camlabel --help` reads this table alone.
 * Every failure ends with a clear message on stderr and a non-zero exit code.
 */
import { toErrorData } from '../shared/errors.ts'
import { processIO, type Command, type CommandIO } from './io.ts'

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  models: {
    summary: 'fetch models into models/ (download or --from DIR)',
    load: () => import('./commands/models.ts'),
  },
  propose: {
    summary: 'propose boxes for labelled images (COCO JSON out)',
    load: () => import('./commands/propose.ts'),
  },
  init: {
    summary: 'create a project from an image folder (labels, COCO, VOC, YOLO)',
    load: () => import('./commands/init.ts'),
  },
  status: {
    summary: 'counts of a project by review status and class',
    load: () => import('./commands/status.ts'),
  },
  export: {
    summary: 'export reviewed boxes as COCO, Pascal VOC or YOLO',
    load: () => import('./commands/export.ts'),
  },
  merge: {
    summary: 'fold shard files (propose --shard i/n) into a project',
    load: () => import('./commands/merge.ts'),
  },
  learn: {
    summary: 'learn a CAM head for the labels of a project (prints its accuracy)',
    load: () => import('./commands/learn.ts'),
  },
}

function usage(io: CommandIO): void {
  const lines = ['Usage: camlabel <command> [options]', '', 'Commands:']
  for (const [name, { summary }] of Object.entries(COMMANDS))
    lines.push(`  ${name.padEnd(8)} ${summary}`)
  lines.push('', 'Run `camlabel <command> --help` for the options of one command.')
  io.stdout(lines.join('\n') + '\n')
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    usage(io)
    return name === undefined ? 2 : 0
  }
  const load = COMMANDS[name]?.load
  if (!load) {
    io.stderr(`camlabel: unknown command '${name}'. Run 'camlabel --help' for the list.\n`)
    return 2
  }
  try {
    const { command } = await load()
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(command.usage + '\n')
      return 0
    }
    return await command.run(rest, io)
  } catch (err) {
    const data = toErrorData(err)
    io.stderr(`camlabel ${name}: ${data.message}\n`)
    if (data.hint) io.stderr(`  ${data.hint}\n`)
    return 1
  }
}
