/**
 * Guided upscaling (refineCam) against bilinear upscaling, ms per image at a 512-pixel working
 * resolution, on one thread (the JS thread: both are single-threaded pure code), in the same run.
 * CAMs are the real class-agnostic CAMs of SqueezeNet on raccoon photos (inference is not timed).
 * Each figure is the median over rounds of the mean over the images, so a busy machine's stalls
 * show less; the CPU time of the process over the same loop is printed too, since on a shared machine
 * wall time also counts the time other processes held the core.
 */
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { readdirSync } from 'node:fs'
import sharp from 'sharp'
import { proposalsFromMap } from '../src/shared/cam/boxes.ts'
import { agnosticCam } from '../src/main/engine/cam.ts'
import { prepareImage } from '../src/main/engine/preprocess.ts'
import { normaliseByMax } from '../src/shared/cam/proposals.ts'
import { refineCam, type GuideImage } from '../src/main/engine/refine.ts'
import { openModel } from '../src/main/engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D } from '../src/main/engine/types.ts'
import { resizeBilinear } from '../src/shared/cam/upscale.ts'
import { median } from './timing.ts'

const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data')
const IMAGES = 24
const ROUNDS = 5

interface Case {
  cam: Map2D
  guide: GuideImage
}

/** The same photos stretched to a full 512×512 guide: the most pixels a 512 working size can have. */
async function squareCases(all: Case[], files: string[]): Promise<Case[]> {
  return Promise.all(
    all.map(async (c, i) => {
      const data = await sharp(files[i]!)
        .rotate()
        .removeAlpha()
        .resize(512, 512, { fit: 'fill' })
        .raw()
        .toBuffer()
      return { cam: c.cam, guide: { data: new Uint8Array(data), width: 512, height: 512 } }
    }),
  )
}

function photoFiles(): string[] {
  const dir = path.join(shared, 'raccoon/images')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, IMAGES)
    .map((f) => path.join(dir, f))
}

async function cases(files: string[]): Promise<Case[]> {
  const model = await openModel('squeezenet1.1-fp16', { providers: 'cpu' })
  const out: Case[] = []
  for (const f of files) {
    const prepared = await prepareImage(f, model.spec.preprocessing, {
      guideSize: 512,
    })
    const fwd = await model.forward(prepared.tensor)
    out.push({
      cam: normaliseByMax(agnosticCam(fwd, model.head.classifier).map),
      guide: prepared.guide!,
    })
  }
  await model.dispose()
  return out
}

/** Mean ms per image of `fn` over all cases, median over rounds (after one warm-up round). */
function time(
  all: Case[],
  fn: (c: Case) => Map2D,
): { upscale: number; withBoxes: number; cpu: number } {
  const up: number[] = []
  const total: number[] = []
  const cpu: number[] = []
  for (let r = 0; r <= ROUNDS; r++) {
    let a = 0
    let b = 0
    const c0 = process.cpuUsage()
    for (const c of all) {
      const t0 = performance.now()
      const map = fn(c)
      const t1 = performance.now()
      proposalsFromMap(map, DEFAULT_PROPOSAL_OPTIONS, c.guide.width, c.guide.height, 1)
      const t2 = performance.now()
      a += t1 - t0
      b += t2 - t0
    }
    const c = process.cpuUsage(c0)
    if (r > 0) {
      cpu.push((c.user + c.system) / 1000 / all.length)
      up.push(a / all.length)
      total.push(b / all.length)
    }
  }
  return { upscale: median(up), withBoxes: median(total), cpu: median(cpu) }
}

function report(title: string, all: Case[]): void {
  const px = all.reduce((s, c) => s + c.guide.width * c.guide.height, 0) / all.length
  const bilinear = time(all, (c) => resizeBilinear(c.cam, c.guide.width, c.guide.height))
  const guided = time(all, (c) => refineCam(c.cam, c.guide))
  const row = (name: string, t: ReturnType<typeof time>, note = ''): string =>
    `  ${name.padEnd(9)} ${t.upscale.toFixed(1).padStart(6)} ms/image upscale, ${t.withBoxes.toFixed(1).padStart(6)} ms with boxes, ${t.cpu.toFixed(1).padStart(6)} ms CPU with boxes${note}`
  console.log(
    `refine: ${all.length} ${title} (mean ${(px / 1000).toFixed(0)} k pixels), one thread`,
  )
  console.log(row('bilinear', bilinear))
  console.log(row('guided', guided, ' (target < 100)'))
}

export async function run(): Promise<void> {
  const files = photoFiles()
  const all = await cases(files)
  report('raccoon photos at 512 working resolution', all)
  report('raccoon photos stretched to 512×512', await squareCases(all, files))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run()
