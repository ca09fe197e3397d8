import { hasNodeSqlite, openSqlite, sqliteDriver } from '../../src/main/store/sqlite.ts'
import {
  existsSync,
  readFileSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { ProjectStore, type RunInfo } from '../../src/main/store/projectStore.ts'
import { MIGRATIONS } from '../../src/main/store/schema.ts'
import { accept, acceptAll, draw, edit, move, reject, relabel } from '../helpers/review.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-store-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let n = 0
const fresh = () => ProjectStore.create(path.join(tmp, `p${++n}.camlabel`), tmp)

const run: RunInfo = { model: 'squeezenet1.1-fp16', revision: 'r1', threshold: 0.2 }
const cam = (v: number) => ({ width: 2, height: 2, data: new Float32Array([v, 1, 0.5, 0]) })
const img = (file: string) => ({
  file,
  width: 100,
  height: 80,
  size: 1000,
  mtimeMs: 1,
  hash: 'sha1:' + file,
})

function seeded() {
  const s = fresh()
  const { ids } = s.images.upsert(['b.jpg', 'a.jpg', 'c.jpg', 'd.jpg'].map(img))
  s.labels.add([...ids.values()].map((imageId) => ({ imageId, label: 'cat' })))
  s.labels.add([{ imageId: ids.get('d.jpg')!, label: 'dog' }])
  const save = (file: string, scores: number[]) =>
    s.runs.save(ids.get(file)!, run, [
      {
        label: 'cat',
        source: 'model',
        confidence: 0.9,
        cam: cam(0.25),
        proposals: scores.map((score, rank) => ({
          box: { x0: 10 * rank, y0: 5, x1: 10 * rank + 20, y1: 40 },
          score,
          rank,
        })),
      },
    ])
  save('a.jpg', [0.9, 0.3])
  save('b.jpg', [0.5])
  save('c.jpg', [0.95])
  return { s, ids }
}

describe('ProjectStore', () => {
  let ctx: ReturnType<typeof seeded>
  beforeEach(() => {
    ctx = seeded()
  })

  it('derives image status and sorts doubtful images first', () => {
    const { s } = ctx
    expect(s.gallery.statusCounts()).toEqual({
      unproposed: 1,
      pending: 3,
      accepted: 0,
      edited: 0,
      rejected: 0,
    })
    const page = s.gallery.page({ sort: 'score', limit: 10 })
    expect(page.items.map((i) => [i.file, i.minScore])).toEqual([
      ['a.jpg', 0.3],
      ['b.jpg', 0.5],
      ['c.jpg', 0.95],
      ['d.jpg', null],
    ])
    expect(page.items[0].boxes).toHaveLength(2)
    expect(page.items[3].labels).toEqual(['cat', 'dog'])
    expect(s.gallery.page({ label: 'dog' }).items.map((i) => i.file)).toEqual(['d.jpg'])
    expect(s.gallery.page({ status: 'pending', sort: 'name', offset: 1, limit: 1 })).toMatchObject({
      total: 3,
      items: [{ file: 'b.jpg' }],
    })
  })

  it('stores CAMs as Float32 and returns them intact', () => {
    const [c] = ctx.s.runs.cams(ctx.ids.get('a.jpg')!)
    expect(c).toMatchObject({ label: 'cat', model: run.model, revision: 'r1', confidence: 0.9 })
    expect([...c.cam.data]).toEqual([0.25, 1, 0.5, 0])
  })

  it('derives the image status from the decisions saved by the review screen', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const [p1, p2] = s.review.boxes(a)
    accept(s, p1.id)
    expect(s.images.get(a)!.status).toBe('pending')
    reject(s, p2.id)
    expect(s.images.get(a)!.status).toBe('accepted')
    const manual = draw(s, a, 'bird', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.images.get(a)!.status).toBe('edited')
    expect(s.labels.of(a)).toEqual(['cat', 'bird'])
    move(s, manual, { x0: 2, y0: 2, x1: 9, y1: 9 })
    expect(s.review.boxes(a).find((b) => b.id === manual)).toMatchObject({
      status: 'manual',
      box: { x0: 2 },
    })
    // The review screen's undo sends the earlier state back: the proposals are pending again,
    // with the ids they had.
    s.review.save(a, { threshold: 0.2, boxes: [p1, p2] })
    expect(s.images.get(a)!.status).toBe('pending')
    expect(s.review.boxes(a)).toEqual([p1, p2])
  })

  it('a label only a box implied goes with its last box; a label given explicitly stays', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const d = ids.get('d.jpg')!
    const before = s.review.boxes(a)
    // a box of a new class adds the label; the state without it takes the label away again
    draw(s, a, 'bird', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.labels.of(a)).toEqual(['cat', 'bird'])
    s.review.save(a, { threshold: 0.2, boxes: before })
    expect(s.labels.of(a)).toEqual(['cat'])
    expect(s.gallery.total({ label: 'bird' })).toBe(0)

    // relabelling a proposal to a new class, then back: the proposal is 'cat' again, no 'fox'
    const [p1] = before
    relabel(s, p1.id, 'fox')
    expect(s.labels.of(a)).toEqual(['cat', 'fox'])
    s.review.save(a, { threshold: 0.2, boxes: before })
    expect(s.labels.of(a)).toEqual(['cat'])
    expect(s.review.boxes(a)[0]).toMatchObject({ id: p1.id, label: 'cat', status: 'pending' })

    // a label the image already had (given by the user) is never removed with a box
    const dogBefore = s.review.boxes(d)
    draw(s, d, 'dog', { x0: 1, y0: 1, x1: 9, y1: 9 })
    s.review.save(d, { threshold: 0.2, boxes: dogBefore })
    expect(s.labels.of(d)).toEqual(['cat', 'dog'])

    // another box of the class still in the image keeps the label
    const first = draw(s, a, 'owl', { x0: 1, y0: 1, x1: 9, y1: 9 })
    draw(s, a, 'owl', { x0: 20, y0: 20, x1: 30, y1: 30 })
    reject(s, first)
    expect(s.labels.of(a)).toContain('owl')
    edit(s, a, (boxes) => boxes.filter((b) => b.label !== 'owl'))
    expect(s.labels.of(a)).not.toContain('owl')
    expect(s.review.boxes(a).some((b) => b.id === first)).toBe(false)

    // an import that gives the label after the edit makes it explicit: it stays
    const eelBefore = s.review.boxes(a)
    draw(s, a, 'eel', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.labels.add([{ imageId: a, label: 'eel', source: 'import' }])).toBe(0)
    s.review.save(a, { threshold: 0.2, boxes: eelBefore })
    expect(s.labels.of(a)).toContain('eel')
  })

  it('an autosave of an unchanged state writes nothing: the project file does not grow', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const [p1] = s.review.boxes(a)
    accept(s, p1.id)
    draw(s, a, 'cat', { x0: 3, y0: 3, x1: 30, y1: 30 })
    const state = { threshold: 0.2, boxes: s.review.boxes(a) }
    s.review.save(a, state)
    s.db.pragma('wal_checkpoint(TRUNCATE)')
    const pages = s.db.pragma('page_count', { simple: true })
    const revision = s.images.get(a)!.revision
    const wal = () => (existsSync(`${s.file}-wal`) ? statSync(`${s.file}-wal`).size : 0)
    const walBefore = wal()
    for (let i = 0; i < 200; i++) expect(s.review.save(a, state).changed).toBe(false)
    expect(wal()).toBe(walBefore)
    expect(s.db.pragma('page_count', { simple: true })).toBe(pages)
    expect(s.images.get(a)!.revision).toBe(revision)
    expect(s.review.boxes(a)).toEqual(state.boxes)
    // no table keeps a copy of each save
    const tables = s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
    expect(tables).not.toContain('history')
  })

  it('moving a pending proposal makes an edited annotation; deleting it keeps it as rejected', () => {
    const { s, ids } = ctx
    const b = ids.get('b.jpg')!
    const [p] = s.review.boxes(b)
    const moved = move(s, p.id, { x0: 0, y0: 0, x1: 30, y1: 30 })
    expect(s.review.boxes(b)).toMatchObject([{ status: 'edited', score: 0.5, box: { x1: 30 } }])
    expect(s.images.get(b)!.status).toBe('edited')
    reject(s, moved)
    expect(s.review.boxes(b)).toMatchObject([{ status: 'rejected' }])
    expect(s.images.get(b)!.status).toBe('rejected')
  })

  it('accept-all, then a re-run keeps decisions and does not re-offer decided boxes', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    expect(acceptAll(s, a)).toBe(2)
    expect(s.images.get(a)!.status).toBe('accepted')
    s.runs.save(a, { ...run, revision: 'r2' }, [
      {
        label: 'cat',
        source: 'model',
        confidence: 0.8,
        cam: cam(0.1),
        proposals: [
          { box: { x0: 0, y0: 5, x1: 20, y1: 40 }, score: 0.7, rank: 0 },
          { box: { x0: 50, y0: 50, x1: 60, y1: 60 }, score: 0.2, rank: 1 },
        ],
      },
    ])
    const boxes = s.review.boxes(a)
    expect(boxes.filter((x) => x.status === 'accepted')).toHaveLength(2)
    expect(boxes.filter((x) => x.status === 'pending')).toMatchObject([{ box: { x0: 50 } }])
    expect(s.runs.toPropose(run.model, 'r2').map((i) => i.file)).toEqual([
      'b.jpg',
      'c.jpg',
      'd.jpg',
    ])
    expect(s.runs.toPropose(run.model, 'r1').map((i) => i.file)).toEqual(['d.jpg'])
  })

  it('saving a review replaces the state idempotently, and the earlier state can be saved back', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const [p1, p2] = s.review.boxes(a)
    const state = {
      threshold: 0.35,
      boxes: [
        { ...p1, status: 'accepted' as const },
        {
          id: 'new-1',
          label: 'cat',
          box: { x0: 3, y0: 3, x1: 8, y1: 8 },
          status: 'manual' as const,
          score: null,
        },
      ],
    }
    const r1 = s.review.save(a, state)
    expect(r1.status).toBe('edited')
    const after = s.review.boxes(a)
    expect(after.map((b) => [b.id.startsWith('a') || b.id === 'new-1', b.status])).toEqual([
      [true, 'accepted'],
      [true, 'manual'],
    ])
    expect(after.find((b) => b.id === p2.id)).toBeUndefined()
    expect(s.review.save(a, { threshold: 0.35, boxes: after }).changed).toBe(false)
    expect(s.review.boxes(a)).toEqual(after)
    expect(s.images.get(a)!.threshold).toBe(0.35)
    // the review screen's undo: the state before, saved back (the removed proposal comes back
    // as a pending proposal with its box and score)
    s.review.save(a, { threshold: 0.2, boxes: [p1, p2] })
    const back = s.review.boxes(a)
    expect(back[0]).toEqual(p1)
    expect(back.map(({ id: _id, ...rest }) => rest)).toEqual(
      [p1, p2].map(({ id: _id, ...rest }) => rest),
    )
  })

  it('exports kept boxes of reviewed images only; unreviewed ones or pending proposals when asked', () => {
    const { s, ids } = ctx
    const [p1, p2] = s.review.boxes(ids.get('a.jpg')!)
    accept(s, p1.id)
    reject(s, p2.id)
    // c.jpg: its only proposal rejected, a reviewed negative.
    reject(s, s.review.boxes(ids.get('c.jpg')!)[0]!.id)
    const d = s.review.dataset()
    expect(d.classes).toEqual(['cat', 'dog'])
    expect(d.images.map((i) => i.file)).toEqual(['a.jpg', 'c.jpg'])
    expect(d.images[0].boxes).toEqual([{ box: p1.box, label: 'cat' }])
    expect(d.images[1].boxes).toEqual([])
    expect(s.review.exportCounts()).toEqual({
      reviewed: 2,
      reviewedBoxes: 1,
      unreviewed: 2,
      unreviewedBoxes: 0,
      pendingProposals: 1,
      pendingImages: 1,
    })
    const all = s.review.dataset({ unreviewed: true })
    expect(all.images.map((i) => i.file)).toEqual(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'])
    expect(all.images[1].boxes).toEqual([])
    const withP = s.review.dataset({ withProposals: true })
    expect(withP.images.map((i) => i.file)).toEqual(['a.jpg', 'b.jpg', 'c.jpg'])
    expect(withP.images[1].boxes).toMatchObject([{ label: 'cat', score: 0.5 }])
    expect(withP.images[0].boxes).toHaveLength(1)
    // Every image keeps its project id, so two exports of one project agree on ids.
    expect(all.images.map((i) => i.id)).toEqual(
      ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'].map((f) => ids.get(f)),
    )
  })

  it('clips drawn, moved and saved boxes to the image; refuses one wholly outside it', () => {
    const { s, ids } = ctx
    const id = ids.get('d.jpg')! // 100 x 80
    const a = draw(s, id, 'dog', { x0: -5, y0: 10, x1: 120, y1: 90 })
    expect(s.review.boxes(id).find((b) => b.id === a)!.box).toEqual({
      x0: 0,
      y0: 10,
      x1: 100,
      y1: 80,
    })
    move(s, a, { x0: 50, y0: -3, x1: 140, y1: 20 })
    expect(s.review.boxes(id).find((b) => b.id === a)!.box).toEqual({
      x0: 50,
      y0: 0,
      x1: 100,
      y1: 20,
    })
    expect(() => draw(s, id, 'dog', { x0: 200, y0: 10, x1: 220, y1: 20 })).toThrow(
      /outside the 100x80 image/,
    )
    const boxes = s.review
      .boxes(id)
      .map((b) => (b.id === a ? { ...b, box: { ...b.box, x1: 500 } } : b))
    s.review.save(id, { threshold: 0.2, boxes })
    expect(s.review.boxes(id).find((b) => b.id === a)!.box.x1).toBe(100)
    for (const im of s.review.dataset({ unreviewed: true }).images)
      for (const b of im.boxes) {
        expect(b.box.x0).toBeGreaterThanOrEqual(0)
        expect(b.box.x1).toBeLessThanOrEqual(im.width)
        expect(b.box.y1).toBeLessThanOrEqual(im.height)
      }
  })

  it('keeps review work when the same images are upserted again', () => {
    const { s, ids } = ctx
    const [p1] = s.review.boxes(ids.get('a.jpg')!)
    accept(s, p1.id)
    const r = s.images.upsert([img('a.jpg'), img('e.jpg'), { ...img('b.jpg'), hash: 'changed' }])
    expect(r.added).toEqual(['e.jpg'])
    expect(r.changed).toEqual(['b.jpg'])
    expect(r.ids.get('a.jpg')).toBe(ids.get('a.jpg'))
    expect(s.review.boxes(ids.get('a.jpg')!)[0].status).toBe('accepted')
    expect(s.integrityCheck()).toBe('ok')
  })

  it('counts by status and class', () => {
    const { s, ids } = ctx
    acceptAll(s, ids.get('c.jpg')!)
    const c = s.counts()
    expect(c.images).toBe(4)
    expect(c.byStatus.accepted).toBe(1)
    expect(c.boxes).toMatchObject({ pending: 3, accepted: 1 })
    expect(c.byClass).toEqual([
      { label: 'cat', images: 4, kept: 1, pending: 3, rejected: 0 },
      { label: 'dog', images: 1, kept: 0, pending: 0, rejected: 0 },
    ])
  })
})

