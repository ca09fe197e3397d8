/**
 * The installed app, checked where no Electron binary can be fetched. electron-builder itself packs
 * the app with electron-builder.yml (its `dir` target: the folder every Linux installer wraps, the
 * same resources/ layout as the Windows and macOS ones) around a stand-in for Electron's
 * distribution: a script that runs the real Node when ELECTRON_RUN_AS_NODE=1 is set, as Electron
 * does, and otherwise says that the app would start. The tests then read what electron-builder
 * produced: the asar archive, what it unpacked, the extra resources, and the launcher.
 *
 * Electron's rules assumed (electron/docs/tutorial/asar-archives.md): native modules and their
 * shared libraries cannot be loaded from inside app.asar, electron-builder's asarUnpack puts them
 * in app.asar.unpacked, and Electron redirects loads there; worker_threads read from app.asar since
 * electron/electron#33216.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { extractAll, listPackage } from '@electron/asar'
import { Arch, build, Platform } from 'electron-builder'
import { configureModels, installedPlace, userDataDir } from '../../src/main/app/models.ts'
import { classesAsset, defaultModel, loadManifest } from '../../src/main/engine/manifest.ts'
import { workerEntry } from '../../src/main/jobs/threads.ts'
import { hasNodeSqlite } from '../../src/main/store/sqlite.ts'

const repo = path.resolve(import.meta.dirname, '../..')
const raccoon = path.resolve(repo, '../shared/data/raccoon/images')

/** How a `.node` file registers: N-API (ABI-stable), the V8/Node ABI of one runtime, or neither. */
function addonKind(file: string): 'n-api' | 'v8-abi' | 'not an addon' {
  const bytes = readFileSync(file)
  if (bytes.includes('napi_register_module_v1')) return 'n-api'
  if (bytes.includes('node_register_module_v')) return 'v8-abi'
  return 'not an addon'
}

function filesUnder(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) filesUnder(file, keep, out)
    else if (entry.isFile() && keep(file)) out.push(file)
  }
  return out
}

const isAddon = (f: string) => f.endsWith('.node')
const isSharedLibrary = (f: string) => /\.(so(\.\d+)*|dylib|dll)$/.test(path.basename(f))

