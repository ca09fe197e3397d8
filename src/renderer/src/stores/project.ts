/** The open project: its summary (counts by status and class), recent projects and models. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ModelInfo } from '../../../shared/contracts/app.ts'
import type { LabelSourceInput, ProjectSummary } from '../../../shared/contracts/project.ts'
import { errorText, invoke, onEvent } from '../api/client.ts'

export interface RecentProject {
  token: string
  path: string
  name: string
  openedAt: string
  exists: boolean
}

export const useProjectStore = defineStore('project', () => {
  const summary = ref<ProjectSummary | null>(null)
  const recent = ref<RecentProject[]>([])
  const models = ref<ModelInfo[]>([])
  const model = ref<string>('')
  const shell = ref<'electron' | 'test-host'>('electron')
  const busy = ref(false)
  const error = ref<string | null>(null)
  const lastImport = ref<{
    imported: number
    skipped: number
    problems: { file: string; message: string }[]
  } | null>(null)

  const isOpen = computed(() => summary.value !== null)
  const classes = computed(() => summary.value?.classes ?? [])
  const proposedCount = computed(() => {
    const s = summary.value?.byStatus
    return s ? summary.value!.imageCount - (s.unproposed ?? 0) : 0
  })

  let unsubscribe: (() => void) | null = null
  let unsubscribeProgress: (() => void) | null = null
  let progressTimer: ReturnType<typeof setTimeout> | null = null

  /** Loads models, recent projects and the already-open project (if main has one). */
  async function init(): Promise<void> {
    const info = await invoke('app.info', {})
    shell.value = info.shell
    models.value = info.models
    model.value = info.models.find((m) => m.isDefault)?.id ?? info.models[0]?.id ?? ''
    recent.value = await invoke('project.recent', {})
    summary.value = await invoke('project.summary', {})
    unsubscribe ??= onEvent('project.changed', () => void refresh())
    // The counts move during a run: refreshed at most every 1.5 s while it reports progress.
    unsubscribeProgress ??= onEvent('job.progress', () => {
      if (progressTimer) return
      progressTimer = setTimeout(() => {
        progressTimer = null
        void refresh()
      }, 1500)
    })
  }

  async function refresh(): Promise<void> {
    summary.value = await invoke('project.summary', {})
  }

  async function run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    error.value = null
    try {
      return await fn()
    } catch (err) {
      error.value = errorText(err)
      return undefined
    } finally {
      busy.value = false
    }
  }

  /** Creates a project from chosen paths (their tokens, see PathChooser). */
  async function create(
    images: string,
    labels: LabelSourceInput,
    projectFile?: string,
  ): Promise<boolean> {
    const out = await run(() =>
      invoke(
        'project.create',
        projectFile ? { images, labels, project: projectFile } : { images, labels },
      ),
    )
    if (!out) return false
    summary.value = out.project
    lastImport.value = out.report
    recent.value = await invoke('project.recent', {})
    return true
  }

  /** Opens a chosen project (or a recent one) by its token. */
  async function open(token: string): Promise<boolean> {
    const out = await run(() => invoke('project.open', { project: token }))
    if (!out) return false
    summary.value = out
    lastImport.value = null
    recent.value = await invoke('project.recent', {})
    return true
  }

  /**
   * Changes project settings (stored in the project file): the upscaling mode of proposal runs,
   * the score under which extra proposals are hidden in review, whether proposals learn from
   * reviewed boxes (an update follows).
   */
  async function saveSettings(
    settings: Partial<{ upscale: 'bilinear' | 'guided'; minScore: number; fromReview: boolean }>,
  ): Promise<void> {
    const out = await run(() => invoke('project.settings', settings))
    if (out) summary.value = out
  }

  return {
    saveSettings,
    summary,
    recent,
    models,
    model,
    shell,
    busy,
    error,
    lastImport,
    isOpen,
    classes,
    proposedCount,
    init,
    refresh,
    create,
    open,
  }
})
