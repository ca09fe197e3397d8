/// <reference lib="dom" />
/**
 * UI benchmarks in headless Chromium against the test host (real renderer build, real services):
 *
 * 1. Gallery scroll: frame times while scrolling a 10 000-image project's virtualised gallery,
 *    next to two baselines measured in the same run and the same browser: an empty page scrolled
 *    the same way (the frame floor) and a non-virtualised grid of 2 000 of the same cells.
 * 2. Threshold slider: time from moving the slider on a 2000×1333 photo to the new boxes painted
 *    (input event → DOM updated → next animation frame), next to the route's compute time alone and
 *    the round trip of a trivial route (the transport's share).
 *
 * Run: `npx tsx bench/ui.bench.ts [gallery|slider]` (both by default; builds the renderer first if
 * out/renderer is missing).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { ensureModel } from '../src/main/engine/modelFetch.ts'
import { defaultModel } from '../src/main/engine/manifest.ts'
import { BRIDGE_SHIM } from '../tests/e2e/bridgeShim.ts'
import { launchChromium } from '../tests/e2e/browser.ts'
import { rendererDir, repoRoot, startHost } from '../tests/e2e/host.ts'

const shared = path.resolve(repoRoot, '../shared')
const raccoon = path.join(shared, 'data/raccoon')
// tsx keeps function names with a `__name` helper that page.evaluate would carry into the page.
const NAME_HELPER = 'window.__name = (f) => f'
const GALLERY_SIZE = 10_000
const DISTINCT = 24
const FRAMES = 240
const SCROLL_STEP = 120

function stats(xs: number[]): { mean: number; p50: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!
  return {
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    p50: q(0.5),
    p95: q(0.95),
    max: s[s.length - 1]!,
  }
}

function fmt(name: string, s: ReturnType<typeof stats>): string {
  return `${name.padEnd(46)} mean ${s.mean.toFixed(2).padStart(6)} ms  p50 ${s.p50.toFixed(2).padStart(6)}  p95 ${s.p95.toFixed(2).padStart(6)}  max ${s.max.toFixed(2).padStart(6)}`
}

/** Scrolls `selector` by SCROLL_STEP px per animation frame and returns the frame intervals. */
async function scrollFrames(page: Page, selector: string): Promise<number[]> {
  return page.evaluate(
    ({ selector, frames, step }) =>
      new Promise<number[]>((resolve) => {
        const el = document.querySelector(selector) as HTMLElement
        const times: number[] = []
        let last = performance.now()
        let n = 0
        const tick = (): void => {
          const now = performance.now()
          if (n > 0) times.push(now - last)
          last = now
          if (++n > frames) return resolve(times)
          el.scrollTop += step
          if (el.scrollTop + el.clientHeight >= el.scrollHeight - 1) el.scrollTop = 0
          requestAnimationFrame(tick)
        }
        requestAnimationFrame(tick)
      }),
    { selector, frames: FRAMES, step: SCROLL_STEP },
  )
}

/** Builds an image folder of GALLERY_SIZE entries: DISTINCT real photos and symlinks to them inside the root. */
function makeBigFolder(root: string, files: string[]): string[] {
  mkdirSync(path.join(root, 'real'), { recursive: true })
  mkdirSync(path.join(root, 'copies'), { recursive: true })
  for (const f of files) cpSync(path.join(raccoon, 'images', f), path.join(root, 'real', f))
  const all: string[] = files.map((f) => `real/${f}`)
  for (let i = all.length; i < GALLERY_SIZE; i++) {
    const src = files[i % files.length]!
    const name = `copies/${String(i).padStart(5, '0')}-${src}`
    symlinkSync(path.join('..', 'real', src), path.join(root, name))
    all.push(name)
  }
  return all
}

