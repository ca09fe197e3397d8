/**
 * The gallery's view of the project: filter and sort, the total, and pages of items fetched as the
 * virtualised grid scrolls. Items are a cache of the store; a project change drops it.
 */
import { defineStore } from 'pinia'
import { reactive, ref, shallowRef } from 'vue'
import type { GalleryItem } from '../../../shared/contracts/gallery.ts'
import type { ImageStatus } from '../../../shared/contracts/common.ts'
import { invoke, onEvent } from '../api/client.ts'

export const PAGE_SIZE = 200

export interface GalleryFilterState {
  status: ImageStatus | ''
  label: string
  sort: 'name' | 'score'
  /** Only images the last run could not read. */
  unreadable: boolean
  /** Only images whose path holds this text. */
  search: string
}

export const useGalleryStore = defineStore('gallery', () => {
  const filter = reactive<GalleryFilterState>({
    status: '',
    label: '',
    sort: 'name',
    unreadable: false,
    search: '',
  })
  const total = ref(0)
  /** Items by index in the filtered order; sparse until their page is loaded. */
  const items = shallowRef<(GalleryItem | undefined)[]>([])
  const ids = ref<number[]>([])
  const loading = new Map<number, Promise<void>>()
  let generation = 0
  let unsubscribe: (() => void) | null = null

  function query(): {
    status?: ImageStatus
    label?: string
    sort: 'name' | 'score'
    unreadable?: boolean
    search?: string
  } {
    const q: ReturnType<typeof query> = { sort: filter.sort }
    if (filter.status) q.status = filter.status
    if (filter.label) q.label = filter.label
    if (filter.unreadable) q.unreadable = true
    if (filter.search.trim()) q.search = filter.search.trim()
    return q
  }

  /** Drops the cache and loads the first page and the id sequence for the current filter. */
  async function reload(): Promise<void> {
    unsubscribe ??= onEvent('project.changed', () => void reload())
    generation++
    loading.clear()
    items.value = []
    const [first, seq] = await Promise.all([
      invoke('gallery.page', { ...query(), offset: 0, limit: PAGE_SIZE }),
      invoke('gallery.ids', query()),
    ])
    total.value = first.total
    ids.value = seq.ids
    const next: (GalleryItem | undefined)[] = new Array(first.total)
    first.items.forEach((it, i) => (next[i] = it))
    items.value = next
    loading.set(0, Promise.resolve())
  }

  /** Makes sure the items in [start, end) are loaded (the grid asks for what is on screen). */
  async function ensureRange(start: number, end: number): Promise<void> {
    const gen = generation
    const jobs: Promise<void>[] = []
    for (
      let page = Math.floor(start / PAGE_SIZE);
      page * PAGE_SIZE < Math.min(end, total.value);
      page++
    ) {
      if (loading.has(page)) continue
      const p = invoke('gallery.page', {
        ...query(),
        offset: page * PAGE_SIZE,
        limit: PAGE_SIZE,
      }).then((out) => {
        if (gen !== generation) return
        const next = items.value.slice()
        out.items.forEach((it, i) => (next[page * PAGE_SIZE + i] = it))
        items.value = next
      })
      loading.set(page, p)
      jobs.push(p)
    }
    await Promise.all(jobs)
  }

  function setFilter(patch: Partial<GalleryFilterState>): Promise<void> {
    Object.assign(filter, patch)
    return reload()
  }

  /** The image after (or before) `id` in the current order, for "next image". */
  function neighbour(id: number, step: 1 | -1): number | null {
    const i = ids.value.indexOf(id)
    if (i < 0) return ids.value[0] ?? null
    return ids.value[i + step] ?? null
  }

  return { filter, total, items, ids, reload, ensureRange, setFilter, neighbour }
})
