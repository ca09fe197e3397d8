/**
 * The main window, locked down: context isolation, sandbox, no Node integration, a strict CSP
 * (also set as a response header), navigation and new windows denied (only the app's own links
 * open, in the browser), every permission request refused.
 */
import { app, BrowserWindow, session, shell, type WebContents } from 'electron'
import { isExternalLink } from '../../shared/links.ts'

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' camlabel-image: data: blob:; " +
  "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'"

/**
 * Every web contents the app ever makes (the window, a devtools window, anything later) gets the
 * same rules: no navigation away from the page it loaded, no new windows (the app's own links
 * open in the browser), no <webview>. Registered before any window exists.
 */
export function guardWebContents(): void {
  app.on('web-contents-created', (_event, contents) => guard(contents))
}

function guard(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalLink(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  const stay = (e: { preventDefault(): void }, url: string) => {
    if (url !== contents.getURL()) e.preventDefault()
  }
  contents.on('will-navigate', stay)
  contents.on('will-redirect', stay)
  contents.on('will-attach-webview', (e) => e.preventDefault())
}

export function hardenSession(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } })
  })
}

export function createMainWindow(options: {
  preload: string
  url?: string
  file?: string
}): BrowserWindow {
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    minWidth: 900,
    minHeight: 600,
    show: false,
    backgroundColor: '#15171a',
    title: 'camlabel',
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  })
  win.once('ready-to-show', () => win.show())
  // Navigation, new windows and webviews: see guardWebContents (every web contents gets it).
  if (options.url) void win.loadURL(options.url)
  else if (options.file) void win.loadFile(options.file)
  return win
}
