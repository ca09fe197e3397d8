/**
 * The store's part of learned CAM heads (issue 5): cached pooled features per image, learned heads
 * and the user's per-label CAM source choice. Plain functions over the connection; ProjectStore
 * exposes them as methods. A project opened read-only at schema 1 has none of these tables: the
 * readers then answer "nothing stored" instead of failing.
 */
import { createHash } from 'node:crypto'
import type { HeadKind, HeadQuality, LearnedHead } from '../engine/head.ts'
import type { LabelMapping } from '../engine/labels.ts'
import type { Db } from './db.ts'
import { blobToFloats, floatsToBlob } from './blobs.ts'

/** An image whose features are missing (or stale) for a key. */
export interface FeatureTodo {
  id: number
  file: string
  hash: string
}

/** A cached feature vector with the image's labels: one training sample. */
export interface FeatureSample {
  imageId: number
  hash: string
  features: Float32Array
  labels: string[]
}

/** A head as stored: the engine's LearnedHead plus where it came from. */
export interface StoredHead extends LearnedHead {
  id: number
  featureKey: string
  /** Hash of the training set and settings it was trained on (see trainingFingerprint). */
  fingerprint: string
  createdAt: number
}

/** Cached-feature counts for one key. */
export interface FeatureCounts {
  /** Images with current features. */
  cached: number
  /** Images whose last attempt failed (not retried until the file changes). */
  failed: number
  /** Images without current features or failure (to extract). */
  missing: number
}

const now = () => Date.now()

/** True when the file has the learning tables (schema ≥ 2; false for an old file opened read-only). */
export function hasLearningTables(db: Db): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'features'").get() !==
    undefined
  )
}

/**
 * Images without current features under `key` (never computed, or computed from another version of
 * the file), in path order. Failed images count as done unless their file changed.
 */
export function imagesMissingFeatures(db: Db, key: string): FeatureTodo[] {
  if (!hasLearningTables(db))
    return db
      .prepare('SELECT id, path AS file, hash FROM images ORDER BY path')
      .all() as FeatureTodo[]
  return db
    .prepare(
      `SELECT i.id, i.path AS file, i.hash FROM images i
       WHERE NOT EXISTS (SELECT 1 FROM features f WHERE f.key = ? AND f.image_id = i.id AND f.hash = i.hash)
       ORDER BY i.path`,
    )
    .all(key) as FeatureTodo[]
}

/** Stores one image's features (or its failure) under `key`, for the file version `hash`. */
export function saveFeatures(
  db: Db,
  imageId: number,
  key: string,
  hash: string,
  result: { features: Float32Array } | { error: string },
): void {
  const features = 'features' in result ? result.features : undefined
  db.prepare(
    `INSERT INTO features(image_id, key, hash, dim, data, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(key, image_id) DO UPDATE SET hash = excluded.hash, dim = excluded.dim,
       data = excluded.data, error = excluded.error, created_at = excluded.created_at`,
  ).run(
    imageId,
    key,
    hash,
    features?.length ?? 0,
    features ? floatsToBlob(features) : null,
    'error' in result ? result.error : null,
    now(),
  )
}

