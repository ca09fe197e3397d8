/**
 * `camlabel-image://image/<id>` and `camlabel-image://thumb/<id>`: the project's pictures, by id
 * only, through the services' image server (which checks the file is inside the image root after
 * symlinks). Anything else is a 404. Registered as privileged before the app is ready.
 */
import { protocol } from 'electron'
import type { Services } from '../services/index.ts'

export const IMAGE_SCHEME = 'camlabel-image'

/** Must run before `app.whenReady()`. */
export function registerImageScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: IMAGE_SCHEME,
      privileges: { standard: true, secure: true, supportFetchAPI: false, stream: false },
    },
  ])
}

/**
 * Thumbnails may stay in the page's memory cache: the gallery mounts a fresh <img> for each row that
 * scrolls in, and refetching (and re-decoding) every thumbnail cost frames. The renderer adds the
 * project to the URL's query (ignored here), so ids of another project never hit the cache.
 */
export function cacheControl(variant: string): string {
  return variant === 'image' ? 'no-store' : 'private, max-age=3600'
}

export function handleImageProtocol(services: Services): void {
  protocol.handle(IMAGE_SCHEME, async (request) => {
    try {
      const url = new URL(request.url)
      if (request.method !== 'GET') return new Response('method not allowed', { status: 405 })
      const img = await services.image(`${url.host}${url.pathname}`)
      return new Response(new Uint8Array(img.body), {
        headers: { 'content-type': img.type, 'cache-control': cacheControl(url.host) },
      })
    } catch {
      return new Response('not found', { status: 404 })
    }
  })
}
