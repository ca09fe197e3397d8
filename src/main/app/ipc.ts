/**
 * One invoke channel and one event channel. Main checks the call comes from our own window's main
 * frame, then the router validates the input again and answers a result envelope.
 */
import { ipcMain, type BrowserWindow } from 'electron'
import { EVENT_CHANNEL, INVOKE_CHANNEL, type AppEvent } from '../../shared/contracts/index.ts'
import type { Router } from '../services/router.ts'

export function registerIpc(router: Router, getWindow: () => BrowserWindow | null): void {
  ipcMain.handle(INVOKE_CHANNEL, (event, route: unknown, input: unknown) => {
    const win = getWindow()
    if (
      !win ||
      event.sender !== win.webContents ||
      event.senderFrame !== win.webContents.mainFrame
    ) {
      return {
        ok: false,
        error: {
          code: 'INVALID_ARGUMENT',
          message: 'Calls are accepted from the main window only',
        },
      }
    }
    return router.dispatch(route, input)
  })
}

/** Sends an event to the window (dropped when it is closed). */
export function sendEvent(getWindow: () => BrowserWindow | null, event: AppEvent): void {
  const win = getWindow()
  if (win && !win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, event)
}
