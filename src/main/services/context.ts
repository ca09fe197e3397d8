/**
 * What the route handlers share: the open project, the job runner and the inference worker (one
 * for the app's whole run: its model stays loaded from job to job), a way to push events, where
 * settings and the thumbnail cache live. Plain Node: the Electron shell and the test host each
 * build one.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { AppEvent } from '../../shared/contracts/index.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { JobRunner } from '../jobs/runner.ts'
import { PathGrants } from './grants.ts'
import { InferenceWorker } from '../jobs/worker.ts'
import { ProjectStore } from '../store/projectStore.ts'
import { ReviewUpdates } from './reviewUpdates.ts'

export interface ServiceOptions {
  /** Folder for recent.json and the thumbnail cache (Electron: app.getPath('userData')). */
  dataDir: string
  shell: 'electron' | 'test-host'
  emit: (event: AppEvent) => void
  /**
   * The native chooser (the test host's stands in for it). Returns the chosen absolute path, or
   * null when the user cancels or there is none.
   */
  pickPath?: (
    kind: 'folder' | 'file' | 'save',
    options: { title?: string; defaultName?: string },
  ) => Promise<string | null>
  appVersion?: string
}

export interface RecentEntry {
  path: string
  name: string
  openedAt: string
}

/** The state behind the routes: at most one open project at a time. */
export class ServiceContext {
  private current: ProjectStore | null = null
  readonly options: ServiceOptions
  readonly worker = new InferenceWorker()
  readonly jobs: JobRunner
  /** The paths the user chose (or main offered) in this run: the only ones the page can name. */
  readonly grants = new PathGrants()
  /** Background updates of proposals from reviewed boxes. */
  readonly reviewUpdates: ReviewUpdates

  constructor(options: ServiceOptions) {
    this.options = options
    this.jobs = new JobRunner((e) => this.options.emit(e))
    this.reviewUpdates = new ReviewUpdates(this)
  }

  get emit(): (event: AppEvent) => void {
    return this.options.emit
  }

  get project(): ProjectStore | null {
    return this.current
  }

  /** The open project, or NOT_FOUND with a way out. */
  requireProject(): ProjectStore {
    if (!this.current)
      throw new CamlabelError('NOT_FOUND', 'No project is open', 'Create or open a project first.')
    return this.current
  }

  /**
   * Makes `store` the open project (after the previous one's job stopped, closing it) and records
   * it as recent.
   */
  async setProject(store: ProjectStore): Promise<void> {
    if (this.current && this.current !== store) {
      this.reviewUpdates.cancel()
      await this.jobs.stop()
      this.current.close()
    }
    this.current = store
    await this.addRecent(store.file)
  }

  /** Stops the running job, ends the inference worker and closes the project (app quit). */
  async close(): Promise<void> {
    this.reviewUpdates.cancel()
    await this.jobs.stop()
    await this.worker.close()
    this.current?.close()
    this.current = null
  }

  get thumbsDir(): string {
    return path.join(this.options.dataDir, 'thumbs')
  }

  private get recentFile(): string {
    return path.join(this.options.dataDir, 'recent.json')
  }

  async recent(): Promise<(RecentEntry & { exists: boolean })[]> {
    let list: RecentEntry[]
    try {
      list = JSON.parse(await readFile(this.recentFile, 'utf8')) as RecentEntry[]
      if (!Array.isArray(list)) list = []
    } catch {
      list = []
    }
    return list.map((r) => ({ ...r, exists: existsSync(r.path) }))
  }

  private async addRecent(file: string): Promise<void> {
    const list = (await this.recent())
      .filter((r) => r.path !== file)
      .map(({ exists: _e, ...r }) => r)
    list.unshift({ path: file, name: projectName(file), openedAt: new Date().toISOString() })
    await mkdir(this.options.dataDir, { recursive: true })
    await writeFile(this.recentFile, JSON.stringify(list.slice(0, 12), null, 1))
  }
}

/** A project's display name: its file name without the extension. */
export function projectName(file: string): string {
  return path.basename(file).replace(/\.[^.]+$/, '')
}
