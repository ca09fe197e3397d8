/**
 * camlabel's exports as the next tool reads them, and their exports as camlabel reads them: the
 * raccoon photos (200 images, 217 boxes, 59 of them truncated) imported from their VOC files, then
 * exported in every format and read by the consumers' own rules (tests/helpers/consumers.ts,
 * each citing the source it follows). One test per consumer and format; each asserts the 217
 * boxes load exactly once, with their class.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'
import { exportProject } from '../../src/main/project/exportProject.ts'
import { importProject, type ImportSource } from '../../src/main/project/importProject.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { captureIO } from '../helpers/cli.ts'
import {
  cvatYoloSubsets,
  datumaroCoco,
  datumaroCocoLayout,
  datumaroVoc,
  img2labelPath,
  labelStudioYolo,
  pycocotoolsLoadRes,
  readZip,
  ultralyticsDataset,
  type Loaded,
} from '../helpers/consumers.ts'
import { accept, reject } from '../helpers/review.ts'
import { shared } from '../helpers/shared.ts'

const raccoon = shared('data/raccoon')
const images = path.join(raccoon, 'images')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-exchange-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let n = 0

async function project(root: string, labels: ImportSource) {
  const store = ProjectStore.create(path.join(tmp, `p${++n}.camlabel`), root)
  const report = await importProject(store, { labels })
  return { store, report }
}

let gt: ProjectStore
beforeAll(async () => {
  const r = await project(images, { kind: 'voc', dir: path.join(raccoon, 'annotations') })
  expect(r.report).toMatchObject({ imported: 200, boxes: 217, problems: [] })
  gt = r.store
})
afterAll(() => gt?.close())

/** Every loaded box once: 217 of class raccoon, on 200 distinct images at most. */
function expectRaccoons(boxes: Loaded[]) {
  expect(boxes).toHaveLength(217)
  expect(new Set(boxes.map((b) => b.label))).toEqual(new Set(['raccoon']))
  const keys = boxes.map((b) => `${b.image} ${b.bbox.map((v) => v.toFixed(3)).join(' ')}`)
  expect(new Set(keys).size).toBe(217)
}

const exists = (p: string) => {
  try {
    readFileSync(p)
    return true
  } catch {
    return false
  }
}

