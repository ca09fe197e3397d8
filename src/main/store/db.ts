/**
 * Opening a project file: pragmas, migrations, and the refusal of files from a newer camlabel.
 *
 * Durability: WAL journal with synchronous=FULL — every committed transaction is fsynced to the WAL
 * before COMMIT returns, so a power cut loses nothing that was committed (NORMAL would keep the
 * database consistent but could lose the last transactions). The cost is one fsync per transaction,
 * which is why imports and proposal runs batch their writes into transactions.
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { CamlabelError } from '../../shared/errors.ts'
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './schema.ts'

export type Db = Database.Database

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
}

/**
 * Opens (or creates) a project database and brings its schema up to date.
 * @throws CamlabelError NOT_FOUND (no file and create not set), PROJECT_TOO_NEW (schema newer than
 *   this build), PARSE_ERROR (not a camlabel/SQLite file)
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const migrations = options.migrations ?? MIGRATIONS
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0
  if (!options.create && file !== ':memory:' && !existsSync(file)) {
    throw new CamlabelError(
      'NOT_FOUND',
      `No project at ${file}`,
      "Create one with 'camlabel init PROJECT --images DIR'.",
    )
  }
  let db: Db
  try {
    db = new Database(file, { readonly: options.readonly ?? false })
    db.pragma('busy_timeout = 5000')
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
    }
    db.pragma('foreign_keys = ON')
  } catch (err) {
    throw new CamlabelError(
      'PARSE_ERROR',
      `${file} is not a camlabel project: ${(err as Error).message}`,
      undefined,
      { cause: err },
    )
  }
  let version: number
  try {
    version = db.pragma('user_version', { simple: true }) as number
  } catch (err) {
    db.close()
    throw new CamlabelError(
      'PARSE_ERROR',
      `${file} is not a camlabel project (not an SQLite database)`,
      'Choose a .camlabel file made by camlabel.',
      { cause: err },
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
  for (const m of migrations) {
    if (m.version <= version) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
      const set = db.prepare(
        'INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      set.run('schema_version', String(m.version))
      if (options.appVersion) set.run('app_version', options.appVersion)
      if (version === 0) set.run('created_at', new Date().toISOString())
    })()
    version = m.version
  }
  return db
}

export { SCHEMA_VERSION }