/** How many images have current features, failed, or still miss them under `key`. */
export function featureCounts(db: Db, key: string): FeatureCounts {
  const images = (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n
  if (!hasLearningTables(db)) return { cached: 0, failed: 0, missing: images }
  const r = db
    .prepare(
      `SELECT sum(f.data IS NOT NULL) AS cached, sum(f.data IS NULL) AS failed FROM features f
       JOIN images i ON i.id = f.image_id AND i.hash = f.hash WHERE f.key = ?`,
    )
    .get(key) as { cached: number | null; failed: number | null }
  const cached = r.cached ?? 0
  const failed = r.failed ?? 0
  return { cached, failed, missing: images - cached - failed }
}

/** Failed feature extractions under `key` (path and message), path order. */
export function featureErrors(db: Db, key: string): { file: string; error: string }[] {
  if (!hasLearningTables(db)) return []
  return db
    .prepare(
      `SELECT i.path AS file, f.error FROM features f JOIN images i ON i.id = f.image_id AND i.hash = f.hash
       WHERE f.key = ? AND f.data IS NULL ORDER BY i.path`,
    )
    .all(key) as { file: string; error: string }[]
}

/**
 * Every labelled image with current features under `key`, with its labels (class order), in path
 * order: the training set of a head.
 */
export function featureSamples(db: Db, key: string): FeatureSample[] {
  if (!hasLearningTables(db)) return []
  const rows = db
    .prepare(
      `SELECT i.id, i.hash, f.data,
         (SELECT json_group_array(name) FROM (SELECT c.name FROM labels l JOIN classes c ON c.id = l.class_id
           WHERE l.image_id = i.id ORDER BY c.position)) AS labels
       FROM features f JOIN images i ON i.id = f.image_id AND i.hash = f.hash
       WHERE f.key = ? AND f.data IS NOT NULL ORDER BY i.path`,
    )
    .all(key) as { id: number; hash: string; data: Buffer; labels: string }[]
  return rows
    .map((r) => ({
      imageId: r.id,
      hash: r.hash,
      features: blobToFloats(r.data),
      labels: JSON.parse(r.labels) as string[],
    }))
    .filter((s) => s.labels.length > 0)
}

/**
 * A fingerprint of a training set and its settings: the images (ids, content hashes, labels), the
 * feature key and the head options. Equal fingerprints mean retraining would give the same head.
 */
export function trainingFingerprint(
  key: string,
  samples: readonly Pick<FeatureSample, 'imageId' | 'hash' | 'labels'>[],
  settings: { lambda: number; mode: string },
): string {
  const h = createHash('sha1')
  h.update(`${key}\nlambda=${settings.lambda}\nmode=${settings.mode}\n`)
  for (const s of samples)
    h.update(`${s.imageId}\t${s.hash}\t${[...s.labels].sort().join('\u0001')}\n`)
  return 'sha1:' + h.digest('hex')
}

/** Stores a head for `featureKey`, replacing the previous one of that key. Returns its id. */
export function saveHead(
  db: Db,
  featureKey: string,
  fingerprint: string,
  head: LearnedHead,
): number {
  return db.transaction(() => {
    db.prepare('DELETE FROM heads WHERE feature_key = ?').run(featureKey)
    const id = Number(
      db
        .prepare(
          `INSERT INTO heads(feature_key, mode, lambda, num_features, fingerprint, quality, iterations, converged, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          featureKey,
          head.mode,
          head.lambda,
          head.numFeatures,
          fingerprint,
          JSON.stringify(head.quality),
          head.iterations,
          head.converged ? 1 : 0,
          now(),
        ).lastInsertRowid,
    )
    const ins = db.prepare(
      'INSERT INTO head_classes(head_id, position, name, background, images, weights, bias) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    head.classes.forEach((c, i) =>
      ins.run(id, i, c.name, c.background ? 1 : 0, c.images, floatsToBlob(c.weights), c.bias),
    )
    return id
  })()
}

/** The stored head of `featureKey`, or (no key) the newest head of the project. */
export function loadHead(db: Db, featureKey?: string): StoredHead | undefined {
  if (!hasLearningTables(db)) return undefined
  const h = db
    .prepare(
      'SELECT * FROM heads WHERE (? IS NULL OR feature_key = ?) ORDER BY created_at DESC, id DESC LIMIT 1',
    )
    .get(featureKey ?? null, featureKey ?? null) as
    | {
        id: number
        feature_key: string
        mode: HeadKind
        lambda: number
        num_features: number
        fingerprint: string
        quality: string
        iterations: number
        converged: number
        created_at: number
      }
    | undefined
  if (!h) return undefined
  const classes = db
    .prepare('SELECT * FROM head_classes WHERE head_id = ? ORDER BY position')
    .all(h.id) as {
    name: string
    background: number
    images: number
    weights: Buffer
    bias: number
  }[]
  return {
    version: 1,
    id: h.id,
    featureKey: h.feature_key,
    fingerprint: h.fingerprint,
    createdAt: h.created_at,
    mode: h.mode,
    lambda: h.lambda,
    numFeatures: h.num_features,
    quality: JSON.parse(h.quality) as HeadQuality,
    iterations: h.iterations,
    converged: h.converged === 1,
    classes: classes.map((c) => ({
      name: c.name,
      background: c.background === 1,
      images: c.images,
      weights: blobToFloats(c.weights),
      bias: c.bias,
    })),
  }
}

/** The user's per-label CAM source choices (labels without one are `auto`). */
export function labelMappings(db: Db): Map<string, LabelMapping> {
  if (!hasLearningTables(db)) return new Map()
  const rows = db
    .prepare(
      'SELECT c.name, m.mapping FROM label_mappings m JOIN classes c ON c.id = m.class_id ORDER BY c.position',
    )
    .all() as { name: string; mapping: string }[]
  return new Map(rows.map((r) => [r.name, JSON.parse(r.mapping) as LabelMapping]))
}

/** Sets (or, with `auto`, removes) the CAM source choice of a class. Returns true when it changed. */
export function setLabelMapping(db: Db, classId: number, mapping: LabelMapping | 'auto'): boolean {
  const old = db.prepare('SELECT mapping FROM label_mappings WHERE class_id = ?').get(classId) as
    { mapping: string } | undefined
  if (mapping === 'auto') {
    db.prepare('DELETE FROM label_mappings WHERE class_id = ?').run(classId)
    return old !== undefined
  }
  const json = JSON.stringify(mapping)
  if (old?.mapping === json) return false
  db.prepare(
    `INSERT INTO label_mappings(class_id, mapping, updated_at) VALUES (?, ?, ?)
     ON CONFLICT(class_id) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at`,
  ).run(classId, json, now())
  return true
}

/**
 * Images whose stored CAM of a label (for this model revision) was made from another source than
 * `current` says (the label's source key): their proposals for those labels are stale. A CAM
 * stored before source keys existed is compared by its source kind. Path order.
 */
export function staleLabelImages(
  db: Db,
  model: string,
  revision: string,
  current: ReadonlyMap<string, string>,
): { id: number; file: string; labels: string[] }[] {
  if (!hasLearningTables(db) || current.size === 0) return []
  // One range of the cams_model index (model, revision, class) per label, compared in SQL, so
  // only stale rows (usually none) are read from the images table and sorted.
  const classId = db.prepare('SELECT id, position FROM classes WHERE name = ?')
  const query = db.prepare(
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
  const out = new Map<number, { id: number; file: string; labels: string[] }>()
  for (const r of rows) {
    const entry = out.get(r.id) ?? { id: r.id, file: r.file, labels: [] }
    entry.labels.push(r.label)
    out.set(r.id, entry)
  }
  return [...out.values()]
}

/** The kind part of a source key (`model:…`, `learned:…`, `agnostic`). */
export function sourceKindOf(key: string): string {
  const colon = key.indexOf(':')
  return colon < 0 ? key : key.slice(0, colon)
}

/** Per label, the source kinds of its stored CAMs (what its current proposals come from). */
export function storedSourceKinds(db: Db): Map<string, Set<string>> {
  const rows = db
    .prepare(
      'SELECT DISTINCT c.name, m.source FROM cams m JOIN classes c ON c.id = m.class_id ORDER BY c.position',
    )
    .all() as { name: string; source: string }[]
  const out = new Map<string, Set<string>>()
  for (const r of rows) out.set(r.name, (out.get(r.name) ?? new Set()).add(r.source))
  return out
}
