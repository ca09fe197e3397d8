/**
 * Projects on real files and real SQLite: import from VOC/COCO/YOLO/CSV, round trips through each
 * export format, the bad inputs of ../shared/data/bad-inputs, and re-import keeping review work.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'
import { importProject, type ImportSource } from '../../src/main/project/importProject.ts'
import { exportProject } from '../../src/main/project/exportProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { captureIO } from '../helpers/cli.ts'
import { draw, move } from '../helpers/review.ts'
import { shared } from '../helpers/shared.ts'

const data = shared('data')
const raccoon = path.join(data, 'raccoon')
const imagenet = path.join(data, 'imagenet-val-dev')
const bad = path.join(data, 'bad-inputs')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-project-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let n = 0

async function project(root: string, labels: ImportSource) {
  const store = ProjectStore.create(path.join(tmp, `p${++n}.camlabel`), root)
  const report = await importProject(store, { labels })
  return { store, report }
}

/** file → sorted "label x0 y0 x1 y1" strings, rounded to `digits`. */
function boxesByFile(store: ProjectStore, digits = 0): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const im of store.review.dataset({ unreviewed: true }).images) {
    const f = (v: number) => v.toFixed(digits)
    out.set(
      im.file,
      im.boxes
        .map((b) => `${b.label} ${f(b.box.x0)} ${f(b.box.y0)} ${f(b.box.x1)} ${f(b.box.y1)}`)
        .sort(),
    )
  }
  return out
}

describe('raccoon (VOC) round trips', () => {
  it('imports 200 images and 217 boxes with the VOC corners converted to Box', async () => {
    const { store, report } = await project(path.join(raccoon, 'images'), {
      kind: 'voc',
      dir: path.join(raccoon, 'annotations'),
    })
    expect(report).toMatchObject({ imported: 200, boxes: 217, skipped: 0 })
    expect(report.problems).toEqual([])
    const r1 = store.review.boxes(store.images.byFile('raccoon-1.jpg')!.id)
    expect(r1).toMatchObject([
      { label: 'raccoon', status: 'accepted', box: { x0: 80, y0: 87, x1: 522, y1: 408 } },
    ])
    expect(store.images.byFile('raccoon-1.jpg')).toMatchObject({ width: 650, height: 417 })
    store.close()
  })

  for (const format of ['voc', 'coco', 'yolo'] as const) {
    it(`export ${format} → import into a new project → export gives the same boxes`, async () => {
      const root = path.join(raccoon, 'images')
      const { store: a } = await project(root, {
        kind: 'voc',
        dir: path.join(raccoon, 'annotations'),
      })
      const out1 = path.join(tmp, `raccoon-${format}-1${format === 'coco' ? '.json' : ''}`)
      const e1 = await exportProject(a, { format, outPath: out1 })
      expect(e1).toMatchObject({ images: 200, boxes: 217 })
      const source: ImportSource =
        format === 'coco'
          ? { kind: 'coco', path: out1 }
          : format === 'voc'
            ? { kind: 'voc', dir: out1 }
            : { kind: 'yolo', dir: out1 }
      const { store: b, report } = await project(root, source)
      expect(report.problems).toEqual([])
      expect(report.boxes).toBe(217)
      // VOC and COCO keep whole pixels exactly; YOLO's 6-decimal normalisation is within 0.01 px here
      expect(boxesByFile(b, format === 'yolo' ? 1 : 2)).toEqual(
        boxesByFile(a, format === 'yolo' ? 1 : 2),
      )
      const out2 = path.join(tmp, `raccoon-${format}-2${format === 'coco' ? '.json' : ''}`)
      await exportProject(b, { format, outPath: out2 })
      if (format === 'coco') {
        const strip = (f: string) => JSON.parse(readFileSync(f, 'utf8')).annotations
        expect(strip(out2)).toEqual(strip(out1))
      } else if (format === 'voc') {
        const one = 'Annotations/raccoon-1.xml'
        expect(readFileSync(path.join(out2, one), 'utf8')).toBe(
          readFileSync(path.join(out1, one), 'utf8'),
        )
        expect(readFileSync(path.join(out1, one), 'utf8')).toMatch(
          /<xmin>81<\/xmin>[\s\S]*<xmax>522<\/xmax>/,
        )
      } else {
        // The same seeded split puts raccoon-1 in the same folder of both exports.
        const label = (out: string) =>
          ['train', 'val']
            .map((s) => path.join(out, `labels/${s}/raccoon-1.txt`))
            .find((f) => existsSync(f))!
        expect(readFileSync(label(out2), 'utf8')).toBe(readFileSync(label(out1), 'utf8'))
        expect(readFileSync(path.join(out1, 'data.yaml'), 'utf8')).toMatch(
          /names:\n {2}0: "raccoon"/,
        )
      }
      a.close()
      b.close()
    })
  }
})