describe('COCO', () => {
  it('CVAT / datumaro COCO 1.0 loads the bare JSON: segmentation, int ids, 1-based categories', async () => {
    const out = path.join(tmp, 'raccoon.json')
    const r = await exportProject(gt, { format: 'coco', outPath: out })
    expect(r).toMatchObject({ images: 200, boxes: 217, unreviewed: { images: 0, included: 0 } })
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      info: Record<string, unknown>
      licenses: unknown[]
      categories: { id: number }[]
    }
    expectRaccoons(datumaroCoco(json, (f) => exists(path.join(images, f))))
    expect(json.categories.map((c) => c.id)).toEqual([1])
    expect(Object.keys(json.info).sort()).toEqual(
      ['contributor', 'date_created', 'description', 'url', 'version', 'year'].sort(),
    )
    expect(json.licenses).toHaveLength(1)
  })

  it('CVAT / datumaro COCO 1.0 loads the archive: annotations/instances_default.json + images/', async () => {
    const out = path.join(tmp, 'raccoon-coco.zip')
    const r = await exportProject(gt, { format: 'coco', outPath: out, archive: true })
    expect(r).toMatchObject({ images: 200, boxes: 217, files: 201 })
    const zip = await readZip(out)
    const layout = datumaroCocoLayout(new Set(zip.keys()))
    expect(layout).toEqual({
      json: 'annotations/instances_default.json',
      subset: 'default',
      imagesDir: 'images',
    })
    const json = JSON.parse(zip.get(layout.json)!.toString('utf8'))
    expectRaccoons(datumaroCoco(json, (f) => zip.has(`${layout.imagesDir}/${f}`)))
    // The images are the project's bytes.
    expect(
      zip.get('images/raccoon-1.jpg')!.equals(readFileSync(path.join(images, 'raccoon-1.jpg'))),
    ).toBe(true)
    // An earlier archive is replaced only when asked, and only camlabel's.
    await expect(
      exportProject(gt, { format: 'coco', outPath: out, archive: true }),
    ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' })
    await exportProject(gt, { format: 'coco', outPath: out, archive: true, overwrite: true })
    const foreign = path.join(tmp, 'foreign.zip')
    writeFileSync(foreign, readFileSync(out).subarray(0, 1000))
    await expect(
      exportProject(gt, { format: 'coco', outPath: foreign, archive: true, overwrite: true }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/not a COCO archive camlabel wrote/) })
  })

  it('pycocotools loadRes takes the results file, its ids those of the reviewed export', async () => {
    // 6 photos proposed by the real model; 3 of them reviewed.
    const root = path.join(tmp, 'six')
    mkdirSync(root)
    for (let i = 1; i <= 6; i++)
      cpSync(path.join(images, `raccoon-${i}.jpg`), path.join(root, `raccoon-${i}.jpg`))
    writeFileSync(
      path.join(tmp, 'six.csv'),
      'file,label\n' +
        [1, 2, 3, 4, 5, 6].map((i) => `six/raccoon-${i}.jpg,raccoon`).join('\n') +
        '\n',
    )
    const { store } = await project(root, { kind: 'csv', path: path.join(tmp, 'six.csv') })
    await proposeProject(store, { model: 'squeezenet1.1-fp16', providers: 'cpu' })
    const ids = store.gallery.ids({})
    for (const id of ids.slice(0, 2)) accept(store, store.review.boxes(id)[0]!.id)
    for (const b of store.review.boxes(ids[2]!)) reject(store, b.id)
    const proposals = (
      store.db.prepare('SELECT count(*) AS n FROM proposals').get() as { n: number }
    ).n
    expect(proposals).toBeGreaterThanOrEqual(6)

    const gtFile = path.join(tmp, 'six.json')
    const g = await exportProject(store, { format: 'coco', outPath: gtFile })
    expect(g.images).toBe(3) // two accepted, one negative (every box rejected)
    const resFile = path.join(tmp, 'six-detections.json')
    const r = await exportProject(store, { format: 'coco-results', outPath: resFile })
    expect(r.boxes).toBe(proposals)
    const gtJson = JSON.parse(readFileSync(gtFile, 'utf8'))
    const res = JSON.parse(readFileSync(resFile, 'utf8'))
    // Scored against all images of the project (a ground truth with them all), the ids agree.
    const all = path.join(tmp, 'six-all.json')
    await exportProject(store, { format: 'coco', outPath: all, includeUnreviewed: true })
    const loaded = pycocotoolsLoadRes(JSON.parse(readFileSync(all, 'utf8')), res)
    expect(loaded).toHaveLength(proposals)
    // The reviewed images keep their ids in both files.
    const idOf = (j: { images: { id: number; file_name: string }[] }, f: string) =>
      j.images.find((i) => i.file_name === f)?.id
    const allJson = JSON.parse(readFileSync(all, 'utf8'))
    for (const im of gtJson.images) expect(idOf(allJson, im.file_name)).toBe(im.id)
    store.close()
  })
})

describe('Pascal VOC', () => {
  it('CVAT / datumaro VOC 1.1: one subset per list (no trainval beside train/val), labelmap.txt, 0/1 flags', async () => {
    for (const valFraction of [0, 0.2]) {
      const out = path.join(tmp, `raccoon-voc-${valFraction}`)
      await exportProject(gt, { format: 'voc', outPath: out, valFraction })
      const r = datumaroVoc(out)
      expect(r.items).toBe(200)
      expectRaccoons(r.boxes)
    }
    // Without labelmap.txt datumaro knows only VOC's 20 classes: the raccoon is undeclared.
    const out = path.join(tmp, 'raccoon-voc-0')
    rmSync(path.join(out, 'labelmap.txt'))
    expect(() => datumaroVoc(out)).toThrow(/UndeclaredLabelError: raccoon/)
  })

  it('truncated, difficult, occluded and pose survive import → export → import → export', async () => {
    const truncated = (boxes: Loaded[]) =>
      boxes.filter((b) => b.attributes?.truncated === true).length
    const out1 = path.join(tmp, 'attrs-voc-1')
    await exportProject(gt, { format: 'voc', outPath: out1 })
    expect(truncated(datumaroVoc(out1).boxes)).toBe(59)
    // Through COCO too (attributes, as CVAT writes occluded there), and back.
    const coco = path.join(tmp, 'attrs.json')
    await exportProject(gt, { format: 'coco', outPath: coco })
    expect(truncated(datumaroCoco(JSON.parse(readFileSync(coco, 'utf8'))))).toBe(59)
    const { store } = await project(images, { kind: 'coco', path: coco })
    const out2 = path.join(tmp, 'attrs-voc-2')
    await exportProject(store, { format: 'voc', outPath: out2 })
    expect(truncated(datumaroVoc(out2).boxes)).toBe(59)
    expect(readFileSync(path.join(out2, 'Annotations/raccoon-1.xml'), 'utf8')).toBe(
      readFileSync(path.join(out1, 'Annotations/raccoon-1.xml'), 'utf8'),
    )
    store.close()
  })
})

