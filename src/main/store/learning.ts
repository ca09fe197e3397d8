/**
 * The store's part of learned CAM heads: cached pooled features per image and the learned heads.
 * A project opened read-only at schema 1 has none of these tables: the readers then answer
 * "nothing stored" instead of failing.
 */
import { createHash } from 'node:crypto'
import type { HeadKind, HeadQuality, LearnedHead } from '../engine/head.ts'
import type { Db } from './db.ts'
import { hasTable } from './labels.ts'
import type { Prepared } from './statements.ts'
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

/** Cached features and learned heads. */
export class LearningRepo {
  constructor(
    private readonly db: Db,
    private readonly sql: Prepared,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  private get present(): boolean {
    return hasTable(this.db, 'features')
  }

  /**
   * Images without current features under `key` (never computed, or computed from another version
   * of the file), in path order. Failed images count as done unless their file changed.
   */
  imagesMissingFeatures(key: string): FeatureTodo[] {
    if (!this.present)
      return this.sql(
        'SELECT id, path AS file, hash FROM images ORDER BY path',
      ).all() as FeatureTodo[]
    return this.sql(
      `SELECT i.id, i.path AS file, i.hash FROM images i
       WHERE NOT EXISTS (SELECT 1 FROM features f WHERE f.key = ? AND f.image_id = i.id AND f.hash = i.hash)
       ORDER BY i.path`,
    ).all(key) as FeatureTodo[]
  }

  /** Stores one image's features (or its failure) under `key`, for the file version `hash`. */
  saveFeatures(
    imageId: number,
    key: string,
    hash: string,
    result: { features: Float32Array } | { error: string },
  ): void {
    const features = 'features' in result ? result.features : undefined
    this.sql(
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
      Date.now(),
    )
  }

  /** How many images have current features, failed, or still miss them under `key`. */
  featureCounts(key: string): FeatureCounts {
    const images = (this.sql('SELECT count(*) AS n FROM images').get() as { n: number }).n
    if (!this.present) return { cached: 0, failed: 0, missing: images }
    const r = this.sql(
      `SELECT sum(f.data IS NOT NULL) AS cached, sum(f.data IS NULL) AS failed FROM features f
       JOIN images i ON i.id = f.image_id AND i.hash = f.hash WHERE f.key = ?`,
    ).get(key) as { cached: number | null; failed: number | null }
    const cached = r.cached ?? 0
    const failed = r.failed ?? 0
    return { cached, failed, missing: images - cached - failed }
  }

  /** Failed feature extractions under `key` (path and message), path order. */
  featureErrors(key: string): { file: string; error: string }[] {
    if (!this.present) return []
    return this.sql(
      `SELECT i.path AS file, f.error FROM features f JOIN images i ON i.id = f.image_id AND i.hash = f.hash
       WHERE f.key = ? AND f.data IS NULL ORDER BY i.path`,
    ).all(key) as { file: string; error: string }[]
  }

  /**
   * Every labelled image with current features under `key`, with its labels (class order), in
   * path order: the training set of a head.
   */
  featureSamples(key: string): FeatureSample[] {
    if (!this.present) return []
    const rows = this.sql(
      `SELECT i.id, i.hash, f.data,
         (SELECT json_group_array(name) FROM (SELECT c.name FROM labels l JOIN classes c ON c.id = l.class_id
           WHERE l.image_id = i.id ORDER BY c.position)) AS labels
       FROM features f JOIN images i ON i.id = f.image_id AND i.hash = f.hash
       WHERE f.key = ? AND f.data IS NOT NULL ORDER BY i.path`,
    ).all(key) as { id: number; hash: string; data: Buffer; labels: string }[]
    return rows
      .map((r) => ({
        imageId: r.id,
        hash: r.hash,
        features: blobToFloats(r.data),
        labels: JSON.parse(r.labels) as string[],
      }))
      .filter((s) => s.labels.length > 0)
  }

  /** Stores a head for `featureKey`, replacing the previous one of that key. Returns its id. */
  saveHead(featureKey: string, fingerprint: string, head: LearnedHead): number {
    return this.transaction(() => {
      this.sql('DELETE FROM heads WHERE feature_key = ?').run(featureKey)
      const id = Number(
        this.sql(
          `INSERT INTO heads(feature_key, mode, lambda, num_features, fingerprint, quality, iterations, converged, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          featureKey,
          head.mode,
          head.lambda,
          head.numFeatures,
          fingerprint,
          JSON.stringify(head.quality),
          head.iterations,
          head.converged ? 1 : 0,
          Date.now(),
        ).lastInsertRowid,
      )
      const ins = this.sql(
        'INSERT INTO head_classes(head_id, position, name, background, images, weights, bias) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      head.classes.forEach((c, i) =>
        ins.run(id, i, c.name, c.background ? 1 : 0, c.images, floatsToBlob(c.weights), c.bias),
      )
      return id
    })
  }

  /** The stored head of `featureKey`, or (no key) the newest head of the project. */
  head(featureKey?: string): StoredHead | undefined {
    if (!this.present) return undefined
    const h = this.sql(
      'SELECT * FROM heads WHERE (? IS NULL OR feature_key = ?) ORDER BY created_at DESC, id DESC LIMIT 1',
    ).get(featureKey ?? null, featureKey ?? null) as
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
    const classes = this.sql('SELECT * FROM head_classes WHERE head_id = ? ORDER BY position').all(
      h.id,
    ) as { name: string; background: number; images: number; weights: Buffer; bias: number }[]
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
}
