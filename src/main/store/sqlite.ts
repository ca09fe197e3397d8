/**
 * The SQLite connection the store uses, on the runtime's own SQLite where it has one.
 *
 * - `node:sqlite`, built into Node ≥ 22.13 and into Electron's Node: nothing native to build, and
 *   nothing to match to an ABI, so the app (Electron's main process) and the command line under a
 *   current Node use the very same code with no addon at all;
 * - better-sqlite3 where the runtime has none (Node 20 and 21 — the command line only). Its addon
 *   registers through the V8 ABI, so it is built for the system Node at install and never loaded
 *   by the app, which does not even carry it (tests/integration/packaging.test.ts holds that).
 *
 * Both behind the few calls the store makes, with one meaning: rows are objects of their columns,
 * BLOBs are Buffers (node:sqlite gives plain Uint8Arrays), `pluck` gives the first column, `transaction(fn)` nests as savepoints, `readonly` opens
 * read-only, `close` finalizes every statement and checkpoints, and errors carry SQLite's code
 * names (`SQLITE_BUSY`, `SQLITE_READONLY_DIRECTORY`…). `CAMLABEL_SQLITE=node|better-sqlite3`
 * picks one (tests run the store on both).
 */
import { createRequire } from 'node:module'

/** Bind parameters: positional values, or one object of named ones (`@name`, `:name`, `$name`). */
type Params = unknown[]

/** A prepared statement. */
export interface Statement {
  run(...params: Params): { changes: number | bigint; lastInsertRowid: number | bigint }
  get(...params: Params): unknown
  all(...params: Params): unknown[]
  /** Rows become their first column's value. */
  pluck(): Statement
}

/** A connection. */
export interface Db {
  prepare(sql: string): Statement
  exec(sql: string): void
  /** `PRAGMA source`; with `simple`, the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown
  /** `fn` in one transaction; nested calls are savepoints of the outer one. */
  transaction<T>(fn: () => T): () => T
  close(): void
  readonly open: boolean
}

/** Which SQLite a process uses. */
export type SqliteDriver = 'node' | 'better-sqlite3'

/** What `node:sqlite` and better-sqlite3 have in common, as this module uses them. */
interface NativeStatement {
  run(...params: Params): { changes: number | bigint; lastInsertRowid: number | bigint }
  get(...params: Params): unknown
  all(...params: Params): unknown[]
  /** better-sqlite3: whether the statement returns rows. */
  readonly reader?: boolean
  /** node:sqlite: the result columns (none for a statement that returns no rows). */
  columns?(): unknown[]
}
interface NativeDatabase {
  prepare(sql: string): NativeStatement
  exec(sql: string): void
  close(): void
}
type NodeSqlite = {
  DatabaseSync: new (file: string, options?: { readOnly?: boolean }) => NativeDatabase
}
type BetterSqlite3 = new (file: string, options?: { readonly?: boolean }) => NativeDatabase

const requireOptional = createRequire(import.meta.url)

/** The runtime's `node:sqlite`, or undefined where it has none (Node < 22.13). */
function nodeSqlite(): NodeSqlite | undefined {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule
  try {
    const mod = get?.('node:sqlite') as NodeSqlite | undefined
    return mod?.DatabaseSync ? mod : undefined
  } catch {
    return undefined
  }
}

/** Whether this runtime has `node:sqlite` (Node ≥ 22.13, Electron 41). */
export function hasNodeSqlite(): boolean {
  return nodeSqlite() !== undefined
}

/** The driver this process uses (see the module comment). */
export function sqliteDriver(): SqliteDriver {
  const chosen = process.env.CAMLABEL_SQLITE
  if (chosen === 'node' || chosen === 'better-sqlite3') return chosen
  return hasNodeSqlite() ? 'node' : 'better-sqlite3'
}

/** SQLite's result code names (primary ones, and the extended ones the store tells apart). */
const CODES: Record<number, string> = {
  1: 'SQLITE_ERROR',
  2: 'SQLITE_INTERNAL',
  3: 'SQLITE_PERM',
  4: 'SQLITE_ABORT',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  15: 'SQLITE_PROTOCOL',
  19: 'SQLITE_CONSTRAINT',
  26: 'SQLITE_NOTADB',
  261: 'SQLITE_BUSY_RECOVERY',
  517: 'SQLITE_BUSY_SNAPSHOT',
  264: 'SQLITE_READONLY_RECOVERY',
  520: 'SQLITE_READONLY_CANTLOCK',
  776: 'SQLITE_READONLY_ROLLBACK',
  1032: 'SQLITE_READONLY_DBMOVED',
  1288: 'SQLITE_READONLY_CANTINIT',
  1544: 'SQLITE_READONLY_DIRECTORY',
}

