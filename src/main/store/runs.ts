/**
 * Proposal runs, their low-resolution CAMs and the proposals they made. A run mark (`runs`) says a
 * model revision processed an image, how (threshold, upscale mode, working size) and whether it
 * failed: the resume point of a run and the settings the review recomputes boxes with. Replacing an
 * image's proposals never touches a decided box, and a proposal repeating one is not offered again.
 */
import type { Box } from '../../shared/box.ts'
import type { UpscaleMode } from '../../shared/cam/types.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D, type RawProposal } from '../../shared/cam/types.ts'
import type { ErrorData } from '../../shared/errors.ts'
import { blobToFloats, floatsToBlob } from './blobs.ts'
import { coversDecided, repeatsDecided, type DecidedBox } from './boxRules.ts'
import { hasTable, type LabelsRepo } from './labels.ts'
import type { Db } from './db.ts'
import type { Prepared } from './statements.ts'
import { naturalKey } from './naturalKey.ts'
import { LEARNED_FROM_SQL } from './reviewCells.ts'
import { refreshImage } from './status.ts'

/**
 * Identifies a proposal run: the model and its revision (see engine/modelIdentity.ts), the
 * threshold used, and how the CAM was upscaled to boxes (default bilinear at
 * DEFAULT_PROPOSAL_OPTIONS.workingSize).
 */
export interface RunInfo {
  model: string
  revision: string
  threshold: number
  upscale?: UpscaleMode
  workingSize?: number
  /**
   * The fingerprint of the model learned from reviews that made the proposals (null: plain CAMs).
   * Undefined keeps the image's (a recompute from its stored CAMs changes only the threshold).
   */
  reviewKey?: string | null
}

/** How an image's current proposals were made (its newest successful run). */
export interface ImageRun {
  model: string
  revision: string
  threshold: number
  upscale: UpscaleMode
  workingSize: number
}

/** The proposals of one label of one image, as the pipeline produces them. */
export interface LabelResult {
  label: string
  source: string
  confidence: number
  cam: Map2D
  proposals: RawProposal[]
  /** What exactly made the CAM (model classes, which learned head, agnostic); see labelPlan.ts. */
  sourceKey?: string
}

/** An image a run already processed in another way than the run asks for (see toRedo). */
export interface RedoImage {
  id: number
  file: string
  width: number
  height: number
  /** The threshold its current proposals were made at. */
  threshold: number
  upscale: UpscaleMode
  labels: string[]
}

/** A stored low-resolution CAM. */
export interface StoredCam {
  label: string
  model: string
  revision: string
  cam: Map2D
  confidence: number
  source: string
  /** What exactly made it (see LabelResult.sourceKey); absent for CAMs stored before keys. */
  sourceKey?: string
}

/** An image with its labels, as a run plans it. */
export interface ImageToRun {
  id: number
  file: string
  labels: string[]
}

/** Runs, CAMs and proposals. */
export class RunsRepo {
  constructor(
    private readonly db: Db,
    private readonly sql: Prepared,
    private readonly transaction: <T>(fn: () => T) => T,
    private readonly labels: LabelsRepo,
  ) {}

  /**
   * Images a run of this model revision still has to process (never processed by it), with their
   * labels, in path order: the resume point of a run. Without `revision`: images no revision of
   * the model processed (an estimate that needs no model files).
   */
  toPropose(model: string, revision?: string): ImageToRun[] {
    const rows = this.sql(
      `SELECT i.id, i.path AS file, (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels
         FROM images i WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.model = ? AND (? IS NULL OR r.revision = ?) AND r.image_id = i.id)
         ORDER BY i.path`,
    ).all(model, revision ?? null, revision ?? null) as {
      id: number
      file: string
      labels: string
    }[]
    return rows.map((r) => ({ id: r.id, file: r.file, labels: JSON.parse(r.labels) as string[] }))
  }

  /**
   * Persists one image's proposal results in one transaction: its CAMs (replacing those of the
   * same model revision), new pending proposals replacing the image's previous pending ones
   * (decided boxes — accepted, edited, rejected — are kept, and a proposal equal to one is not
   * offered again), and the run mark that makes a resumed run skip it. With `only`, just those
   * labels' pending proposals are replaced (their CAM source changed).
   */
  save(imageId: number, run: RunInfo, results: LabelResult[], only?: ReadonlySet<string>): void {
    this.transaction(() => {
      this.storeCams(imageId, run, results)
      this.replace(imageId, run, results, repeatsDecided, only)
    })
  }

