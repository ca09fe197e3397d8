/**
 * Nothing outside the project is read or written, and the bridge is as narrow as it claims
 * (docs/SECURITY.md). Each hostile input is built here, in a temporary folder, and fed to the
 * command or the routes a user (or a page gone bad) would reach.
 */
import { execFileSync, spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openSqlite } from '../../src/main/store/sqlite.ts'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { createServices } from '../../src/main/services/index.ts'
import { importProject } from '../../src/main/project/importProject.ts'
import { exportProject } from '../../src/main/project/exportProject.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { runCamlabel } from '../helpers/cli.ts'
import { draw } from '../helpers/review.ts'
import { repoRoot, shared } from '../helpers/shared.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-security-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const raccoon = shared('data/raccoon/images')
let n = 0

/** A folder of three raccoon photos under raccoon/, its project (folders as labels), imported. */
async function project(): Promise<{
  dir: string
  root: string
  file: string
  store: ProjectStore
}> {
  const dir = path.join(tmp, `p${++n}`)
  const root = path.join(dir, 'images')
  mkdirSync(path.join(root, 'raccoon'), { recursive: true })
  for (const f of ['raccoon-1.jpg', 'raccoon-2.jpg', 'raccoon-3.jpg'])
    copyFileSync(path.join(raccoon, f), path.join(root, 'raccoon', f))
  const file = path.join(dir, 'p.camlabel')
  const store = ProjectStore.create(file, root)
  await importProject(store, { labels: { kind: 'folders' } })
  return { dir, root, file, store }
}

/** A secret outside every image root. */
function secret(name: string): { file: string; bytes: Buffer } {
  const file = path.join(tmp, name)
  const bytes = Buffer.from(`root:x:0:0:SECRET-${name}-do-not-leak\n`)
  writeFileSync(file, bytes)
  return { file, bytes }
}

/** Every file under a folder. */
function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
}

