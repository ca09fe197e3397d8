/** What a command writes to: injectable so tests can capture it. */
export interface CommandIO {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** True when stderr is a terminal (progress lines are redrawn in place instead of appended). */
  isTTY: boolean
  cwd: string
}

export const processIO: CommandIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stderr.isTTY),
  cwd: process.cwd(),
}

/** A command module in src/cli/commands/<name>.ts exports these. */
export interface Command {
  usage: string
  run(argv: string[], io: CommandIO): Promise<number>
}
