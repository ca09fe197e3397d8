/**
 * The test host: serves the production renderer build (out/renderer) over http on 127.0.0.1, and
 * the SAME route handlers as the Electron shell (src/main/services) over HTTP; its file dialog
 * answers what the test queued with `choose` — POST /invoke for
 * routes, GET /events as Server-Sent Events, GET /image/<id> and /thumb/<id> for pictures. The page
 * talks to it through `bridgeShim`, injected with Playwright's addInitScript, which implements
 * `window.camlabel` exactly as the preload does.
 *
 * Run by hand: `npx tsx tests/e2e/host.ts` prints the URL (then open it with the shim, or use the tests).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AppEvent } from '../../src/shared/contracts/index.ts'
import { toErrorData } from '../../src/shared/errors.ts'
import { createServices, type Services } from '../../src/main/services/index.ts'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const rendererDir = path.join(repoRoot, 'out/renderer')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
}

export interface TestHost {
  url: string
  services: Services
  /** Every event sent, for assertions. */
  events: AppEvent[]
  /**
   * What the next file dialogs answer, in order (the one thing the test host stands in for: a
   * person choosing in the native dialog). An empty queue answers as a cancelled dialog.
   */
  choose(...paths: string[]): void
  close(): Promise<void>
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}
}

/** Starts the host on a free port. */
export async function startHost(
  options: { dataDir?: string; port?: number } = {},
): Promise<TestHost> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'camlabel-host-'))
  const clients = new Set<ServerResponse>()
  const events: AppEvent[] = []
  const picks: string[] = []
  const services = createServices({
    dataDir,
    shell: 'test-host',
    checkOutput: true,
    pickPath: async () => picks.shift() ?? null,
    emit: (e) => {
      events.push(e)
      const line = `data: ${JSON.stringify(e)}\n\n`
      for (const c of clients) c.write(line)
    },
  })

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify(toErrorData(err)))
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (req.method === 'POST' && url.pathname === '/invoke') {
      const { route, input } = (await body(req)) as { route?: unknown; input?: unknown }
      const result = await services.router.dispatch(route, input)
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(result))
      return
    }
    if (url.pathname === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      })
      res.write(': connected\n\n')
      clients.add(res)
      req.on('close', () => clients.delete(res))
      return
    }
    if (/^\/(image|thumb|thumb1x)\/\d+$/.test(url.pathname)) {
      try {
        const img = await services.image(url.pathname)
        // As the app's protocol (src/main/app/protocol.ts): thumbnails cacheable, full images not.
        const variant = url.pathname.startsWith('/image/') ? 'image' : 'thumb'
        res.writeHead(200, {
          'content-type': img.type,
          'cache-control': variant === 'thumb' ? 'private, max-age=3600' : 'no-store',
        })
        res.end(img.body)
      } catch (err) {
        res.writeHead(404, { 'content-type': 'text/plain' })
        res.end(toErrorData(err).message)
      }
      return
    }
    // Static files of the renderer build; nothing outside it.
    const rel =
      url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '')
    const file = path.resolve(rendererDir, rel)
    if (!file.startsWith(rendererDir + path.sep)) {
      res.writeHead(403).end()
      return
    }
    try {
      const data = await readFile(file)
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      })
      res.end(data)
    } catch {
      res.writeHead(404).end('not found')
    }
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}/`,
    services,
    events,
    choose: (...paths) => void picks.push(...paths),
    async close() {
      for (const c of clients) c.end()
      await services.context.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const host = await startHost({ port: Number(process.env.PORT ?? 0) })
  console.log(`camlabel test host at ${host.url} (renderer from ${rendererDir})`)
}
