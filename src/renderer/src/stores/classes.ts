/**
 * The project's labels and where their CAMs come from (model class, learned head, class-agnostic,
 * negatives), the learned head's quality, and the user's mapping per label. Reloaded when a job
 * ends or the project changes.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { LabelMappingInput, LabelSources } from '../../../shared/contracts/labels.ts'
import { errorText, invoke, onEvent } from '../api/client.ts'

/**
 * Parses what the user typed as model classes: wnids, class names or `#N` / `#N-M`, separated by
 * `,` or `+` (a class name never holds a comma: commas separate a synset's synonyms).
 */
export function parseClassList(text: string): string[] {
  return text
    .split(/[,+]/)
    .map((t) => t.trim())
    .filter(Boolean)
}

/** A mapping as the user reads it. */
export function mappingText(mapping: LabelMappingInput): string {
  return Array.isArray(mapping) ? mapping.join(', ') : mapping
}

export const useClassesStore = defineStore('classes', () => {
  const sources = ref<LabelSources | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** Per label, the last refused mapping's reason. */
  const mappingErrors = ref<Record<string, string>>({})
  let unsubscribe: (() => void) | null = null
  let model: string | undefined

  const staleImages = computed(() => sources.value?.staleImages ?? 0)

  /** Loads the label sources of the open project (for `m`, the model proposals run with). */
  async function load(m?: string): Promise<void> {
    if (m !== undefined) model = m || undefined
    unsubscribe ??= onEvent('project.changed', (e) => {
      if (e.reason !== 'closed' && e.reason !== 'reviewed') void load()
    })
    loading.value = true
    try {
      sources.value = await invoke('labels.sources', model ? { model } : {})
      error.value = null
    } catch (err) {
      error.value = errorText(err)
    } finally {
      loading.value = false
    }
  }

  /** Stores a label's mapping; a refused one (unknown class…) is kept in mappingErrors. */
  async function setMapping(label: string, mapping: LabelMappingInput): Promise<boolean> {
    try {
      sources.value = await invoke(
        'labels.setMapping',
        model ? { label, mapping, model } : { label, mapping },
      )
      const { [label]: _gone, ...rest } = mappingErrors.value
      mappingErrors.value = rest
      return true
    } catch (err) {
      mappingErrors.value = { ...mappingErrors.value, [label]: errorText(err) }
      return false
    }
  }

  return { sources, loading, error, mappingErrors, staleImages, load, setMapping }
})
