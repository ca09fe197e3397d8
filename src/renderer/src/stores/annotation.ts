/**
 * The image under review: its boxes, selection, undo/redo, the live threshold and autosave.
 *
 * The renderer owns the edit history of the open image and saves whole states (`image.save`), so
 * every edit — move, resize, class, accept, reject, delete, draw, threshold — is one undo step and a
 * save is idempotent. Drags are gestures: previewed live, recorded once when the pointer is released.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { Box } from '../../../shared/box.ts'
import type { BoxStatus } from '../../../shared/contracts/common.ts'
import type { ImageDetail, ReviewBox } from '../../../shared/contracts/review.ts'
import { errorText, invoke } from '../api/client.ts'
import { decodeFloats } from '../../../shared/floats.ts'
import type { UpscaleMode } from '../../../shared/cam/types.ts'
import {
  bilinearProposals,
  mapProposals,
  toLocalCams,
  type LocalCam,
  type LocalProposal,
} from '../composables/localProposals.ts'
import type { Map2D } from '../../../shared/cam/types.ts'

interface Snapshot {
  boxes: ReviewBox[]
  threshold: number
  /** Which map the pending proposals come from, so the slider recomputes them from the same one. */
  pendingSource: UpscaleMode
}

export type SaveState = 'saved' | 'dirty' | 'saving' | 'error'

const HISTORY_LIMIT = 500
/**
 * Working size of the recompute while the slider is dragged: at 256 it takes about a fifth of the
 * pipeline's 512 (bench/ui.bench.ts), so each input event paints in its own frame; the release
 * recomputes at the pipeline's size, so the stored boxes are those a proposal run would give.
 */
export const DRAG_WORKING_SIZE = 256
let idCounter = 0

/** A fresh box id, unique within this renderer session. */
export function newBoxId(prefix: string): string {
  idCounter++
  return `${prefix}-${Date.now().toString(36)}-${idCounter}`
}

/** The status a box gets when the user changes its geometry or class. */
function editedStatus(s: BoxStatus): BoxStatus {
  return s === 'manual' ? 'manual' : 'edited'
}

/** Normalises corners (a box drawn right-to-left) and clips to the image. */
export function normaliseBox(b: Box, width: number, height: number): Box {
  const x0 = Math.max(0, Math.min(b.x0, b.x1))
  const x1 = Math.min(width, Math.max(b.x0, b.x1))
  const y0 = Math.max(0, Math.min(b.y0, b.y1))
  const y1 = Math.min(height, Math.max(b.y0, b.y1))
  return { x0: Math.round(x0), y0: Math.round(y0), x1: Math.round(x1), y1: Math.round(y1) }
}

