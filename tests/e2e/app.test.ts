/// <reference lib="dom" />
/**
 * The renderer's production build in headless Chromium against the test host (the real services,
 * store, inference worker and files): create a project from raccoon photos, propose boxes with
 * the real model, review by keyboard, drag a corner, undo, reject, export COCO and check the file.
 * Screenshots of each view go to test-results/.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { ensureModel } from '../../src/main/engine/modelFetch.ts'
import { defaultModel } from '../../src/main/engine/manifest.ts'
import type { ReviewBox } from '../../src/shared/contracts/review.ts'
import { BRIDGE_SHIM } from './bridgeShim.ts'
import { chromiumMissing, launchChromium, watchConsole } from './browser.ts'
import { rendererDir, repoRoot, startHost, type TestHost } from './host.ts'

const shared = path.resolve(repoRoot, '../shared')
const raccoon = path.join(shared, 'data/raccoon')
const shots = path.join(repoRoot, 'test-results/e2e')

let host: TestHost

/** Chooses `file` in the dialog a chooser opens, as a person would, and waits until it shows. */
async function choose(testid: string, file: string): Promise<void> {
  host.choose(file)
  await page.getByTestId(`${testid}-choose`).click()
  await expect.poll(() => page.getByTestId(testid).textContent()).toContain(file)
}
let browser: Browser
let page: Page
let work: string
let consoleErrors: string[] = []

// The session must end without a console error (a failed request, an exception) after any test.
afterEach(() => {
  expect(consoleErrors).toEqual([])
})

