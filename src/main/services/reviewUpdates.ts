/**
 * The app's side of proposals that learn from reviews (project/reviewLearning.ts): a short while
 * after an image is reviewed, a background `review` job brings the model up to date and
 * re-proposes the images not reviewed yet, in review order from the image open now, never that
 * one (its boxes stay until the user moves on). It runs in the inference worker like every job,
 * shows in the job bar, can be cancelled, and gives way to a job the user starts.
 */
import { modelIdentity } from '../engine/modelIdentity.ts'
import { proposeProject } from '../project/proposeProject.ts'
import {
  describeReviewModel,
  MIN_REVIEWED,
  reviewLearningStatus,
} from '../project/reviewLearning.ts'
import { projectModel } from '../project/settings.ts'
import type { ServiceContext } from './context.ts'

/** Reviews within this long of each other make one update. */
export const REVIEW_UPDATE_DELAY_MS = 1500

export class ReviewUpdates {
  private timer: NodeJS.Timeout | undefined
  private pending = false
  private open: { id: number; file: string } | undefined

  constructor(private readonly ctx: ServiceContext) {}

  /** The image the review screen shows now (left alone by updates). */
  opened(image: { id: number; file: string } | undefined): void {
    this.open = image
  }

  /** An image was reviewed, or the setting changed: an update follows shortly. */
  schedule(delay = REVIEW_UPDATE_DELAY_MS): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.start(), delay)
    this.timer.unref()
  }

  /** Stops a running update: a job the user starts goes first, and the update runs after it. */
  async yieldTo(): Promise<void> {
    clearTimeout(this.timer)
    if (this.ctx.jobs.kind === 'review') {
      this.pending = true
      await this.ctx.jobs.stop()
    }
  }

  /** Forgets the timer (the project closes). */
  cancel(): void {
    clearTimeout(this.timer)
    this.pending = false
    this.open = undefined
  }

  private start(): void {
    const store = this.ctx.project
    if (!store) return
    // Nothing to learn yet and nothing to undo: no job (it would only fill the job bar).
    const status = reviewLearningStatus(store)
    if ((!status.enabled || status.boxed < MIN_REVIEWED) && !store.runs.anyFromReview()) return
    if (this.ctx.jobs.busy) {
      // After the job in the way (the user's, or an update already running).
      this.pending = true
      this.timer = setTimeout(() => this.start(), REVIEW_UPDATE_DELAY_MS)
      this.timer.unref()
      return
    }
    this.pending = false
    const identity = modelIdentity(projectModel(store))
    this.ctx.jobs.start(
      'review',
      identity.ref,
      async (report, signal) => {
        const r = await proposeProject(store, {
          model: identity,
          reviewOnly: true,
          openImage: () => this.open,
          worker: this.ctx.worker,
          signal,
          report,
        })
        const message = r.review?.model
          ? `${describeReviewModel(r.review.model)} — proposals for ${r.fromReviewImages} images updated`
          : r.review?.reason
            ? `Learning from reviews: ${r.review.reason}`
            : r.relearned > 0
              ? `Learning from reviews is off — ${r.relearned} images back to plain proposals`
              : undefined
        return {
          done: r.done,
          failed: r.failed,
          cancelled: r.cancelled,
          ...(message ? { message } : {}),
        }
      },
      () => {
        this.ctx.emit({ type: 'project.changed', reason: 'proposed' })
        if (this.pending) this.schedule()
      },
    )
  }
}
