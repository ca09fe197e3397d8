/**
 * The `camlabel` command: dispatches to src/cli/commands/<name>.ts. Every failure ends with a clear
 * message on stderr and a non-zero exit code.
 */
import { toErrorData } from '../shared/errors.ts'
import { processIO, type Command, type CommandIO } from './io.ts'

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  models: () => import('./commands/models.ts'),
  propose: () => import('./commands/propose.ts'),
  init: () => import('./commands/init.ts'),
  status: () => import('./commands/status.ts'),
  export: () => import('./commands/export.ts'),
  learn: () => import('./commands/learn.ts'),
}

async function usage(io: CommandIO): Promise<void> {
  const lines = ['Usage: camlabel <command> [options]', '', 'Commands:']
  for (const [name, load] of Object.entries(COMMANDS)) {
    const { command } = await load()
    lines.push(`  ${name.padEnd(8)} ${command.summary}`)
  }
  lines.push('', 'Run `camlabel <command> --help` for the options of one command.')
  io.stdout(lines.join('\n') + '\n')
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await usage(io)
    return name === undefined ? 2 : 0
  }
  const load = COMMANDS[name]
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
