/**
 * Crash safety of the feature cache: `camlabel learn` is killed with SIGKILL in the middle of its
 * feature pass; the project must open, pass PRAGMA integrity_check and keep every feature row that
 * was committed, and the next `learn` extracts only the images still missing, then trains.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openSqlite } from '../../src/main/store/sqlite.ts'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { captureIO } from '../helpers/cli.ts'
import { repoRoot as repo, shared } from '../helpers/shared.ts'

const data = shared('data/imagenet-val-dev')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-learn-crash-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const io = captureIO(tmp)

const featureRows = (file: string): number => {
  try {
    const db = openSqlite(file, { readonly: true })
    const n = (db.prepare('SELECT count(*) AS n FROM features').get() as { n: number }).n
    db.close()
    return n
  } catch {
    return 0 // the table may not be visible yet
  }
}

describe('SIGKILL in the middle of a feature pass', () => {
  it('keeps the committed features and the next learn does only the rest', async () => {
    const file = path.join(tmp, 'p.camlabel')
    const labels = path.join(data, 'labels-coarse.csv')
    expect(await main(['init', file, '--images', data, '--labels', labels], io)).toBe(0)
    const args = ['learn', file, '--model', 'squeezenet1.1-fp16', '--provider', 'cpu']
    const proc = spawn(process.execPath, [path.join(repo, 'bin/camlabel.mjs'), ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    proc.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()))
    const deadline = Date.now() + 120_000
    while (featureRows(file) < 40) {
      if (proc.exitCode !== null) throw new Error(`learn exited before the kill point: ${stderr}`)
      if (Date.now() > deadline) throw new Error('learn too slow')
      await new Promise((r) => setTimeout(r, 20))
    }
    proc.kill('SIGKILL')
    await exited
    expect(proc.signalCode).toBe('SIGKILL')

    const store = ProjectStore.open(file)
    expect(store.integrityCheck()).toBe('ok')
    const kept = featureRows(file)
    expect(kept).toBeGreaterThanOrEqual(40)
    expect(kept).toBeLessThan(300)
    expect(store.jobs.list('features')[0]).toMatchObject({ status: 'running', done: kept })
    expect(store.learning.head()).toBeUndefined()
    store.close()

    io.out = ''
    io.err = ''
    expect(await main(args, io)).toBe(0)
    expect(io.err).toContain(`features: ${300 - kept} extracted, 0 failed, ${kept} cached before`)
    expect(io.out).toMatch(/softmax regression.*114 images/)
    const after = ProjectStore.open(file)
    expect(after.learning.featureCounts(after.learning.head()!.featureKey)).toEqual({
      cached: 300,
      failed: 0,
      missing: 0,
    })
    after.close()
  })
})
