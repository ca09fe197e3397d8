/**
 * Proposals past one machine: `camlabel propose P --shard i/n` copies the project (SQLite's VACUUM
 * INTO: one consistent file) and proposes a stable 1/n of its images in the copy — the shard,
 * chosen by a hash of each image's path, so every machine agrees without talking — and `camlabel
 * merge P SHARDS…` folds the shards' runs, CAMs and pending proposals into the project. Merging is
 * idempotent and order-free (a merged image's pending proposals are replaced, never added to;
 * decisions made in P meanwhile are kept, as by any run), and a shard given twice or missing is
 * reported. Each shard learns what it needs (a head, the model learned from reviews) from the same
 * copy, deterministically, so the merged boxes are those of one unsharded run.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError, type ErrorCode } from '../../shared/errors.ts'
import { ProjectStore } from '../store/projectStore.ts'
import type { LabelResult } from '../store/runs.ts'

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  index: number
  count: number
}

/** Meta key of a shard file: which shard of which project it is (JSON). */
export const SHARD_META = 'shard'

interface ShardMeta extends Shard {
  /** The project file's name the shard was copied from. */
  of: string
}

/** Parses `i/n` (1 ≤ i ≤ n ≤ 100 000). @throws CamlabelError INVALID_ARGUMENT */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim())
  const index = Number(m?.[1])
  const count = Number(m?.[2])
  if (!m || index < 1 || count < 1 || index > count || count > 100_000)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `--shard takes i/n with 1 ≤ i ≤ n, e.g. 3/8; got '${text}'`,
      'In a Kubernetes Indexed Job use $((JOB_COMPLETION_INDEX + 1))/N; in a Slurm array, $SLURM_ARRAY_TASK_ID/N with --array=1-N.',
    )
  return { index, count }
}

/** Whether an image (its path in the project) belongs to a shard: a hash of the path, mod n. */
export function inShard(file: string, shard: Shard): boolean {
  const h = createHash('sha1').update(file).digest().readUInt32BE(0)
  return h % shard.count === shard.index - 1
}

/** The default shard file of a project: `P.shard-3-of-8.camlabel` beside it. */
export function shardFile(project: string, shard: Shard): string {
  const base = project.replace(/\.camlabel$/, '')
  return `${base}.shard-${shard.index}-of-${shard.count}.camlabel`
}

/**
 * The shard's project: a copy of `project` made now, or the one made by an earlier (interrupted)
 * run of the same shard, which then resumes. @throws CamlabelError ALREADY_EXISTS when `file` is
 * something else
 */
export function openShard(project: string, file: string, shard: Shard): ProjectStore {
  if (existsSync(file)) {
    const store = ProjectStore.open(file)
    const meta = shardMeta(store)
    if (meta?.index === shard.index && meta.count === shard.count) return store
    store.close()
    throw new CamlabelError(
      'ALREADY_EXISTS',
      `${file} exists and is not shard ${shard.index}/${shard.count} of this project`,
      'Give another --out, or remove that file.',
    )
  }
  const source = ProjectStore.open(project, { readonly: true })
  try {
    source.db.prepare('VACUUM INTO ?').run(file)
  } finally {
    source.close()
  }
  const store = ProjectStore.open(file)
  const meta: ShardMeta = { ...shard, of: path.basename(project) }
  store.setMeta(SHARD_META, JSON.stringify(meta))
  return store
}

function shardMeta(store: Pick<ProjectStore, 'getMeta'>): ShardMeta | undefined {
  const raw = store.getMeta(SHARD_META)
  return raw ? (JSON.parse(raw) as ShardMeta) : undefined
}

/** What merging did. */
export interface MergeReport {
  /** Shards merged, with how many of their images' runs were folded in. */
  merged: { file: string; shard: Shard; images: number }[]
  /** Files naming a shard already given (merged once). */
  repeated: { file: string; shard: Shard }[]
  /** Shards of the set not given (their images keep what they had). */
  missing: number[]
  count: number
}