/** The label file Ultralytics reads for an image: the last /images/ becomes /labels/, the extension .txt. */
function ultralyticsLabelPath(image: string): string {
  const at = image.lastIndexOf('/images/')
  const swapped = image.slice(0, at) + '/labels/' + image.slice(at + '/images/'.length)
  return swapped.slice(0, swapped.lastIndexOf('.')) + '.txt'
}

/** Every file under a folder, absolute paths. */
function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
}

describe('exports that train as they are', () => {
  it('YOLO: images/<split> and labels/<split> where Ultralytics looks, data.yaml pointing at them, images copied', async () => {
    const root = path.join(raccoon, 'images')
    const { store } = await project(root, { kind: 'voc', dir: path.join(raccoon, 'annotations') })
    const source = path.join(root, 'raccoon-1.jpg')
    const sourceBefore = { bytes: readFileSync(source), mtimeMs: statSync(source).mtimeMs }
    const out = path.join(tmp, 'raccoon-yolo-train')
    const r = await exportProject(store, {
      format: 'yolo',
      outPath: out,
      valFraction: 0.2,
      seed: 7,
    })
    expect(r).toMatchObject({ images: 200, boxes: 217, files: 402, problems: [] })
    expect(r).toMatchObject({ linked: 0, copied: 200 }) // clones or copies: files of their own

    const yaml = readFileSync(path.join(out, 'data.yaml'), 'utf8')
    // No path: Ultralytics then roots the dataset at data.yaml's folder, wherever it is moved.
    expect(yaml).not.toMatch(/^path:/m)
    expect(yaml).toMatch(/^train: "images\/train"$/m)
    expect(yaml).toMatch(/^val: "images\/val"$/m)
    expect(yaml).toMatch(/names:\n {2}0: "raccoon"/)

    // Every image has its label file at the path Ultralytics derives, with that image's boxes
    // (as the flat layout writes them, one labels/ folder).
    const plain = path.join(tmp, 'raccoon-yolo-flat')
    await exportProject(store, { format: 'yolo', outPath: plain, layout: 'flat' })
    const images = walk(path.join(out, 'images'))
    expect(images).toHaveLength(200)
    expect(images.filter((f) => f.includes('/images/val/'))).toHaveLength(40)
    for (const im of images) {
      const label = ultralyticsLabelPath(im)
      expect(existsSync(label), label).toBe(true)
      const name = path.basename(label)
      expect(readFileSync(label, 'utf8')).toBe(
        readFileSync(path.join(plain, 'labels', name), 'utf8'),
      )
    }
    expect(walk(path.join(out, 'labels'))).toHaveLength(200)

    // An exported image has the source's bytes but is not the source file (not a hard link, so
    // editing it cannot change the project's image); the source is untouched.
    const exported = images.find((f) => path.basename(f) === 'raccoon-1.jpg')!
    expect(readFileSync(exported).equals(sourceBefore.bytes)).toBe(true)
    expect(statSync(exported).ino).not.toBe(statSync(source).ino)
    // the source itself is unchanged: same bytes, never written (same modification time)
    expect(readFileSync(source).equals(sourceBefore.bytes)).toBe(true)
    expect(statSync(source).mtimeMs).toBe(sourceBefore.mtimeMs)

    // The split export imports back (labels/train/…) with the same boxes.
    const { store: back, report } = await project(root, { kind: 'yolo', dir: out })
    expect(report.problems).toEqual([])
    expect(boxesByFile(back, 1)).toEqual(boxesByFile(store, 1))
    store.close()
    back.close()
  })

  it('YOLO with --split 0: images/train + labels/train and no val (as CVAT writes it); names with spaces/unicode survive', async () => {
    const { store } = await project(bad, { kind: 'csv', path: path.join(bad, 'labels.csv') })
    const id = store.images.byFile('images/name with spaces & ünïcode.jpg')!.id
    draw(store, id, 'raccoon', { x0: 10, y0: 20, x1: 110, y1: 220 })
    const out = path.join(tmp, 'bad-yolo-train')
    const r = await exportProject(store, {
      format: 'yolo',
      outPath: out,
      valFraction: 0,
      includeUnreviewed: true,
    })
    expect(r).toMatchObject({ images: 9, problems: [], unreviewed: { images: 8, included: 8 } })
    const yaml = readFileSync(path.join(out, 'data.yaml'), 'utf8')
    expect(yaml).toMatch(/^train: "images\/train"$/m)
    expect(yaml).not.toMatch(/^val:/m)
    // the project's own 'images/' folder is renamed so the last /images/ is the export's
    const image = path.join(out, 'images/train/images_/name with spaces & ünïcode.jpg')
    expect(existsSync(image)).toBe(true)
    expect(readFileSync(ultralyticsLabelPath(image), 'utf8')).toMatch(
      /^0 0\.\d+ 0\.\d+ 0\.\d+ 0\.\d+\n$/,
    )
    for (const im of walk(path.join(out, 'images')))
      expect(existsSync(ultralyticsLabelPath(im)), im).toBe(true)
    store.close()
  })

  it('VOC: JPEGImages/ + Annotations/ + ImageSets/Main, ids matching; --no-images writes none', async () => {
    const root = path.join(raccoon, 'images')
    const { store } = await project(root, { kind: 'voc', dir: path.join(raccoon, 'annotations') })
    const out = path.join(tmp, 'raccoon-voc-train')
    const r = await exportProject(store, { format: 'voc', outPath: out, valFraction: 0.25 })
    expect(r).toMatchObject({ images: 200, boxes: 217, files: 403, problems: [] })
    const ids = (f: string) =>
      readFileSync(path.join(out, 'ImageSets/Main', f), 'utf8')
        .trim()
        .split('\n')
    // Each list is a subset to CVAT: with a split, train and val only (no union beside them).
    expect(readdirSync(path.join(out, 'ImageSets/Main')).sort()).toEqual(['train.txt', 'val.txt'])
    expect(ids('val.txt')).toHaveLength(50)
    expect(new Set([...ids('train.txt'), ...ids('val.txt')]).size).toBe(200)
    for (const id of [...ids('train.txt'), ...ids('val.txt')]) {
      expect(existsSync(path.join(out, 'JPEGImages', id + '.jpg')), id).toBe(true)
      expect(readFileSync(path.join(out, 'Annotations', id + '.xml'), 'utf8')).toContain(
        `<folder>JPEGImages</folder>\n\t<filename>${id}.jpg</filename>`,
      )
    }
    const plain = path.join(tmp, 'raccoon-voc-plain')
    const p = await exportProject(store, { format: 'voc', outPath: plain, images: false })
    expect(p.linked).toBeUndefined()
    expect(existsSync(path.join(plain, 'JPEGImages'))).toBe(false)
    expect(walk(path.join(plain, 'Annotations'))).toHaveLength(200)
    // Without a split, one list: trainval.txt.
    expect(readdirSync(path.join(plain, 'ImageSets/Main'))).toEqual(['trainval.txt'])
    store.close()
  })

  it('an image deleted since import is reported and left out, the rest exported', async () => {
    const root = path.join(tmp, 'vanishing')
    mkdirSync(root)
    for (const f of ['raccoon-1.jpg', 'raccoon-2.jpg'])
      copyFileSync(path.join(raccoon, 'images', f), path.join(root, f))
    const { store } = await project(root, { kind: 'none' })
    rmSync(path.join(root, 'raccoon-2.jpg'))
    const out = path.join(tmp, 'vanishing-yolo')
    const r = await exportProject(store, {
      format: 'yolo',
      outPath: out,
      includeUnreviewed: true,
    })
    expect(r.images).toBe(1)
    expect(r.problems).toEqual([
      { file: 'raccoon-2.jpg', message: expect.stringMatching(/missing; left out/) },
    ])
    expect(walk(path.join(out, 'labels')).map((f) => path.basename(f))).toEqual(['raccoon-1.txt'])
    store.close()
  })
})

