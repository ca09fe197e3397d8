/**
 * `window.camlabel` for the page served by the test host: the same interface the preload exposes
 * (invoke → result envelope, on → unsubscribe, imageUrl), over fetch and EventSource. Injected
 * with `page.addInitScript(bridgeShim)`; it runs in the page, so it may only use browser APIs.
 */
export function bridgeShim(): void {
  type Listener = (e: unknown) => void
  const listeners = new Map<string, Set<Listener>>()
  let source: EventSource | null = null
  const connect = (): void => {
    if (source) return
    source = new EventSource('/events')
    source.onmessage = (m) => {
      const e = JSON.parse(m.data as string) as { type: string }
      for (const cb of listeners.get(e.type) ?? []) cb(e)
    }
  }
  const bridge = {
    async invoke(route: string, input: unknown) {
      const res = await fetch('/invoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ route, input }),
      })
      return res.json()
    },
    on(type: string, cb: Listener) {
      connect()
      let set = listeners.get(type)
      if (!set) listeners.set(type, (set = new Set()))
      set.add(cb)
      return () => void set.delete(cb)
    },
    imageUrl(id: number, variant: 'full' | 'thumb') {
      return `/${variant === 'thumb' ? 'thumb' : 'image'}/${id}`
    },
  }
  Object.defineProperty(globalThis, 'camlabel', { value: Object.freeze(bridge), configurable: false })
  connect()
}