describe('YOLO', () => {
  it('CVAT Ultralytics YOLO Detection 1.0: subsets train and val only, each image once', async () => {
    const out = path.join(tmp, 'raccoon-yolo')
    const r = await exportProject(gt, { format: 'yolo', outPath: out })
    expect(r).toMatchObject({ images: 200, boxes: 217 })
    const subsets = cvatYoloSubsets(path.join(out, 'data.yaml'))
    expect(Object.keys(subsets).sort()).toEqual(['train', 'val'])
    const d = ultralyticsDataset(path.join(out, 'data.yaml'), out)
    expect(d.val.length).toBeGreaterThan(0)
    expectRaccoons([...d.train, ...d.val])
    // With --split 0, one subset (CVAT's own layout): still every box once.
    const one = path.join(tmp, 'raccoon-yolo-nosplit')
    await exportProject(gt, { format: 'yolo', outPath: one, valFraction: 0 })
    expect(Object.keys(cvatYoloSubsets(path.join(one, 'data.yaml')))).toEqual(['train'])
  })

  it('Ultralytics trains from the folder after it is moved: no absolute path in data.yaml', async () => {
    const out = path.join(tmp, 'to-move')
    await exportProject(gt, { format: 'yolo', outPath: out })
    const moved = path.join(tmp, 'moved/elsewhere')
    mkdirSync(path.dirname(moved), { recursive: true })
    renameSync(out, moved)
    // Started from any directory, with the data.yaml's path as given.
    const d = ultralyticsDataset(path.join(moved, 'data.yaml'), tmpdir())
    expect(d.names).toEqual(['raccoon'])
    expectRaccoons([...d.train, ...d.val])
    expect(readFileSync(path.join(moved, 'data.yaml'), 'utf8')).not.toContain(tmp)
  })

  it('--no-images is refused with the reason: the labels could not be where Ultralytics looks', async () => {
    const out = path.join(tmp, 'yolo-no-images')
    await expect(
      exportProject(gt, { format: 'yolo', outPath: out, images: false }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/needs its images.*images.*labels/),
    })
    expect(exists(out)).toBe(false)
    // Ultralytics' rule itself: a project image's label path is outside any export folder.
    expect(img2labelPath(path.join(images, 'raccoon-1.jpg'))).not.toContain(out)
  })

  it("Label Studio's YOLO import reads the flat layout; a split is refused for it", async () => {
    const out = path.join(tmp, 'raccoon-yolo-flat')
    await exportProject(gt, { format: 'yolo', outPath: out, layout: 'flat' })
    const r = labelStudioYolo(out)
    expect(r.tasks).toBe(200)
    expectRaccoons(r.boxes)
    await expect(
      exportProject(gt, {
        format: 'yolo',
        outPath: path.join(tmp, 'x'),
        layout: 'flat',
        valFraction: 0.2,
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/Label Studio.*split would be lost/) })
  })
})

