/**
 * Crash safety: an import and a proposal run are killed with SIGKILL in a child process midway;
 * the project must open, pass PRAGMA integrity_check, hold exactly what was committed, and a
 * resumed run must complete without redoing committed work.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openSqlite } from '../../src/main/store/sqlite.ts'
import { afterAll, describe, expect, it } from 'vitest'
import { importProject } from '../../src/main/project/importProject.ts'
import { modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { repoRoot as repo, shared } from '../helpers/shared.ts'

const data = shared('data')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-crash-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function child(mode: 'import' | 'propose', file: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'crash.child.ts'), mode, file],
    {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
}

/** Polls the project (read-only, as another process would) until `count` reaches `atLeast`, then SIGKILLs the child. */
async function killWhen(
  proc: ChildProcess,
  file: string,
  sql: string,
  atLeast: number,
): Promise<number> {
  let stderr = ''
  proc.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 120_000
  for (;;) {
    let n = 0
    try {
      const db = openSqlite(file, { readonly: true })
      n = (db.prepare(sql).get() as { n: number }).n
      db.close()
    } catch {
      // the schema may not exist yet
    }
    if (n >= atLeast) break
    if (proc.exitCode !== null)
      throw new Error(`child exited before the kill point (${n} rows): ${stderr}`)
    if (Date.now() > deadline) throw new Error('child too slow')
    await new Promise((r) => setTimeout(r, 20))
  }
  proc.kill('SIGKILL')
  await exited
  expect(proc.signalCode).toBe('SIGKILL')
  return atLeast
}

describe('SIGKILL midway', () => {
  it('an import keeps every committed batch and resumes without re-reading them', async () => {
    const file = path.join(tmp, 'import.camlabel')
    const root = path.join(data, 'raccoon/images')
    ProjectStore.create(file, root).close()
    await killWhen(child('import', file), file, 'SELECT count(*) AS n FROM images', 40)
    const s = ProjectStore.open(file)
    expect(s.integrityCheck()).toBe('ok')
    const committed = s.images.count()
    expect(committed).toBeGreaterThanOrEqual(40)
    expect(committed).toBeLessThan(200)
    expect(committed % 5).toBe(0) // whole batches only
    const [job] = s.jobs.list('import')
    expect(job).toMatchObject({ status: 'running', done: committed, total: 200 })
    const r = await importProject(s, { labels: { kind: 'none' } })
    expect(r.imported).toBe(200 - committed)
    expect(r.existing).toBe(committed)
    expect(s.images.count()).toBe(200)
    expect(s.jobs.list('import')[0].status).toBe('done')
    s.close()
  })

  it('a proposal run keeps every persisted image and a resumed run does only the rest', async () => {
    const file = path.join(tmp, 'propose.camlabel')
    const root = path.join(data, 'imagenet-val-dev')
    const s0 = ProjectStore.create(file, root)
    await importProject(s0, { labels: { kind: 'csv', path: path.join(root, 'labels.csv') } })
    s0.close()
    await killWhen(child('propose', file), file, 'SELECT count(*) AS n FROM runs', 15)
    const s = ProjectStore.open(file)
    expect(s.integrityCheck()).toBe('ok')
    const { ref: model, revision } = modelIdentity('squeezenet1.1-fp16')
    const processed = (s.db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n
    expect(processed).toBeGreaterThanOrEqual(15)
    expect(processed).toBeLessThan(300)
    // every processed image has its CAMs, and nothing else has
    const withCams = (
      s.db.prepare('SELECT count(DISTINCT image_id) AS n FROM cams').get() as { n: number }
    ).n
    expect(withCams).toBe(processed)
    expect(s.gallery.statusCounts().pending).toBe(processed)
    const before = s.db
      .prepare('SELECT id, image_id, x0, y0, x1, y1 FROM proposals ORDER BY id')
      .all()
    const r = await proposeProject(s, { model: 'squeezenet1.1-fp16', providers: 'cpu' })
    expect(r).toMatchObject({
      model,
      revision,
      alreadyDone: processed,
      done: 300 - processed,
      failed: 0,
      cancelled: false,
    })
    // committed work was not redone: the proposals from before the crash are untouched
    const ids = new Set((before as { id: number }[]).map((p) => p.id))
    expect(
      s.db
        .prepare('SELECT id, image_id, x0, y0, x1, y1 FROM proposals ORDER BY id')
        .all()
        .filter((p) => ids.has((p as { id: number }).id)),
    ).toEqual(before)
    expect(s.gallery.statusCounts()).toMatchObject({ unproposed: 0, pending: 300 })
    expect(s.integrityCheck()).toBe('ok')
    s.close()
  })
})