describe('imagenet-val-dev (COCO) round trip', () => {
  it('imports the ground truth and gives the same boxes after export → import → export', async () => {
    const gt = JSON.parse(readFileSync(path.join(imagenet, 'ground-truth.coco.json'), 'utf8'))
    const { store: a, report } = await project(imagenet, {
      kind: 'coco',
      path: path.join(imagenet, 'ground-truth.coco.json'),
    })
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ imported: 300, boxes: gt.annotations.length })
    // category ids follow the class order of the source
    expect(a.labels.classes().map((c) => c.name)).toEqual(
      [...gt.categories]
        .sort((x: { id: number }, y: { id: number }) => x.id - y.id)
        .map((c: { name: string }) => c.name),
    )
    const out1 = path.join(tmp, 'imagenet-1.json')
    await exportProject(a, { format: 'coco', outPath: out1 })
    const c1 = JSON.parse(readFileSync(out1, 'utf8'))
    const key = (c: {
      images: { id: number; file_name: string }[]
      categories: { id: number; name: string }[]
      annotations: { image_id: number; category_id: number; bbox: number[] }[]
    }) => {
      const f = new Map(c.images.map((i) => [i.id, i.file_name]))
      const k = new Map(c.categories.map((i) => [i.id, i.name]))
      return c.annotations
        .map(
          (x) =>
            `${f.get(x.image_id)} ${k.get(x.category_id)} ${x.bbox.map((v) => v.toFixed(2)).join(' ')}`,
        )
        .sort()
    }
    expect(key(c1)).toEqual(key(gt))
    const { store: b } = await project(imagenet, { kind: 'coco', path: out1 })
    const out2 = path.join(tmp, 'imagenet-2.json')
    await exportProject(b, { format: 'coco', outPath: out2 })
    expect(key(JSON.parse(readFileSync(out2, 'utf8')))).toEqual(key(c1))
    a.close()
    b.close()
  })
})

