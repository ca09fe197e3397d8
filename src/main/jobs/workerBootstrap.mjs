// Loads a TypeScript worker entry through tsx when camlabel runs from its sources (CLI, tests): Node's
// worker threads do not inherit the parent's loader hooks. The built app starts the bundled .js directly.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