export async function run(parts: readonly string[] = ['gallery', 'slider']): Promise<void> {
  if (!existsSync(raccoon)) throw new Error(`Shared data missing: ${raccoon}`)
  if (!existsSync(path.join(rendererDir, 'index.html')))
    execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  await ensureModel(defaultModel().id, { from: path.join(shared, 'models') })
  const work = mkdtempSync(path.join(tmpdir(), 'camlabel-uibench-'))
  const host = await startHost({ dataDir: path.join(work, 'appdata') })
  const browser = await launchChromium()
  // Route outputs are checked by the host (checkOutput); the bench reads a few fields of them.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = async (route: string, input: unknown): Promise<any> => {
    const r = await host.services.router.dispatch(route, input)
    if (!r.ok) throw new Error(`${route}: ${r.error.message}`)
    return r.value
  }
  const waitJob = async (): Promise<void> => {
    const start = host.events.length
    for (;;) {
      if (host.events.slice(start).some((e) => e.type === 'job.done' || e.type === 'job.failed'))
        return
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const newPage = async (): Promise<Page> => {
    const p = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    await p.addInitScript({ content: BRIDGE_SHIM })
    await p.addInitScript({ content: NAME_HELPER })
    p.on('pageerror', (e) => console.error('page error:', e.message))
    p.on('crash', () => console.error('page crashed'))
    p.on('console', (m) => m.type() === 'error' && console.error('console:', m.text()))
    return p
  }
  try {
    if (parts.includes('gallery')) await galleryBench()
    if (parts.includes('slider')) await sliderBench()
  } finally {
    await browser.close()
    await host.close()
  }

  async function galleryBench(): Promise<void> {
    // ---- 1. gallery scroll ----------------------------------------------------------------
    const rows = readFileSync(path.join(raccoon, 'labels.csv'), 'utf8').trim().split('\n').slice(1)
    const distinct = rows.slice(0, DISTINCT).map((r) => path.basename(r.split(',')[0]!))
    const root = path.join(work, 'big')
    const all = makeBigFolder(root, distinct)
    writeFileSync(
      path.join(work, 'big.csv'),
      ['file,label', ...all.map((f) => `big/${f},raccoon`)].join('\n'),
    )
    let t = performance.now()
    const grants = host.services.context.grants
    await call('project.create', {
      images: grants.grant('folder', root).token,
      project: grants.grant('save', path.join(work, 'big.camlabel')).token,
      labels: { kind: 'csv', file: grants.grant('file', path.join(work, 'big.csv')).token },
    })
    console.log(
      `indexed ${GALLERY_SIZE} images in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    )
    // Real proposals for the distinct photos, copied to their symlinked duplicates (same pixels).
    const store = host.services.context.requireProject()
    const ids = store.gallery.ids({ sort: 'name' })
    t = performance.now()
    const { InferenceWorker } = await import('../src/main/jobs/worker.ts')
    const { modelIdentity } = await import('../src/main/engine/modelIdentity.ts')
    const identity = modelIdentity(defaultModel().id)
    const runInfo = { model: identity.ref, revision: identity.revision, threshold: 0.2 }
    type Result = Parameters<typeof store.runs.save>[2] extends infer L
      ? { key: string; error?: unknown; labels: L }
      : never
    const byFile = new Map<string, Result>()
    const worker = new InferenceWorker()
    for await (const r of worker.propose(
      distinct.map((f) => ({ key: f, path: path.join(root, 'real', f), labels: ['raccoon'] })),
      { model: identity, sources: new Map([['raccoon', { kind: 'agnostic' as const }]]) },
    )) {
      byFile.set(r.key, r)
    }
    await worker.close()
    store.transaction(() => {
      for (const id of ids) {
        const im = store.images.get(id)!
        const r = byFile.get(path.basename(im.file).replace(/^\d{5}-/, ''))
        if (r && !r.error) store.runs.save(id, runInfo, r.labels)
      }
    })
    console.log(
      `proposed ${DISTINCT} distinct photos and stored ${GALLERY_SIZE} results in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    )

    const page = await newPage()
    await page.goto(host.url)
    try {
      await page.getByTestId('gallery-item').first().waitFor()
    } catch (err) {
      await page.screenshot({ path: path.join(repoRoot, 'test-results/ui-bench-failure.png') })
      throw err
    }
    // Warm the thumbnail cache (DISTINCT distinct pictures) with one pass.
    await scrollFrames(page, '[data-testid=gallery-grid]')
    await page.evaluate(
      () => ((document.querySelector('[data-testid=gallery-grid]') as HTMLElement).scrollTop = 0),
    )
    await page.waitForTimeout(500)
    const domCount = await page.locator('[data-testid=gallery-grid] .cell').count()

    // Baselines in the same browser: an empty scroller, and 2 000 non-virtualised cells.
    const empty = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    await empty.addInitScript({ content: NAME_HELPER })
    await empty.goto(host.url + 'thumb/' + ids[0])
    await empty.evaluate(() => {
      document.body.innerHTML =
        '<div id="s" style="height:900px;overflow:auto"><div style="height:2000000px"></div></div>'
    })
    const base = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    await base.addInitScript({ content: NAME_HELPER })
    await base.goto(host.url + 'thumb/' + ids[0]) // same origin, so thumbnails load
    await base.evaluate(
      (ids: number[]) => {
        const cells = ids
          .map(
            (id) =>
              `<div style="width:184px;height:174px;margin:6px;display:inline-block;position:relative;background:#1d2024"><img src="/thumb1x/${id}" style="width:170px;height:134px;object-fit:contain"><svg viewBox="0 0 500 400" style="position:absolute;left:6px;top:6px;width:170px;height:134px"><rect x="50" y="50" width="300" height="200" fill="none" stroke="#f0c04a" stroke-dasharray="4 3"/></svg><div>image ${id}</div></div>`,
          )
          .join('')
        document.body.innerHTML = `<div id="s" style="height:900px;overflow:auto;background:#15171a">${cells}</div>`
      },
      ids.slice(0, 2000),
    )
    await base.waitForTimeout(1500)

    // Interleaved rounds, so the machine's load (shared cores) weighs on every variant alike.
    const grid = '[data-testid=gallery-grid]'
    const toTop = (p: Page, sel: string): Promise<unknown> =>
      p.evaluate((q) => ((document.querySelector(q) as HTMLElement).scrollTop = 0), sel)
    const series = {
      virtual: [] as number[],
      layers: [] as number[],
      noImages: [] as number[],
      empty: [] as number[],
      flat: [] as number[],
    }
    const variant = async (css: string, into: number[]): Promise<void> => {
      const tag = await page.addStyleTag({ content: css })
      await toTop(page, grid)
      await page.waitForTimeout(200)
      into.push(...(await scrollFrames(page, grid)))
      await tag.evaluate((t) => (t as Element).remove())
    }
    for (let round = 0; round < 3; round++) {
      await toTop(page, grid)
      await page.waitForTimeout(200)
      series.virtual.push(...(await scrollFrames(page, grid)))
      // Variants, to see where the time goes: no compositing layer per cell; no thumbnails.
      await variant('.cell { will-change: auto !important }', series.layers)
      await variant('.thumb img { display: none !important }', series.noImages)
      await toTop(empty, '#s')
      series.empty.push(...(await scrollFrames(empty, '#s')))
      await toTop(base, '#s')
      await base.waitForTimeout(200)
      series.flat.push(...(await scrollFrames(base, '#s')))
    }

    console.log(
      `\nGallery scroll, 3 interleaved rounds of ${FRAMES} frames at ${SCROLL_STEP} px/frame (frame interval):`,
    )
    console.log(
      fmt(
        `virtualised gallery, ${GALLERY_SIZE} images (${domCount} cells in DOM)`,
        stats(series.virtual),
      ),
    )
    console.log(fmt('  variant: without will-change (no layer per cell)', stats(series.layers)))
    console.log(fmt('  variant: thumbnails hidden', stats(series.noImages)))
    console.log(fmt('baseline: empty page scroll', stats(series.empty)))
    console.log(
      fmt('baseline: 2 000 plain cells (same 1x thumbs), not virtualised', stats(series.flat)),
    )
    await empty.close()
    await page.close()
    await base.close()
  }

  async function sliderBench(): Promise<void> {
    // ---- 2. threshold slider on a 2000×1333 photo -------------------------------------------
    const small = path.join(work, 'photo')
    mkdirSync(path.join(small, 'img'), { recursive: true })
    cpSync(path.join(raccoon, 'images/raccoon-183.jpg'), path.join(small, 'img/raccoon-183.jpg'))
    writeFileSync(path.join(small, 'labels.csv'), 'file,label\nimg/raccoon-183.jpg,raccoon\n')
    const grants = host.services.context.grants
    await call('project.create', {
      images: grants.grant('folder', path.join(small, 'img')).token,
      project: grants.grant('save', path.join(work, 'photo.camlabel')).token,
      labels: { kind: 'csv', file: grants.grant('file', path.join(small, 'labels.csv')).token },
    })
    const job = call('job.propose', {})
    await job
    await waitJob()
    const [photoId] = (await call('gallery.ids', {})).ids as number[]
    const detail = await call('image.get', { imageId: photoId })
    if (detail.width !== 2000)
      throw new Error(`expected a 2000-pixel-wide photo, got ${detail.width}`)

    const page = await newPage()
    await page.goto(host.url)
    await page.getByTestId('gallery-item').first().click()
    await page.getByTestId('threshold').waitFor()
    await page.waitForTimeout(300)
    const latencies: number[] = await page.evaluate(async (n: number) => {
      const slider = document.querySelector('[data-testid=threshold]') as HTMLInputElement
      const svg = document.querySelector('[data-testid=stage] svg') as SVGSVGElement
      const out: number[] = []
      for (let i = 0; i < n; i++) {
        const value = (0.1 + (i % 12) * 0.05).toFixed(2)
        const t0 = performance.now()
        const changed = new Promise<void>((resolve) => {
          const mo = new MutationObserver(() => {
            mo.disconnect()
            resolve()
          })
          mo.observe(svg, { subtree: true, childList: true, attributes: true })
        })
        slider.value = value
        slider.dispatchEvent(new Event('input', { bubbles: true }))
        await changed
        await new Promise((r) => requestAnimationFrame(() => r(null)))
        out.push(performance.now() - t0)
        await new Promise((r) => setTimeout(r, 30))
      }
      return out
    }, 40)
    // Baseline: a round trip to main for the image's CAMs and boxes (image.get), which any
    // recompute done in main instead of the page would pay at least.
    const routeMs: number[] = await page.evaluate(async (imageId: number) => {
      const bridge = (
        window as unknown as { camlabel: { invoke: (r: string, i: unknown) => Promise<unknown> } }
      ).camlabel
      const out: number[] = []
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now()
        await bridge.invoke('image.get', { imageId })
        out.push(performance.now() - t0)
      }
      return out
    }, photoId)
    const rtt: number[] = await page.evaluate(async () => {
      const out: number[] = []
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now()
        await (
          window as unknown as { camlabel: { invoke: (r: string, i: unknown) => Promise<unknown> } }
        ).camlabel.invoke('project.summary', {})
        out.push(performance.now() - t0)
      }
      return out
    })
    // The recompute itself (what the renderer runs per input event), at the pipeline's working size
    // and at half of it, in this V8.
    const { proposalsFromCam } = await import('../src/shared/cam/proposals.ts')
    const { DEFAULT_PROPOSAL_OPTIONS } = await import('../src/shared/cam/types.ts')
    const cam0 = detail.cams[0]
    const camMap = {
      data: Float32Array.from(cam0.data as number[]),
      width: cam0.width,
      height: cam0.height,
    }
    const computeAt = (size: number): number[] => {
      const out: number[] = []
      for (let i = 0; i < 60; i++) {
        const t0 = performance.now()
        proposalsFromCam(
          camMap,
          detail.width,
          detail.height,
          { ...DEFAULT_PROPOSAL_OPTIONS, threshold: 0.1 + (i % 12) * 0.05, workingSize: size },
          cam0.confidence,
        )
        out.push(performance.now() - t0)
      }
      return out.slice(10)
    }
    console.log(
      `\nThreshold slider on a ${detail.width}×${detail.height} photo (${detail.cams.length} CAM, 40 moves):`,
    )
    console.log(fmt('slider input → boxes painted (renderer, drag at 256)', stats(latencies)))
    console.log(fmt('  of which: proposalsFromCam at 512 (Node V8)', stats(computeAt(512))))
    console.log(fmt('  proposalsFromCam at 256 (Node V8)', stats(computeAt(256))))
    console.log(fmt('  baseline: image.get round trip (CAMs, boxes)', stats(routeMs)))
    console.log(fmt('  baseline: round trip of a trivial route', stats(rtt)))
    console.log('  target: within one 16.7 ms frame')

    // Guided (F-CAM) view of the same photo: the image.refined route, first call (decodes the guide)
    // and later calls (guide cached), next to the bilinear upscale + boxes of the same CAM.
    const decode: number[] = []
    const refine: number[] = []
    const roundTrip: number[] = []
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now()
      const r = await call('image.refined', { imageId: photoId, threshold: 0.2 })
      roundTrip.push(performance.now() - t0)
      decode.push(r.decodeMs)
      refine.push(r.refineMs)
    }
    console.log(
      `\nGuided view of the ${detail.width}×${detail.height} photo (image.refined in main, 12 calls):`,
    )
    console.log(fmt('  refineCam + boxes at 512', stats(refine)))
    console.log(
      `  guide decode (sharp), first call only: ${decode[0]!.toFixed(1)} ms (cached after)`,
    )
    console.log(fmt('  whole route in process', stats(roundTrip)))
    console.log(fmt('  baseline: bilinear upscale + boxes at 512', stats(computeAt(512))))
    console.log('  target: under 100 ms')
    await page.close()
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await run(process.argv.length > 2 ? process.argv.slice(2) : undefined)
}