  /**
   * Re-proposes an image a run already processed another way (another upscale mode or working
   * size): stores its new CAMs and replaces its pending proposals; a proposal covering a kept box
   * of its class (IoU ≥ 0.5), or equal to a rejected one, is not offered.
   */
  repropose(imageId: number, run: RunInfo, results: LabelResult[]): void {
    this.transaction(() => {
      this.storeCams(imageId, run, results)
      this.replace(imageId, run, results, coversDecided)
    })
  }

  /**
   * Replaces an image's pending proposals with ones recomputed from its stored CAMs (no
   * inference) and marks the run with the new settings; decided boxes stay, as in repropose.
   */
  recompute(
    imageId: number,
    run: RunInfo,
    results: Pick<LabelResult, 'label' | 'proposals'>[],
  ): void {
    this.transaction(() => this.replace(imageId, run, results, coversDecided))
  }

  /** Upserts the CAMs of `results` under the run's model revision (inside a transaction). */
  private storeCams(imageId: number, run: RunInfo, results: LabelResult[]): void {
    const t = Date.now()
    const cam = this.sql(
      `INSERT INTO cams(image_id, class_id, model, revision, width, height, data, confidence, source, source_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(image_id, class_id, model, revision) DO UPDATE SET width = excluded.width,
           height = excluded.height, data = excluded.data, confidence = excluded.confidence,
           source = excluded.source, source_key = excluded.source_key, created_at = excluded.created_at`,
    )
    for (const r of results) {
      cam.run(
        imageId,
        this.labels.ensureClass(r.label),
        run.model,
        run.revision,
        r.cam.width,
        r.cam.height,
        floatsToBlob(r.cam.data),
        r.confidence,
        r.source,
        r.sourceKey ?? null,
        t,
      )
    }
  }

