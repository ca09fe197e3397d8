/**
 * The jobs table: each long job (import, feature pass, proposal run) records its start, progress
 * and end in the project, so progress survives a crash and `camlabel status` can say what to resume.
 */
import type { Prepared } from './statements.ts'

/** A job row. */
export interface JobRecord {
  id: number
  kind: string
  params: unknown
  status: 'running' | 'done' | 'failed' | 'cancelled'
  total: number
  done: number
  failed: number
  error: string | null
  startedAt: number
  updatedAt: number
}

/** The project's job log. */
export class JobsRepo {
  constructor(private readonly sql: Prepared) {}

  /** Records the start of a long job. Returns its id. */
  start(kind: string, params: unknown, total: number): number {
    const t = Date.now()
    return Number(
      this.sql(
        "INSERT INTO jobs(kind, params, status, total, started_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?)",
      ).run(kind, JSON.stringify(params), total, t, t).lastInsertRowid,
    )
  }

  /** Updates a job's progress (call inside the transaction that persisted the work, so both agree). */
  progress(id: number, done: number, failed: number): void {
    this.sql('UPDATE jobs SET done = ?, failed = ?, updated_at = ? WHERE id = ?').run(
      done,
      failed,
      Date.now(),
      id,
    )
  }

  /** Marks a job finished. */
  finish(id: number, status: JobRecord['status'], error?: string): void {
    this.sql('UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?').run(
      status,
      error ?? null,
      Date.now(),
      id,
    )
  }

  /** Jobs, newest first (a `running` job of a process that died is one to resume). */
  list(kind?: string): JobRecord[] {
    const rows = this.sql('SELECT * FROM jobs WHERE (? IS NULL OR kind = ?) ORDER BY id DESC').all(
      kind ?? null,
      kind ?? null,
    ) as Record<string, unknown>[]
    return rows.map((r) => ({
      id: r.id as number,
      kind: r.kind as string,
      params: JSON.parse(r.params as string),
      status: r.status as JobRecord['status'],
      total: r.total as number,
      done: r.done as number,
      failed: r.failed as number,
      error: r.error as string | null,
      startedAt: r.started_at as number,
      updatedAt: r.updated_at as number,
    }))
  }
}
