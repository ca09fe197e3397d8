/**
 * Where the app, and the command line shipped inside it, find their models. The engine reads
 * `CAMLABEL_MODELS_DIR` and `CAMLABEL_MANIFEST` (the inference worker inherits the environment), so
 * this only has to set them before the services start:
 *
 * - development and `electron-vite preview`: the repository's `models/` (the app path is the
 *   repository root there), where `npm run models` put the default model;
 * - an installed app: the user's data folder (`<userData>/models`), writable, so models fetched
 *   later persist across updates; the files shipped in `<resources>/models` (the manifest and the
 *   default model, electron-builder's extraResources) are copied there on first start, so the
 *   default model works offline. The `camlabel` command of an installed app (the CLI bundle inside
 *   app.asar, run by the launcher) uses the same folder, so a model fetched by one is seen by both.
 */
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'

/** The app's name: Electron's `app.getName()` (package.json productName) and its data folder's. */
export const APP_NAME = 'camlabel'

export interface ModelsLocation {
  /** Folder the engine loads .onnx files from. */
  modelsDir: string
  /** The manifest shipped with the app. */
  manifest: string
  /** Files copied from the shipped folder on this start. */
  copied: string[]
}

/** Where the running code lies. */
export interface AppPlace {
  /** An installed app (code inside resources/app.asar). */
  packaged: boolean
  /** The repository root in development (Electron's app.getAppPath()). */
  appPath: string
  /** `<install>/resources` of an installed app (Electron's process.resourcesPath). */
  resourcesPath: string
  /** The user's data folder (Electron's app.getPath('userData')). */
  userData: string
}

/**
 * Electron's `app.getPath('userData')` for this app, computed without Electron (the command line
 * runs as plain Node): appData — %APPDATA% on Windows, ~/Library/Application Support on macOS,
 * $XDG_CONFIG_HOME or ~/.config elsewhere — then the app's name.
 */
export function userDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  const appData =
    platform === 'win32'
      ? (env.APPDATA ?? path.join(home, 'AppData', 'Roaming'))
      : platform === 'darwin'
        ? path.join(home, 'Library', 'Application Support')
        : env.XDG_CONFIG_HOME || path.join(home, '.config')
  return path.join(appData, APP_NAME)
}

/**
 * The place of code inside an installed app's `resources/app.asar` (what `file` names), or
 * undefined for a checkout.
 */
export function installedPlace(file: string): AppPlace | undefined {
  const parts = file.split(/[\\/]/)
  const at = parts.lastIndexOf('app.asar')
  if (at < 1) return undefined
  return {
    packaged: true,
    appPath: parts.slice(0, at + 1).join(path.sep),
    resourcesPath: parts.slice(0, at).join(path.sep),
    userData: userDataDir(),
  }
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
export function configureModels(place: AppPlace): ModelsLocation {
  const shipped = place.packaged
    ? path.join(place.resourcesPath, 'models')
    : path.join(place.appPath, 'models')
  let copied: string[] = []
  if (!process.env.CAMLABEL_MODELS_DIR) {
    if (place.packaged) {
      const dir = path.join(place.userData, 'models')
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