describe('schema versions', () => {
  it('refuses a project from a newer camlabel without changing it', () => {
    const file = path.join(tmp, 'newer.camlabel')
    ProjectStore.create(file, tmp).close()
    const raw = openSqlite(file)
    raw.pragma('user_version = 99')
    raw.close()
    expect(() => ProjectStore.open(file)).toThrow(
      expect.objectContaining({
        code: 'PROJECT_TOO_NEW',
        message: expect.stringMatching(/newer camlabel.*schema 99/),
      }),
    )
    const check = openSqlite(file)
    expect(check.pragma('user_version', { simple: true })).toBe(99)
    check.close()
  })

  it('migrates an older project forward, keeping its data', () => {
    const file = path.join(tmp, 'older.camlabel')
    const s = ProjectStore.create(file, tmp)
    s.images.upsert([img('x.jpg')])
    s.close()
    const v2 = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        description: 'test column',
        sql: 'ALTER TABLE images ADD COLUMN note TEXT',
      },
    ]
    const s2 = ProjectStore.open(file, { migrations: v2 })
    expect(s2.getMeta('schema_version')).toBe(String(v2.length))
    expect(s2.images.byFile('x.jpg')).toBeDefined()
    expect(s2.db.prepare('SELECT note FROM images').all()).toEqual([{ note: null }])
    s2.close()
    // and this build, which knows one version less, now refuses it
    expect(() => ProjectStore.open(file)).toThrow(
      expect.objectContaining({ code: 'PROJECT_TOO_NEW' }),
    )
  })

  it('says a project locked by another process is in use, and leaks no handle on failure', () => {
    const file = path.join(tmp, 'locked.camlabel')
    ProjectStore.create(file, tmp).close()
    const other = openSqlite(file)
    other.pragma('locking_mode = EXCLUSIVE')
    other.exec('BEGIN EXCLUSIVE')
    try {
      let err: unknown
      try {
        ProjectStore.open(file, { busyTimeoutMs: 50 })
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'PROJECT_BUSY' })
      expect((err as Error).message).toMatch(/open in another camlabel process/)
      expect((err as Error).message).not.toMatch(/not a camlabel project/)
      expect((err as { hint?: string }).hint).toMatch(/retry/)
    } finally {
      other.exec('COMMIT')
      other.close()
    }
    // A migration that fails leaves no open handle on the file behind.
    const fds = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(file)
        } catch {
          return false
        }
      }).length
    const broken = [...MIGRATIONS, { version: 99, description: 'bad', sql: 'NOT SQL' }]
    expect(() => ProjectStore.open(file, { migrations: broken })).toThrow(/Could not upgrade/)
    expect(fds()).toBe(0)
    const s = ProjectStore.open(file)
    expect(s.getMeta('schema_version')).toBe(String(MIGRATIONS.length))
    s.close()
  })

  it('refuses a file that is not a project, and a missing one', () => {
    const file = path.join(tmp, 'other.sqlite')
    const raw = openSqlite(file)
    raw.exec('CREATE TABLE t(x)')
    raw.close()
    expect(() => ProjectStore.open(file)).toThrow(expect.objectContaining({ code: 'PARSE_ERROR' }))
    expect(() => ProjectStore.open(path.join(tmp, 'none.camlabel'))).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    )
  })

  it('uses WAL with synchronous FULL and foreign keys', () => {
    const s = fresh()
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2)
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1)
  })
})

describe('the SQLite the store runs on', () => {
  it("is the runtime's own node:sqlite where it has one, and better-sqlite3's addon is never loaded then", () => {
    // Electron 41 (the app) runs Node 24, which has node:sqlite: the app loads no SQLite addon,
    // so none has to match its ABI. npm test runs this file on both runtimes (scripts/test.sh).
    const s = fresh()
    s.close()
    if (!hasNodeSqlite()) {
      expect(sqliteDriver()).toBe('better-sqlite3')
      return
    }
    expect(sqliteDriver()).toBe(
      process.env.CAMLABEL_SQLITE === 'better-sqlite3' ? 'better-sqlite3' : 'node',
    )
    if (sqliteDriver() === 'node' && process.platform === 'linux')
      expect(readFileSync('/proc/self/maps', 'utf8')).not.toContain('better_sqlite3.node')
  })
})
