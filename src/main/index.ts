/**
 * The Electron main process: composition root. Builds the services (the same ones the test host
 * serves), registers the image protocol and the IPC channel, opens the locked-down window.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { app, dialog, type BrowserWindow } from 'electron'
import { createServices } from './services/index.ts'
import { handleImageProtocol, registerImageScheme } from './app/protocol.ts'
import { createMainWindow, guardWebContents, hardenSession } from './app/window.ts'
import { registerIpc, sendEvent } from './app/ipc.ts'
import { installMenu } from './app/menu.ts'
import { configureModels } from './app/models.ts'

const here = path.dirname(fileURLToPath(import.meta.url))
let window: BrowserWindow | null = null
const getWindow = (): BrowserWindow | null => window

registerImageScheme()
guardWebContents()

async function pickPath(
  kind: 'folder' | 'file' | 'save',
  { title, defaultName }: { title?: string; defaultName?: string },
): Promise<string | null> {
  const win = getWindow()
  if (kind === 'save') {
    const options = {
      ...(title ? { title } : {}),
      ...(defaultName ? { defaultPath: defaultName } : {}),
    }
    const r = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options)
    return r.canceled ? null : (r.filePath ?? null)
  }
  const properties: ('openDirectory' | 'openFile')[] = [
    kind === 'folder' ? 'openDirectory' : 'openFile',
  ]
  const r = win
    ? await dialog.showOpenDialog(win, { title, properties })
    : await dialog.showOpenDialog({ title, properties })
  return r.canceled ? null : (r.filePaths[0] ?? null)
}

void app.whenReady().then(() => {
  // Before any service or worker starts: the engine and the worker read these from the environment.
  configureModels({
    packaged: app.isPackaged,
    appPath: app.getAppPath(),
    resourcesPath: process.resourcesPath,
    userData: app.getPath('userData'),
  })
  hardenSession()
  installMenu()
  const services = createServices({
    dataDir: app.getPath('userData'),
    shell: 'electron',
    appVersion: app.getVersion(),
    emit: (e) => sendEvent(getWindow, e),
    pickPath,
  })
  handleImageProtocol(services)
  registerIpc(services.router, getWindow)
  const open = (): void => {
    window = createMainWindow({
      preload: path.join(here, '../preload/index.cjs'),
      ...(process.env.ELECTRON_RENDERER_URL
        ? { url: process.env.ELECTRON_RENDERER_URL }
        : { file: path.join(here, '../renderer/index.html') }),
    })
    window.on('closed', () => (window = null))
  }
  open()
  // A project given on the command line (and in the smoke tests) opens at start.
  const projectArg = process.argv.find((a) => a.endsWith('.camlabel'))
  if (projectArg)
    void services.router.dispatch('project.open', {
      project: services.context.grants.grant('file', projectArg).token,
    })
  app.on('activate', () => window === null && open())
  app.on('window-all-closed', () => {
    void services.context.close().finally(() => {
      if (process.platform !== 'darwin') app.quit()
    })
  })
})