describe.skipIf(process.platform !== 'linux')(
  'the packaged app (electron-builder, Linux layout)',
  () => {
    const work = mkdtempSync(path.join(tmpdir(), 'camlabel-pack-'))
    const config = parseYaml(
      readFileSync(path.join(repo, 'electron-builder.yml'), 'utf8'),
    ) as Record<string, unknown>
    let resources = ''
    /** The archive's entries: path inside app.asar → whether electron-builder unpacked it. */
    const entries = new Map<string, boolean>()
    /** A copy of the install with app.asar extracted in place, for plain Node to run. */
    let installed = ''

    beforeAll(async () => {
      for (const built of ['out/main/index.js', 'out/main/cli.js', 'out/renderer/index.html'])
        if (!existsSync(path.join(repo, built)))
          throw new Error(`${built} is missing: build the app first (npm run build; npm test does)`)
      const dist = path.join(work, 'electron-dist')
      mkdirSync(dist)
      // Electron's executable: Node when run as Node, else a line saying what it was asked to open.
      writeFileSync(
        path.join(dist, 'electron'),
        [
          '#!/bin/sh',
          `[ "$ELECTRON_RUN_AS_NODE" = 1 ] && exec '${process.execPath}' "$@"`,
          'echo "camlabel app started with: $*"',
          '',
        ].join('\n'),
      )
      chmodSync(path.join(dist, 'electron'), 0o755)
      for (const f of ['LICENSE', 'LICENSES.chromium.html']) writeFileSync(path.join(dist, f), '')
      const electronVersion = (
        JSON.parse(readFileSync(path.join(repo, 'node_modules/electron/package.json'), 'utf8')) as {
          version: string
        }
      ).version
      await build({
        projectDir: repo,
        targets: Platform.LINUX.createTarget('dir', Arch.x64),
        publish: 'never',
        // Read on top of electron-builder.yml, which electron-builder loads itself.
        config: {
          // The stand-in has no fuse sentinel to flip; a real build flips the configured fuses.
          electronFuses: null,
          electronDist: dist,
          electronVersion,
          directories: { ...(config.directories as object), output: path.join(work, 'dist') },
        },
      })
      resources = path.join(work, 'dist/linux-unpacked/resources')
      for (const line of listPackage(path.join(resources, 'app.asar'), { isPack: true })) {
        const m = /^(unpack|pack) +: (.*)$/.exec(line)
        if (m) entries.set(m[2]!.replaceAll('\\', '/'), m[1] === 'unpack')
      }
      installed = path.join(work, 'installed')
      cpSync(path.join(work, 'dist/linux-unpacked'), installed, { recursive: true })
      rmSync(path.join(installed, 'resources/app.asar'))
      extractAll(path.join(resources, 'app.asar'), path.join(installed, 'resources/app.asar'))
    }, 240_000)

    afterAll(() => rmSync(work, { recursive: true, force: true }))

    test('every native addon the app can load is N-API and unpacked, with its shared libraries', () => {
      const addons = [...entries.keys()].filter(isAddon)
      const libraries = [...entries.keys()].filter(isSharedLibrary)
      // sharp's and onnxruntime's addons for this platform, and libvips / libonnxruntime beside them.
      expect(addons.some((f) => f.includes('/@img/sharp-linux-x64/'))).toBe(true)
      expect(addons.some((f) => f.includes('/onnxruntime-node/bin/napi-v6/linux/x64/'))).toBe(true)
      expect(libraries.some((f) => /libvips-cpp\.so/.test(f))).toBe(true)
      expect(libraries.some((f) => /libonnxruntime\.so/.test(f))).toBe(true)
      for (const file of [...addons, ...libraries]) {
        expect(entries.get(file), `${file} must be unpacked (asarUnpack)`).toBe(true)
        expect(existsSync(path.join(resources, 'app.asar.unpacked', file))).toBe(true)
      }
      for (const file of addons)
        expect(addonKind(path.join(resources, 'app.asar.unpacked', file)), file).toBe('n-api')
      // The V8-ABI SQLite addon serves the command line on old Node only; the app has node:sqlite.
      expect([...entries.keys()].filter((f) => f.includes('/better-sqlite3/'))).toEqual([])
      // Only this platform's onnxruntime (the others are 80 MB the user would download for nothing).
      expect(addons.filter((f) => /napi-v6\/(darwin|win32)|linux\/arm64/.test(f))).toEqual([])
    })

    test('every .node file of the installed dependencies is N-API, or kept out of the app', () => {
      // The production closure as npm installed it (what electron-builder collects from).
      const dirs = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
        cwd: repo,
        encoding: 'utf8',
      })
        .split('\n')
        .filter((d) => d.includes(`${path.sep}node_modules${path.sep}`))
      const addons = [...new Set(dirs)].flatMap((d) =>
        existsSync(d)
          ? filesUnder(d, isAddon).map((file) => ({ file, kind: addonKind(file) }))
          : [],
      )
      expect(addons.length).toBeGreaterThan(0)
      const v8abi = addons.filter((a) => a.kind === 'v8-abi')
      for (const a of v8abi) {
        const inside = path.relative(repo, a.file).replaceAll(path.sep, '/')
        expect(inside, 'a V8-ABI addon must be excluded from the app').toMatch(
          /^node_modules\/better-sqlite3\//,
        )
        expect(entries.has(`/${inside}`)).toBe(false)
      }
    })

    test('the manifest, the default model and its classes ship as resources, and the app finds them', () => {
      const manifest = loadManifest(path.join(repo, 'models/manifest.json'))
      const model = defaultModel(manifest)
      for (const file of ['manifest.json', model.file, classesAsset(model, manifest).file])
        expect(existsSync(path.join(resources, 'models', file)), file).toBe(true)
      // Where the installed app's main process and its command line look: the same place.
      const cli = path.join(resources, 'app.asar/out/main/cli.js')
      const place = installedPlace(cli)!
      expect(place).toMatchObject({ packaged: true, resourcesPath: resources })
      const saved = { ...process.env }
      try {
        delete process.env.CAMLABEL_MODELS_DIR
        delete process.env.CAMLABEL_MANIFEST
        const userData = path.join(work, 'user-data')
        const at = configureModels({ ...place, userData })
        expect(at.manifest).toBe(path.join(resources, 'models/manifest.json'))
        expect(existsSync(at.manifest)).toBe(true)
        expect(existsSync(path.join(userData, 'models', model.file))).toBe(true)
      } finally {
        process.env = saved
      }
    })

    test('the main process finds its window, preload and worker inside the archive', () => {
      for (const file of [
        '/out/main/index.js',
        '/out/preload/index.cjs',
        '/out/renderer/index.html',
      ])
        expect(entries.has(file), file).toBe(true)
      // Workers are started from whichever bundle file holds their starter (threads.ts, which
      // names the bootstrap of the sources): a chunk one folder down, or an entry itself.
      const app = path.join(installed, 'resources/app.asar')
      const holder = filesUnder(path.join(app, 'out/main'), (f) =>
        readFileSync(f, 'utf8').includes('workerBootstrap.mjs'),
      )
      expect(holder.length).toBeGreaterThan(0)
      for (const file of holder) {
        for (const name of ['inferenceWorker', 'imageWorker'] as const) {
          const entry = workerEntry(name, pathToFileURL(file).href)
          expect(entry.viaTsx).toBe(false)
          const inside = path.relative(app, entry.file.pathname).replaceAll(path.sep, '/')
          expect(entries.has(`/${inside}`), inside).toBe(true)
        }
      }
    })

    function launcher(args: string[], env: NodeJS.ProcessEnv = {}, via?: string) {
      const run = spawnSync(via ?? path.join(installed, 'resources/bin/camlabel'), args, {
        encoding: 'utf8',
        env: { ...process.env, XDG_CONFIG_HOME: path.join(work, 'xdg'), ...env },
        timeout: 120_000,
      })
      return { code: run.status, out: run.stdout, err: run.stderr }
    }

    test('the camlabel launcher runs the bundled command line on the app as Node, or starts the app', () => {
      const help = launcher(['--help'])
      expect(help.err).toBe('')
      expect(help.code).toBe(0)
      expect(help.out).toMatch(/^Usage: camlabel <command>/)
      // As the .deb installs it: /usr/bin/camlabel, a link to resources/bin/camlabel.
      const bin = path.join(work, 'usr-bin')
      mkdirSync(bin, { recursive: true })
      symlinkSync(path.join(installed, 'resources/bin/camlabel'), path.join(bin, 'camlabel'))
      expect(launcher(['--help'], {}, path.join(bin, 'camlabel')).out).toMatch(/^Usage: camlabel/)
      // No argument, or only a project: the app itself.
      expect(launcher([]).out).toBe('camlabel app started with: \n')
      expect(launcher(['birds.camlabel']).out).toBe('camlabel app started with: birds.camlabel\n')
      // The installed command line uses the app's models folder, seeded with the shipped model.
      const list = launcher(['models', '--list'])
      expect(list.code).toBe(0)
      expect(list.out).toMatch(/squeezenet1\.1-fp16\s.*present/)
      expect(list.out).toMatch(/mobilenetv2-12-int8\s.*missing/)
      const userData = userDataDir({ XDG_CONFIG_HOME: path.join(work, 'xdg') }, 'linux')
      expect(readdirSync(path.join(userData, 'models')).sort()).toEqual(
        readdirSync(path.join(resources, 'models')).sort(),
      )
    })

    test.skipIf(!hasNodeSqlite())(
      'the installed command line proposes boxes with the packaged onnxruntime, sharp and SQLite',
      () => {
        const images = path.join(work, 'photos')
        mkdirSync(images)
        for (const name of ['raccoon-1.jpg', 'raccoon-2.jpg'])
          cpSync(path.join(raccoon, name), path.join(images, name))
        writeFileSync(
          path.join(work, 'labels.csv'),
          'file,label\nphotos/raccoon-1.jpg,raccoon\nphotos/raccoon-2.jpg,raccoon\n',
        )
        const out = path.join(work, 'proposals.json')
        const run = launcher([
          'propose',
          '--images',
          images,
          '--labels',
          path.join(work, 'labels.csv'),
          '--out',
          out,
          '--provider',
          'cpu',
        ])
        expect(run.err).not.toMatch(/Error|better-sqlite3/)
        expect(run.code).toBe(0)
        const coco = JSON.parse(readFileSync(out, 'utf8')) as {
          images: unknown[]
          annotations: { bbox: number[] }[]
        }
        expect(coco.images).toHaveLength(2)
        expect(coco.annotations.length).toBeGreaterThanOrEqual(2)
        expect(statSync(out).size).toBeGreaterThan(0)
      },
    )
  },
)

