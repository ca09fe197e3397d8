/** The route registry and dispatch: duplicates refused, inputs validated, errors returned as data. */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { defineRoute, routeMap, type InvokeResult } from '../../src/shared/contracts/contract.ts'
import { createRouter } from '../../src/main/services/router.ts'
import { createServices } from '../../src/main/services/index.ts'
import { parseImageRequest } from '../../src/main/services/images.ts'

const services = () =>
  createServices({
    dataDir: mkdtempSync(path.join(tmpdir(), 'camlabel-routes-')),
    shell: 'test-host',
    emit: () => {},
  })

describe('route registry', () => {
  test('two contracts with one name are refused', () => {
    const a = defineRoute('x.y', z.object({}), z.null())
    expect(() => routeMap([a, a])).toThrow(/Duplicate route contract 'x.y'/)
  })

  test('a route registered twice, or left without a handler, is refused', () => {
    const s = services()
    expect(() =>
      createRouter([{ 'project.summary': () => null }, { 'project.summary': () => null }]),
    ).toThrow(/registered twice/)
    expect(() => createRouter([{ 'project.summary': () => null }])).toThrow(/without a handler/)
    expect(s.router.names().length).toBeGreaterThan(10)
  })

  test('unknown routes and bad input come back as errors naming the field', async () => {
    const s = services()
    expect(await s.router.dispatch('fs.readFile', {})).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    })
    const bad = await s.router.dispatch('gallery.page', { offset: -1, limit: 10 })
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.error.message).toMatch(/offset/)
    const none = await s.router.dispatch('gallery.page', { offset: 0, limit: 10 })
    expect(none).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', hint: expect.stringMatching(/open a project/i) },
    })
  })

  test('image requests name an id, never a path', () => {
    expect(parseImageRequest('image/12')).toEqual({ variant: 'full', id: 12 })
    expect(parseImageRequest('/thumb/3')).toEqual({ variant: 'thumb', id: 3 })
    expect(parseImageRequest('thumb1x/4')).toEqual({ variant: 'thumb1x', id: 4 })
    expect(parseImageRequest('image/../../etc/passwd')).toBeNull()
    expect(parseImageRequest('image/%2e%2e')).toBeNull()
  })
})

