/**
 * Importing annotations into a project: a wrong --voc/--yolo folder is refused (not reported as a
 * minor problem with exit 0), before anything is imported; COCO entries are applied per image.
 * Real images (written by sharp), real SQLite, the real CLI.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importProject } from '../../src/main/project/importProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { runCamlabel } from '../helpers/cli.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-import-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const images = path.join(tmp, 'images')

beforeAll(async () => {
  mkdirSync(images)
  for (const name of ['a', 'b', 'c']) {
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
      .png()
      .toFile(path.join(images, `${name}.png`))
  }
})

describe('import label sources', () => {
  it('camlabel init with a missing --voc or --yolo folder fails and makes no project', async () => {
    for (const kind of ['voc', 'yolo']) {
      const file = path.join(tmp, `${kind}.camlabel`)
      const { code, err } = await runCamlabel(
        ['init', file, '--images', images, `--${kind}`, path.join(tmp, 'no-such-folder')],
        tmp,
      )
      expect(code).toBe(1)
      const name = kind === 'voc' ? 'VOC annotation folder' : 'YOLO folder'
      expect(err).toMatch(new RegExp(`The ${name} .*no-such-folder does not exist`))
      expect(existsSync(file)).toBe(false)
    }
  })

  it('importProject refuses a missing folder before importing any image', async () => {
    const store = ProjectStore.create(path.join(tmp, 'p.camlabel'), images)
    try {
      await expect(
        importProject(store, { labels: { kind: 'yolo', dir: path.join(tmp, 'nope') } }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' })
      await expect(
        importProject(store, { labels: { kind: 'voc', dir: path.join(images, 'a.png') } }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/is a file, not a folder/),
      })
      expect(store.images.count()).toBe(0)
    } finally {
      store.close()
    }
  })

  it('COCO: every entry that resolves gets its boxes, the others are reported', async () => {
    const coco = path.join(tmp, 'ann.json')
    writeFileSync(
      coco,
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.png', width: 64, height: 48 },
          { id: 2, file_name: 'missing.png', width: 64, height: 48 },
          { id: 3, file_name: 'c.png', width: 64, height: 48 },
        ],
        categories: [{ id: 1, name: 'cat' }],
        annotations: [
          { id: 1, image_id: 1, category_id: 1, bbox: [1, 2, 10, 10] },
          { id: 2, image_id: 2, category_id: 1, bbox: [1, 2, 10, 10] },
          { id: 3, image_id: 3, category_id: 1, bbox: [50, 40, 30, 30] },
        ],
      }),
    )
    const store = ProjectStore.create(path.join(tmp, 'coco.camlabel'), images)
    try {
      const r = await importProject(store, { labels: { kind: 'coco', path: coco } })
      expect(r.imported).toBe(3)
      expect(r.boxes).toBe(2)
      expect(r.problems.map((p) => p.message).join(' | ')).toMatch(/image 2: .*missing\.png/)
      const c = store.review.boxes(store.images.byFile('c.png')!.id)
      expect(c.map((b) => b.box)).toEqual([{ x0: 50, y0: 40, x1: 64, y1: 48 }]) // clipped
    } finally {
      store.close()
    }
  })
})