/** Folds shard files into the project (see the module comment). */
export function mergeShards(store: ProjectStore, files: readonly string[]): MergeReport {
  const report: MergeReport = { merged: [], repeated: [], missing: [], count: 0 }
  const ids = new Map(store.images.all().map((im) => [im.file, im.id]))
  const seen = new Set<number>()
  for (const file of files) {
    const shardStore = ProjectStore.open(file, { readonly: true })
    try {
      const meta = shardMeta(shardStore)
      if (!meta)
        throw new CamlabelError(
          'INVALID_ARGUMENT',
          `${file} is not a shard (made by 'camlabel propose P --shard i/n')`,
        )
      if (report.count && meta.count !== report.count)
        throw new CamlabelError(
          'INVALID_ARGUMENT',
          `${file} is shard ${meta.index}/${meta.count}, the others are of ${report.count}`,
          'Merge the shards of one --shard i/n set together.',
        )
      report.count = meta.count
      const shard = { index: meta.index, count: meta.count }
      if (seen.has(meta.index)) {
        report.repeated.push({ file, shard })
        continue
      }
      seen.add(meta.index)
      report.merged.push({ file, shard, images: mergeOne(store, shardStore, shard, ids) })
    } finally {
      shardStore.close()
    }
  }
  for (let i = 1; i <= report.count; i++) if (!seen.has(i)) report.missing.push(i)
  return report
}

interface RunRow {
  image_id: number
  path: string
  model: string
  revision: string
  threshold: number
  upscale: 'bilinear' | 'guided'
  working_size: number
  error: string | null
  error_code: string | null
  review_key: string | null
}

/** One shard's runs of its own images into the project, each image in one transaction. */
function mergeOne(
  store: ProjectStore,
  shardStore: ProjectStore,
  shard: Shard,
  ids: ReadonlyMap<string, number>,
): number {
  const runs = (
    shardStore.db
      .prepare(
        `SELECT r.image_id, i.path, r.model, r.revision, r.threshold, r.upscale, r.working_size,
           r.error, r.error_code, r.review_key
         FROM runs r JOIN images i ON i.id = r.image_id ORDER BY r.at, r.image_id`,
      )
      .all() as unknown as RunRow[]
  ).filter((r) => inShard(r.path, shard) && ids.has(r.path))
  const proposals = shardStore.db.prepare(
    `SELECT c.name AS label, p.x0, p.y0, p.x1, p.y1, p.score, p.rank FROM proposals p
       JOIN classes c ON c.id = p.class_id
       WHERE p.image_id = ? AND p.model = ? AND p.revision = ?
         AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)
       ORDER BY p.id`,
  )
  for (const r of runs) {
    const imageId = ids.get(r.path)!
    const run = {
      model: r.model,
      revision: r.revision,
      threshold: r.threshold,
      upscale: r.upscale,
      workingSize: r.working_size,
      reviewKey: r.review_key,
    }
    store.transaction(() => {
      if (r.error !== null) {
        store.runs.markFailed(imageId, run, {
          code: (r.error_code ?? 'IMAGE_UNREADABLE') as ErrorCode,
          message: r.error,
        } as never)
        return
      }
      const byLabel = new Map<string, LabelResult>(
        shardStore.runs.cams(r.image_id, run).map((c) => [
          c.label,
          {
            label: c.label,
            source: c.source,
            confidence: c.confidence,
            cam: c.cam,
            proposals: [],
            ...(c.sourceKey ? { sourceKey: c.sourceKey } : {}),
          },
        ]),
      )
      for (const p of proposals.all(r.image_id, r.model, r.revision) as {
        label: string
        x0: number
        y0: number
        x1: number
        y1: number
        score: number
        rank: number
      }[])
        byLabel.get(p.label)?.proposals.push({
          box: { x0: p.x0, y0: p.y0, x1: p.x1, y1: p.y1 },
          score: p.score,
          rank: p.rank,
        })
      store.runs.save(imageId, run, [...byLabel.values()])
    })
  }
  return new Set(runs.map((r) => r.path)).size
}
