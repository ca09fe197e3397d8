/**
 * Progress of a long job, one typed union for every job (import, learn, propose) and both faces:
 * the app turns it into `job.progress` events, the CLI into progress lines. The clock owns rate and
 * ETA, per stage (a feature pass and a proposal pass run at different speeds), so both faces show
 * the same figures.
 */
import type { JobStage } from '../../shared/contracts/events.ts'
import type { LearnProjectResult } from '../project/learnProject.ts'
import type { ReadyInfo } from './protocol.ts'

export type { JobStage }

/** How far a stage is. */
export interface StageProgress {
  stage: JobStage
  done: number
  total: number
  failed: number
}

/**
 * What a job reports: stages as they advance, the model once loaded, and around a head learned
 * for some labels, its start and its result.
 */
export type JobEvent =
  | ({ type: 'progress' } & StageProgress)
  | { type: 'ready'; info: ReadyInfo }
  | { type: 'learning'; labels: string[] }
  | { type: 'learned'; learn: LearnProjectResult; labels: string[] }

/** A job's report callback. */
export type Report = (event: JobEvent) => void

/** Stage progress with its rate (items per second over the stage so far) and ETA (seconds). */
export interface Measured extends StageProgress {
  rate: number
  /** Null before the first item of the stage. */
  eta: number | null
}

/** A stage clock: rate and ETA restart whenever the stage changes. */
export function progressClock(now: () => number = () => performance.now()) {
  let stage: JobStage | undefined
  let stageStart = now()
  return {
    measure(p: StageProgress): Measured {
      const t = now()
      if (p.stage !== stage) {
        stage = p.stage
        stageStart = t
      }
      const seconds = (t - stageStart) / 1000
      const rate = p.done > 0 && seconds > 0 ? p.done / seconds : 0
      return { ...p, rate, eta: rate > 0 ? (p.total - p.done) / rate : null }
    },
  }
}
