/**
 * Proposals past one machine (issue 15): `camlabel propose P --shard i/n` in n processes at once,
 * as a Kubernetes Indexed Job or a Slurm array runs them, then `camlabel merge P SHARDS…`, give
 * exactly the boxes of one unsharded run; merging again, in another order, changes nothing; a
 * shard given twice or missing is reported. Real processes, model and SQLite; raccoon photos with
 * a few reviewed images (so each shard also learns from the reviews, as the unsharded run does).
 */
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importProject } from '../../src/main/project/importProject.ts'
import { inShard, parseShard } from '../../src/main/project/shards.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { shared } from '../helpers/shared.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const data = shared('data/raccoon')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-shards-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function camlabel(...args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [path.join(repoRoot, 'bin/camlabel.mjs'), ...args], {
      cwd: tmp,
    })
    let err = ''
    c.stderr.on('data', (d: Buffer) => (err += d))
    c.on('exit', (code) => resolve({ code, err }))
  })
}

/** Every pending proposal and run mark of a project, as text to compare. */
function boxes(file: string): string[] {
  const store = ProjectStore.open(file, { readonly: true })
  try {
    return (
      store.db
        .prepare(
          `SELECT i.path, c.name, p.x0, p.y0, p.x1, p.y1, p.score, p.rank FROM proposals p
             JOIN images i ON i.id = p.image_id JOIN classes c ON c.id = p.class_id
             WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)
           UNION ALL SELECT i.path, r.model, r.threshold, r.upscale, r.review_key, r.error, 0, -1
             FROM runs r JOIN images i ON i.id = r.image_id`,
        )
        .all() as Record<string, unknown>[]
    )
      .map((r) => Object.values(r).join('\t'))
      .sort()
  } finally {
    store.close()
  }
}

const project = path.join(tmp, 'p.camlabel')
const single = path.join(tmp, 'single.camlabel')

beforeAll(async () => {
  const store = ProjectStore.create(project, data)
  await importProject(store, { labels: { kind: 'csv', path: path.join(data, 'labels.csv') } })
  const voc = path.join(tmp, 'voc')
  mkdirSync(voc)
  for (const n of [1, 2, 3, 4, 5, 6])
    copyFileSync(
      path.join(data, `annotations/raccoon-${n}.xml`),
      path.join(voc, `raccoon-${n}.xml`),
    )
  await importProject(store, { labels: { kind: 'voc', dir: voc } })
  store.close()
  copyFileSync(project, single)
})

describe('propose --shard i/n and merge', () => {
  it('splits the images into stable, disjoint shards that cover them all', () => {
    const files = Array.from({ length: 1000 }, (_, i) => `photos/img-${i}.jpg`)
    const shards = [1, 2, 3].map((index) => files.filter((f) => inShard(f, { index, count: 3 })))
    expect(shards.flat().sort()).toEqual([...files].sort())
    for (const s of shards) expect(s.length).toBeGreaterThan(250)
    expect(() => parseShard('4/3')).toThrow(/1 ≤ i ≤ n/)
    expect(() => parseShard('2')).toThrow(/--shard takes i\/n/)
  })

  it('n processes then a merge give exactly the boxes of one unsharded run', async () => {
    const [one, a, b, c] = await Promise.all([
      camlabel('propose', single, '--provider', 'cpu'),
      camlabel('propose', project, '--shard', '1/3', '--provider', 'cpu'),
      camlabel('propose', project, '--shard', '2/3', '--provider', 'cpu'),
      camlabel(
        'propose',
        project,
        '--shard',
        '3/3',
        '--provider',
        'cpu',
        '--out',
        'third.camlabel',
      ),
    ])
    for (const r of [one, a, b, c]) expect(r.code, r.err).toBe(0)
    expect(a.err).toMatch(/shard 1\/3 is in .*p\.shard-1-of-3\.camlabel; once every shard is done/)
    // Each shard learned from the 6 reviewed images, as the single run did.
    for (const r of [one, a, b, c]) expect(r.err).toMatch(/learned from 6 reviewed images/)
    const shards = [
      path.join(tmp, 'p.shard-1-of-3.camlabel'),
      path.join(tmp, 'p.shard-2-of-3.camlabel'),
      path.join(tmp, 'third.camlabel'),
    ]
    // The project itself was only read.
    expect(boxes(project).filter((l) => !l.endsWith('\t-1'))).toEqual([])

    const missing = await camlabel('merge', project, shards[2]!, shards[0]!, shards[0]!)
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/shard 1\/3 given again in .*: merged once/)
    expect(missing.err).toMatch(/missing: shard 2\/3 — their images keep what they had/)

    const merged = await camlabel('merge', project, ...shards)
    expect(merged.code, merged.err).toBe(0)
    expect(merged.err.match(/merged shard \d\/3: \d+ images/g)).toHaveLength(3)
    const want = boxes(single)
    expect(want.length).toBeGreaterThan(400)
    expect(boxes(project)).toEqual(want)

    // Again, in another order: nothing changes.
    const again = await camlabel('merge', project, ...[...shards].reverse())
    expect(again.code, again.err).toBe(0)
    expect(boxes(project)).toEqual(want)
  })
})
