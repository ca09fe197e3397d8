/// <reference lib="dom" />
/**
 * A day of review as an annotator has it, in the production renderer (headless Debian Chromium)
 * against the test host's real services: each defect a new user met (short jobs that hung, the
 * import report thrown away, half-made projects, unreadable images shown as pending work, the
 * keyboard lost after a dropdown, Enter accepting junk, command-line words, a guided list that
 * disagreed with the canvas), and the everyday features of other annotation tools (labels as
 * objects with colours and keys, a file list, zoom controls, box attributes, the system theme,
 * Getting started). No test may leave a console error. Screenshots go to test-results/e2e/.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
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
const badInputs = path.join(shared, 'data/bad-inputs')
const shots = path.join(repoRoot, 'test-results/e2e')

let host: TestHost
let browser: Browser
let page: Page
let work: string
let errors: string[] = []

afterEach(() => {
  expect(errors).toEqual([])
})

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `review-${name}.png`) })
}

/** Chooses `file` in the dialog a chooser opens, as a person would, and waits until it shows. */
async function choose(testid: string, file: string): Promise<void> {
  host.choose(file)
  await page.getByTestId(`${testid}-choose`).click()
  await expect.poll(() => page.getByTestId(testid).textContent()).toContain(file)
}

async function route<T>(name: string, input: unknown): Promise<T> {
  const r = await host.services.router.dispatch(name as never, input as never)
  if (!r.ok) throw new Error(r.error.message)
  return r.value as T
}

async function detail(id: number): Promise<{ boxes: ReviewBox[]; file: string }> {
  return route('image.get', { imageId: id })
}

async function ids(): Promise<number[]> {
  return (await route<{ ids: number[] }>('gallery.ids', { sort: 'name' })).ids
}

/** A fresh project from the Projects tab; `labels` names the label source button. */
async function createProject(
  images: string,
  labels: 'folders' | 'csv',
  projectFile: string,
  csv?: string,
): Promise<void> {
  await page.getByTestId('tab-start').click()
  await choose('images-dir', images)
  await page.getByTestId(`labels-${labels}`).click()
  if (csv) await choose('labels-path', csv)
  await choose('project-path', projectFile)
  await page.getByTestId('create-project').click()
}

async function waitSaved(): Promise<void> {
  await page.getByTestId('save-state').filter({ hasText: 'All changes saved' }).waitFor()
}

async function propose(): Promise<void> {
  await page.getByTestId('tab-gallery').click()
  await page.getByTestId('run-proposals').click()
  await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
}

/** 12 raccoon photos (raccoon-1 … raccoon-12), `background` for 3 of them: two classes. */
function raccoonCopy(name: string, withBackground: boolean): { images: string; csv: string } {
  const root = path.join(work, name)
  const images = path.join(root, 'images')
  mkdirSync(images, { recursive: true })
  const rows: string[] = []
  for (let i = 1; i <= 12; i++) {
    cpSync(path.join(raccoon, `images/raccoon-${i}.jpg`), path.join(images, `raccoon-${i}.jpg`))
    rows.push(`images/raccoon-${i}.jpg,${withBackground && i > 9 ? 'background' : 'raccoon'}`)
  }
  writeFileSync(path.join(root, 'labels.csv'), ['file,label', ...rows].join('\n') + '\n')
  return { images, csv: path.join(root, 'labels.csv') }
}

beforeAll(async () => {
  const missing = chromiumMissing()
  if (missing) throw new Error(missing)
  for (const p of [raccoon, badInputs])
    if (!existsSync(p)) throw new Error(`Shared data missing: ${p} (tests read ../shared)`)
  if (!existsSync(path.join(rendererDir, 'index.html')))
    execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  await ensureModel(defaultModel().id, { from: path.join(shared, 'models') })
  mkdirSync(shots, { recursive: true })
  work = mkdtempSync(path.join(tmpdir(), 'camlabel-review-'))
  host = await startHost({ dataDir: path.join(work, 'appdata') })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  errors = watchConsole(page)
  await page.addInitScript({ content: BRIDGE_SHIM })
  await page.goto(host.url)
})

afterAll(async () => {
  await browser?.close()
  await host?.close()
})

