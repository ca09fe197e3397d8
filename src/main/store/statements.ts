/**
 * A connection's prepared statements by SQL text: each repository prepares a statement on first
 * use and keeps it for the connection's life, so hot paths (run marks, job progress, autosave)
 * never re-parse SQL.
 */
import type { Db, Statement } from './sqlite.ts'

/** Returns the prepared statement of `sql` on `db`, prepared once. */
export type Prepared = (sql: string) => Statement

/** A prepared-statement cache over one connection. */
export function preparedStatements(db: Db): Prepared {
  const cache = new Map<string, Statement>()
  return (sql) => {
    let st = cache.get(sql)
    if (!st) {
      st = db.prepare(sql)
      cache.set(sql, st)
    }
    return st
  }
}
