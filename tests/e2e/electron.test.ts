/**
 * Smoke tests of the real Electron shell through Playwright's `_electron`: the window opens, the
 * page cannot reach Node (only the bridge), a project opens and proposes boxes in Electron's own
 * Node — its node:sqlite and the real onnxruntime-node — and the provider used is shown. They need
 * the Electron binary, which machines installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1 lack: there
 * they report themselves skipped, saying why (the packaging test and the Node 24 pass of npm test
 * cover the same runtime without it).
 */
import { existsSync, mkdtempSync, mkdirSync, cpSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { _electron } from 'playwright-core'
import { repoRoot } from './host.ts'

function electronBinary(): string | null {
  try {
    const p = createRequire(import.meta.url)('electron') as unknown
    return typeof p === 'string' && existsSync(p) ? p : null
  } catch {
    return null
  }
}

const binary = electronBinary()
const reason =
  'the Electron binary is not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD=1); Chromium e2e tests cover the renderer'

describe.skipIf(!binary)(`Electron shell${binary ? '' : ` — skipped: ${reason}`}`, () => {
  test('the window opens, the page reaches only the bridge, a project opens and proposes', async () => {
    if (!existsSync(path.join(repoRoot, 'out/main/index.js'))) {
      execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' })
    }
    const work = mkdtempSync(path.join(tmpdir(), 'camlabel-electron-'))
    const images = path.join(work, 'images')
    mkdirSync(images)
    const raccoon = path.resolve(repoRoot, '../shared/data/raccoon/images')
    cpSync(path.join(raccoon, 'raccoon-1.jpg'), path.join(images, 'raccoon-1.jpg'))
    writeFileSync(path.join(work, 'labels.csv'), 'file,label\nimages/raccoon-1.jpg,raccoon\n')

    const app = await _electron.launch({
      executablePath: binary!,
      args: [repoRoot, '--no-sandbox'],
      env: { ...process.env, ELECTRON_ENABLE_LOGGING: '1' },
    })
    try {
      const page = await app.firstWindow()
      await page.waitForLoadState('domcontentloaded')
      expect(await page.title()).toBe('camlabel')
      // Node is out of reach: no require, no process, no module; the bridge has exactly three functions.
      const reach = await page.evaluate(() => ({
        require: typeof (globalThis as Record<string, unknown>).require,
        process: typeof (globalThis as Record<string, unknown>).process,
        bridge: Object.keys((globalThis as unknown as { camlabel: object }).camlabel).sort(),
      }))
      expect(reach).toEqual({
        require: 'undefined',
        process: 'undefined',
        bridge: ['imageUrl', 'invoke', 'on'],
      })
      // Unknown routes are refused by the preload.
      const refused = await page.evaluate(() =>
        (
          globalThis as unknown as {
            camlabel: { invoke: (r: string, i: unknown) => Promise<{ ok: boolean }> }
          }
        ).camlabel.invoke('fs.readFile', {}),
      )
      expect(refused.ok).toBe(false)
      // A project opens through the UI; the native dialogs answer as a person choosing would.
      const choose = async (testid: string, file: string, save = false) => {
        await app.evaluate(
          ({ dialog }, a) => {
            if (a.save)
              dialog.showSaveDialog = (async () => ({ canceled: false, filePath: a.file })) as never
            else
              dialog.showOpenDialog = (async () => ({
                canceled: false,
                filePaths: [a.file],
              })) as never
          },
          { file, save },
        )
        await page.getByTestId(`${testid}-choose`).click()
        await expect.poll(() => page.getByTestId(testid).textContent()).toContain(file)
      }
      await choose('images-dir', images)
      await page.getByTestId('labels-csv').click()
      await choose('labels-path', path.join(work, 'labels.csv'))
      await choose('project-path', path.join(work, 'smoke.camlabel'), true)
      await page.getByTestId('create-project').click()
      await expect.poll(() => page.getByTestId('gallery-item').count()).toBe(1)
      // Proposing runs the model in the app's worker; the store is Electron's node:sqlite.
      await page.getByTestId('run-proposals').click()
      await page.getByTestId('job-done').waitFor({ timeout: 120_000 })
      await expect(page.getByTestId('job-done').textContent()).resolves.toMatch(
        /Proposed boxes for 1 image/,
      )
      await expect(page.getByTestId('provider').textContent()).resolves.toMatch(
        /CPU|CUDA|DML|COREML/,
      )
      const runtime = await app.evaluate(() => ({
        node: process.versions.node,
        sqlite: Boolean(process.getBuiltinModule?.('node:sqlite')),
      }))
      expect(runtime.sqlite).toBe(true)
    } finally {
      await app.close()
    }
  })
})