describe('only reviewed images are exported unless asked', () => {
  it('unreviewed images are not negatives; all-rejected ones are; the command says what it wrote', async () => {
    const root = path.join(tmp, 'ten')
    mkdirSync(root)
    for (let i = 1; i <= 10; i++)
      cpSync(path.join(images, `raccoon-${i}.jpg`), path.join(root, `raccoon-${i}.jpg`))
    writeFileSync(
      path.join(tmp, 'ten.csv'),
      'file,label\n' +
        [...Array(10)].map((_, i) => `ten/raccoon-${i + 1}.jpg,raccoon`).join('\n') +
        '\n',
    )
    const file = path.join(tmp, 'ten.camlabel')
    expect(
      await main(
        ['init', file, '--images', root, '--labels', path.join(tmp, 'ten.csv')],
        captureIO(tmp),
      ),
    ).toBe(0)
    const store = ProjectStore.open(file)
    await proposeProject(store, { model: 'squeezenet1.1-fp16', providers: 'cpu' })
    const ids = store.gallery.ids({})
    accept(store, store.review.boxes(ids[0]!)[0]!.id)
    for (const b of store.review.boxes(ids[1]!)) reject(store, b.id)
    store.close()

    const io = captureIO(tmp)
    const out = path.join(tmp, 'ten.json')
    expect(await main(['export', file, '--format', 'coco', '--out', out], io)).toBe(0)
    expect(io.out).toMatch(/: 2 images \(reviewed\), 1 boxes, 1 files/)
    expect(io.out).toMatch(
      /8 images not reviewed yet were left out \(--include-unreviewed adds them as negatives\)/,
    )
    const coco = JSON.parse(readFileSync(out, 'utf8'))
    expect(coco.images).toHaveLength(2)
    expect(coco.annotations).toHaveLength(1)

    const io2 = captureIO(tmp)
    const all = path.join(tmp, 'ten-all.json')
    expect(
      await main(['export', file, '--format', 'coco', '--out', all, '--include-unreviewed'], io2),
    ).toBe(0)
    expect(io2.out).toMatch(/: 10 images \(2 reviewed, 8 not reviewed\), 1 boxes/)
    expect(JSON.parse(readFileSync(all, 'utf8')).images).toHaveLength(10)
  })
})

describe('imports of other tools’ layouts', () => {
  it('a data.yaml in cfg/ (Ultralytics layout), given as the folder or as the file', async () => {
    const out = path.join(tmp, 'cfg-layout')
    await exportProject(gt, { format: 'yolo', outPath: out })
    mkdirSync(path.join(out, 'cfg'))
    renameSync(path.join(out, 'data.yaml'), path.join(out, 'cfg/raccoon.yaml'))
    rmSync(path.join(out, 'classes.txt'))
    for (const dir of [out, path.join(out, 'cfg/raccoon.yaml')]) {
      const { store, report } = await project(images, { kind: 'yolo', dir })
      expect(report.problems).toEqual([])
      expect(report.boxes).toBe(217)
      store.close()
    }
  })

  it('a zip where a file or folder is expected: "unzip it first", and no project is made', async () => {
    const zip = path.join(tmp, 'raccoon-coco.zip')
    for (const flag of ['--coco', '--voc', '--yolo', '--labels', '--images']) {
      const io = captureIO(tmp)
      const file = path.join(tmp, `zipped${flag}.camlabel`)
      const args = ['init', file, '--images', flag === '--images' ? zip : images]
      if (flag !== '--images') args.push(flag, zip)
      expect(await main(args, io)).toBe(1)
      expect(io.err).toMatch(/is a zip archive/)
      expect(io.err).toMatch(/Unzip it first/)
      expect(exists(file)).toBe(false)
    }
  })

  it('Roboflow COCO: its dataset-name category (id 0, a supercategory) makes no empty class', async () => {
    const coco = JSON.parse(readFileSync(path.join(tmp, 'raccoon.json'), 'utf8'))
    coco.categories = [
      { id: 0, name: 'raccoons-dataset', supercategory: 'none' },
      { id: 1, name: 'raccoon', supercategory: 'raccoons-dataset' },
    ]
    const file = path.join(tmp, 'roboflow.json')
    writeFileSync(file, JSON.stringify(coco))
    const { store, report } = await project(images, { kind: 'coco', path: file })
    expect(report.boxes).toBe(217)
    expect(store.labels.classes().map((c) => c.name)).toEqual(['raccoon'])
    store.close()
  })

  it('duplicate annotation ids: one problem, every box imported', async () => {
    const coco = JSON.parse(readFileSync(path.join(tmp, 'raccoon.json'), 'utf8'))
    for (const a of coco.annotations) a.id = 1
    const file = path.join(tmp, 'dup-ids.json')
    writeFileSync(file, JSON.stringify(coco))
    const { store, report } = await project(images, { kind: 'coco', path: file })
    expect(report.boxes).toBe(217)
    expect(report.problems).toEqual([
      {
        file: 'dup-ids.json',
        message: expect.stringMatching(
          /216 annotation\(s\) reuse an id \(first: 1\); every one was read/,
        ),
      },
    ])
    store.close()
  })
})
