/**
 * Changing the threshold of a project without inference: a re-run at another threshold recomputes
 * the pending proposals from the stored low-resolution CAMs, keeps review decisions, and gives the
 * boxes a fresh inference run at that threshold gives. Real model (SqueezeNet, CPU), real SQLite.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { iou, type Box } from '../../src/shared/box.ts'
import { importProject } from '../../src/main/project/importProject.ts'
import { proposeProject, recomputeFromCams } from '../../src/main/project/proposeProject.ts'
import { modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import type { StageProgress } from '../../src/main/jobs/progress.ts'
import { ProjectStore, type ReviewBox } from '../../src/main/store/projectStore.ts'
import { runCamlabel } from '../helpers/cli.ts'
import { accept, reject } from '../helpers/review.ts'
import { shared } from '../helpers/shared.ts'

const data = shared('data/imagenet-val-dev')
const MODEL = 'squeezenet1.1-fp16'
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-rethreshold-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** 8 labelled photos in a folder of their own. */
const root = path.join(tmp, 'photos')
beforeAll(() => {
  mkdirSync(root)
  const rows = readFileSync(path.join(data, 'labels.csv'), 'utf8').trim().split(/\r?\n/).slice(1, 9)
  for (const row of rows) {
    const file = row.split(',')[0]
    copyFileSync(path.join(data, file), path.join(root, path.basename(file)))
  }
  writeFileSync(
    path.join(tmp, 'labels.csv'),
    'file,label\n' + rows.map((r) => r.replace(/^images\//, 'photos/')).join('\n') + '\n',
  )
})

async function newProject(name: string): Promise<ProjectStore> {
  const store = ProjectStore.create(path.join(tmp, name), root)
  const r = await importProject(store, {
    labels: { kind: 'csv', path: path.join(tmp, 'labels.csv') },
  })
  expect(r.imported).toBe(8)
  return store
}

const area = (b: Box) => (b.x1 - b.x0) * (b.y1 - b.y0)
const pending = (store: ProjectStore, id: number) =>
  store.review.boxes(id).filter((b) => b.status === 'pending')
const images = (store: ProjectStore) => store.gallery.ids({})

describe('propose PROJECT --threshold on images already proposed', () => {
  it('recomputes pending proposals from stored CAMs, keeps decisions, matches a fresh run', async () => {
    const a = await newProject('a.camlabel')
    const first = await proposeProject(a, { model: MODEL, providers: 'cpu', threshold: 0.2 })
    expect(first).toMatchObject({ done: 8, failed: 0, recomputed: 0 })
    expect(first.provider).toBe('cpu')

    // The user accepts the best box of the first image and rejects one of the second.
    const [im1, im2, ...rest] = images(a)
    const acceptedId = accept(a, pending(a, im1)[0].id)
    const accepted = a.review.boxes(im1).find((b) => b.id === acceptedId)!
    reject(a, pending(a, im2)[0].id)
    const decided = (id: number) => a.review.boxes(id).filter((b) => b.status !== 'pending')
    const decidedBefore = [decided(im1), decided(im2)]
    const mainBefore = new Map(rest.map((id) => [id, pending(a, id)[0].box]))

    const r = await proposeProject(a, { model: MODEL, providers: 'cpu', threshold: 0.5 })
    // no inference: nothing went through the worker (no provider was reported), 8 recomputed
    expect(r).toMatchObject({ done: 0, failed: 0, recomputed: 8, alreadyDone: 0, proposals: 0 })
    expect(r.provider).toBeUndefined()

    // decisions stay exactly as they were
    expect([decided(im1), decided(im2)]).toEqual(decidedBefore)
    expect(a.review.boxes(im1).find((b) => b.id === acceptedId)).toEqual(accepted)
    // the accepted object is not offered again as a pending duplicate
    for (const b of pending(a, im1))
      if (b.label === accepted.label) expect(iou(b.box, accepted.box)).toBeLessThan(0.5)

    // pending proposals changed: a higher threshold gives smaller or equal main boxes
    let smaller = 0
    for (const id of rest) {
      const now = pending(a, id)[0].box
      expect(area(now)).toBeLessThanOrEqual(area(mainBefore.get(id)!) + 1e-6)
      if (area(now) < area(mainBefore.get(id)!) - 1) smaller++
      expect(a.images.get(id)!.threshold).toBe(0.5)
    }
    expect(smaller).toBeGreaterThan(0)

    // the same boxes a fresh inference run at 0.5 gives (the stored CAM is what the run used)
    const b = await newProject('b.camlabel')
    const fresh = await proposeProject(b, { model: MODEL, providers: 'cpu', threshold: 0.5 })
    expect(fresh.done).toBe(8)
    const key = (boxes: ReviewBox[]) =>
      boxes.map(
        (x) =>
          `${x.label} ${[x.box.x0, x.box.y0, x.box.x1, x.box.y1].map((v) => v.toFixed(3)).join(' ')} ${x.score?.toFixed(4)}`,
      )
    for (const [i, id] of rest.entries())
      expect(key(pending(a, id))).toEqual(key(pending(b, images(b)[i + 2])))

    // the same threshold again: nothing to recompute or infer
    expect(
      await proposeProject(a, { model: MODEL, providers: 'cpu', threshold: 0.5 }),
    ).toMatchObject({ done: 0, recomputed: 0, alreadyDone: 8 })
    expect(a.integrityCheck()).toBe('ok')
    a.close()
    b.close()
  })

  it('the command says it recomputed from stored CAMs; without --threshold nothing is re-thresholded', async () => {
    const file = path.join(tmp, 'c.camlabel')
    ;(await newProject('c.camlabel')).close()
    const propose = async (...args: string[]) => {
      const r = await runCamlabel(
        ['propose', file, '--model', MODEL, '--provider', 'cpu', ...args],
        tmp,
      )
      expect(r.code).toBe(0)
      return r.err
    }
    expect(await propose('--threshold', '0.3')).toMatch(/8 images processed/)
    expect(await propose('--threshold', '0.6')).toMatch(
      /recomputed 8 images from stored CAMs[\s\S]*0 images processed/,
    )
    const again = await propose()
    expect(again).not.toMatch(/recomputed/)
    expect(again).toMatch(/8 already done/)
    const s = ProjectStore.open(file)
    expect(s.images.get(images(s)[0])!.threshold).toBe(0.6)
    s.close()
  })

  it('a run with another upscale mode re-proposes; guided runs again, bilinear recomputes', async () => {
    const opts = { model: MODEL, providers: 'cpu' as const }
    const a = await newProject('g.camlabel')
    expect(await proposeProject(a, opts)).toMatchObject({ done: 8, reproposed: 0 })
    const [im1] = images(a)
    const acceptedId = accept(a, pending(a, im1)[0].id)
    const accepted = a.review.boxes(im1).find((b) => b.id === acceptedId)!

    // guided over images proposed bilinearly: every one runs again (the guide is the image)
    const g = await proposeProject(a, { ...opts, upscale: 'guided' })
    expect(g).toMatchObject({ done: 8, failed: 0, reproposed: 8, recomputed: 0, alreadyDone: 0 })
    expect(g.provider).toBe('cpu')
    expect(a.review.boxes(im1).find((b) => b.id === acceptedId)).toEqual(accepted)
    // … giving the boxes a fresh guided run gives
    const b = await newProject('h.camlabel')
    expect(await proposeProject(b, { ...opts, upscale: 'guided' })).toMatchObject({ done: 8 })
    const key = (boxes: ReviewBox[]) =>
      boxes.map((x) => `${x.label} ${[x.box.x0, x.box.y0, x.box.x1, x.box.y1].join(' ')}`)
    for (const [i, id] of images(a).entries())
      if (id !== im1) expect(key(pending(a, id))).toEqual(key(pending(b, images(b)[i])))

    // a new threshold in guided mode is not recomputed bilinearly from the CAMs: it runs again
    const t = await proposeProject(a, { ...opts, upscale: 'guided', threshold: 0.4 })
    expect(t).toMatchObject({ done: 8, reproposed: 8, recomputed: 0 })
    expect(a.images.get(im1)!.threshold).toBe(0.4)
    // the project's upscale setting is the default mode: guided again, nothing to do
    a.setMeta('upscale', 'guided')
    expect(await proposeProject(a, opts)).toMatchObject({ done: 0, alreadyDone: 8 })
    // back to bilinear: recomputed from the stored CAMs, no inference
    const back = await proposeProject(a, { ...opts, upscale: 'bilinear' })
    expect(back).toMatchObject({ done: 0, recomputed: 8, reproposed: 0 })
    expect(back.provider).toBeUndefined()
    expect(a.integrityCheck()).toBe('ok')
    a.close()
    b.close()
  })

  it("a run without a threshold keeps the project's last one for new images", async () => {
    const a = await newProject('t.camlabel')
    const opts = { model: MODEL, providers: 'cpu' as const }
    expect(await proposeProject(a, { ...opts, threshold: 0.5, limit: 3 })).toMatchObject({
      done: 3,
    })
    expect(await proposeProject(a, opts)).toMatchObject({ done: 5, alreadyDone: 3 })
    for (const id of images(a)) {
      expect(a.images.get(id)!.threshold).toBe(0.5)
      const t = a.db.prepare('SELECT DISTINCT threshold FROM proposals WHERE image_id = ?')
      expect(t.all(id)).toEqual([{ threshold: 0.5 }])
    }
    a.close()
  })

  it('recomputing reports progress by batch and stops between batches when cancelled', async () => {
    const a = await newProject('r.camlabel')
    expect(
      await proposeProject(a, { model: MODEL, providers: 'cpu', threshold: 0.2 }),
    ).toMatchObject({ done: 8 })
    const { ref, revision } = modelIdentity(MODEL)
    const run = { model: ref, revision, threshold: 0.5 }
    const seen: StageProgress[] = []
    const abort = new AbortController()
    const n = await recomputeFromCams(a, run, a.runs.toRedo(run, true), {
      rethreshold: true,
      batchSize: 3,
      signal: abort.signal,
      report: (e) => {
        if (e.type !== 'progress') return
        const { type: _type, ...p } = e
        seen.push(p)
        if (p.done >= 3) abort.abort()
      },
    })
    expect(n).toBe(3)
    expect(seen).toEqual([{ stage: 'recompute', done: 3, total: 8, failed: 0 }])
    const at = (t: number) => images(a).filter((id) => a.images.get(id)!.threshold === t).length
    expect([at(0.5), at(0.2)]).toEqual([3, 5])
    // the next run recomputes the rest
    seen.length = 0
    expect(
      await recomputeFromCams(a, run, a.runs.toRedo(run, true), {
        rethreshold: true,
        batchSize: 3,
        report: (e) => void (e.type === 'progress' && seen.push(e)),
      }),
    ).toBe(5)
    expect(seen.map((p) => p.done)).toEqual([3, 5])
    expect(at(0.5)).toBe(8)
    a.close()
  })
})
