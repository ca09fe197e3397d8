/**
 * Where the tests find the real data and models: `../shared` beside the checkout. A missing folder
 * fails the test with a message that says what to do, never a silent skip.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const sharedRoot = path.resolve(repoRoot, '../shared')

/** Absolute path of a file or folder under ../shared, checked to exist. */
export function shared(...parts: string[]): string {
  const p = path.join(sharedRoot, ...parts)
  if (!existsSync(p)) {
    throw new Error(
      `Test data missing: ${p}. The tests read real photos and models from ../shared beside the ` +
        'checkout; place that folder there and run the tests again.',
    )
  }
  return p
}

/** Parses a JSON file under ../shared. */
export function sharedJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(shared(...parts), 'utf8')) as T
}