/** What the store holds for an image, through the same route the page uses. */
async function detail(id: number): Promise<{ boxes: ReviewBox[]; file: string }> {
  const r = await host.services.router.dispatch('image.get', { imageId: id })
  if (!r.ok) throw new Error(r.error.message)
  return r.value as { boxes: ReviewBox[]; file: string }
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`) })
}

async function waitSaved(): Promise<void> {
  await page
    .getByTestId('save-state')
    .filter({ hasText: /^(All changes saved|Saved)$/ })
    .waitFor()
}

beforeAll(async () => {
  const missing = chromiumMissing()
  if (missing) throw new Error(missing)
  if (!existsSync(raccoon))
    throw new Error(`Shared data missing: ${raccoon} (tests read ../shared relative to the repo)`)
  if (!existsSync(path.join(rendererDir, 'index.html'))) {
    execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  }
  await ensureModel(defaultModel().id, { from: path.join(shared, 'models') })
  mkdirSync(shots, { recursive: true })

  // A small copy of the raccoon set: 8 photos and their labels, so the run stays quick.
  work = mkdtempSync(path.join(tmpdir(), 'camlabel-e2e-'))
  const images = path.join(work, 'raccoon/images')
  mkdirSync(images, { recursive: true })
  const rows = readFileSync(path.join(raccoon, 'labels.csv'), 'utf8').trim().split('\n').slice(1, 9)
  for (const row of rows) {
    const file = row.split(',')[0]!
    cpSync(path.join(raccoon, file), path.join(work, 'raccoon', file))
  }
  writeFileSync(path.join(work, 'raccoon/labels.csv'), ['file,label', ...rows].join('\n') + '\n')

  host = await startHost({ dataDir: path.join(work, 'appdata') })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  consoleErrors = watchConsole(page)
  await page.addInitScript({ content: BRIDGE_SHIM })
  await page.goto(host.url)
})

afterAll(async () => {
  await browser?.close()
  await host?.close()
})

describe('camlabel in Chromium against the test host', () => {
  test('create, propose, review by keyboard, drag, undo, reject, export COCO', async () => {
    // Start view: create a project from the folder with labels from the CSV.
    await choose('images-dir', path.join(work, 'raccoon/images'))
    await page.getByTestId('labels-csv').click()
    await choose('labels-path', path.join(work, 'raccoon/labels.csv'))
    await choose('project-path', path.join(work, 'raccoon.camlabel'))
    await expect.poll(() => page.getByTestId('model').inputValue()).toBe(defaultModel().id)
    await shot('1-start')
    await page.getByTestId('create-project').click()

    // Gallery: 8 images, none proposed yet; run the real model.
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(8)
    await page.getByTestId('run-proposals').click()
    await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
    await expect(page.getByTestId('job-done').textContent()).resolves.toMatch(
      /Proposed boxes for 8 images/,
    )
    await expect(page.getByTestId('provider').textContent()).resolves.toMatch(/CPU/)
    await page.getByTestId('filter-pending').click()
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(8)
    await page.getByTestId('filter-all').click()
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=gallery-item] img')].every(
        (i) => (i as HTMLImageElement).complete,
      ),
    )
    await shot('2-gallery')

    const ids = await page
      .getByTestId('gallery-item')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image-id'))))
    const before = await Promise.all(ids.slice(0, 4).map(detail))
    for (const d of before)
      expect(d.boxes.filter((b) => b.status === 'pending').length).toBeGreaterThan(0)

    // Annotate the first image; the CAM overlay and the proposals are shown.
    await page.getByTestId('gallery-item').first().click()
    await page.getByTestId('box-pending').first().waitFor()
    await expect(page.getByTestId('image-name').textContent()).resolves.toBe(before[0]!.file)
    await expect(page.getByTestId('cam-overlay').isVisible()).resolves.toBe(true)
    await shot('3-annotate')

    // Images 1 and 2: accept all and go on, by keyboard.
    await page.keyboard.press('Enter')
    await expect.poll(() => page.getByTestId('image-name').textContent()).toBe(before[1]!.file)
    await page.keyboard.press('Enter')
    await expect.poll(() => page.getByTestId('image-name').textContent()).toBe(before[2]!.file)

    // Image 3: drag the selected box's bottom-right corner, undo, drag again.
    const dragCorner = async (): Promise<void> => {
      const h = (await page.getByTestId('handle-se').boundingBox())!
      await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2)
      await page.mouse.down()
      await page.mouse.move(h.x - 40, h.y - 30, { steps: 5 })
      await page.mouse.up()
    }
    const pendingBefore = await page.getByTestId('box-pending').count()
    await dragCorner()
    await expect.poll(() => page.getByTestId('box-edited').count()).toBe(1)
    await page.keyboard.press('Control+z')
    await expect.poll(() => page.getByTestId('box-edited').count()).toBe(0)
    await expect.poll(() => page.getByTestId('box-pending').count()).toBe(pendingBefore)
    await waitSaved()
    expect((await detail(ids[2]!)).boxes).toEqual(before[2]!.boxes)
    await dragCorner()
    await expect.poll(() => page.getByTestId('box-edited').count()).toBe(1)
    await waitSaved()
    const afterDrag = (await detail(ids[2]!)).boxes
    const edited = afterDrag.find((b) => b.status === 'edited')!
    // The corner moved; the opposite corner stayed (up to the rounding to whole pixels).
    const original = before[2]!.boxes.find(
      (b) => Math.round(b.box.x0) === edited.box.x0 && Math.round(b.box.y0) === edited.box.y0,
    )!
    expect(original).toBeDefined()
    expect(edited.box.x1).toBeLessThan(original.box.x1 - 5)
    expect(edited.box.y1).toBeLessThan(original.box.y1 - 5)
    await shot('4-annotate-edited')
    await page.keyboard.press('Enter')
    await expect.poll(() => page.getByTestId('image-name').textContent()).toBe(before[3]!.file)

    // Image 4: reject the selected proposal, accept the rest, next.
    const rejectedId = before[3]!.boxes.find((b) => b.status === 'pending')!.id
    await page.keyboard.press('r')
    await waitSaved()
    await page.keyboard.press('Enter')
    const fifth = (await detail(ids[4]!)).file
    await expect.poll(() => page.getByTestId('image-name').textContent()).toBe(fifth)

    // The help overlay lists the shortcuts.
    await page.keyboard.press('?')
    await page.getByTestId('help').waitFor()
    await shot('5-help')
    await expect(page.getByTestId('help').textContent()).resolves.toMatch(/guided/i)
    await page.keyboard.press('Escape')

    // Image 5: flip to the guided (F-CAM) view: the heatmap becomes the full-resolution refined map
    // and the guided proposals are shown in place of the pending (bilinear) ones; flipping back
    // restores both.
    const overlaySize = (): Promise<number[]> =>
      page
        .getByTestId('cam-overlay')
        .evaluate((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])
    const rects = (testId: string): Promise<number[][]> =>
      page
        .getByTestId(testId)
        .evaluateAll((gs) =>
          gs.map((g) =>
            ['x', 'y', 'width', 'height'].map((k) =>
              Math.round(Number(g.querySelector('rect')!.getAttribute(k))),
            ),
          ),
        )
    const camSize = await overlaySize()
    expect(Math.max(...camSize)).toBeLessThan(32) // the stored low-resolution CAM
    const pendingRects = await rects('box-pending')
    expect(pendingRects.length).toBeGreaterThan(0)
    await page.keyboard.press('f')
    await page.getByTestId('box-preview').first().waitFor()
    // Refined at the working resolution: longest side 512, or the image's own size when smaller.
    const fifthDetail = (await host.services.router.dispatch('image.get', {
      imageId: ids[4]!,
    })) as {
      ok: true
      value: { width: number; height: number }
    }
    const { width: w5, height: h5 } = fifthDetail.value
    expect(Math.max(...(await overlaySize()))).toBe(Math.min(512, Math.max(w5, h5)))
    await expect(page.getByTestId('box-pending').count()).resolves.toBe(0)
    const guidedRects = await rects('box-preview')
    expect(guidedRects).not.toEqual(pendingRects)
    await shot('5b-annotate-guided')
    await page.getByTestId('view-bilinear').click()
    await expect.poll(() => page.getByTestId('box-preview').count()).toBe(0)
    expect(await overlaySize()).toEqual(camSize)
    expect(await rects('box-pending')).toEqual(pendingRects)
    // Guided again, and use its boxes: they become the pending ones; undo brings the old ones back.
    await page.getByTestId('view-guided').click()
    await page.getByTestId('use-preview').click()
    await expect.poll(() => page.getByTestId('box-preview').count()).toBe(0)
    expect(await rects('box-pending')).toEqual(guidedRects)
    await page.keyboard.press('Control+z')
    await expect.poll(() => page.getByTestId('box-preview').count()).toBe(guidedRects.length)
    await page.getByTestId('view-bilinear').click()
    expect(await rects('box-pending')).toEqual(pendingRects)

    // Export COCO and check the file's boxes against the store.
    await waitSaved()
    await page.getByTestId('open-export').click()
    await page.getByTestId('export-coco').click()
    // Before anything is written, the dialog says what the export holds: the 4 reviewed images.
    await expect
      .poll(() => page.getByTestId('export-plan').textContent())
      .toMatch(
        /Writes 4 images \(4 reviewed\) and \d+ boxes; 4 images not reviewed yet are left out/,
      )
    const out = path.join(work, 'export/annotations.json')
    await choose('export-path', out)
    await page.getByTestId('export-run').click()
    await page.getByTestId('export-result').waitFor()
    await expect(page.getByTestId('export-result').textContent()).resolves.toMatch(
      /for 4 images .*; 4 not reviewed yet left out/,
    )
    await shot('6-export')

    const coco = JSON.parse(readFileSync(out, 'utf8')) as {
      images: { id: number; file_name: string }[]
      annotations: { image_id: number; bbox: number[]; category_id: number }[]
      categories: { id: number; name: string }[]
    }
    expect(coco.images).toHaveLength(4)
    expect(coco.categories.map((c) => c.name)).toEqual(['raccoon'])
    const boxesOf = (file: string): number[][] => {
      const img = coco.images.find((i) => i.file_name === file)!
      return coco.annotations.filter((a) => a.image_id === img.id).map((a) => a.bbox)
    }
    const toCoco = (b: ReviewBox): number[] => [
      b.box.x0,
      b.box.y0,
      b.box.x1 - b.box.x0,
      b.box.y1 - b.box.y0,
    ]
    const close = (a: number[][], b: number[][]): void => {
      expect(a.length).toBe(b.length)
      a.forEach((x, i) => x.forEach((v, j) => expect(v).toBeCloseTo(b[i]![j]!, 1)))
    }
    // Accepted images: exactly their proposals.
    close(boxesOf(before[0]!.file), before[0]!.boxes.map(toCoco))
    close(boxesOf(before[1]!.file), before[1]!.boxes.map(toCoco))
    // The edited box is exported where it was dragged.
    expect(boxesOf(before[2]!.file)).toContainEqual(toCoco(edited))
    // The rejected box is not exported; the others of that image are.
    const kept = before[3]!.boxes.filter((b) => b.id !== rejectedId)
    close(boxesOf(before[3]!.file), kept.map(toCoco))
    // Images not reviewed are not in the export: they are not negatives (an option adds them).
    for (const id of ids.slice(4)) {
      const file = (await detail(id)).file
      expect(coco.images.find((i) => i.file_name === file)).toBeUndefined()
    }
  })

  test('a run cancelled from the job bar stops, and the gallery shows the images done so far', async () => {
    // A second project of 60 photos, created from the Projects tab.
    const images = path.join(work, 'many/images')
    mkdirSync(images, { recursive: true })
    const rows = readFileSync(path.join(raccoon, 'labels.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1, 61)
    for (const row of rows)
      cpSync(path.join(raccoon, row.split(',')[0]!), path.join(work, 'many', row.split(',')[0]!))
    writeFileSync(path.join(work, 'many/labels.csv'), ['file,label', ...rows].join('\n') + '\n')
    await page.keyboard.press('Escape') // closes the export dialog left open by the first test
    await page.getByTestId('export-dialog').waitFor({ state: 'detached' })
    await page.getByTestId('job-bar').getByRole('button', { name: 'Dismiss' }).click()
    await page.getByTestId('tab-start').click()
    await choose('images-dir', images)
    await page.getByTestId('labels-csv').click()
    await choose('labels-path', path.join(work, 'many/labels.csv'))
    await choose('project-path', path.join(work, 'many.camlabel'))
    await page.getByTestId('create-project').click()
    await expect.poll(() => page.getByTestId('run-proposals').textContent()).toMatch(/\(60\)/)

    await page.getByTestId('run-proposals').click()
    await expect
      .poll(
        async () =>
          Number(((await page.getByTestId('job-count').textContent()) ?? '0').split('/')[0]),
        { timeout: 60_000 },
      )
      .toBeGreaterThanOrEqual(3)
    await shot('7-job-running')
    await page.getByTestId('job-cancel').click()
    await page.getByTestId('job-done').waitFor({ timeout: 30_000 })
    const text = (await page.getByTestId('job-done').textContent()) ?? ''
    const done = Number(/Cancelled after (\d+) images/.exec(text)?.[1])
    expect(done).toBeGreaterThanOrEqual(3)
    expect(done).toBeLessThan(60)
    // The job stopped: nothing more is proposed after the cancel.
    const proposed = (): Promise<number> =>
      host.services.router
        .dispatch('gallery.ids', { status: 'pending' })
        .then((r) => (r.ok ? (r.value as { ids: number[] }).ids.length : -1))
    await new Promise((r) => setTimeout(r, 1500))
    expect(await proposed()).toBe(done)
    // The gallery shows them: the pending filter lists exactly those, the button offers the rest.
    await page.getByTestId('filter-pending').click()
    await expect
      .poll(() => page.getByTestId('filter-pending').textContent())
      .toMatch(new RegExp(`\\b${done}\\b`))
    await expect
      .poll(() => page.getByTestId('run-proposals').textContent())
      .toMatch(new RegExp(`\\(${60 - done}\\)`))
    await shot('8-gallery-after-cancel')
  })

  test('learn classes the model does not know, map one onto model classes, propose', async () => {
    // 16 ImageNet validation photos with coarse labels (classes the model does not have).
    const dev = path.join(shared, 'data/imagenet-val-dev')
    const all = readFileSync(path.join(dev, 'labels-coarse.csv'), 'utf8')
      .trim()
      .split(/\r?\n/)
      .slice(1)
    const take = { dog: 5, bird: 5, insect: 3, cat: 3 } as Record<string, number>
    const rows = all.filter((r) => {
      const label = r.split(',')[1]!
      if (!take[label]) return false
      take[label]--
      return true
    })
    expect(rows).toHaveLength(16)
    const root = path.join(work, 'coarse')
    mkdirSync(path.join(root, 'images'), { recursive: true })
    for (const row of rows)
      cpSync(path.join(dev, row.split(',')[0]!), path.join(root, row.split(',')[0]!))
    writeFileSync(path.join(root, 'labels.csv'), ['file,label', ...rows].join('\n') + '\n')

    const dismiss = page.getByTestId('job-bar').getByRole('button', { name: 'Dismiss' })
    if (await dismiss.count()) await dismiss.click()
    await page.getByTestId('tab-start').click()
    await choose('images-dir', path.join(root, 'images'))
    await page.getByTestId('labels-csv').click()
    await choose('labels-path', path.join(root, 'labels.csv'))
    await choose('project-path', path.join(work, 'coarse.camlabel'))
    await page.getByTestId('create-project').click()
    await page.getByTestId('filter-all').click() // the previous test left the pending filter on
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(16)

    // Classes, reached from the gallery: no head yet, so the unknown labels are class-agnostic.
    await page.getByTestId('open-classes').click()
    const row = (label: string) => page.locator(`[data-testid=class-row][data-label="${label}"]`)
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(4)
    const source = (label: string) =>
      page.getByTestId(`source-${label}`).getAttribute('data-source')
    for (const label of ['dog', 'bird', 'insect', 'cat'])
      expect(await source(label)).toBe('agnostic')

    // Learn classes: the features of the 16 images in the worker, then the head.
    await page.getByTestId('learn-classes').click()
    await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
    await expect(page.getByTestId('job-done').textContent()).resolves.toMatch(
      /Extracted features of 16 images/,
    )
    await expect(page.getByTestId('job-message').textContent()).resolves.toMatch(
      /Trained a head for 4 classes in \d+ ms/,
    )
    // The accuracy table: a cross-validated accuracy for each class, learned heads as sources,
    // and the too-few-images warning on the classes with 3 images.
    await expect.poll(() => page.getByTestId('head-accuracy').textContent()).toMatch(/^\d+%$/)
    for (const label of ['dog', 'bird', 'insect', 'cat']) {
      await expect.poll(() => page.getByTestId(`accuracy-${label}`).textContent()).toMatch(/\d+%/)
      expect(await source(label)).toBe('learned')
    }
    await expect(row('cat').textContent()).resolves.toMatch(/too few images/)
    await expect(row('dog').textContent()).resolves.not.toMatch(/too few images/)
    await shot('9-classes-learned')

    // A mapping naming no model class is refused with a message that says what to use.
    await page.getByTestId('mapping-dog').selectOption('model')
    await page.getByTestId('mapping-classes-dog').fill('kangaroo-dog')
    await page.getByTestId('mapping-apply-dog').click()
    await expect
      .poll(() => page.getByTestId('mapping-error-dog').textContent())
      .toMatch(/'kangaroo-dog', which is not a class of this model.*#N/)
    // dog → the model's dog breeds (#151-268).
    await page.getByTestId('mapping-classes-dog').fill('#151-268')
    await page.getByTestId('mapping-apply-dog').click()
    await expect.poll(() => source('dog')).toBe('model')
    await expect(page.getByTestId('mapping-error-dog').count()).resolves.toBe(0)

    // Propose: every image (dog ones from the model's classes, the rest from the learned head).
    await page.getByTestId('classes-propose').click()
    await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
    await expect(page.getByTestId('job-done').textContent()).resolves.toMatch(
      /Proposed boxes for 16 images/,
    )
    await expect.poll(() => row('dog').textContent()).toMatch(/Model class/)
    const sources = await host.services.router.dispatch('labels.sources', {})
    if (!sources.ok) throw new Error(sources.error.message)
    const byLabel = new Map(
      (
        sources.value as { labels: { label: string; source: string; proposedWith: string[] }[] }
      ).labels.map((l) => [l.label, l]),
    )
    expect(byLabel.get('dog')).toMatchObject({ source: 'model', proposedWith: ['model'] })
    for (const label of ['bird', 'insect', 'cat'])
      expect(byLabel.get(label)).toMatchObject({ source: 'learned', proposedWith: ['learned'] })
    await expect(page.getByTestId('classes-propose').isDisabled()).resolves.toBe(true)
    await shot('9b-classes-dog-from-model')

    // Back to auto for dog: the next run re-proposes only the 5 dog images, from the learned head.
    await page.getByTestId('mapping-dog').selectOption('auto')
    await page.getByTestId('mapping-apply-dog').click()
    await expect.poll(() => source('dog')).toBe('learned')
    await expect.poll(() => page.getByTestId('stale-dog').textContent()).toMatch(/5 images/)
    await expect(page.getByTestId('classes-propose').textContent()).resolves.toMatch(/\(5\)/)
    await shot('10-classes-mapping-changed')
    await page.getByTestId('classes-propose').click()
    await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
    await expect(page.getByTestId('job-done').textContent()).resolves.toMatch(
      /Proposed boxes for 5 images/,
    )
    await expect.poll(() => page.getByTestId('stale-dog').count()).toBe(0)
  })
})