describe('image server', () => {
  test('a project image that is a symlink leading out of the image root is refused', async () => {
    const { mkdirSync, symlinkSync, writeFileSync } = await import('node:fs')
    const { ProjectStore } = await import('../../src/main/store/projectStore.ts')
    const { resolveImageFile } = await import('../../src/main/services/images.ts')
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-img-'))
    mkdirSync(path.join(dir, 'images'))
    writeFileSync(path.join(dir, 'secret.jpg'), 'outside')
    writeFileSync(path.join(dir, 'images', 'ok.jpg'), 'inside')
    symlinkSync(path.join(dir, 'secret.jpg'), path.join(dir, 'images', 'evil.jpg'))
    const store = ProjectStore.create(path.join(dir, 'p.camlabel'), path.join(dir, 'images'))
    const { ids } = store.images.upsert(
      ['ok.jpg', 'evil.jpg'].map((file) => ({
        file,
        width: 1,
        height: 1,
        size: 1,
        mtimeMs: 0,
        hash: file,
      })),
    )
    await expect(resolveImageFile(store, ids.get('ok.jpg')!)).resolves.toMatchObject({
      file: expect.stringContaining('ok.jpg'),
    })
    await expect(resolveImageFile(store, ids.get('evil.jpg')!)).rejects.toMatchObject({
      code: 'PATH_OUTSIDE_ROOT',
    })
    await expect(resolveImageFile(store, 999)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    store.close()
  })
})

describe('models location of the Electron app', () => {
  test('a packaged app copies the shipped models to userData once and points the engine there', async () => {
    const { configureModels } = await import('../../src/main/app/models.ts')
    const { mkdirSync, writeFileSync, readFileSync, existsSync } = await import('node:fs')
    const root = mkdtempSync(path.join(tmpdir(), 'camlabel-models-'))
    const saved = {
      dir: process.env.CAMLABEL_MODELS_DIR,
      manifest: process.env.CAMLABEL_MANIFEST,
    }
    try {
      delete process.env.CAMLABEL_MODELS_DIR
      delete process.env.CAMLABEL_MANIFEST
      mkdirSync(path.join(root, 'resources/models'), { recursive: true })
      writeFileSync(path.join(root, 'resources/models/manifest.json'), '{}')
      writeFileSync(path.join(root, 'resources/models/default.onnx'), 'shipped')
      const app = {
        packaged: true,
        appPath: path.join(root, 'resources/app.asar'),
        resourcesPath: path.join(root, 'resources'),
        userData: path.join(root, 'userData'),
      }
      const first = configureModels(app)
      expect(first.modelsDir).toBe(path.join(root, 'userData/models'))
      expect(process.env.CAMLABEL_MODELS_DIR).toBe(first.modelsDir)
      expect(process.env.CAMLABEL_MANIFEST).toBe(path.join(root, 'resources/models/manifest.json'))
      expect(first.copied.sort()).toEqual(['default.onnx', 'manifest.json'])
      // The user's copy is never overwritten.
      writeFileSync(path.join(first.modelsDir, 'default.onnx'), 'mine')
      delete process.env.CAMLABEL_MODELS_DIR
      expect(configureModels(app).copied).toEqual([])
      expect(readFileSync(path.join(first.modelsDir, 'default.onnx'), 'utf8')).toBe('mine')
      // In development the repository's models/ is used as is.
      delete process.env.CAMLABEL_MODELS_DIR
      const dev = configureModels({
        ...app,
        packaged: false,
        appPath: path.join(root, 'repo'),
      })
      expect(dev.modelsDir).toBe(path.join(root, 'repo/models'))
      expect(existsSync(path.join(root, 'repo'))).toBe(false)
    } finally {
      if (saved.dir === undefined) delete process.env.CAMLABEL_MODELS_DIR
      else process.env.CAMLABEL_MODELS_DIR = saved.dir
      if (saved.manifest === undefined) delete process.env.CAMLABEL_MANIFEST
      else process.env.CAMLABEL_MANIFEST = saved.manifest
    }
  })
})

describe('label sources and mappings', () => {
  test('one unknown label warns to add negatives; a mapping is validated, stored and shown', async () => {
    const { mkdirSync } = await import('node:fs')
    const sharp = (await import('sharp')).default
    const { ensureModel } = await import('../../src/main/engine/modelFetch.ts')
    const { defaultModel } = await import('../../src/main/engine/manifest.ts')
    const shared = path.resolve(import.meta.dirname, '../../../shared/models')
    await ensureModel(defaultModel().id, { from: shared })
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-labels-'))
    mkdirSync(path.join(dir, 'images/widget'), { recursive: true })
    for (const name of ['a', 'b'])
      await sharp({ create: { width: 32, height: 32, channels: 3, background: '#888' } })
        .png()
        .toFile(path.join(dir, 'images/widget', `${name}.png`))
    const s = services()
    const created = await s.router.dispatch('project.create', {
      images: s.context.grants.grant('folder', path.join(dir, 'images')).token,
      project: s.context.grants.grant('save', path.join(dir, 'p.camlabel')).token,
      labels: { kind: 'folders' },
    })
    expect(created.ok).toBe(true)

    type Sources = import('../../src/shared/contracts/labels.ts').LabelSources
    const before = (await s.router.dispatch('labels.sources', {})) as InvokeResult<Sources>
    if (!before.ok) throw new Error(before.error.message)
    expect(before.value).toMatchObject({
      head: null,
      labels: [{ label: 'widget', images: 2, mapping: 'auto', source: 'agnostic' }],
    })
    expect(before.value.warnings.join(' ')).toMatch(/Only one class.*'background'/)

    const bad = await s.router.dispatch('labels.setMapping', {
      label: 'widget',
      mapping: ['n99999999'],
    })
    expect(bad).toMatchObject({
      ok: false,
      error: {
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/'n99999999', which is not a class/),
        hint: expect.stringMatching(/#N-M/),
      },
    })
    const range = await s.router.dispatch('labels.setMapping', {
      label: 'widget',
      mapping: ['#1000-1001'],
    })
    expect(range).toMatchObject({ ok: false, error: { message: expect.stringMatching(/#0-999/) } })
    expect(
      await s.router.dispatch('labels.setMapping', { label: 'gadget', mapping: 'learn' }),
    ).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } })

    const mapped = (await s.router.dispatch('labels.setMapping', {
      label: 'widget',
      mapping: ['#151-153'],
    })) as InvokeResult<Sources>
    if (!mapped.ok) throw new Error(mapped.error.message)
    expect(mapped.value.labels[0]).toMatchObject({
      mapping: ['#151-153'],
      source: 'model',
      modelClasses: [expect.any(String), expect.any(String), expect.any(String)],
    })
    // A label the model knows needs no negatives.
    expect(mapped.value.warnings).toEqual([])
    const reopened = await s.router.dispatch('labels.sources', {})
    expect(reopened).toMatchObject({ ok: true, value: { labels: [{ source: 'model' }] } })
    s.context.close()
  })
})
