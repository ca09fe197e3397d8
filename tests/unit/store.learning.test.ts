/**
 * The store's learned-head tables (schema 2): feature cache invalidated by a changed file, heads
 * round-tripped with their weights, per-label mappings, stale-source detection, and re-proposing
 * one label without touching the others or any decision. Real SQLite files.
 */
import { openSqlite } from '../../src/main/store/sqlite.ts'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { trainHead } from '../../src/main/engine/head.ts'
import { featureKey, modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import { trainingFingerprint } from '../../src/main/store/learning.ts'
import { ProjectStore, type RunInfo } from '../../src/main/store/projectStore.ts'
import { MIGRATIONS } from '../../src/main/store/schema.ts'
import { accept } from '../helpers/review.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-store-learning-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let n = 0
const fresh = () => ProjectStore.create(path.join(tmp, `p${++n}.camlabel`), tmp)
const img = (file: string, hash = 'sha1:' + file) => ({
  file,
  width: 100,
  height: 80,
  size: 1000,
  mtimeMs: 1,
  hash,
})
const run: RunInfo = { model: 'm', revision: 'r', threshold: 0.2 }
const cam = { width: 2, height: 2, data: new Float32Array([1, 0.5, 0.25, 0]) }
const box = (x: number) => ({ x0: x, y0: 10, x1: x + 20, y1: 40 })

describe('feature cache', () => {
  it("a user's own model retrained in place gets a new feature key, as it gets a new run revision", () => {
    const file = path.join(tmp, 'model.onnx')
    writeFileSync(file, 'weights v1')
    utimesSync(file, 1000, 1000)
    const key = () => featureKey(modelIdentity(file), 'features')
    const before = key()
    const revBefore = modelIdentity(file).revision
    expect(key()).toBe(before) // stable while the file is unchanged
    writeFileSync(file, 'weights v2, retrained')
    utimesSync(file, 2000, 2000)
    expect(key()).not.toBe(before)
    expect(modelIdentity(file).revision).not.toBe(revBefore)
    // the key names the file by its path and carries the same file revision runs are keyed by
    expect(key()).toContain(path.resolve(file))
    expect(key().endsWith(modelIdentity(file).revision)).toBe(true)
  })

  it('stores features per key, reports failures, and a changed file needs new features', () => {
    const s = fresh()
    const { ids } = s.images.upsert(['a.jpg', 'b.jpg', 'c.jpg'].map((f) => img(f)))
    s.labels.add([
      { imageId: ids.get('a.jpg')!, label: 'cat' },
      { imageId: ids.get('b.jpg')!, label: 'dog' },
    ])
    expect(s.learning.imagesMissingFeatures('k1').map((t) => t.file)).toEqual([
      'a.jpg',
      'b.jpg',
      'c.jpg',
    ])
    s.learning.saveFeatures(ids.get('a.jpg')!, 'k1', 'sha1:a.jpg', {
      features: new Float32Array([1, 2]),
    })
    s.learning.saveFeatures(ids.get('b.jpg')!, 'k1', 'sha1:b.jpg', {
      features: new Float32Array([3, 4]),
    })
    s.learning.saveFeatures(ids.get('c.jpg')!, 'k1', 'sha1:c.jpg', { error: 'unreadable' })
    expect(s.learning.imagesMissingFeatures('k1')).toEqual([])
    expect(s.learning.imagesMissingFeatures('k2')).toHaveLength(3) // another model: nothing cached
    expect(s.learning.featureCounts('k1')).toEqual({ cached: 2, failed: 1, missing: 0 })
    expect(s.learning.featureErrors('k1')).toEqual([{ file: 'c.jpg', error: 'unreadable' }])
    // training samples: labelled images with features, exact values back
    const samples = s.learning.featureSamples('k1')
    expect(samples.map((x) => [x.labels, [...x.features]])).toEqual([
      [['cat'], [1, 2]],
      [['dog'], [3, 4]],
    ])
    // the file of b.jpg changed: its features are stale, and it is no longer a training sample
    const changed = s.images.upsert([img('b.jpg', 'sha1:new')]).changed
    expect(changed).toEqual(['b.jpg'])
    expect(s.learning.imagesMissingFeatures('k1').map((t) => t.file)).toEqual(['b.jpg'])
    expect(s.learning.featureSamples('k1').map((x) => x.labels)).toEqual([['cat']])
    expect(s.integrityCheck()).toBe('ok')
    s.close()
  })

  it('upgrades a schema-1 project, and a schema-1 file opened read-only reads as empty', () => {
    const file = path.join(tmp, 'v1.camlabel')
    const old = ProjectStore.create(file, tmp, { migrations: MIGRATIONS.slice(0, 1) })
    // A row as schema 1 holds it (today's repositories write today's columns).
    old.db
      .prepare(
        'INSERT INTO images(path, width, height, size, mtime_ms, hash, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run('x.jpg', 100, 80, 1000, 1, 'sha1:x.jpg', Date.now())
    old.close()
    const ro = ProjectStore.open(file, { readonly: true })
    expect(ro.labels.mappings().size).toBe(0)
    expect(ro.learning.head()).toBeUndefined()
    expect(ro.learning.featureCounts('k')).toEqual({ cached: 0, failed: 0, missing: 1 })
    ro.close()
    const s = ProjectStore.open(file)
    expect(s.getMeta('schema_version')).toBe(String(MIGRATIONS.length))
    expect(s.learning.imagesMissingFeatures('k').map((t) => t.file)).toEqual(['x.jpg'])
    s.close()
    const raw = openSqlite(file)
    expect(raw.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    raw.close()
  })
})

describe('learned heads and mappings', () => {
  it('round-trips a trained head with its weights, quality and fingerprint; one per feature key', () => {
    const s = fresh()
    const samples = [0, 1, 2, 3, 4, 5].map((i) => ({
      features: new Float32Array([i % 2, 1 - (i % 2), i / 10]),
      labels: [i % 2 ? 'cat' : 'dog'],
    }))
    const head = trainHead(samples, { folds: 2 })
    const fp = trainingFingerprint(
      'k',
      samples.map((x, i) => ({ imageId: i, hash: 'h', labels: x.labels })),
      { lambda: head.lambda, mode: 'auto' },
    )
    s.learning.saveHead('k', fp, head)
    const back = s.learning.head('k')!
    expect(back.fingerprint).toBe(fp)
    expect(back.mode).toBe(head.mode)
    expect(back.quality).toEqual(head.quality)
    expect(back.classes.map((c) => c.name)).toEqual(head.classes.map((c) => c.name))
    expect([...back.classes[0].weights]).toEqual([...head.classes[0].weights])
    expect(back.classes[1].bias).toBe(head.classes[1].bias)
    s.learning.saveHead('k', 'other', head)
    expect(s.db.prepare('SELECT count(*) AS n FROM heads').get()).toEqual({ n: 1 })
    expect(s.learning.head()!.fingerprint).toBe('other')
    // the fingerprint follows labels and settings
    const relabelled = trainingFingerprint(
      'k',
      samples.map((x, i) => ({ imageId: i, hash: 'h', labels: i === 0 ? ['cat'] : x.labels })),
      { lambda: head.lambda, mode: 'auto' },
    )
    expect(relabelled).not.toBe(fp)
    s.close()
  })

  it('stores per-label mappings; auto removes one', () => {
    const s = fresh()
    expect(s.labels.setMapping('dog', ['n02085620', '#151-268'])).toBe(true)
    expect(s.labels.setMapping('dog', ['n02085620', '#151-268'])).toBe(false)
    expect(s.labels.setMapping('bird', 'learn')).toBe(true)
    expect(s.labels.mappings()).toEqual(
      new Map<string, unknown>([
        ['dog', ['n02085620', '#151-268']],
        ['bird', 'learn'],
      ]),
    )
    expect(s.labels.setMapping('dog', 'auto')).toBe(true)
    expect([...s.labels.mappings().keys()]).toEqual(['bird'])
    s.close()
  })
})

describe('label sources that changed', () => {
  it('finds stale labels and re-proposes only them, keeping decisions and other labels', () => {
    const s = fresh()
    const { ids } = s.images.upsert([img('a.jpg'), img('b.jpg')])
    const a = ids.get('a.jpg')!
    const b = ids.get('b.jpg')!
    s.labels.add([
      { imageId: a, label: 'cat' },
      { imageId: a, label: 'dog' },
      { imageId: b, label: 'cat' },
    ])
    const result = (label: string, sourceKey: string, x: number) => ({
      label,
      source: sourceKey.split(':')[0],
      sourceKey,
      confidence: 0.8,
      cam,
      proposals: [{ box: box(x), score: 0.7, rank: 0 }],
    })
    s.runs.save(a, run, [result('cat', 'learned:h1', 0), result('dog', 'model:5', 30)])
    s.runs.save(b, run, [result('cat', 'learned:h1', 0)])
    const catOfA = s.review.boxes(a).find((x) => x.label === 'cat')!
    const accepted = accept(s, catOfA.id)

    const same = new Map([
      ['cat', 'learned:h1'],
      ['dog', 'model:5'],
    ])
    expect(s.runs.staleLabelImages('m', 'r', same)).toEqual([])
    const retrained = new Map([...same, ['cat', 'learned:h2']])
    expect(s.runs.staleLabelImages('m', 'r', retrained)).toEqual([
      { id: a, file: 'a.jpg', labels: ['cat'] },
      { id: b, file: 'b.jpg', labels: ['cat'] },
    ])
    expect(s.runs.staleLabelImages('other', 'r', retrained)).toEqual([])

    const dogBefore = s.review.boxes(a).filter((x) => x.label === 'dog')
    s.runs.save(a, run, [result('cat', 'learned:h2', 50)], new Set(['cat']))
    const after = s.review.boxes(a)
    expect(after.find((x) => x.id === accepted)?.status).toBe('accepted') // decision kept
    expect(after.filter((x) => x.label === 'dog')).toEqual(dogBefore) // other label untouched
    expect(
      after.filter((x) => x.label === 'cat' && x.status === 'pending').map((x) => x.box),
    ).toEqual([box(50)])
    expect(s.runs.staleLabelImages('m', 'r', retrained).map((x) => x.id)).toEqual([b])
    // a CAM stored before source keys existed is compared by its kind
    s.db.prepare('UPDATE cams SET source_key = NULL WHERE image_id = ?').run(b)
    expect(s.runs.staleLabelImages('m', 'r', retrained)).toEqual([])
    expect(
      s.runs.staleLabelImages('m', 'r', new Map([['cat', 'agnostic']])).map((x) => x.id),
    ).toEqual([a, b])
    expect(s.integrityCheck()).toBe('ok')
    s.close()
  })
})
