import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportProject } from '../../src/main/project/exportProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import sharp from 'sharp'
import { fileFingerprint } from '../../src/main/store/hash.ts'
import { draw } from '../helpers/review.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-export-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** A project at work/p.camlabel over a 40×30 work/images/a.jpg with one box. */
async function project(name: string) {
  const work = path.join(tmp, name)
  const images = path.join(work, 'images')
  mkdirSync(images, { recursive: true })
  const jpeg = path.join(images, 'a.jpg')
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#777' } })
    .jpeg()
    .toFile(jpeg)
  const file = path.join(work, 'p.camlabel')
  const store = ProjectStore.create(file, images)
  const fp = await fileFingerprint(jpeg)
  const { ids } = store.images.upsert([{ file: 'a.jpg', width: 40, height: 30, ...fp }])
  draw(store, ids.get('a.jpg')!, 'cat', { x0: 1, y0: 2, x1: 20, y1: 25 })
  return { work, images, file, store }
}

describe('export --out safety', () => {
  it('refuses --overwrite onto the image folder, a parent of it, or the project file', async () => {
    const { work, images, file, store } = await project('guard')
    const jpeg = readFileSync(path.join(images, 'a.jpg'))
    try {
      const cases: [string, 'coco' | 'voc' | 'yolo', RegExp][] = [
        [images, 'yolo', /is the image folder/],
        [work, 'voc', /holds the project file/],
        [path.dirname(work), 'yolo', /holds the project file/],
        [file, 'coco', /is the project file/],
        [path.join(images, 'export'), 'voc', /inside the project's image folder/],
        [path.join(images, '.'), 'coco', /is the image folder/],
      ]
      for (const [outPath, format, why] of cases) {
        const err = await exportProject(store, { format, outPath, overwrite: true }).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err, `${format} → ${outPath}`).toMatchObject({ code: 'INVALID_ARGUMENT' })
        expect((err as Error).message).toMatch(why)
        expect((err as { hint?: string }).hint).toMatch(/--out/)
      }
      // Nothing was touched: the image and the project are as they were.
      expect(readFileSync(path.join(images, 'a.jpg')).equals(jpeg)).toBe(true)
      expect(existsSync(path.join(images, 'export'))).toBe(false)
      expect(store.counts().images).toBe(1)
    } finally {
      store.close()
    }
    const again = ProjectStore.open(file, { readonly: true })
    expect(again.images.count()).toBe(1)
    again.close()
  })

  it('still writes next to the project and a COCO file inside the image folder', async () => {
    const { work, images, store } = await project('ok')
    try {
      const voc = await exportProject(store, { format: 'voc', outPath: path.join(work, 'voc') })
      expect(voc).toMatchObject({ images: 1, boxes: 1 })
      const json = path.join(images, 'annotations.json')
      await exportProject(store, { format: 'coco', outPath: json })
      expect(JSON.parse(readFileSync(json, 'utf8')).annotations).toHaveLength(1)
    } finally {
      store.close()
    }
  })
})
