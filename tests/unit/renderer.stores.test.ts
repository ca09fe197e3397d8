/**
 * The renderer's annotation and gallery stores, driven through an injected client that runs the
 * real route handlers (src/main/services) on a real SQLite project — no Electron, no browser.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { createPinia, setActivePinia } from 'pinia'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createServices, type Services } from '../../src/main/services/index.ts'
import { recomputeFromCams } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { setApiClient } from '../../src/renderer/src/api/client.ts'
import { useAnnotationStore } from '../../src/renderer/src/stores/annotation.ts'
import { useGalleryStore } from '../../src/renderer/src/stores/gallery.ts'
import type { CamlabelBridge } from '../../src/shared/contracts/index.ts'

let services: Services
let imageIds: number[]

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-stores-'))
  const images = path.join(dir, 'images')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(path.join(images, 'cat'), { recursive: true })
  for (const name of ['a', 'b', 'c']) {
    await sharp({
      create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 100, b: 50 } },
    })
      .png()
      .toFile(path.join(images, 'cat', `${name}.png`))
  }
  services = createServices({
    dataDir: path.join(dir, 'data'),
    shell: 'test-host',
    emit: () => {},
    checkOutput: true,
  })
  const grants = services.context.grants
  const created = await services.router.dispatch('project.create', {
    images: grants.grant('folder', images).token,
    project: grants.grant('save', path.join(dir, 'p.camlabel')).token,
    labels: { kind: 'folders' },
  })
  expect(created.ok).toBe(true)
  // One proposal per image from a CAM with a hot 4×4 block, as a proposal run would store it.
  const store = services.context.requireProject() as ProjectStore
  imageIds = store.gallery.ids({ sort: 'name' })
  const cam = new Float32Array(8 * 6)
  for (let y = 1; y < 5; y++) for (let x = 2; x < 6; x++) cam[y * 8 + x] = 1
  for (const id of imageIds) {
    store.runs.save(id, { model: 'test', revision: 'r', threshold: 0.2 }, [
      {
        label: 'cat',
        source: 'model',
        confidence: 0.9,
        cam: { data: cam, width: 8, height: 6 },
        proposals: [{ box: { x0: 16, y0: 8, x1: 48, y1: 40 }, score: 0.9, rank: 0 }],
      },
    ])
  }
  const client: CamlabelBridge = {
    invoke: ((route: string, input: unknown) =>
      services.router.dispatch(route, input)) as CamlabelBridge['invoke'],
    on: () => () => {},
    imageUrl: (id, v) => `/${v}/${id}`,
  }
  setApiClient(client)
})

afterAll(() => services.context.close())

describe('annotation store', () => {
  test('edits are undoable one by one and autosaved to the project', async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    await a.load(imageIds[0]!)
    expect(a.boxes).toHaveLength(1)
    const id = a.boxes[0]!.id
    // A drag is one edit, whatever the number of previews.
    a.preview(id, { x0: 16, y0: 8, x1: 50, y1: 41 })
    a.preview(id, { x0: 16, y0: 8, x1: 55, y1: 44 })
    a.endGesture(id)
    expect(a.past).toHaveLength(1)
    expect(a.boxes[0]).toMatchObject({ status: 'edited', box: { x1: 55, y1: 44 } })
    a.addBox({ x0: 40, y0: 30, x1: 2, y1: 3 }, 'cat') // drawn right-to-left
    expect(a.boxes[1]).toMatchObject({ status: 'manual', box: { x0: 2, y0: 3, x1: 40, y1: 30 } })
    a.undo()
    expect(a.boxes).toHaveLength(1)
    a.undo()
    expect(a.boxes[0]).toMatchObject({ status: 'pending', box: { x1: 48, y1: 40 } })
    a.redo()
    expect(a.boxes[0]!.status).toBe('edited')
    await a.flush()
    expect(a.saveState).toBe('saved')
    const stored = services.context.requireProject().review.boxes(imageIds[0]!)
    expect(stored.map((b) => [b.status, b.box.x1])).toEqual([['edited', 55]])
  })

  test('the threshold recomputes pending proposals from the stored CAM and keeps reviewed boxes', async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    await a.load(imageIds[1]!)
    a.addBox({ x0: 1, y0: 1, x1: 10, y1: 10 }, 'cat')
    await a.setThreshold(0.5, true)
    expect(a.boxes.filter((b) => b.status === 'manual')).toHaveLength(1)
    const pending = a.boxes.filter((b) => b.status === 'pending')
    expect(pending.length).toBeGreaterThan(0)
    expect(a.threshold).toBe(0.5)
    a.undo()
    expect(a.threshold).toBe(0.2)
  })

  test("the renderer's recompute gives the boxes a project run's recompute stores in main", async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    await a.load(imageIds[1]!)
    const store = services.context.requireProject()
    const run = { model: 'test', revision: 'r', threshold: 0.2 }
    for (const t of [0.3, 0.7]) {
      a.setThreshold(t, true)
      const image = store.runs
        .toRedo({ ...run, threshold: t }, true)
        .filter((i) => i.id === imageIds[1])
      expect(image).toHaveLength(1)
      await recomputeFromCams(store, { ...run, threshold: t }, image, { rethreshold: true })
      const mine = a.boxes
        .filter((b) => b.status === 'pending')
        .map((b) => ({ label: b.label, box: b.box, score: b.score }))
      const theirs = store.review
        .boxes(imageIds[1]!)
        .filter((b) => b.status === 'pending')
        .map((b) => ({ label: b.label, box: b.box, score: b.score }))
      expect(mine).toEqual(theirs)
    }
    await a.flush()
  })

  test('undo of a box of a new class takes its implied label away in the project; redo puts it back', async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    const id = imageIds[2]!
    const store = services.context.requireProject()
    await a.load(id)
    a.addBox({ x0: 5, y0: 5, x1: 30, y1: 30 }, 'dog')
    await a.flush()
    expect(store.labels.of(id)).toEqual(['cat', 'dog'])
    a.undo()
    await a.flush()
    expect(store.labels.of(id)).toEqual(['cat'])
    a.redo()
    await a.flush()
    expect(store.labels.of(id)).toEqual(['cat', 'dog'])
    // a label given by the user stays whatever happens to the boxes of its class
    a.undo()
    a.setLabel('cat', a.boxes[0]!.id)
    await a.flush()
    expect(store.labels.of(id)).toEqual(['cat'])
    a.reject(a.boxes[0]!.id)
    await a.flush()
    expect(store.labels.of(id)).toEqual(['cat'])
    // back to how the image was, for the tests after this one
    a.undo()
    a.undo()
    await a.flush()
    expect(store.review.boxes(id).map((b) => b.status)).toEqual(['pending'])
  })

  test('the guided view previews the refined proposals; "use these" replaces the pending ones, undoably', async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    await a.load(imageIds[0]!)
    a.setThreshold(0.2, true)
    const bilinear = a.boxes.filter((b) => b.status === 'pending').map((b) => b.box)
    const bilinearOverlay = a.overlay
    await a.setView('guided')
    // The refined map is at the working resolution (this 64×48 image is below 512: its own size).
    expect(a.overlay).not.toBe(bilinearOverlay)
    expect([a.overlay!.width, a.overlay!.height]).toEqual([64, 48])
    const r = await services.router.dispatch('image.refined', {
      imageId: imageIds[0]!,
      threshold: 0.2,
    })
    if (!r.ok) throw new Error(r.error.message)
    const route = r.value as { maps: { proposals: { box: unknown; score: number }[] }[] }
    expect(a.previewProposals!.map((p) => [p.box, p.score])).toEqual(
      route.maps[0]!.proposals.map((p) => [p.box, p.score]),
    )
    a.usePreview()
    expect(a.pendingSource).toBe('guided')
    expect(a.previewProposals).toBeNull()
    expect(a.boxes.filter((b) => b.status === 'pending').map((b) => b.box)).toEqual(
      route.maps[0]!.proposals.map((p) => p.box),
    )
    a.undo()
    expect(a.pendingSource).toBe('bilinear')
    expect(a.boxes.filter((b) => b.status === 'pending').map((b) => b.box)).toEqual(bilinear)
    await a.setView('bilinear')
    expect(a.overlay).toBe(bilinearOverlay)
    await a.flush()
  })

  test("the review starts from the settings of the run that made the boxes, not the project's", async () => {
    const set = await services.router.dispatch('project.settings', { upscale: 'guided' })
    expect(set.ok && (set.value as { upscale: string }).upscale).toBe('guided')
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    // proposed bilinearly at the default working size: the slider recomputes exactly that
    await a.load(imageIds[2]!)
    expect(a.pendingSource).toBe('bilinear')
    expect(a.detail?.workingSize).toBe(512)
    // an image a guided run proposed at working size 256
    const store = services.context.requireProject()
    const id = imageIds[1]!
    const run = { model: 'test', revision: 'r', threshold: 0.2 }
    const [cam] = store.runs.cams(id)
    const result = {
      label: 'cat',
      source: 'model',
      confidence: cam!.confidence,
      cam: cam!.cam,
      proposals: [{ box: { x0: 16, y0: 8, x1: 48, y1: 40 }, score: 0.9, rank: 0 }],
    }
    store.runs.save(id, { ...run, upscale: 'guided', workingSize: 256 }, [result])
    await a.load(id)
    expect(a.pendingSource).toBe('guided')
    expect(a.detail?.workingSize).toBe(256)
    store.runs.save(id, run, [result])
    await services.router.dispatch('project.settings', { upscale: 'bilinear' })
  })

  test('reject keeps a rejected proposal; accept all leaves nothing pending', async () => {
    setActivePinia(createPinia())
    const a = useAnnotationStore()
    await a.load(imageIds[2]!)
    a.reject()
    expect(a.counts.rejected).toBe(1)
    expect(a.visibleBoxes).toHaveLength(0)
    a.undo()
    a.acceptAll()
    expect(a.counts).toMatchObject({ pending: 0, accepted: 1 })
    await a.flush()
  })
})

describe('gallery store', () => {
  test('filters by status and gives the next image in order', async () => {
    setActivePinia(createPinia())
    const g = useGalleryStore()
    await g.reload()
    expect(g.total).toBe(3)
    await g.setFilter({ status: 'accepted' })
    expect(g.ids).toEqual([imageIds[2]])
    await g.setFilter({ status: '' })
    expect(g.neighbour(imageIds[0]!, 1)).toBe(imageIds[1])
    expect(g.neighbour(imageIds[2]!, 1)).toBeNull()
  })
})

describe('jobs store', () => {
  test('a job whose progress and end arrive before its start answers ends in the UI', async () => {
    // The order a quick job gives over the bridge: progress, done, then the start call's answer.
    const listeners = new Map<string, ((e: unknown) => void)[]>()
    const fire = (type: string, e: unknown) => listeners.get(type)?.forEach((cb) => cb(e))
    const fake: CamlabelBridge = {
      invoke: (async (route: string) => {
        if (route !== 'job.learn') return { ok: false, error: { code: 'INTERNAL', message: route } }
        const base = { jobId: 'j1', kind: 'learn' }
        fire('job.progress', {
          ...base,
          type: 'job.progress',
          stage: 'learning',
          done: 1,
          total: 1,
          failed: 0,
          rate: 0,
          eta: null,
        })
        fire('job.done', {
          ...base,
          type: 'job.done',
          done: 0,
          failed: 0,
          seconds: 0.01,
          cancelled: false,
        })
        return { ok: true, value: { jobId: 'j1', total: 1 } }
      }) as CamlabelBridge['invoke'],
      on: ((type: string, cb: (e: unknown) => void) => {
        listeners.set(type, [...(listeners.get(type) ?? []), cb])
        return () => undefined
      }) as CamlabelBridge['on'],
      imageUrl: (id, v) => `/${v}/${id}`,
    }
    setActivePinia(createPinia())
    setApiClient(fake)
    try {
      const { useJobsStore } = await import('../../src/renderer/src/stores/jobs.ts')
      const jobs = useJobsStore()
      await jobs.learn(undefined)
      expect(jobs.running).toBe(false)
      expect(jobs.lastResult).toMatchObject({ kind: 'learn', cancelled: false })
      // A late progress event of the ended job does not bring it back.
      fire('job.progress', {
        type: 'job.progress',
        jobId: 'j1',
        kind: 'learn',
        stage: 'learning',
        done: 1,
        total: 1,
        failed: 0,
        rate: 0,
        eta: null,
      })
      expect(jobs.running).toBe(false)
    } finally {
      setApiClient({
        invoke: ((route: string, input: unknown) =>
          services.router.dispatch(route, input)) as CamlabelBridge['invoke'],
        on: () => () => {},
        imageUrl: (id, v) => `/${v}/${id}`,
      })
    }
  })
})
