/**
 * Child process of crash.test.ts: runs an import or a proposal run on a project so the test can
 * kill it with SIGKILL midway. Usage: crash.child.ts import|propose PROJECT
 */
import { importProject } from '../../src/main/project/importProject.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'

const [mode, file] = process.argv.slice(2)
const store = ProjectStore.open(file)
if (mode === 'import') {
  // Small batches and one reader so the import is slow enough to be killed in the middle.
  await importProject(store, { labels: { kind: 'none' }, batchSize: 5, concurrency: 1 })
} else {
  await proposeProject(store, { model: 'squeezenet1.1-fp16', providers: 'cpu' })
}
store.close()
process.stdout.write('finished\n')
