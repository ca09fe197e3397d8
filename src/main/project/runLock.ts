/**
 * One writer of a project's runs at a time, across processes: a proposal run, a feature pass or
 * head training holds the project's lock file (`<project>.lock`, created exclusively, holding the
 * owner's process id) while it works. A second run — another terminal, the app beside the command
 * line — is refused at once with PROJECT_BUSY naming the owner, instead of both redoing the same
 * images and one failing minutes later on "database is locked". A lock whose process is gone (it
 * was killed) is taken over. In one process the lock is re-entrant (a run that learns a head first).
 */
import { isProcessAlive } from '../liveness.ts'
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { CamlabelError } from '../../shared/errors.ts'
import { IN_MEMORY, type ProjectStore } from '../store/projectStore.ts'

const held = new Map<string, number>()

/**
 * Takes the project's run lock for `what` (e.g. 'propose'); returns its release.
 * @throws CamlabelError PROJECT_BUSY when another live process holds it
 */
export function lockProject(store: Pick<ProjectStore, 'file'>, what: string): () => void {
  if (store.file === IN_MEMORY) return () => undefined
  const file = `${store.file}.lock`
  const count = held.get(file) ?? 0
  if (count === 0) take(file, what)
  held.set(file, count + 1)
  let released = false
  return () => {
    if (released) return
    released = true
    const n = (held.get(file) ?? 1) - 1
    if (n > 0) held.set(file, n)
    else {
      held.delete(file)
      rmSync(file, { force: true })
    }
  }
}

function take(file: string, what: string): void {
  const me = JSON.stringify({
    pid: process.pid,
    host: hostname(),
    what,
    at: new Date().toISOString(),
  })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      try {
        writeSync(fd, me)
      } finally {
        closeSync(fd)
      }
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return // no lock where none can be made
    }
    let owner: { pid?: number; host?: string; what?: string } = {}
    try {
      owner = JSON.parse(readFileSync(file, 'utf8')) as typeof owner
    } catch {
      // unreadable or half-written: treated as stale below
    }
    const sameHost = owner.host === undefined || owner.host === hostname()
    if (owner.pid && sameHost && isProcessAlive(owner.pid)) {
      throw new CamlabelError(
        'PROJECT_BUSY',
        `Another camlabel (process ${owner.pid}${owner.what ? `, ${owner.what}` : ''}) is working on this project`,
        'Wait for it to finish, or stop it; then run again.',
      )
    }
    if (!sameHost && owner.pid) {
      throw new CamlabelError(
        'PROJECT_BUSY',
        `camlabel on ${owner.host} (process ${owner.pid}) is working on this project`,
        `Wait for it to finish; if it was stopped, remove ${file} and run again.`,
      )
    }
    rmSync(file, { force: true }) // its process is gone: a killed run's lock
  }
}
