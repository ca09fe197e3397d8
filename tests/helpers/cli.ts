/**
 * Running the camlabel command inside a test: a CommandIO that captures what the command prints,
 * and a one-call runner on top of it.
 */
import type { CommandIO } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import { repoRoot } from './shared.ts'

/**
 * A CommandIO that appends everything written to stdout to `out` and to stderr to `err`; not a
 * terminal. Reset `out`/`err` between calls when only one call's output is wanted.
 *
 * @param cwd the working directory the command sees (default: the repository root)
 */
export function captureIO(cwd: string = repoRoot): CommandIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY: false,
    cwd,
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
  }
  return io
}

/**
 * Runs the camlabel command with `argv` on a fresh {@link captureIO}.
 *
 * @param argv the arguments after `camlabel`, e.g. `['init', file, '--images', dir]`
 * @param cwd the working directory the command sees (default: the repository root)
 * @returns the exit code and what the command printed to stdout (`out`) and stderr (`err`)
 */
export async function runCamlabel(
  argv: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO(cwd)
  const code = await main(argv, io)
  return { code, out: io.out, err: io.err }
}