describe('image paths: nothing outside the image root is read or written', () => {
  it('a symbolic link swapped in after import is not copied by an export, proposed or served', async () => {
    const { dir, root, store } = await project()
    const s = secret('shadow')
    const victim = path.join(root, 'raccoon', 'raccoon-3.jpg')
    rmSync(victim)
    symlinkSync(s.file, victim)
    const id = store.images.byFile('raccoon/raccoon-3.jpg')!.id
    draw(store, id, 'raccoon', { x0: 1, y0: 1, x1: 20, y1: 20 })
    const out = path.join(dir, 'x.voc')
    const r = await exportProject(store, { format: 'voc', outPath: out, includeUnreviewed: true })
    expect(r.problems?.find((p) => p.file === 'raccoon/raccoon-3.jpg')?.message).toMatch(
      /resolves outside the image folder.*not read/,
    )
    for (const f of walk(out)) expect(readFileSync(f).includes(s.bytes)).toBe(false)
    expect(readdirSync(path.join(out, 'JPEGImages', 'raccoon')).sort()).toEqual([
      'raccoon-1.jpg',
      'raccoon-2.jpg',
    ])
    const run = await proposeProject(store, { providers: 'cpu' })
    expect(run.failed).toBe(1)
    expect(store.runs.errors().map((e) => [e.file, e.code])).toEqual([
      ['raccoon/raccoon-3.jpg', 'PATH_OUTSIDE_ROOT'],
    ])
    const services = createServices({
      dataDir: path.join(dir, 'data'),
      shell: 'test-host',
      emit: () => {},
    })
    await services.context.setProject(store)
    await expect(services.image(`image/${id}`)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' })
    await expect(services.image(`thumb/${id}`)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' })
    await services.context.close()
  })

  it("a project file whose image row names '../../../victim.jpg' is refused on open, naming the row", async () => {
    const { dir, file, store } = await project()
    store.close()
    const victim = path.join(dir, 'victim.jpg')
    writeFileSync(victim, 'the victim file')
    const raw = openSqlite(file)
    raw
      .prepare(
        "UPDATE images SET path = '../../../victim.jpg' WHERE path = 'raccoon/raccoon-2.jpg'",
      )
      .run()
    raw.close()
    expect(() => ProjectStore.open(file)).toThrow(
      expect.objectContaining({
        code: 'PATH_OUTSIDE_ROOT',
        message: expect.stringMatching(/image row \d+ names "\.\.\/\.\.\/\.\.\/victim\.jpg"/),
      }),
    )
    for (const format of ['yolo', 'voc']) {
      const r = await runCamlabel([
        'export',
        file,
        '--format',
        format,
        '--no-images',
        '--out',
        path.join(dir, `o-${format}`),
      ])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/is refused: image row/)
    }
    expect(readFileSync(victim, 'utf8')).toBe('the victim file')
  })
})

describe('the bridge takes chosen paths only', () => {
  const services = () => {
    const dir = mkdtempSync(path.join(tmp, 'bridge-'))
    return {
      dir,
      s: createServices({
        dataDir: path.join(dir, 'data'),
        shell: 'test-host',
        emit: () => {},
        checkOutput: true,
      }),
    }
  }

  it('a path where a chosen token belongs is refused before anything is read; a forged token too', async () => {
    const { dir, s } = services()
    const { root } = await project()
    const images = s.context.grants.grant('folder', root).token
    const asPath = await s.router.dispatch('project.create', {
      images,
      labels: { kind: 'csv', path: '/etc/passwd' },
    })
    expect(asPath).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } })
    const forged = await s.router.dispatch('project.create', {
      images,
      labels: { kind: 'csv', file: 'f'.repeat(32) },
    })
    expect(forged).toMatchObject({
      ok: false,
      error: {
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/not chosen in this window/),
      },
    })
    // a token of another kind: a folder chosen as images is not a place to save
    const exported = await s.router.dispatch('export.run', { format: 'coco', out: images })
    expect(exported).toMatchObject({ ok: false })
    expect(existsSync(path.join(dir, 'data'))).toBe(false)
    await s.context.close()
  })

  it('a file the user chose that is not a labels CSV is refused without echoing its content', async () => {
    const { s } = await services()
    const { root } = await project()
    const passwd = secret('passwd')
    const coco = secret('coco.json')
    for (const [kind, file] of [
      ['csv', passwd.file],
      ['coco', coco.file],
    ] as const) {
      const r = await s.router.dispatch('project.create', {
        images: s.context.grants.grant('folder', root).token,
        project: s.context.grants.grant('save', path.join(tmp, `leak-${kind}.camlabel`)).token,
        labels: { kind, file: s.context.grants.grant('file', file).token },
      })
      expect(JSON.stringify(r)).not.toContain('SECRET')
      expect(JSON.stringify(r)).not.toContain('root:x')
    }
    await s.context.close()
  })
})

