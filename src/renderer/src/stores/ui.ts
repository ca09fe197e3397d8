/** Which view is shown and which overlays are open. */
import { defineStore } from 'pinia'
import { ref } from 'vue'

export type ViewName = 'start' | 'gallery' | 'classes' | 'annotate' | 'guide'

export const useUiStore = defineStore('ui', () => {
  const view = ref<ViewName>('start')
  const imageId = ref<number | null>(null)
  const helpOpen = ref(false)
  const exportOpen = ref(false)
  /** The last import's report (its problems, each naming its file or CSV line). */
  const reportOpen = ref(false)
  const toast = ref<string | null>(null)
  let toastTimer: ReturnType<typeof setTimeout> | null = null

  function show(v: ViewName): void {
    view.value = v
  }

  function openImage(id: number): void {
    imageId.value = id
    view.value = 'annotate'
  }

  function notify(text: string): void {
    toast.value = text
    if (toastTimer) clearTimeout(toastTimer)
    toastTimer = setTimeout(() => (toast.value = null), 4000)
  }

  return { view, imageId, helpOpen, exportOpen, reportOpen, toast, show, openImage, notify }
})
