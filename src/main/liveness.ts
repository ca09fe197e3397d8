/**
 * Whether the process that left a temporary file or a lock is still running: what a killed write,
 * create or run left behind is cleared only when its process is gone.
 */

/** True while a process with this id runs (EPERM: it runs, as another user). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