/** `node:sqlite` errors carry a number (`errcode`): give them better-sqlite3's code names. */
function named(err: unknown): unknown {
  const e = err as { code?: string; errcode?: number }
  if (e?.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    const name = CODES[e.errcode] ?? CODES[e.errcode & 0xff]
    if (name) e.code = name
  }
  return err
}

function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw named(err)
  }
}

/** A row with its BLOBs as Buffers (views, no copy): what better-sqlite3 gives. */
function withBuffers(row: unknown): unknown {
  if (row === null || typeof row !== 'object') return row
  const r = row as Record<string, unknown>
  for (const key in r) {
    const v = r[key]
    if (v instanceof Uint8Array && !Buffer.isBuffer(v))
      r[key] = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  }
  return row
}

function firstValue(row: unknown): unknown {
  if (row === undefined || row === null) return undefined
  for (const key in row as object) return (row as Record<string, unknown>)[key]
  return undefined
}

class Prepared implements Statement {
  private plucking = false

  constructor(
    private readonly s: NativeStatement,
    /** node:sqlite: BLOBs come as Uint8Array and are made Buffers. */
    private readonly blobs: boolean,
  ) {}

  pluck(): Statement {
    this.plucking = true
    return this
  }

  /** Whether the statement returns rows (a pragma that sets a value returns none). */
  get returnsRows(): boolean {
    return this.s.reader ?? (this.s.columns?.().length ?? 0) > 0
  }

  run(...params: Params) {
    return guard(() => this.s.run(...params))
  }

  get(...params: Params): unknown {
    const got = guard(() => this.s.get(...params))
    const row = this.blobs ? withBuffers(got) : got
    return this.plucking ? firstValue(row) : row
  }

  all(...params: Params): unknown[] {
    const got = guard(() => this.s.all(...params))
    const rows = this.blobs ? got.map(withBuffers) : got
    return this.plucking ? rows.map(firstValue) : rows
  }
}

class Connection implements Db {
  private depth = 0
  private closed = false

  constructor(
    private readonly db: NativeDatabase,
    private readonly blobs: boolean,
  ) {}

  get open(): boolean {
    return !this.closed
  }

  prepare(sql: string): Statement {
    return new Prepared(
      guard(() => this.db.prepare(sql)),
      this.blobs,
    )
  }

  exec(sql: string): void {
    guard(() => this.db.exec(sql))
  }

  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const s = new Prepared(
      guard(() => this.db.prepare(`PRAGMA ${source}`)),
      this.blobs,
    )
    if (!s.returnsRows) {
      s.run()
      return options.simple ? undefined : []
    }
    return options.simple ? s.pluck().get() : s.all()
  }

  transaction<T>(fn: () => T): () => T {
    return () => {
      const name = `camlabel_${this.depth}`
      this.exec(this.depth === 0 ? 'BEGIN' : `SAVEPOINT ${name}`)
      this.depth++
      try {
        const result = fn()
        this.depth--
        this.exec(this.depth === 0 ? 'COMMIT' : `RELEASE ${name}`)
        return result
      } catch (err) {
        this.depth--
        this.exec(this.depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${name}; RELEASE ${name}`)
        throw err
      }
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}

/**
 * Opens a database file (created when missing; the caller checks that first) or `:memory:`.
 * @throws the driver's error with SQLite's code name, or a plain error when neither driver loads
 */
export function openSqlite(file: string, options: { readonly?: boolean } = {}): Db {
  const readonly = options.readonly ?? false
  if (sqliteDriver() === 'node') {
    const { DatabaseSync } = nodeSqlite()!
    return new Connection(
      guard(() => new DatabaseSync(file, { readOnly: readonly })),
      true,
    )
  }
  let Better: BetterSqlite3
  try {
    Better = requireOptional('better-sqlite3') as BetterSqlite3
  } catch (err) {
    throw new Error(
      `This Node ${process.versions.node} has no built-in SQLite and better-sqlite3 is not installed (${(err as Error).message}); use Node 22.13 or later, or reinstall with a C++ compiler at hand`,
      { cause: err },
    )
  }
  return new Connection(
    guard(() => new Better(file, { readonly })),
    false,
  )
}