  /** Shared by save, repropose and recompute (inside their transaction). */
  private replace(
    imageId: number,
    run: RunInfo,
    results: Pick<LabelResult, 'label' | 'proposals'>[],
    covers: (decided: DecidedBox, proposal: Box) => boolean,
    only?: ReadonlySet<string>,
  ): void {
    const del = this.sql(
      'DELETE FROM proposals WHERE image_id = ? AND (? IS NULL OR class_id = ?) AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = proposals.id)',
    )
    if (!only) del.run(imageId, null, null)
    else for (const label of only) del.run(imageId, 1, this.labels.ensureClass(label))
    const prop = this.sql(
      `INSERT INTO proposals(image_id, class_id, x0, y0, x1, y1, score, rank, model, revision, threshold, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const decided = this.sql(
      'SELECT class_id, status, x0, y0, x1, y1 FROM annotations WHERE image_id = ?',
    ).all(imageId) as DecidedBox[]
    const t = Date.now()
    for (const r of results) {
      const classId = this.labels.ensureClass(r.label)
      for (const p of r.proposals) {
        if (decided.some((d) => d.class_id === classId && covers(d, p.box))) continue
        const b = p.box
        prop.run(
          imageId,
          classId,
          b.x0,
          b.y0,
          b.x1,
          b.y1,
          p.score,
          p.rank,
          run.model,
          run.revision,
          run.threshold,
          t,
        )
      }
    }
    this.mark(imageId, run, null)
    this.sql('UPDATE images SET threshold = ? WHERE id = ?').run(run.threshold, imageId)
    refreshImage(this.sql, imageId)
  }

  /**
   * Images this model revision processed successfully in another way than `run` asks: another
   * upscale mode or working size, or — when `rethreshold` — another threshold. Path order.
   */
  toRedo(run: RunInfo, rethreshold: boolean): RedoImage[] {
    const rows = this.sql(
      `SELECT i.id, i.path AS file, i.width, i.height, r.threshold, r.upscale,
           (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels
         FROM runs r JOIN images i ON i.id = r.image_id
         WHERE r.model = @model AND r.revision = @revision AND r.error IS NULL
           AND (r.upscale <> @upscale OR coalesce(r.working_size, @defaultSize) <> @ws
             OR (@rethreshold AND abs(r.threshold - @threshold) > 1e-9))
         ORDER BY i.path`,
    ).all({
      model: run.model,
      revision: run.revision,
      upscale: run.upscale ?? 'bilinear',
      ws: run.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
      defaultSize: DEFAULT_PROPOSAL_OPTIONS.workingSize,
      rethreshold: rethreshold ? 1 : 0,
      threshold: run.threshold,
    }) as (Omit<RedoImage, 'labels'> & { labels: string })[]
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as string[] }))
  }

  /**
   * Images not reviewed yet whose proposals this model revision made with another model learned
   * from reviews than `reviewKey` (null: plain CAMs), with their labels, in review order (natural
   * name order) starting after the image named `after`, then from the top; `skip` (the image open
   * in review) is left for a later update.
   */
  toRelearn(
    run: Pick<RunInfo, 'model' | 'revision'>,
    reviewKey: string | null,
    options: { after?: string; skip?: number } = {},
  ): ImageToRun[] {
    if (!hasTable(this.db, 'review_cells')) return []
    const rows = this.sql(
      `SELECT i.id, i.path AS file,
           (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels
         FROM runs r JOIN images i ON i.id = r.image_id
         WHERE r.model = @model AND r.revision = @revision AND r.error IS NULL
           AND r.review_key IS NOT @key AND i.id IS NOT @skip
           AND NOT ${LEARNED_FROM_SQL}
         ORDER BY (@after IS NOT NULL AND i.name_key <= @after), i.name_key, i.path`,
    ).all({
      model: run.model,
      revision: run.revision,
      key: reviewKey,
      skip: options.skip ?? null,
      after: options.after !== undefined ? naturalKey(options.after) : null,
    }) as { id: number; file: string; labels: string }[]
    return rows.map((r) => ({ id: r.id, file: r.file, labels: JSON.parse(r.labels) as string[] }))
  }

  /** Whether any image's proposals were made by a model learned from reviews. */
  anyFromReview(): boolean {
    if (!hasTable(this.db, 'review_cells')) return false
    return this.sql('SELECT 1 FROM runs WHERE review_key IS NOT NULL LIMIT 1').get() !== undefined
  }

  /** Records that a run could not process an image (unreadable…): a resumed run does not retry it. */
  markFailed(imageId: number, run: RunInfo, error: Pick<ErrorData, 'code' | 'message'>): void {
    this.transaction(() => {
      this.mark(imageId, run, error)
      refreshImage(this.sql, imageId, false)
    })
  }

  private mark(
    imageId: number,
    run: RunInfo,
    error: Pick<ErrorData, 'code' | 'message'> | null,
  ): void {
    // review_key: undefined keeps the image's (see RunInfo.reviewKey). A writable project is
    // always at the latest schema, so the column is there.
    this.sql(
      `INSERT INTO runs(image_id, model, revision, threshold, upscale, working_size, error, error_code, review_key, at)
         VALUES (@image, @model, @revision, @threshold, @upscale, @ws, @error, @code, @key, @at)
         ON CONFLICT(model, revision, image_id) DO UPDATE SET threshold = excluded.threshold,
           upscale = excluded.upscale, working_size = excluded.working_size, error = excluded.error,
           error_code = excluded.error_code, at = excluded.at,
           review_key = CASE WHEN @keep THEN runs.review_key ELSE excluded.review_key END`,
    ).run({
      image: imageId,
      model: run.model,
      revision: run.revision,
      threshold: run.threshold,
      upscale: run.upscale ?? 'bilinear',
      ws: run.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
      error: error?.message ?? null,
      code: error?.code ?? null,
      key: run.reviewKey ?? null,
      keep: run.reviewKey === undefined ? 1 : 0,
      at: Date.now(),
    })
  }

  /** Failures recorded by runs (image path, error code and message), path order. */
  errors(model?: string): { file: string; model: string; code: string; error: string }[] {
    return this.sql(
      `SELECT i.path AS file, r.model, coalesce(r.error_code, 'IMAGE_UNREADABLE') AS code, r.error FROM runs r
         JOIN images i ON i.id = r.image_id
         WHERE r.error IS NOT NULL AND (? IS NULL OR r.model = ?) ORDER BY i.path`,
    ).all(model ?? null, model ?? null) as {
      file: string
      model: string
      code: string
      error: string
    }[]
  }

  /** Ids of the images this model revision processed successfully. */
  processed(model: string, revision: string): Set<number> {
    return new Set(
      this.sql('SELECT image_id FROM runs WHERE model = ? AND revision = ? AND error IS NULL')
        .pluck()
        .all(model, revision) as number[],
    )
  }

  /** How the image's current proposals were made: its newest successful run, if any. */
  ofImage(imageId: number): ImageRun | undefined {
    const r = this.sql(
      `SELECT model, revision, threshold, upscale, working_size AS workingSize FROM runs
         WHERE image_id = ? AND error IS NULL ORDER BY at DESC LIMIT 1`,
    ).get(imageId) as (Omit<ImageRun, 'workingSize'> & { workingSize: number | null }) | undefined
    return r
      ? { ...r, workingSize: r.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize }
      : undefined
  }

  /** The stored CAMs of an image (every model revision, or only `run`'s), newest first. */
  cams(imageId: number, run?: Pick<RunInfo, 'model' | 'revision'>): StoredCam[] {
    const rows = this.sql(
      `SELECT c.name AS label, m.model, m.revision, m.width, m.height, m.data, m.confidence, m.source,
           m.source_key AS sourceKey
         FROM cams m JOIN classes c ON c.id = m.class_id WHERE m.image_id = ?
           AND (? IS NULL OR (m.model = ? AND m.revision = ?))
         ORDER BY m.created_at DESC, c.position`,
    ).all(imageId, run?.model ?? null, run?.model ?? null, run?.revision ?? null) as (Omit<
      StoredCam,
      'cam' | 'sourceKey'
    > & { width: number; height: number; data: Buffer; sourceKey: string | null })[]
    return rows.map((r) => ({
      label: r.label,
      model: r.model,
      revision: r.revision,
      cam: { width: r.width, height: r.height, data: blobToFloats(r.data) },
      confidence: r.confidence,
      source: r.source,
      ...(r.sourceKey !== null ? { sourceKey: r.sourceKey } : {}),
    }))
  }

  /**
   * Images whose stored CAM of a label (for this model revision) was made from another source than
   * `current` says (label → source key): their proposals for those labels are stale. A CAM stored
   * before source keys existed is compared by its source kind. Path order.
   */
  staleLabelImages(
    model: string,
    revision: string,
    current: ReadonlyMap<string, string>,
  ): ImageToRun[] {
    if (!hasTable(this.db, 'label_mappings') || current.size === 0) return []
    // One range of the cams_model index (model, revision, class) per label, compared in SQL, so
    // only stale rows (usually none) are read from the images table and sorted.
    const classId = this.sql('SELECT id, position FROM classes WHERE name = ?')
    const query = this.sql(
      `SELECT i.id, i.path AS file FROM cams m
       JOIN labels l ON l.image_id = m.image_id AND l.class_id = m.class_id
       JOIN images i ON i.id = m.image_id
       WHERE m.model = ? AND m.revision = ? AND m.class_id = ?
         AND CASE WHEN m.source_key IS NULL THEN m.source <> ? ELSE m.source_key <> ? END`,
    )
    const rows: { id: number; file: string; label: string; position: number }[] = []
    for (const [label, key] of current) {
      const c = classId.get(label) as { id: number; position: number } | undefined
      if (!c) continue
      const hits = query.all(model, revision, c.id, sourceKindOf(key), key) as {
        id: number
        file: string
      }[]
      for (const h of hits) rows.push({ ...h, label, position: c.position })
    }
    rows.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.position - b.position))
    const out = new Map<number, ImageToRun>()
    for (const r of rows) {
      const entry = out.get(r.id) ?? { id: r.id, file: r.file, labels: [] }
      entry.labels.push(r.label)
      out.set(r.id, entry)
    }
    return [...out.values()]
  }

  /** Per label, the source kinds (model, learned, agnostic) of its stored CAMs. */
  storedSourceKinds(): Map<string, Set<string>> {
    const rows = this.sql(
      'SELECT DISTINCT c.name, m.source FROM cams m JOIN classes c ON c.id = m.class_id ORDER BY c.position',
    ).all() as { name: string; source: string }[]
    const out = new Map<string, Set<string>>()
    for (const r of rows) out.set(r.name, (out.get(r.name) ?? new Set()).add(r.source))
    return out
  }
}

/** The kind part of a source key (`model:…`, `learned:…`, `agnostic`). */
export function sourceKindOf(key: string): string {
  const colon = key.indexOf(':')
  return colon < 0 ? key : key.slice(0, colon)
}