describe('exports replace only earlier exports', () => {
  it('--overwrite refuses a folder that is not a camlabel export of that format, and keeps it', async () => {
    const { dir, file, store } = await project()
    store.close()
    const thesis = path.join(dir, 'thesis')
    mkdirSync(thesis)
    writeFileSync(path.join(thesis, 'chapter1.tex'), '\\chapter{One}')
    writeFileSync(path.join(thesis, 'chapter2.tex'), '\\chapter{Two}')
    for (const format of ['voc', 'yolo']) {
      const r = await runCamlabel([
        'export',
        file,
        '--format',
        format,
        '--out',
        thesis,
        '--overwrite',
      ])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(
        /Refusing to replace .*thesis: it is not a camlabel .* export \(it holds chapter1\.tex, chapter2\.tex\)/,
      )
    }
    expect(readdirSync(thesis).sort()).toEqual(['chapter1.tex', 'chapter2.tex'])
    // an earlier export of the format is replaced; one of another format is not
    const voc = path.join(dir, 'voc')
    expect((await runCamlabel(['export', file, '--format', 'voc', '--out', voc])).code).toBe(0)
    expect(
      (await runCamlabel(['export', file, '--format', 'voc', '--out', voc, '--overwrite'])).code,
    ).toBe(0)
    const yoloOverVoc = await runCamlabel([
      'export',
      file,
      '--format',
      'yolo',
      '--out',
      voc,
      '--overwrite',
    ])
    expect(yoloOverVoc.err).toMatch(/it is a camlabel voc export, not yolo/)
    // a JSON file that camlabel did not write is not replaced by a COCO export either
    const notes = path.join(dir, 'notes.json')
    writeFileSync(notes, '{"mine": true}')
    const coco = await runCamlabel([
      'export',
      file,
      '--format',
      'coco',
      '--out',
      notes,
      '--overwrite',
    ])
    expect(coco.err).toMatch(/it is not a COCO file camlabel wrote/)
    expect(readFileSync(notes, 'utf8')).toBe('{"mine": true}')
  })

  it('--overwrite onto a special file (a FIFO) or a symbolic link is refused', async () => {
    const { dir, file, store } = await project()
    store.close()
    const fifo = path.join(dir, 'pipe.json')
    execFileSync('mkfifo', [fifo])
    const r = await runCamlabel(['export', file, '--format', 'coco', '--out', fifo, '--overwrite'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/it is a special file/)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    const link = path.join(dir, 'link.json')
    symlinkSync(path.join(dir, 'elsewhere.json'), link)
    const l = await runCamlabel(['export', file, '--format', 'coco', '--out', link, '--overwrite'])
    expect(l.err).toMatch(/it is a symbolic link/)
    // a folder path under a file: said so, not a raw ENOTDIR
    const under = await runCamlabel([
      'export',
      file,
      '--format',
      'coco',
      '--out',
      path.join(file, 'x.json'),
    ])
    expect(under.err).toMatch(/a part of its path is a file, not a folder/)
  })

  it('temporary folders of a killed export are swept by the next export to the same place', async () => {
    const { dir, file, store } = await project()
    store.close()
    const out = path.join(dir, 'yolo')
    const dead = path.join(dir, `.yolo.tmp-999999-abcd`)
    mkdirSync(path.join(dead, 'images'), { recursive: true })
    writeFileSync(path.join(dead, 'images', 'big.jpg'), Buffer.alloc(1024))
    expect((await runCamlabel(['export', file, '--format', 'yolo', '--out', out])).code).toBe(0)
    expect(existsSync(dead)).toBe(false)
  })
})

describe('projects: whole or absent, read-only shares, the image folder', () => {
  it("init over an existing project with another --images says so (not 'connection is not open')", async () => {
    const { dir, file, store } = await project()
    store.close()
    const r = await runCamlabel(['init', file, '--images', path.join(dir, 'other')])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/already holds the images of .*images, not .*other/)
    expect(r.err).not.toMatch(/not open/)
  })

  it('a create killed before it finishes leaves no project, and the next create works', async () => {
    const dir = mkdtempSync(path.join(tmp, 'killed-'))
    const file = path.join(dir, 'k.camlabel')
    // A migration that takes seconds (a long recursive query), so the kill lands inside create.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import { ProjectStore } from ${JSON.stringify(path.join(repoRoot, 'src/main/store/projectStore.ts'))}
         import { MIGRATIONS } from ${JSON.stringify(path.join(repoRoot, 'src/main/store/schema.ts'))}
         const slow = { version: 99, description: 'slow', sql: 'CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT count(*) AS n FROM c;' }
         process.stdout.write('started\\n')
         ProjectStore.create(${JSON.stringify(file)}, ${JSON.stringify(dir)}, { migrations: [...MIGRATIONS, slow] })`,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()))
    await new Promise((r) => setTimeout(r, 1500))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(existsSync(file)).toBe(false)
    expect(readdirSync(dir).some((f) => f.startsWith('k.camlabel.creating-'))).toBe(true)
    ProjectStore.create(file, dir).close()
    expect(ProjectStore.open(file).imageRoot).toBe(dir)
    expect(readdirSync(dir).filter((f) => f.startsWith('k.camlabel.'))).toEqual([])
  })

  it('a project on a read-only share opens read-only: status and export work, with a note', async () => {
    const { dir, file, store } = await project()
    draw(store, store.images.byFile('raccoon/raccoon-1.jpg')!.id, 'raccoon', {
      x0: 1,
      y0: 1,
      x1: 9,
      y1: 9,
    })
    store.close()
    const out = mkdtempSync(path.join(tmpdir(), 'camlabel-ro-out-'))
    chmodSync(out, 0o777)
    chmodSync(tmp, 0o755) // mkdtemp's 0700 would keep the ordinary user out of the project too
    chmodSync(file, 0o444)
    chmodSync(dir, 0o555)
    try {
      // As root, permissions do not bind: the command runs as an ordinary user then.
      const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
      const camlabel = (...args: string[]) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const c = spawn(process.execPath, [path.join(repoRoot, 'bin/camlabel.mjs'), ...args], {
            cwd: out,
            env: { ...process.env, HOME: out },
            ...asUser,
          })
          let o = ''
          let e = ''
          c.stdout.on('data', (d: Buffer) => (o += d))
          c.stderr.on('data', (d: Buffer) => (e += d))
          c.on('exit', (code) => resolve({ code, out: o, err: e }))
        })
      const status = await camlabel('status', file)
      expect(status.code, status.err).toBe(0)
      expect(status.err).toMatch(/note: opened read-only from a snapshot/)
      expect(status.out).toMatch(/images in .*: 3/)
      const exported = await camlabel(
        'export',
        file,
        '--format',
        'coco',
        '--out',
        path.join(out, 'x.json'),
      )
      expect(exported.code, exported.err).toBe(0)
      expect(JSON.parse(readFileSync(path.join(out, 'x.json'), 'utf8')).annotations).toHaveLength(1)
      const propose = await camlabel('propose', file)
      expect(propose.code).toBe(1)
      expect(propose.err).toMatch(/read-only .* this command changes the project/)
      expect(propose.err).not.toMatch(/not a camlabel project/)
    } finally {
      chmodSync(dir, 0o755)
      chmodSync(file, 0o644)
    }
    expect(readdirSync(dir).sort()).toEqual(['images', 'p.camlabel'])
  })

  it('a symbolic link to a FIFO in the image folder is skipped; init does not hang', async () => {
    const dir = mkdtempSync(path.join(tmp, 'fifo-'))
    const root = path.join(dir, 'images')
    mkdirSync(path.join(root, 'raccoon'), { recursive: true })
    copyFileSync(path.join(raccoon, 'raccoon-1.jpg'), path.join(root, 'raccoon', 'ok.jpg'))
    execFileSync('mkfifo', [path.join(dir, 'pipe')])
    symlinkSync(path.join(dir, 'pipe'), path.join(root, 'raccoon', 'pipe.jpg'))
    execFileSync('mkfifo', [path.join(root, 'raccoon', 'direct.jpg')])
    const r = await runCamlabel(['init', path.join(dir, 'f.camlabel'), '--images', root])
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/1 images imported/)
  })

  it('a zero-byte project file is refused, and not turned into a project', async () => {
    const file = path.join(tmp, 'zero.camlabel')
    writeFileSync(file, '')
    for (const args of [
      ['status', file],
      ['propose', file],
    ]) {
      const r = await runCamlabel(args)
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/is empty \(0 bytes\), not a camlabel project/)
    }
    expect(statSync(file).size).toBe(0)
  })
})

describe('labels and images that would corrupt other tools', () => {
  it('labels with a line break or NUL are refused at every entry, naming the row', async () => {
    const { dir, root, store } = await project()
    const csv = path.join(dir, 'labels.csv')
    writeFileSync(
      csv,
      'file,label\nimages/raccoon/raccoon-1.jpg,"rac\ncoon"\nimages/raccoon/raccoon-2.jpg,raccoon\nimages/raccoon/raccoon-3.jpg,"a\u0000b"\n',
    )
    const other = ProjectStore.create(path.join(dir, 'csv.camlabel'), root)
    const r = await importProject(other, { labels: { kind: 'csv', path: csv } })
    expect(
      r.problems
        .filter((p) => /line break or control character/.test(p.message))
        .map((p) => p.file),
    ).toEqual(['labels.csv:2', 'labels.csv:5'])
    expect(other.labels.classes().map((c) => c.name)).toEqual(['raccoon'])
    const coco = path.join(dir, 'c.json')
    writeFileSync(
      coco,
      JSON.stringify({
        images: [{ id: 1, file_name: 'raccoon/raccoon-1.jpg', width: 650, height: 417 }],
        categories: [{ id: 1, name: 'bad\nname' }],
        annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 10, 10] }],
      }),
    )
    const c = await importProject(ProjectStore.create(path.join(dir, 'coco.camlabel'), root), {
      labels: { kind: 'coco', path: coco },
    })
    expect(c.problems.map((p) => p.message).join('\n')).toMatch(
      /category 1: the label "bad\\nname" holds a line break/,
    )
    const vocDir = path.join(dir, 'voc')
    mkdirSync(vocDir)
    writeFileSync(
      path.join(vocDir, 'raccoon-1.xml'),
      '<annotation><filename>raccoon-1.jpg</filename><object><name><![CDATA[rac\ncoon]]></name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>',
    )
    const v = await importProject(ProjectStore.create(path.join(dir, 'voc.camlabel'), root), {
      labels: { kind: 'voc', dir: vocDir },
    })
    expect(v.problems.map((p) => p.message).join('\n')).toMatch(
      /object 1: the label .* holds a line break/,
    )
    const services = createServices({
      dataDir: path.join(dir, 'data'),
      shell: 'test-host',
      emit: () => {},
      checkOutput: true,
    })
    await services.context.setProject(store)
    const id = store.images.byFile('raccoon/raccoon-1.jpg')!.id
    const saved = await services.router.dispatch('image.save', {
      imageId: id,
      threshold: 0.2,
      boxes: [
        {
          id: 'm1',
          label: 'two\nlines',
          box: { x0: 1, y0: 1, x1: 9, y1: 9 },
          status: 'manual',
          score: null,
        },
      ],
    })
    expect(saved).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/line break/) },
    })
    await services.context.close()
  })

  it('an image changed on disk after import is re-read before a run and an export', async () => {
    const { dir, root, store } = await project()
    const id = store.images.byFile('raccoon/raccoon-2.jpg')!.id
    const before = store.images.get(id)!
    await proposeProject(store, { providers: 'cpu' })
    const exported = path.join(dir, 'before.json')
    // The photo is replaced by a smaller one of the same name.
    await sharp(path.join(raccoon, 'raccoon-2.jpg'))
      .resize(200, 120, { fit: 'fill' })
      .toFile(path.join(dir, 'small.jpg'))
    copyFileSync(path.join(dir, 'small.jpg'), path.join(root, 'raccoon', 'raccoon-2.jpg'))
    // An export now (read-only) writes the current size and says so.
    const e = await exportProject(store, {
      format: 'coco',
      outPath: exported,
      includeProposals: true,
    })
    expect(e.problems?.find((p) => p.file === 'raccoon/raccoon-2.jpg')?.message).toMatch(
      /changed on disk.*200x120/,
    )
    const coco = JSON.parse(readFileSync(exported, 'utf8')) as {
      images: { file_name: string; width: number; height: number }[]
    }
    expect(coco.images.find((i) => i.file_name === 'raccoon/raccoon-2.jpg')).toMatchObject({
      width: 200,
      height: 120,
    })
    // A run re-reads it: new size and fingerprint, proposed again at that size.
    const r = await proposeProject(store, { providers: 'cpu' })
    expect(r.changed).toEqual(['raccoon/raccoon-2.jpg'])
    expect(r.done).toBe(1)
    const after = store.images.get(id)!
    expect([after.width, after.height]).toEqual([200, 120])
    expect(after.hash).not.toBe(before.hash)
    for (const b of store.review.boxes(id)) {
      expect(b.box.x1).toBeLessThanOrEqual(200)
      expect(b.box.y1).toBeLessThanOrEqual(120)
    }
  })
})

describe('two runs on one project', () => {
  it('a second run while one is working is refused at once, naming the first', async () => {
    const { root, file, store } = await project()
    for (const f of readdirSync(raccoon).slice(0, 60))
      copyFileSync(path.join(raccoon, f), path.join(root, 'raccoon', `copy-${f}`))
    await importProject(store, { labels: { kind: 'folders' } })
    store.close()
    const first = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin/camlabel.mjs'), 'propose', file, '--provider', 'cpu'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    let err = ''
    await new Promise<void>((resolve) =>
      first.stderr.on('data', (d: Buffer) => {
        err += d
        if (/ on cpu/.test(err)) resolve()
      }),
    )
    const second = await runCamlabel(['propose', file, '--provider', 'cpu'])
    const firstCode = await new Promise((r) => first.once('exit', r))
    expect(firstCode).toBe(0)
    expect(second.code).toBe(1)
    expect(second.err).toMatch(
      /Another camlabel \(process \d+, propose\) is working on this project/,
    )
  })
})
