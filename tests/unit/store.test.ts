import Database from 'better-sqlite3'
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { ProjectStore, type RunInfo } from '../../src/main/store/projectStore.ts'
import { MIGRATIONS } from '../../src/main/store/schema.ts'

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
  const { ids } = s.upsertImages(['b.jpg', 'a.jpg', 'c.jpg', 'd.jpg'].map(img))
  s.addLabels([...ids.values()].map((imageId) => ({ imageId, label: 'cat' })))
  s.addLabels([{ imageId: ids.get('d.jpg')!, label: 'dog' }])
  const save = (file: string, scores: number[]) =>
    s.saveProposals(ids.get(file)!, run, [
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
    expect(s.statusCounts()).toEqual({
      unproposed: 1,
      pending: 3,
      accepted: 0,
      edited: 0,
      rejected: 0,
    })
    const page = s.galleryPage({ sort: 'score', limit: 10 })
    expect(page.items.map((i) => [i.file, i.minScore])).toEqual([
      ['a.jpg', 0.3],
      ['b.jpg', 0.5],
      ['c.jpg', 0.95],
      ['d.jpg', null],
    ])
    expect(page.items[0].boxes).toHaveLength(2)
    expect(page.items[3].labels).toEqual(['cat', 'dog'])
    expect(s.galleryPage({ label: 'dog' }).items.map((i) => i.file)).toEqual(['d.jpg'])
    expect(s.galleryPage({ status: 'pending', sort: 'name', offset: 1, limit: 1 })).toMatchObject({
      total: 3,
      items: [{ file: 'b.jpg' }],
    })
  })

  it('stores CAMs as Float32 and returns them intact', () => {
    const [c] = ctx.s.cams(ctx.ids.get('a.jpg')!)
    expect(c).toMatchObject({ label: 'cat', model: run.model, revision: 'r1', confidence: 0.9 })
    expect([...c.cam.data]).toEqual([0.25, 1, 0.5, 0])
  })

  it('records edits in history; undo and redo walk back and forth', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const [p1, p2] = s.boxes(a)
    s.acceptProposal(p1.id)
    expect(s.image(a)!.status).toBe('pending')
    s.rejectProposal(p2.id)
    expect(s.image(a)!.status).toBe('accepted')
    const manual = s.addBox(a, 'bird', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.image(a)!.status).toBe('edited')
    expect(s.labelsOf(a)).toEqual(['cat', 'bird'])
    s.updateBox(manual, { x0: 2, y0: 2, x1: 9, y1: 9 })
    const stateAfter = s.boxes(a)
    expect(stateAfter.find((b) => b.id === manual)).toMatchObject({
      status: 'manual',
      box: { x0: 2 },
    })

    expect(s.undo()).toEqual({ imageId: a, kind: 'move' })
    expect(s.boxes(a).find((b) => b.id === manual)!.box.x0).toBe(1)
    s.undo()
    s.undo()
    expect(s.image(a)!.status).toBe('pending')
    expect(
      s
        .boxes(a)
        .map((b) => b.status)
        .sort(),
    ).toEqual(['accepted', 'pending'])
    s.undo()
    expect(s.boxes(a).every((b) => b.status === 'pending')).toBe(true)
    expect(s.undo()).toBeUndefined()
    for (let i = 0; i < 4; i++) s.redo()
    expect(s.redo()).toBeUndefined()
    expect(s.boxes(a)).toEqual(stateAfter)
    // a new edit after an undo clears the redo stack
    s.undo()
    s.deleteBox(manual)
    expect(s.canRedo()).toBe(false)
  })

  it('undoing addBox/setBoxLabel removes the image label it implied; redo puts it back', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const d = ids.get('d.jpg')!
    // addBox of a new class adds the label; undo takes both away, redo brings both back
    s.addBox(a, 'bird', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.labelsOf(a)).toEqual(['cat', 'bird'])
    s.undo()
    expect(s.labelsOf(a)).toEqual(['cat'])
    expect(s.galleryTotal({ label: 'bird' })).toBe(0)
    s.redo()
    expect(s.labelsOf(a)).toEqual(['cat', 'bird'])
    s.undo()

    // relabelling a proposal to a new class, then undo: the proposal is back to 'cat', no 'fox'
    const [p1] = s.boxes(a)
    s.setBoxLabel(p1.id, 'fox')
    expect(s.labelsOf(a)).toEqual(['cat', 'fox'])
    s.undo()
    expect(s.labelsOf(a)).toEqual(['cat'])
    expect(s.boxes(a)[0]).toMatchObject({ id: p1.id, label: 'cat', status: 'pending' })

    // a label the image already had (given by the user) is never removed by an undo
    s.addBox(d, 'dog', { x0: 1, y0: 1, x1: 9, y1: 9 })
    s.undo()
    expect(s.labelsOf(d)).toEqual(['cat', 'dog'])

    // another box of the class still in the image keeps the label
    const first = s.addBox(a, 'owl', { x0: 1, y0: 1, x1: 9, y1: 9 })
    s.addBox(a, 'owl', { x0: 20, y0: 20, x1: 30, y1: 30 })
    s.undo()
    expect(s.labelsOf(a)).toContain('owl')
    s.undo()
    expect(s.labelsOf(a)).not.toContain('owl')
    expect(s.boxes(a).some((b) => b.id === first)).toBe(false)

    // an import that gives the label after the edit makes it explicit: undo keeps it
    s.addBox(a, 'eel', { x0: 1, y0: 1, x1: 9, y1: 9 })
    expect(s.addLabels([{ imageId: a, label: 'eel', source: 'import' }])).toBe(0)
    s.undo()
    expect(s.labelsOf(a)).toContain('eel')
  })

  it('moving a pending proposal makes an edited annotation; deleting it keeps it as rejected', () => {
    const { s, ids } = ctx
    const b = ids.get('b.jpg')!
    const [p] = s.boxes(b)
    s.updateBox(p.id, { x0: 0, y0: 0, x1: 30, y1: 30 })
    expect(s.boxes(b)).toMatchObject([{ status: 'edited', score: 0.5, box: { x1: 30 } }])
    expect(s.image(b)!.status).toBe('edited')
    s.deleteBox(s.boxes(b)[0].id)
    expect(s.boxes(b)).toMatchObject([{ status: 'rejected' }])
    expect(s.image(b)!.status).toBe('rejected')
  })

  it('accept-all, then a re-run keeps decisions and does not re-offer decided boxes', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    expect(s.acceptAllPending(a)).toBe(2)
    expect(s.image(a)!.status).toBe('accepted')
    s.saveProposals(a, { ...run, revision: 'r2' }, [
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
    const boxes = s.boxes(a)
    expect(boxes.filter((x) => x.status === 'accepted')).toHaveLength(2)
    expect(boxes.filter((x) => x.status === 'pending')).toMatchObject([{ box: { x0: 50 } }])
    expect(s.imagesToPropose(run.model, 'r2').map((i) => i.file)).toEqual([
      'b.jpg',
      'c.jpg',
      'd.jpg',
    ])
    expect(s.imagesToPropose(run.model, 'r1').map((i) => i.file)).toEqual(['d.jpg'])
  })

  it('saveReview replaces the state idempotently and is undoable', () => {
    const { s, ids } = ctx
    const a = ids.get('a.jpg')!
    const [p1, p2] = s.boxes(a)
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
    const r1 = s.saveReview(a, state)
    expect(r1.status).toBe('edited')
    const after = s.boxes(a)
    expect(after.map((b) => [b.id.startsWith('a') || b.id === 'new-1', b.status])).toEqual([
      [true, 'accepted'],
      [true, 'manual'],
    ])
    expect(after.find((b) => b.id === p2.id)).toBeUndefined()
    s.saveReview(a, { threshold: 0.35, boxes: after })
    expect(s.boxes(a)).toEqual(after)
    expect(s.image(a)!.threshold).toBe(0.35)
    s.undo()
    s.undo()
    expect(s.boxes(a).map((b) => b.id)).toEqual([p1.id, p2.id])
  })

  it('exports kept boxes only, or with pending proposals', () => {
    const { s, ids } = ctx
    const [p1, p2] = s.boxes(ids.get('a.jpg')!)
    s.acceptProposal(p1.id)
    s.rejectProposal(p2.id)
    const d = s.toDataset()
    expect(d.classes).toEqual(['cat', 'dog'])
    expect(d.images.map((i) => i.file)).toEqual(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'])
    expect(d.images[0].boxes).toEqual([{ box: p1.box, label: 'cat' }])
    const withP = s.toDataset({ withProposals: true })
    expect(withP.images[1].boxes).toMatchObject([{ label: 'cat', score: 0.5 }])
    expect(withP.images[0].boxes).toHaveLength(1)
  })

  it('clips drawn, moved and saved boxes to the image; refuses one wholly outside it', () => {
    const { s, ids } = ctx
    const id = ids.get('d.jpg')! // 100 x 80
    const a = s.addBox(id, 'dog', { x0: -5, y0: 10, x1: 120, y1: 90 })
    expect(s.boxes(id).find((b) => b.id === a)!.box).toEqual({ x0: 0, y0: 10, x1: 100, y1: 80 })
    s.updateBox(a, { x0: 50, y0: -3, x1: 140, y1: 20 })
    expect(s.boxes(id).find((b) => b.id === a)!.box).toEqual({ x0: 50, y0: 0, x1: 100, y1: 20 })
    expect(() => s.addBox(id, 'dog', { x0: 200, y0: 10, x1: 220, y1: 20 })).toThrow(
      /outside the 100x80 image/,
    )
    const boxes = s.boxes(id).map((b) => (b.id === a ? { ...b, box: { ...b.box, x1: 500 } } : b))
    s.saveReview(id, { threshold: 0.2, boxes })
    expect(s.boxes(id).find((b) => b.id === a)!.box.x1).toBe(100)
    for (const im of s.toDataset().images)
      for (const b of im.boxes) {
        expect(b.box.x0).toBeGreaterThanOrEqual(0)
        expect(b.box.x1).toBeLessThanOrEqual(im.width)
        expect(b.box.y1).toBeLessThanOrEqual(im.height)
      }
  })

  it('keeps review work when the same images are upserted again', () => {
    const { s, ids } = ctx
    const [p1] = s.boxes(ids.get('a.jpg')!)
    s.acceptProposal(p1.id)
    const r = s.upsertImages([img('a.jpg'), img('e.jpg'), { ...img('b.jpg'), hash: 'changed' }])
    expect(r.added).toEqual(['e.jpg'])
    expect(r.changed).toEqual(['b.jpg'])
    expect(r.ids.get('a.jpg')).toBe(ids.get('a.jpg'))
    expect(s.boxes(ids.get('a.jpg')!)[0].status).toBe('accepted')
    expect(s.integrityCheck()).toBe('ok')
  })

  it('counts by status and class', () => {
    const { s, ids } = ctx
    s.acceptAllPending(ids.get('c.jpg')!)
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
    const raw = new Database(file)
    raw.pragma('user_version = 99')
    raw.close()
    expect(() => ProjectStore.open(file)).toThrow(
      expect.objectContaining({
        code: 'PROJECT_TOO_NEW',
        message: expect.stringMatching(/newer camlabel.*schema 99/),
      }),
    )
    const check = new Database(file)
    expect(check.pragma('user_version', { simple: true })).toBe(99)
    check.close()
  })

  it('migrates an older project forward, keeping its data', () => {
    const file = path.join(tmp, 'older.camlabel')
    const s = ProjectStore.create(file, tmp)
    s.upsertImages([img('x.jpg')])
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
    expect(s2.imageByFile('x.jpg')).toBeDefined()
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
    const other = new Database(file)
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
    const raw = new Database(file)
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
