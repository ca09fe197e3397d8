/**
 * Opening a project file: pragmas, migrations, and the refusal of files from a newer camlabel.
 *
 * Durability: WAL journal with synchronous=FULL — every committed transaction is fsynced to the WAL
 * before COMMIT returns, so a power cut loses nothing that was committed (NORMAL would keep the
 * database consistent but could lose the last transactions). The cost is one fsync per transaction,
 * which is why imports and proposal runs batch their writes into transactions.
 */
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './schema.ts'
import { openSqlite, type Db } from './sqlite.ts'

export type { Db } from './sqlite.ts'

/** Options of openDatabase. */
export interface OpenOptions {
  /** Create the file when it does not exist (default false: NOT_FOUND). */
  create?: boolean
  /** Open read-only (no migrations run). */
  readonly?: boolean
  /** The migrations to apply (tests pass a longer list to exercise upgrades). */
  migrations?: readonly Migration[]
  /** Written to meta.app_version. */
  appVersion?: string
  /** How long to wait for another connection's lock before giving up (default 5000 ms). */
  busyTimeoutMs?: number
}

/**
 * Opens (or creates) a project database and brings its schema up to date.
 * The handle is closed whenever opening fails.
 * @throws CamlabelError NOT_FOUND (no file and create not set), PROJECT_TOO_NEW (schema newer than
 *   this build), PARSE_ERROR (not a camlabel/SQLite file), PROJECT_BUSY (the file is locked by
 *   another process), INTERNAL (a migration failed; the file is unchanged)
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const migrations = options.migrations ?? MIGRATIONS
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0
  const memory = file === ':memory:'
  if (!options.create && !memory && !existsSync(file)) {
    throw new CamlabelError(
      'NOT_FOUND',
      `No project at ${file}`,
      "Create one with 'camlabel init PROJECT --images DIR'.",
    )
  }
  if (!options.create && !memory && statSync(file).size === 0) {
    throw new CamlabelError(
      'PARSE_ERROR',
      `${file} is empty (0 bytes), not a camlabel project`,
      'Choose a .camlabel file made by camlabel; nothing was written to this one.',
    )
  }
  if (!options.readonly && !memory && !options.create && !writable(file)) {
    throw new CamlabelError(
      'READ_ONLY',
      `${file} is read-only (or on a read-only disk or share): this command changes the project`,
      'Copy the project and its images to a folder you can write to; status and export work on it as it is.',
    )
  }
  let db: Db | undefined
  try {
    db = openSqlite(file, { readonly: options.readonly ?? false })
    db.pragma(`busy_timeout = ${Math.max(0, Math.round(options.busyTimeoutMs ?? 5000))}`)
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
    }
    db.pragma('foreign_keys = ON')
  } catch (err) {
    db?.close()
    if (options.readonly && cannotReadInPlace(err)) return openSnapshot(file, options)
    throw openError(file, err, `${file} is not a camlabel project: ${(err as Error).message}`)
  }
  let version: number
  try {
    version = db.pragma('user_version', { simple: true }) as number
  } catch (err) {
    db.close()
    // A WAL project on a read-only disk cannot even be read in place (SQLite must create its
    // -shm file beside it): read a snapshot copy instead.
    if (options.readonly && cannotReadInPlace(err)) return openSnapshot(file, options)
    throw openError(
      file,
      err,
      `${file} is not a camlabel project (not an SQLite database)`,
      'Choose a .camlabel file made by camlabel.',
    )
  }
  if (version > latest) {
    db.close()
    throw new CamlabelError(
      'PROJECT_TOO_NEW',
      `${file} was made by a newer camlabel (project schema ${version}; this version reads up to ${latest})`,
      'Update camlabel to open this project. The file was not changed.',
    )
  }
  if (version > 0) {
    const hasMeta = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'")
      .get()
    if (!hasMeta) {
      db.close()
      throw new CamlabelError('PARSE_ERROR', `${file} is an SQLite file but not a camlabel project`)
    }
  } else if (!options.create) {
    db.close()
    throw new CamlabelError(
      'PARSE_ERROR',
      `${file} is an SQLite file but not a camlabel project (it has no camlabel schema)`,
      'Choose a .camlabel file made by camlabel; nothing was written to this one.',
    )
  } else {
    const tables = db
      .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type='table'")
      .get() as { n: number }
    if (tables.n > 0) {
      db.close()
      throw new CamlabelError('PARSE_ERROR', `${file} is an SQLite file but not a camlabel project`)
    }
  }
  if (options.readonly) return db
  const conn = db
  try {
    for (const m of migrations) {
      if (m.version <= version) continue
      conn.transaction(() => {
        conn.exec(m.sql)
        m.fill?.(conn)
        conn.pragma(`user_version = ${m.version}`)
        const set = conn.prepare(
          'INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
        )
        set.run('schema_version', String(m.version))
        if (options.appVersion) set.run('app_version', options.appVersion)
        if (version === 0) set.run('created_at', new Date().toISOString())
      })()
      version = m.version
    }
  } catch (err) {
    conn.close()
    throw openError(
      file,
      err,
      `Could not upgrade ${file} to project schema ${latest}: ${(err as Error).message}`,
      'The project was left as it was. Report this with the file if it persists.',
      'INTERNAL',
    )
  }
  return conn
}

/** True when this process may write the file and create files beside it (-wal, -shm). */
function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK)
    accessSync(path.dirname(file), constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** SQLite's answer when a read-only open needs to write beside the file (its -shm). */
function cannotReadInPlace(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return (
    typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN')
  )
}

/** Databases opened from snapshot copies, to note and to clean up. */
const snapshots = new WeakMap<Db, string>()

/** The note of a database opened from a snapshot copy (a read-only share), if it was. */
export function snapshotNote(db: Db): string | undefined {
  return snapshots.has(db)
    ? 'opened read-only from a snapshot: the project is on a read-only disk or share'
    : undefined
}

/** Closes a database, removing its snapshot copy if it has one. */
export function closeDatabase(db: Db): void {
  if (db.open) db.close()
  const dir = snapshots.get(db)
  if (dir) rmSync(dir, { recursive: true, force: true })
}

/** Opens a read-only copy of `file` (and its -wal, if any) made in a temporary folder. */
function openSnapshot(file: string, options: OpenOptions): Db {
  const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-snapshot-'))
  try {
    const copy = path.join(dir, path.basename(file))
    copyFileSync(file, copy)
    if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`)
    const db = openDatabase(copy, { ...options, readonly: true })
    snapshots.set(db, dir)
    return db
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

/** SQLite codes that mean another connection holds the file (not a broken or foreign file). */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)
}

/**
 * The error for a failure while opening: a busy/locked file is the project in use elsewhere (never
 * "not a camlabel project", which could make a user delete a good project); else `code`.
 */
function openError(
  file: string,
  err: unknown,
  message: string,
  hint?: string,
  code: 'PARSE_ERROR' | 'INTERNAL' = 'PARSE_ERROR',
): CamlabelError {
  if (isBusy(err)) {
    return new CamlabelError(
      'PROJECT_BUSY',
      `${file} is open in another camlabel process`,
      'Close it there (or wait for its job to finish) and retry.',
      { cause: err },
    )
  }
  return new CamlabelError(code, message, hint, { cause: err })
}

export { SCHEMA_VERSION }
