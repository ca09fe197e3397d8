/** `camlabel status PROJECT`: image counts by review status, box counts, and counts by class. */
import { reviewLearningStatus } from '../../main/project/reviewLearning.ts'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import type { LabelSourceInfo, LabelSources } from '../../shared/contracts/labels.ts'
import { describeLabels } from '../../main/project/labelPlan.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'

const usage = `Usage: camlabel status PROJECT [--json]

Shows how far the review of a project is: images by status (unproposed, pending, accepted, edited,
rejected), boxes by status, per class the labelled images, kept boxes, pending proposals and
rejected ones, and per label where its CAM comes from (model class, learned head with its
cross-validated accuracy, class-agnostic, or the classes you mapped it onto).

  --json   print the counts as JSON`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } }, 'status')
  if (positionals.length !== 1)
    throw new CamlabelError('INVALID_ARGUMENT', 'status takes one PROJECT path', usage)
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]), { readonly: true })
  try {
    if (store.readOnlyNote) io.stderr(`note: ${store.readOnlyNote}\n`)
    const c = store.counts()
    const jobs = store.jobs.list().filter((j) => j.status === 'running')
    let sources: LabelSources | undefined
    let sourcesError: string | undefined
    try {
      sources = await describeLabels(store)
    } catch (err) {
      sourcesError = (err as Error).message
    }
    if (values.json) {
      io.stdout(
        JSON.stringify(
          {
            file: store.file,
            imageRoot: store.imageRoot,
            ...c,
            interruptedJobs: jobs.length,
            labelSources: sources?.labels.map((l) => ({ ...l })),
            fromReview: reviewLearningStatus(store),
          },
          null,
          2,
        ) + '\n',
      )
      return 0
    }
    const lines = [
      `${store.file}`,
      `  images in ${store.imageRoot}: ${c.images}`,
      `  images by status: ${Object.entries(c.byStatus)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      `  boxes by status:  ${Object.entries(c.boxes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      '',
      `  ${'class'.padEnd(24)} ${'images'.padStart(7)} ${'kept'.padStart(7)} ${'pending'.padStart(8)} ${'rejected'.padStart(9)}`,
      ...c.byClass.map(
        (k) =>
          `  ${k.label.padEnd(24)} ${String(k.images).padStart(7)} ${String(k.kept).padStart(7)} ${String(k.pending).padStart(8)} ${String(k.rejected).padStart(9)}`,
      ),
    ]
    if (sources) {
      lines.push('', `  CAM sources (model ${sources.model}):`)
      for (const l of sources.labels) lines.push(`  ${l.label.padEnd(24)} ${describeSource(l)}`)
    } else if (sourcesError) lines.push('', `  CAM sources unknown: ${sourcesError}`)
    lines.push('', `  learning from reviews: ${reviewLearningStatus(store).text}`)
    if (jobs.length)
      lines.push(
        '',
        `  ${jobs.length} job(s) were interrupted (${jobs.map((j) => `${j.kind} ${j.done}/${j.total}`).join(', ')}); run the same command again to resume.`,
      )
    io.stdout(lines.join('\n') + '\n')
    return 0
  } finally {
    store.close()
  }
}

export const command: Command = {
  usage,
  run,
}

function percent(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`
}

/** The first few names, then how many in all. */
function listed(names: string[]): string {
  return names.length <= 4
    ? names.join(', ')
    : `${names.slice(0, 3).join(', ')}, … (${names.length} classes)`
}

/** One label's CAM source in words. */
export function describeSource(l: LabelSourceInfo): string {
  if (l.source === 'negatives') return 'negatives for the learned head (not proposed)'
  const chosen = l.mapping === 'auto' ? '' : ' (your mapping)'
  if (l.source === 'model')
    return `${Array.isArray(l.mapping) ? 'mapped onto model classes' : 'model class'}: ${listed(l.modelClasses ?? [])}`
  if (l.source === 'learned') return `learned head, CV accuracy ${percent(l.cvAccuracy)}${chosen}`
  if (l.needsHead) return "learned head (not trained yet: 'camlabel learn' or 'propose')" + chosen
  return `class-agnostic CAM${chosen}${l.mapping === 'auto' ? " (one class: add 'background' negatives to learn a head)" : ''}`
}
