/**
 * `window.camlabel` for the page served by the test host: the same interface the preload exposes
 * (invoke → result envelope, on → unsubscribe, imageUrl), over fetch and EventSource. Injected
 * with `page.addInitScript({ content: BRIDGE_SHIM })`. Kept as plain JavaScript source, because a
 * serialised TS function would carry the transpiler's helpers (e.g. tsx's `__name`) into the page.
 */
export const BRIDGE_SHIM = `(() => {
  const listeners = new Map()
  let source = null
  const connect = () => {
    if (source) return
    source = new EventSource('/events')
    source.onmessage = (m) => {
      const e = JSON.parse(m.data)
      for (const cb of listeners.get(e.type) ?? []) cb(e)
    }
  }
  const bridge = {
    async invoke(route, input) {
      const res = await fetch('/invoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ route, input }),
      })
      return res.json()
    },
    on(type, cb) {
      connect()
      let set = listeners.get(type)
      if (!set) listeners.set(type, (set = new Set()))
      set.add(cb)
      return () => void set.delete(cb)
    },
    imageUrl(id, variant) {
      const kind = variant === 'thumb' || variant === 'thumb1x' ? variant : 'image'
      return '/' + kind + '/' + Number(id)
    },
  }
  Object.defineProperty(window, 'camlabel', { value: Object.freeze(bridge), configurable: false })
  connect()
})()`