export const useAnnotationStore = defineStore('annotation', () => {
  const detail = shallowRef<ImageDetail | null>(null)
  const boxes = shallowRef<ReviewBox[]>([])
  const threshold = ref(0.2)
  const selectedId = ref<string | null>(null)
  const past = shallowRef<Snapshot[]>([])
  const future = shallowRef<Snapshot[]>([])
  const saveState = ref<SaveState>('saved')
  const savedAt = ref<string | null>(null)
  const error = ref<string | null>(null)
  const showCam = ref(true)
  const camOpacity = ref(0.6)
  const camLabel = ref<string | null>(null)
  /** Time of the last threshold recompute in the renderer (ms), shown in the UI and read by the bench. */
  const lastRecomputeMs = ref<number | null>(null)
  /** The image's low-resolution CAMs as Float32 maps, kept for the live threshold recompute. */
  const localCams = shallowRef<LocalCam[]>([])
  /** Which upscaling the overlay (and the boxes' preview) shows; kept from image to image. */
  const view = ref<UpscaleMode>('bilinear')
  /** Where the pending proposals come from (the project's mode, or 'guided' after "use these"). */
  const pendingSource = ref<UpscaleMode>('bilinear')
  /** The guided maps of the open image at working resolution, once fetched (`image.refined`). */
  const refinedMaps = shallowRef<LocalCam[] | null>(null)
  const refining = ref(false)
  /** Time main took to decode the guide and refine, for the status line. */
  const refineMs = ref<number | null>(null)
  let refinedRequest: Promise<void> | null = null

  /**
   * Extra proposals scoring under this are hidden and "Accept all" rejects them (the project's
   * setting): an image's best pending proposal of each label always shows.
   */
  const minScore = ref(0.1)
  /** Show the hidden low-score proposals anyway. */
  const showLow = ref(false)
  /** Pending proposals under minScore that are not their label's best on the image. */
  const lowIds = computed(() => {
    const best = new Map<string, ReviewBox>()
    for (const b of boxes.value)
      if (b.status === 'pending' && (best.get(b.label)?.score ?? -1) < (b.score ?? 0))
        best.set(b.label, b)
    const out = new Set<string>()
    for (const b of boxes.value)
      if (
        b.status === 'pending' &&
        b.score !== null &&
        b.score < minScore.value &&
        best.get(b.label) !== b
      )
        out.add(b.id)
    return out
  })
  const hidden = computed(() => (showLow.value ? new Set<string>() : lowIds.value))
  const selected = computed(() => boxes.value.find((b) => b.id === selectedId.value) ?? null)
  /** The boxes the canvas and the list show: not rejected, not hidden. */
  const visibleBoxes = computed(() =>
    boxes.value.filter((b) => b.status !== 'rejected' && !hidden.value.has(b.id)),
  )
  const counts = computed(() => {
    const c: Record<BoxStatus, number> = {
      pending: 0,
      accepted: 0,
      edited: 0,
      manual: 0,
      rejected: 0,
    }
    for (const b of boxes.value) c[b.status]++
    return c
  })
  const canUndo = computed(() => past.value.length > 0)
  const canRedo = computed(() => future.value.length > 0)
  const cam = computed(() => {
    const cams = detail.value?.cams ?? []
    return cams.find((c) => c.label === camLabel.value) ?? cams[0] ?? null
  })
  /** The map the heatmap overlay paints: the low-resolution CAM, or the guided map in that view. */
  const overlay = computed<Map2D | null>(() => {
    const pick = (list: readonly LocalCam[]): LocalCam | undefined =>
      list.find((c) => c.label === camLabel.value) ?? list[0]
    if (view.value === 'guided' && refinedMaps.value) return pick(refinedMaps.value)?.map ?? null
    return pick(localCams.value)?.map ?? null
  })
  /**
   * The proposals the viewed upscaling gives at the current threshold, when they are not the pending
   * ones (the other mode): shown in place of the pending boxes so the user sees why a box changed.
   */
  const previewProposals = computed<LocalProposal[] | null>(() => {
    const d = detail.value
    if (!d || view.value === pendingSource.value) return null
    return proposalsFor(view.value, threshold.value)
  })

  let saveTimer: ReturnType<typeof setTimeout> | null = null
  let saving: Promise<void> | null = null
  let gesture: Snapshot | null = null

  async function load(imageId: number): Promise<void> {
    await flush()
    error.value = null
    const d = await invoke('image.get', { imageId })
    detail.value = d
    localCams.value = toLocalCams(d.cams)
    refinedMaps.value = null
    refinedRequest = null
    refineMs.value = null
    pendingSource.value = d.upscale
    boxes.value = d.boxes
    threshold.value = d.threshold
    past.value = []
    future.value = []
    gesture = null
    showLow.value = false
    selectedId.value =
      d.boxes.find((b) => b.status === 'pending' && !lowIds.value.has(b.id))?.id ?? null
    camLabel.value = d.cams[0]?.label ?? null
    saveState.value = 'saved'
    savedAt.value = null
    // A failure shows in `error` (loadRefined sets it); nothing more to do with it here.
    if (d.cams.length && (view.value === 'guided' || d.upscale === 'guided'))
      loadRefined().catch(() => undefined)
  }

  function snapshot(): Snapshot {
    return { boxes: boxes.value, threshold: threshold.value, pendingSource: pendingSource.value }
  }

  function restore(s: Snapshot): void {
    boxes.value = s.boxes
    threshold.value = s.threshold
    pendingSource.value = s.pendingSource
  }

  /** Fetches the guided maps of the open image (once per image). */
  function loadRefined(): Promise<void> {
    const d = detail.value
    if (!d || !d.cams.length) return Promise.resolve()
    refinedRequest ??= (async () => {
      refining.value = true
      try {
        const out = await invoke('image.refined', { imageId: d.id, threshold: threshold.value })
        if (detail.value !== d) return
        refinedMaps.value = out.maps.map((m) => ({
          label: m.label,
          confidence: m.confidence,
          map: { data: decodeFloats(m.data), width: out.width, height: out.height },
        }))
        refineMs.value = out.decodeMs + out.refineMs
      } catch (err) {
        if (detail.value === d) error.value = `Guided view unavailable: ${errorText(err)}`
        refinedRequest = null
        throw err
      } finally {
        refining.value = false
      }
    })()
    return refinedRequest
  }

  /** Proposals of one upscaling at `t`; null while the guided maps are not there yet. */
  function proposalsFor(
    mode: UpscaleMode,
    t: number,
    workingSize?: number,
  ): LocalProposal[] | null {
    const d = detail.value
    if (!d) return null
    if (mode === 'bilinear')
      return bilinearProposals(localCams.value, d.width, d.height, t, workingSize ?? d.workingSize)
    return refinedMaps.value ? mapProposals(refinedMaps.value, d.width, d.height, t) : null
  }

  /** Flips the overlay (and the boxes shown) between the bilinear and the guided map. */
  async function setView(mode: UpscaleMode): Promise<void> {
    view.value = mode
    if (mode === 'guided') await loadRefined().catch(() => (view.value = 'bilinear'))
  }

  /** Replaces the pending proposals with those of the viewed upscaling (one undo step). */
  function usePreview(): void {
    const fresh = previewProposals.value
    if (!fresh) return
    beginGesture()
    replacePending(pendingBoxes(fresh))
    pendingSource.value = view.value
    endGesture(null)
  }

  /** Records one undoable edit. */
  function commit(next: ReviewBox[]): void {
    const before = gesture ?? snapshot()
    gesture = null
    past.value = [...past.value.slice(-HISTORY_LIMIT + 1), before]
    future.value = []
    boxes.value = next
    scheduleSave()
  }

  function update(id: string, fn: (b: ReviewBox) => ReviewBox): void {
    commit(boxes.value.map((b) => (b.id === id ? fn(b) : b)))
  }

  /** Starts a drag: later `preview` calls show changes without recording them. */
  function beginGesture(): void {
    gesture ??= snapshot()
  }

  function preview(id: string, box: Box): void {
    const d = detail.value
    if (!d) return
    beginGesture()
    boxes.value = boxes.value.map((b) =>
      b.id === id ? { ...b, box: normaliseBox(box, d.width, d.height) } : b,
    )
  }

  /** Ends a drag, recording it as one edit (or nothing, if nothing moved). */
  function endGesture(id: string | null): void {
    if (!gesture) return
    const before = gesture
    const changed =
      before.boxes !== boxes.value ||
      before.threshold !== threshold.value ||
      before.pendingSource !== pendingSource.value
    if (!changed) {
      gesture = null
      return
    }
    commit(boxes.value.map((b) => (b.id === id ? { ...b, status: editedStatus(b.status) } : b)))
  }

  function select(id: string | null): void {
    selectedId.value = id
  }

  function selectNext(step: 1 | -1): void {
    const list = visibleBoxes.value
    if (!list.length) return
    const i = list.findIndex((b) => b.id === selectedId.value)
    const j = i < 0 ? 0 : (i + step + list.length) % list.length
    selectedId.value = list[j]!.id
  }

  function accept(id = selectedId.value): void {
    if (!id) return
    update(id, (b) => ({
      ...b,
      status: b.status === 'pending' || b.status === 'rejected' ? 'accepted' : b.status,
    }))
    selectNextPending()
  }

  /** Rejects a proposal (kept as rejected so a re-run does not bring it back); a drawn box is removed. */
  function reject(id = selectedId.value): void {
    const b = boxes.value.find((x) => x.id === id)
    if (!b) return
    if (b.status === 'manual') return remove(b.id)
    update(b.id, (x) => ({ ...x, status: 'rejected' }))
    selectNextPending()
  }

  /**
   * Deletes a box. A box a proposal made (it has a score) is kept as rejected, so a re-run does not
   * offer it again; a drawn box is removed.
   */
  function remove(id = selectedId.value): void {
    const b = boxes.value.find((x) => x.id === id)
    if (!b) return
    if (b.score !== null)
      commit(boxes.value.map((x) => (x.id === b.id ? { ...x, status: 'rejected' } : x)))
    else commit(boxes.value.filter((x) => x.id !== b.id))
    selectedId.value = null
    selectNextPending()
  }

  function setLabel(label: string, id = selectedId.value): void {
    if (!id) return
    update(id, (b) => (b.label === label ? b : { ...b, label, status: editedStatus(b.status) }))
  }

  function addBox(box: Box, label: string): string | null {
    const d = detail.value
    if (!d) return null
    const nb = normaliseBox(box, d.width, d.height)
    if (nb.x1 - nb.x0 < 2 || nb.y1 - nb.y0 < 2) return null
    const id = newBoxId('m')
    commit([...boxes.value, { id, label, box: nb, status: 'manual', score: null }])
    selectedId.value = id
    return id
  }

  /**
   * Accepts every pending proposal shown; the hidden low-score ones are rejected, so the image is
   * decided (one undo step).
   */
  function acceptAll(): void {
    if (!boxes.value.some((b) => b.status === 'pending')) return
    const off = hidden.value
    commit(
      boxes.value.map((b) =>
        b.status === 'pending' ? { ...b, status: off.has(b.id) ? 'rejected' : 'accepted' } : b,
      ),
    )
  }

  /**
   * Sets a box's attributes (difficult, truncated, occluded); a pending proposal is kept by it
   * (a proposal has no attributes until it is a box of the review).
   */
  function setAttribute(
    key: 'difficult' | 'truncated' | 'occluded',
    value: boolean,
    id = selectedId.value,
  ): void {
    if (!id) return
    update(id, (b) => {
      const attributes = { ...b.attributes, [key]: value }
      if (!value) delete attributes[key]
      const status: BoxStatus = b.status === 'pending' ? 'accepted' : b.status
      return Object.keys(attributes).length
        ? { ...b, status, attributes }
        : { ...omitAttributes(b), status }
    })
  }

  function omitAttributes(b: ReviewBox): ReviewBox {
    const { attributes: _attributes, ...rest } = b
    return rest
  }

  function selectNextPending(): void {
    const p = boxes.value.find((b) => b.status === 'pending' && !hidden.value.has(b.id))
    if (p) selectedId.value = p.id
  }

  /** Pending proposals as review boxes, with fresh ids. */
  function pendingBoxes(proposals: readonly LocalProposal[]): ReviewBox[] {
    return proposals.map((p) => ({
      id: newBoxId('p'),
      label: p.label,
      box: p.box,
      status: 'pending',
      score: p.score,
    }))
  }

  /** Reviewed boxes stay; pending proposals are replaced by `fresh`. */
  function replacePending(fresh: ReviewBox[]): void {
    const kept = boxes.value.filter((b) => b.status !== 'pending')
    boxes.value = [...kept, ...fresh]
    if (!fresh.some((b) => b.id === selectedId.value)) {
      selectedId.value = fresh[0]?.id ?? selectedId.value
    }
  }

  /**
   * Recomputes this image's proposals from its stored CAMs at `t`, here in the renderer (no round
   * trip to main: the boxes are painted in the frame of the input event). Reviewed boxes stay;
   * pending proposals are replaced. While dragging (`final` false) the maps are upscaled to
   * DRAG_WORKING_SIZE only; `final` recomputes at full working size, records the change as one
   * undo step (slider released) and schedules the autosave.
   */
  function setThreshold(t: number, final: boolean): void {
    const d = detail.value
    if (!d) return
    if (pendingSource.value === 'guided' && !refinedMaps.value) {
      // The pending boxes came from the guided maps: recompute from them, once they are here.
      loadRefined().then(
        () => setThreshold(t, final),
        () => undefined,
      )
      return
    }
    beginGesture()
    const started = performance.now()
    const size = final ? undefined : Math.min(DRAG_WORKING_SIZE, d.workingSize)
    const fresh = pendingBoxes(proposalsFor(pendingSource.value, t, size) ?? [])
    lastRecomputeMs.value = performance.now() - started
    replacePending(fresh)
    threshold.value = t
    if (final) endGesture(null)
  }

  function undo(): void {
    const prev = past.value.at(-1)
    if (!prev) return
    gesture = null
    past.value = past.value.slice(0, -1)
    future.value = [...future.value, snapshot()]
    restore(prev)
    scheduleSave()
  }

  function redo(): void {
    const next = future.value.at(-1)
    if (!next) return
    gesture = null
    future.value = future.value.slice(0, -1)
    past.value = [...past.value, snapshot()]
    restore(next)
    scheduleSave()
  }

  function scheduleSave(): void {
    saveState.value = 'dirty'
    if (saveTimer) clearTimeout(saveTimer)
    saveTimer = setTimeout(() => void save(), 400)
  }

  async function save(): Promise<void> {
    const d = detail.value
    if (saveTimer) clearTimeout(saveTimer)
    saveTimer = null
    if (!d) return
    if (saving) await saving
    const state = snapshot()
    saveState.value = 'saving'
    saving = invoke('image.save', { imageId: d.id, threshold: state.threshold, boxes: state.boxes })
      .then((out) => {
        if (boxes.value === state.boxes && threshold.value === state.threshold)
          saveState.value = 'saved'
        savedAt.value = out.savedAt
        error.value = null
      })
      .catch((err: unknown) => {
        saveState.value = 'error'
        error.value = `Not saved: ${errorText(err)}`
      })
      .finally(() => {
        saving = null
      })
    await saving
  }

  /** Saves now if anything is unsaved (before leaving the image, or before export). */
  async function flush(): Promise<void> {
    if (saveTimer || saveState.value === 'dirty' || saveState.value === 'error') await save()
    else if (saving) await saving
  }

  return {
    detail,
    boxes,
    threshold,
    selectedId,
    past,
    future,
    saveState,
    savedAt,
    error,
    showCam,
    camOpacity,
    camLabel,
    lastRecomputeMs,
    localCams,
    view,
    pendingSource,
    refinedMaps,
    refining,
    refineMs,
    overlay,
    previewProposals,
    selected,
    visibleBoxes,
    minScore,
    showLow,
    lowIds,
    hidden,
    setAttribute,
    counts,
    canUndo,
    canRedo,
    cam,
    setView,
    usePreview,
    loadRefined,
    load,
    select,
    selectNext,
    accept,
    reject,
    remove,
    setLabel,
    addBox,
    acceptAll,
    beginGesture,
    preview,
    endGesture,
    setThreshold,
    undo,
    redo,
    save,
    flush,
  }
})