describe('bad inputs', () => {
  it('imports the bad image folder with labels.csv: per-file problems, the rest imported, EXIF size upright', async () => {
    const { store, report } = await project(bad, {
      kind: 'csv',
      path: path.join(bad, 'labels.csv'),
    })
    const reasons = (file: string) =>
      report.problems
        .filter((p) => p.file.includes(file))
        .map((p) => p.message)
        .join(' | ')
    expect(reasons('empty.jpg')).toMatch(/empty/)
    expect(reasons('not-an-image.jpg')).toMatch(/not an image/)
    expect(reasons('bomb.png')).toMatch(/100000x100000.*refused without decoding/)
    expect(
      report.problems.some((p) => /outside\.jpg.*outside the image folder/.test(p.message)),
    ).toBe(true)
    expect(report.problems.some((p) => /missing\.jpg.*does not exist/.test(p.message))).toBe(true)
    expect(report.problems.some((p) => /empty label/.test(p.message))).toBe(true)
    expect(report.skipped).toBeGreaterThanOrEqual(1) // README.txt and the other non-image files
    expect(report.imported).toBe(9)
    expect(store.images.byFile('images/exif-rotated.jpg')).toMatchObject({
      width: 650,
      height: 417,
    })
    expect(store.images.byFile('images/very-wide.jpg')).toMatchObject({ width: 6000, height: 40 })
    expect(store.labels.of(store.images.byFile('images/cmyk.jpg')!.id)).toEqual(['raccoon'])
    // the unicode name survives export exactly
    const out = path.join(tmp, 'bad.json')
    await exportProject(store, { format: 'coco', outPath: out, includeUnreviewed: true })
    expect(
      JSON.parse(readFileSync(out, 'utf8')).images.map((i: { file_name: string }) => i.file_name),
    ).toContain('images/name with spaces & ünïcode.jpg')
    const voc = path.join(tmp, 'bad-voc')
    await exportProject(store, { format: 'voc', outPath: voc, includeUnreviewed: true })
    expect(
      readFileSync(path.join(voc, 'Annotations/images/name with spaces & ünïcode.xml'), 'utf8'),
    ).toContain('<filename>images/name with spaces &amp; ünïcode.jpg</filename>')
    store.close()
  })

  it('VOC: refuses xxe and billion-laughs, reports malformed and traversal, clips box-outside', async () => {
    const { store, report } = await project(path.join(raccoon, 'images'), {
      kind: 'voc',
      dir: path.join(bad, 'annotations'),
    })
    const of = (f: string) =>
      report.problems
        .filter((p) => p.file === f)
        .map((p) => p.message)
        .join(' | ')
    expect(of('xxe.xml')).toMatch(/declares XML entities/)
    expect(of('billion-laughs.xml')).toMatch(/declares XML entities/)
    expect(of('malformed.xml')).toMatch(/not well-formed XML at line \d+, column \d+/)
    expect(of('traversal.xml')).toMatch(/outside the image folder/)
    expect(of('box-outside.xml')).toMatch(/clipped/)
    const boxes = store.review.boxes(store.images.byFile('raccoon-1.jpg')!.id)
    expect(boxes.map((b) => b.box)).toEqual([{ x0: 80, y0: 87, x1: 650, y1: 408 }])
    expect(JSON.stringify(store.review.dataset())).not.toMatch(/root:x:0/)
    store.close()
  })

  it('VOC import in batches over several transactions: every good file kept, each bad one named', async () => {
    const dir = path.join(tmp, 'voc-batches')
    mkdirSync(dir)
    const src = path.join(raccoon, 'annotations')
    for (const f of readdirSync(src)) copyFileSync(path.join(src, f), path.join(dir, f))
    // 70 more files (past the first batch of 256): missing images, and one malformed in the middle
    for (let i = 0; i < 70; i++) {
      const xml = readFileSync(path.join(src, 'raccoon-1.xml'), 'utf8').replace(
        /<filename>[^<]*<\/filename>/,
        `<filename>zz-missing-${i}.jpg</filename>`,
      )
      writeFileSync(
        path.join(dir, `zz-${String(i).padStart(2, '0')}.xml`),
        i === 35 ? xml.slice(0, 80) : xml,
      )
    }
    const { store, report } = await project(path.join(raccoon, 'images'), { kind: 'voc', dir })
    expect(report.boxes).toBe(217)
    expect(report.problems).toHaveLength(70)
    expect(report.problems.find((p) => p.file === 'zz-35.xml')!.message).toMatch(/not well-formed/)
    expect(report.problems.find((p) => p.file === 'zz-69.xml')!.message).toMatch(
      /no image 'zz-missing-69\.jpg'/,
    )
    expect(store.integrityCheck()).toBe('ok')
    store.close()
  })

  it('COCO: awkward ids, unknown image/category, negative width and an escaping path are each reported', async () => {
    const { store, report } = await project(bad, {
      kind: 'coco',
      path: path.join(bad, 'awkward.coco.json'),
    })
    const all = report.problems.map((p) => p.message).join('\n')
    expect(all).toMatch(/duplicate category id 0/)
    expect(all).toMatch(/annotation ids are not unique/)
    expect(all).toMatch(/unknown image_id 7/)
    expect(all).toMatch(/unknown category_id 3/)
    expect(all).toMatch(/non-positive width/)
    expect(all).toMatch(/\.\.\/outside\.jpg' is outside the image folder/)
    // the valid annotation is imported, clipped to the 1x1 image
    expect(
      store.review
        .boxes(store.images.byFile('images/one-pixel.png')!.id)
        .map((b) => [b.label, b.box]),
    ).toEqual([['zero-based', { x0: 0, y0: 0, x1: 1, y1: 1 }]])
    store.close()
  })

  it('COCO: a truncated file is a clear parse error with its position', async () => {
    const io = captureIO(tmp)
    const code = await main(
      [
        'init',
        path.join(tmp, 'trunc.camlabel'),
        '--images',
        bad,
        '--coco',
        path.join(bad, 'truncated.coco.json'),
      ],
      io,
    )
    expect(code).toBe(1)
    expect(io.err).toMatch(/truncated\.coco\.json is not valid JSON at line \d+, column \d+/)
  })

  it('YOLO: the valid line is imported, each bad line reported with its number', async () => {
    const { store, report } = await project(path.join(raccoon, 'images'), {
      kind: 'yolo',
      dir: path.join(bad, 'yolo'),
    })
    expect(report.problems.map((p) => p.file)).toEqual([
      'labels/raccoon-1.txt:2',
      'labels/raccoon-1.txt:3',
      'labels/raccoon-1.txt:4',
      'labels/raccoon-1.txt:5',
    ])
    expect(store.review.boxes(store.images.byFile('raccoon-1.jpg')!.id)).toHaveLength(1)
    expect(report.boxes).toBe(1)
    store.close()
  })
})

describe('re-import and the commands', () => {
  it('re-running init adds new images and keeps all review work', async () => {
    const root = path.join(tmp, 'grow')
    for (const [i, f] of ['raccoon-1.jpg', 'raccoon-2.jpg', 'raccoon-3.jpg'].entries()) {
      mkdirSync(path.join(root, i < 2 ? 'raccoon' : 'other'), { recursive: true })
      copyFileSync(path.join(raccoon, 'images', f), path.join(root, i < 2 ? 'raccoon' : 'other', f))
    }
    const file = path.join(tmp, 'grow.camlabel')
    let io = captureIO(tmp)
    expect(await main(['init', file, '--images', root], io)).toBe(0)
    expect(io.out).toMatch(/3 images imported/)
    let s = ProjectStore.open(file)
    const id = s.images.byFile('raccoon/raccoon-1.jpg')!.id
    const box = draw(s, id, 'raccoon', { x0: 10, y0: 10, x1: 100, y1: 90 })
    move(s, box, { x0: 12, y0: 10, x1: 100, y1: 90 })
    s.close()
    copyFileSync(
      path.join(raccoon, 'images', 'raccoon-4.jpg'),
      path.join(root, 'raccoon', 'raccoon-4.jpg'),
    )
    io = captureIO(tmp)
    expect(await main(['init', file, '--images', root], io)).toBe(0)
    expect(io.out).toMatch(/1 images imported, 3 already in the project/)
    s = ProjectStore.open(file)
    expect(s.images.count()).toBe(4)
    expect(s.review.boxes(id)).toMatchObject([{ status: 'manual', box: { x0: 12 } }])
    expect(s.labels.of(s.images.byFile('raccoon/raccoon-4.jpg')!.id)).toEqual(['raccoon'])
    s.close()

    io = captureIO(tmp)
    expect(await main(['status', file], io)).toBe(0)
    expect(io.out).toMatch(
      /images by status: unproposed 3, pending 0, accepted 0, edited 1, rejected 0/,
    )
    expect(io.out).toMatch(/raccoon\s+3\s+1\s+0\s+0/)
    io = captureIO(tmp)
    expect(
      await main(
        [
          'export',
          file,
          '--format',
          'yolo',
          '--out',
          path.join(tmp, 'grow-yolo'),
          '--split',
          '0.5',
          '--seed',
          '3',
          '--include-unreviewed',
        ],
        io,
      ),
    ).toBe(0)
    const valImages = readdirSync(path.join(tmp, 'grow-yolo/images/val'), { recursive: true })
    expect(valImages.filter((f) => String(f).endsWith('.jpg'))).toHaveLength(2)
    io = captureIO(tmp)
    expect(
      await main(['export', file, '--format', 'yolo', '--out', path.join(tmp, 'grow-yolo')], io),
    ).toBe(1)
    expect(io.err).toMatch(/already exists/)
    expect(
      await main(
        [
          'export',
          file,
          '--format',
          'yolo',
          '--out',
          path.join(tmp, 'grow-yolo'),
          '--overwrite',
          '--split',
          '0',
          '--include-unreviewed',
        ],
        captureIO(tmp),
      ),
    ).toBe(0)
    expect(existsSync(path.join(tmp, 'grow-yolo/images/val'))).toBe(false)
    expect(existsSync(path.join(tmp, 'grow-yolo/images/train/raccoon/raccoon-4.jpg'))).toBe(true)
  })

  it('refuses a project from a newer camlabel with a clear message', async () => {
    const file = path.join(tmp, 'new.camlabel')
    ProjectStore.create(file, tmp).close()
    const { openSqlite } = await import('../../src/main/store/sqlite.ts')
    const db = openSqlite(file)
    db.pragma('user_version = 42')
    db.close()
    const io = captureIO(tmp)
    expect(await main(['status', file], io)).toBe(1)
    expect(io.err).toMatch(/made by a newer camlabel/)
    expect(io.err).toMatch(/Update camlabel/)
  })
})
