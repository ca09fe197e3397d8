/**
 * Where the Electron app finds its models. The engine reads `CAMLABEL_MODELS_DIR` (and the
 * inference worker inherits the environment), so this only has to set it before the services start:
 *
 * - development and `electron-vite preview`: the repository's `models/` (app.getAppPath() is the
 *   repository root there), where `npm run models` put the default model;
 * - a packaged app: the user's data folder (`<userData>/models`), writable, so models fetched later
 *   persist across updates; the files shipped in `<resources>/models` (the manifest and the default
 *   model, when the package includes them as extra resources) are copied there on first start, so
 *   the default model works offline.
 *
 * `CAMLABEL_MANIFEST` names the shipped manifest for the engine (see the note in the helper report:
 * manifest.ts resolves it relative to its own bundled file, which differs per bundle chunk).
 */
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'

export interface ModelsLocation {
  /** Folder the engine loads .onnx files from. */
  modelsDir: string
  /** The manifest shipped with the app. */
  manifest: string
  /** Files copied from the shipped folder on this start. */
  copied: string[]
}

/** Copies the files of `from` missing in `to` (never overwrites: the user's copy wins). */
export function seedModels(from: string, to: string): string[] {
  if (!existsSync(from)) return []
  mkdirSync(to, { recursive: true })
  const copied: string[] = []
  for (const name of readdirSync(from)) {
    const target = path.join(to, name)
    if (existsSync(target)) continue
    cpSync(path.join(from, name), target, { recursive: true })
    copied.push(name)
  }
  return copied
}

/** Sets CAMLABEL_MODELS_DIR / CAMLABEL_MANIFEST unless the user already did. */
export function configureModels(app: {
  isPackaged: boolean
  getAppPath(): string
  getPath(name: 'userData'): string
}): ModelsLocation {
  const shipped = app.isPackaged
    ? path.join(process.resourcesPath, 'models')
    : path.join(app.getAppPath(), 'models')
  let copied: string[] = []
  if (!process.env.CAMLABEL_MODELS_DIR) {
    if (app.isPackaged) {
      const dir = path.join(app.getPath('userData'), 'models')
      copied = seedModels(shipped, dir)
      process.env.CAMLABEL_MODELS_DIR = dir
    } else {
      process.env.CAMLABEL_MODELS_DIR = shipped
    }
  }
  process.env.CAMLABEL_MANIFEST ??= path.join(shipped, 'manifest.json')
  return {
    modelsDir: process.env.CAMLABEL_MODELS_DIR,
    manifest: process.env.CAMLABEL_MANIFEST,
    copied,
  }
}