describe('a day of review', () => {
  test('a failed create leaves nothing behind; folder names on a flat folder say why', async () => {
    const { images, csv } = raccoonCopy('flat', false)
    const file = path.join(work, 'flat.camlabel')
    await createProject(images, 'folders', file)
    await expect
      .poll(() => page.getByTestId('start-error').textContent())
      .toMatch(/not in sub-folders, so folder names give no labels/)
    await shot('1-flat-folder-refused')
    expect(existsSync(file)).toBe(false)
    // The retry at the same place works: no "already exists".
    await page.getByTestId('labels-csv').click()
    await choose('labels-path', csv)
    await page.getByTestId('create-project').click()
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(12)
    // Names sort as people count: raccoon-2 before raccoon-10.
    const names = await page
      .getByTestId('gallery-item')
      .evaluateAll((cells) => cells.map((c) => c.querySelector('.file')?.textContent))
    expect(names.slice(0, 3)).toEqual(['raccoon-1.jpg', 'raccoon-2.jpg', 'raccoon-3.jpg'])
    expect(names.at(-1)).toBe('raccoon-12.jpg')
  })

  test('the import report is shown after a create, and kept in the project', async () => {
    const root = path.join(work, 'bad')
    cpSync(badInputs, root, { recursive: true })
    await createProject(
      path.join(root, 'images'),
      'csv',
      path.join(work, 'bad.camlabel'),
      path.join(root, 'labels.csv'),
    )
    const summary = page.getByTestId('import-summary')
    await expect.poll(() => summary.textContent()).toMatch(/Imported \d+ images .* problems/)
    await page.getByTestId('show-import-problems').click()
    const problems = page.getByTestId('import-problems')
    await expect.poll(() => problems.textContent()).toMatch(/missing\.jpg/)
    expect(await problems.textContent()).toMatch(/labels\.csv:\d+/)
    await shot('2-import-report')
    await page.getByTestId('import-report-close').click()
    await page.getByTestId('dismiss-import-summary').click()
    // Later, from the project.
    await page.getByTestId('open-import-report').click()
    await expect.poll(() => problems.textContent()).toMatch(/missing\.jpg/)
    await page.getByTestId('import-report-close').click()
  })

  test('unreadable images get their own status, filter and count, and no broken thumbnail', async () => {
    await propose()
    const done = await page.getByTestId('job-done').textContent()
    expect(done).toMatch(/could not be read: .*truncated\.jpg/)
    const filter = page.getByTestId('filter-unreadable')
    await expect.poll(() => filter.textContent()).toMatch(/Could not be read\s+\d/)
    await filter.click()
    await expect.poll(() => page.getByTestId('cell-unreadable').count()).toBeGreaterThan(0)
    expect(await page.getByTestId('cell-unreadable').count()).toBe(
      await page.getByTestId('gallery-item').count(),
    )
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=gallery-item] img')].every(
        (i) => (i as HTMLImageElement).complete,
      ),
    )
    await shot('3-unreadable')
    await page.getByTestId('filter-all').click()
  })

  test('short jobs end in the UI: learning with one class is disabled with the reason; a quick retrain ends', async () => {
    // The bad-inputs project has one label only.
    await page.getByTestId('tab-classes').click()
    await expect
      .poll(() => page.getByTestId('learn-blocked').textContent())
      .toMatch(/Only one label \('raccoon'\)/)
    expect(await page.getByTestId('learn-classes').isDisabled()).toBe(true)
    // Two classes: learn (features extracted), then retrain — it ends before its start answers.
    const { images, csv } = raccoonCopy('two', true)
    await createProject(images, 'csv', path.join(work, 'two.camlabel'), csv)
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(12)
    await page.getByTestId('tab-classes').click()
    await page.getByTestId('learn-classes').click()
    await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
    await page.getByTestId('learn-classes').click()
    await page.getByTestId('job-done').waitFor({ timeout: 30_000 })
    await page.waitForTimeout(1500)
    expect(await page.getByTestId('learn-classes').textContent()).toMatch(/Retrain classes/)
    expect(await page.getByTestId('job-bar').textContent()).not.toMatch(/Learning…|Starting/)
    expect(await page.getByTestId('learn-classes').isDisabled()).toBe(false)
  })

  test('the keyboard works after a box’s class dropdown and after clicking the image', async () => {
    await propose()
    await page.getByTestId('gallery-item').first().click()
    await page.getByTestId('box-list').locator('li').first().waitFor()
    const first = page.getByTestId('box-list').locator('li').first()
    const select = first.locator('select')
    await select.selectOption('background')
    await select.selectOption('raccoon')
    await page.keyboard.press('a')
    await expect.poll(() => first.getAttribute('data-status')).toMatch(/accepted|edited/)
    await page.getByTestId('stage').click({ position: { x: 5, y: 5 } })
    await page.keyboard.press('n')
    await expect.poll(() => page.getByTestId('draw').getAttribute('class')).toMatch(/on/)
    await page.keyboard.press('Escape')
    await waitSaved()
  })

  test('Enter does not accept low-score extras: they are hidden, shown on demand, rejected', async () => {
    // A high bar makes every image's extra proposals "low": only each label's best is shown.
    await page.getByTestId('min-score').fill('0.9')
    await page.getByTestId('min-score').dispatchEvent('change')
    const all = await ids()
    let target = -1
    for (const id of all) {
      const pending = (await detail(id)).boxes.filter((b) => b.status === 'pending')
      const labels = new Set(pending.map((b) => b.label))
      if (pending.length > labels.size) {
        target = id
        break
      }
    }
    expect(target).toBeGreaterThan(0)
    await page.getByTestId('tab-gallery').click()
    await page.locator(`[data-testid=gallery-item][data-image-id="${target}"]`).click()
    const note = page.getByTestId('low-score-note')
    await expect.poll(() => note.textContent()).toMatch(/under 0\.90 hidden/)
    const shown = await page.getByTestId('box-pending').count()
    await page.getByTestId('toggle-low').click()
    await expect.poll(() => page.getByTestId('box-pending').count()).toBeGreaterThan(shown)
    await page.getByTestId('toggle-low').click()
    await shot('4-low-score-hidden')
    await page.keyboard.press('Enter')
    await expect
      .poll(async () => (await detail(target)).boxes.some((b) => b.status === 'pending'))
      .toBe(false)
    const after = (await detail(target)).boxes
    expect(after.filter((b) => b.status === 'accepted')).toHaveLength(shown)
    expect(after.filter((b) => b.status === 'rejected').length).toBeGreaterThan(0)
    await page.getByTestId('min-score').fill('0.1')
    await page.getByTestId('min-score').dispatchEvent('change')
  })

  test('the guided view lists what the canvas shows', async () => {
    await page.getByTestId('view-guided').click()
    await expect.poll(() => page.getByTestId('box-preview').count()).toBeGreaterThan(0)
    const canvas = await page.getByTestId('box-preview').count()
    expect(await page.getByTestId('preview-row').count()).toBe(canvas)
    expect(await page.getByTestId('box-list').locator('li[data-status=pending]').count()).toBe(0)
    await shot('5-guided-list')
    await page.getByTestId('view-bilinear').click()
  })

  test('zoom controls, cursor position, file list and box attributes', async () => {
    await page.getByTestId('zoom-actual').click()
    await expect.poll(() => page.getByTestId('zoom-level').textContent()).toBe('100%')
    await page.getByTestId('zoom-in').click()
    await expect.poll(() => page.getByTestId('zoom-level').textContent()).toBe('125%')
    await page.getByTestId('zoom-fit').click()
    const stage = await page.getByTestId('stage').boundingBox()
    await page.mouse.move(stage!.x + stage!.width / 2, stage!.y + stage!.height / 2)
    await expect
      .poll(() => page.getByTestId('cursor-position').textContent())
      .toMatch(/^\d+, \d+ px$/)
    // The file list: its filter is the gallery's; arrows and Enter open an image.
    await page.getByTestId('file-search').fill('raccoon-1')
    await expect.poll(() => page.getByTestId('file-rows').locator('button').count()).toBe(4) // 1, 10, 11, 12
    await page.getByTestId('file-search').fill('')
    await expect.poll(() => page.getByTestId('file-rows').locator('button').count()).toBe(12)
    const before = await page.getByTestId('image-name').textContent()
    await page.getByTestId('file-rows').focus()
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press('Enter')
    await expect.poll(() => page.getByTestId('image-name').textContent()).not.toBe(before)
    // Attributes of the selected box, kept in the store and written to VOC.
    await page.getByTestId('box-list').locator('li').first().click()
    await page.getByTestId('attr-truncated').check()
    await page.getByTestId('attr-occluded').check()
    await waitSaved()
    const withAttrs = (await Promise.all((await ids()).map((i) => detail(i)))).flatMap((d) =>
      d.boxes.filter((b) => b.attributes?.truncated && b.attributes?.occluded),
    )
    expect(withAttrs).toHaveLength(1)
    await shot('6-zoom-files-attributes')
    const voc = path.join(work, 'attrs-voc')
    host.choose(voc)
    await page.getByTestId('open-export').click()
    await page.getByTestId('export-voc').click()
    // The image still has pending proposals: not reviewed yet, so included on purpose.
    await page.getByTestId('export-unreviewed').check()
    await page.getByTestId('export-path-choose').click()
    await expect.poll(() => page.getByTestId('export-path').textContent()).toContain(voc)
    await page.getByTestId('export-run').click()
    await page.getByTestId('export-result').waitFor()
    expect(await page.getByTestId('export-result').textContent()).not.toMatch(/\(1 files\)/)
    const xmls = readdirXml(path.join(voc, 'Annotations'))
    expect(
      xmls.some((x) => /<truncated>1<\/truncated>[\s\S]*<occluded>1<\/occluded>/.test(x)),
    ).toBe(true)
    // Exporting there again without Replace: the app's words, not the command line's.
    await page.getByTestId('export-run').click()
    await expect
      .poll(() => page.getByTestId('export-error').textContent())
      .toMatch(/already exists/)
    const text = await page.getByTestId('export-error').textContent()
    expect(text).not.toMatch(/--overwrite|--out|camlabel init/)
    expect(text).toMatch(/Replace/)
    await page.keyboard.press('Escape')
  })

  test('labels: add, rename (boxes kept), merge, delete with confirmation; colours and keys', async () => {
    await page.getByTestId('tab-classes').click()
    await page.getByTestId('add-label-name').fill('cat')
    await page.getByTestId('add-label').click()
    await expect.poll(() => page.getByTestId('label-item').count()).toBe(3)
    const kept = async () =>
      (await Promise.all((await ids()).map((i) => detail(i)))).flatMap((d) =>
        d.boxes.filter((b) => b.status !== 'rejected' && b.status !== 'pending'),
      )
    const keptBefore = (await kept()).length
    expect(keptBefore).toBeGreaterThan(0)
    // Rename raccoon → procyon: every box keeps its place.
    await page.getByTestId('rename-raccoon').click()
    await page.getByTestId('rename-input').fill('procyon')
    await page.getByTestId('rename-confirm').click()
    await expect
      .poll(() => page.locator('[data-testid=label-item][data-label=procyon]').count())
      .toBe(1)
    expect((await kept()).filter((b) => b.label === 'procyon')).toHaveLength(keptBefore)
    // Rename cat onto procyon: a merge, said before it happens.
    await page.getByTestId('rename-cat').click()
    await page.getByTestId('rename-input').fill('procyon')
    await page.getByTestId('rename-confirm').click()
    await expect
      .poll(() => page.getByTestId('merge-note').textContent())
      .toMatch(/becomes 'procyon'/)
    await page.getByTestId('rename-confirm').click()
    await expect.poll(() => page.getByTestId('label-item').count()).toBe(2)
    // Delete background, after the confirmation that counts what goes.
    await page.getByTestId('delete-background').click()
    await expect
      .poll(() => page.getByTestId('delete-note').textContent())
      .toMatch(/Delete 'background' with its \d+ boxes/)
    await shot('7-labels')
    await page.getByTestId('delete-confirm').click()
    await expect.poll(() => page.getByTestId('label-item').count()).toBe(1)
    // Keys and colours: the label's key beside it, its colour on its boxes.
    expect(await page.getByTestId('label-item').locator('kbd').textContent()).toBe('1')
    await page.getByTestId('tab-gallery').click()
    await page.getByTestId('gallery-item').first().click()
    const swatch = await page
      .getByTestId('label-row')
      .first()
      .locator('.swatch')
      .evaluate((s) => getComputedStyle(s).backgroundColor)
    // Polled: the opened image's boxes are drawn a frame after the click (under load, later).
    await expect
      .poll(() =>
        page
          .locator('[data-testid=stage] g.box rect')
          .first()
          .evaluate((r) => getComputedStyle(r).stroke),
      )
      .toBe(swatch)
    // A box of a new label, while annotating.
    await page.getByTestId('new-label').click()
    await page.getByTestId('new-label-name').fill('lookalike')
    await page.getByTestId('new-label-add').click()
    await expect.poll(() => page.getByTestId('label-row').count()).toBe(2)
  })

  test('the gallery by keyboard, the system theme, Getting started and empty states', async () => {
    await page.getByTestId('tab-gallery').click()
    // Each key's move is awaited before the next read: under load the focus and the opened image
    // follow a frame or more after the key.
    const focusedId = () => page.locator('[data-focused]').getAttribute('data-image-id')
    await page.keyboard.press('ArrowRight')
    await expect.poll(() => page.locator('[data-focused]').count()).toBe(1)
    const before = await focusedId()
    await page.keyboard.press('ArrowRight')
    await expect.poll(focusedId).not.toBe(before)
    const focused = await focusedId()
    await page.keyboard.press('Enter')
    await page.getByTestId('file-current').waitFor()
    const file = (await detail(Number(focused))).file
    await expect.poll(() => page.getByTestId('image-name').textContent()).toBe(file)
    // The toolbar, propose button included, stays on one line at this width.
    await page.getByTestId('tab-gallery').click()
    const button = await page.getByTestId('run-proposals').boundingBox()
    const first = await page.getByTestId('filter-all').boundingBox()
    expect(button!.height).toBeLessThan(40)
    expect(Math.abs(button!.y - first!.y)).toBeLessThan(10)
    // Light and dark follow the system.
    const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)
    await page.emulateMedia({ colorScheme: 'light' })
    const light = await bg()
    await page.emulateMedia({ colorScheme: 'dark' })
    const dark = await bg()
    expect(light).not.toBe(dark)
    await shot('8-gallery-dark')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.getByTestId('tab-guide').click()
    await expect.poll(() => page.getByTestId('guide').locator('ol > li').count()).toBe(5)
    await shot('9-getting-started')
    // An empty project says what to do.
    const empty = path.join(work, 'empty/images')
    mkdirSync(path.join(empty, 'x'), { recursive: true })
    await createProject(empty, 'folders', path.join(work, 'empty.camlabel'))
    await expect.poll(() => page.getByTestId('gallery-empty').textContent()).toMatch(/No images/)
    await page.getByTestId('tab-classes').click()
    await expect.poll(() => page.getByTestId('labels-empty').count()).toBe(1)
    await shot('10-empty-project')
  })

  test('reviewed images teach the proposals of the rest, in the background; the switch turns it off', async () => {
    const { images, csv } = raccoonCopy('learn', false)
    await createProject(images, 'csv', path.join(work, 'learn.camlabel'), csv)
    await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(12)
    const text = page.getByTestId('review-learning-text')
    await expect.poll(() => text.textContent()).toMatch(/starts once 2 images with boxes/)
    await propose()
    const before = await Promise.all((await ids()).map(async (id) => (await detail(id)).boxes))
    // Review two images as a user does: open the first, Enter twice (accept all, next), each
    // once its boxes are shown (an Enter before they load would accept none).
    const shown = async (): Promise<string> => {
      const name = (await page.getByTestId('image-name').textContent()) ?? ''
      const boxes = await page.getByTestId('box-list').locator('li').count()
      return boxes > 0 ? name : ''
    }
    await page.getByTestId('tab-gallery').click()
    await page.getByTestId('gallery-item').first().click()
    await waitSaved()
    await expect.poll(shown).not.toBe('')
    const first = await shown()
    await page.keyboard.press('Enter')
    await waitSaved()
    await expect.poll(async () => ['', first].includes(await shown())).toBe(false)
    await page.keyboard.press('Enter')
    await waitSaved()
    const done = page.getByTestId('job-message')
    await expect
      .poll(() => done.textContent(), { timeout: 60_000 })
      .toMatch(/learned from 2 reviewed images.* — proposals for \d+ images updated/)
    await shot('11-learned-from-reviews')
    const all = await ids()
    const after = await Promise.all(all.map(async (id) => (await detail(id)).boxes))
    const boxesOf = (list: ReviewBox[]) => list.map((b) => b.box)
    // The two reviewed images kept their boxes, now accepted; images not reviewed got new ones.
    const reviewed = after.flatMap((list, i) =>
      list.length > 0 && list.every((b) => b.status === 'accepted') ? [i] : [],
    )
    expect(reviewed).toHaveLength(2)
    for (const i of reviewed) expect(boxesOf(after[i]!)).toEqual(boxesOf(before[i]!))
    const unreviewed = all.map((_, i) => i).filter((i) => !reviewed.includes(i))
    expect(unreviewed.some((i) => JSON.stringify(after[i]) !== JSON.stringify(before[i]))).toBe(
      true,
    )
    await page.getByTestId('tab-gallery').click()
    await expect.poll(() => text.textContent()).toMatch(/^learned from 2 reviewed images/)
    await page.getByTestId('review-learning-toggle').uncheck()
    await expect
      .poll(() => done.textContent(), { timeout: 60_000 })
      .toMatch(/Learning from reviews is off — \d+ images back to plain proposals/)
    await expect.poll(() => text.textContent()).toMatch(/^off/)
    const plain = await Promise.all(
      all.map(async (id) => (await detail(id)).boxes.map((b) => b.box)),
    )
    for (const i of [3, 4, 5]) expect(plain[i]).toEqual(before[i]!.map((b) => b.box))
  })
})

function readdirXml(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.xml'))
    .map((e) => readFileSync(path.join(e.parentPath, e.name), 'utf8'))
}