describe("the installed command line's data folder", () => {
  test("is Electron's userData for the app: appData, then the app's name", () => {
    // Electron's app.getPath('appData'): %APPDATA% on Windows, ~/Library/Application Support on
    // macOS, $XDG_CONFIG_HOME or ~/.config on Linux (electron/docs/api/app.md, getPath).
    expect(
      userDataDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', 'C:\\Users\\u'),
    ).toBe(path.join('C:\\Users\\u\\AppData\\Roaming', 'camlabel'))
    expect(userDataDir({}, 'darwin', '/Users/u')).toBe(
      path.join('/Users/u', 'Library', 'Application Support', 'camlabel'),
    )
    expect(userDataDir({ XDG_CONFIG_HOME: '/x' }, 'linux', '/home/u')).toBe('/x/camlabel')
    expect(userDataDir({}, 'linux', '/home/u')).toBe('/home/u/.config/camlabel')
    expect(installedPlace('/work/main/out/main/cli.js')).toBeUndefined()
  })
})

describe('npm start without the Electron binary', () => {
  test('says what happened and what to do, and fails', () => {
    // ELECTRON_OVERRIDE_DIST_PATH is where the electron package looks for its binary: an empty
    // folder stands for an install without it, also on machines that have it.
    const empty = mkdtempSync(path.join(tmpdir(), 'camlabel-no-electron-'))
    const run = spawnSync(process.execPath, [path.join(repo, 'scripts/start.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: empty },
    })
    rmSync(empty, { recursive: true })
    expect(run.status).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(
      /^camlabel: the app cannot start: the Electron binary is not installed/,
    )
    expect(run.stderr).toContain('node node_modules/electron/install.js')
    expect(run.stderr).toContain('npx camlabel --help')
    expect(run.stderr).not.toMatch(/Electron failed to install correctly|at .*\.js:\d+/)
  })
})
