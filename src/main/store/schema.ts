import { naturalKey } from './naturalKey.ts'
import type { Db } from './sqlite.ts'

/**
 * The project file's schema, as versioned migrations. Migration N takes a database at version N-1
 * to version N inside one transaction; `PRAGMA user_version` holds the version (also copied to the
 * meta table for people reading the file with other tools). Never edit a shipped migration: add one.
 */

/** One migration step: its SQL, then `fill` for what SQL cannot compute (same transaction). */
export interface Migration {
  version: number
  description: string
  sql: string
  fill?: (db: Db) => void
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'images, labels, classes, proposals, cams, annotations, history, jobs, meta',
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Classes in the user's order; the id is stable (export category ids follow 'position').
CREATE TABLE classes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  position INTEGER NOT NULL
);

-- One row per image file. path: relative to the image root, posix. width/height: as displayed
-- (after EXIF orientation). hash: see hash.ts. The review columns (status, min_score, score_key,
-- revision) are derived from proposals and annotations, kept in step in the same transaction as
-- every change, so the gallery reads one indexed table.
CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  hash TEXT NOT NULL,
  imported_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'unproposed'
    CHECK (status IN ('unproposed', 'pending', 'accepted', 'edited', 'rejected')),
  min_score REAL,
  score_key REAL NOT NULL DEFAULT 2,
  threshold REAL,
  revision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX images_status_path ON images(status, path);
CREATE INDEX images_status_score ON images(status, score_key, path);
CREATE INDEX images_score ON images(score_key, path);

-- Image-level labels: what the user says is in the image.
CREATE TABLE labels (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  PRIMARY KEY (image_id, class_id)
) WITHOUT ROWID;
CREATE INDEX labels_class ON labels(class_id, image_id);

-- AUTOINCREMENT on proposals and annotations: undo restores rows with their old ids, which must
-- never have been handed to another row meanwhile.
-- Proposal boxes from a CAM run. A proposal is pending while no annotation refers to it.
CREATE TABLE proposals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
  x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
  score REAL NOT NULL,
  rank INTEGER NOT NULL,
  model TEXT NOT NULL,
  revision TEXT NOT NULL,
  threshold REAL NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX proposals_image ON proposals(image_id);

-- The low-resolution CAM per image, class and model revision (Float32 little-endian, row-major),
-- so proposals can be recomputed at another threshold without inference.
CREATE TABLE cams (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  revision TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  data BLOB NOT NULL,
  confidence REAL NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (image_id, class_id, model, revision)
) WITHOUT ROWID;

-- Which images a model revision has processed (with or without proposals, or failed): the resume
-- point of a proposal run.
CREATE TABLE runs (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  revision TEXT NOT NULL,
  threshold REAL NOT NULL,
  error TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (model, revision, image_id)
) WITHOUT ROWID;

-- Reviewed boxes. status: accepted (a proposal kept), edited (a proposal changed), manual (drawn
-- or imported), rejected (a proposal refused: kept so re-runs do not resurrect it).
CREATE TABLE annotations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes(id),
  x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('accepted', 'edited', 'manual', 'rejected')),
  source TEXT NOT NULL CHECK (source IN ('review', 'import')),
  proposal_id INTEGER REFERENCES proposals(id) ON DELETE SET NULL,
  score REAL,
  key TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX annotations_image ON annotations(image_id);
CREATE INDEX annotations_proposal ON annotations(proposal_id);

-- Edit log for undo/redo: the image's review state (proposals + annotations) before and after.
CREATE TABLE history (
  id INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  before TEXT NOT NULL,
  after TEXT NOT NULL,
  undone INTEGER NOT NULL DEFAULT 0,
  at INTEGER NOT NULL
);
CREATE INDEX history_image ON history(image_id);

-- Long jobs (imports, proposal runs): progress survives a crash and says what to resume.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
  total INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    version: 2,
    description: 'learned CAM heads: feature cache, heads, per-label mappings, CAM source keys',
    sql: `
-- Pooled features per image (Float32 little-endian), keyed by featureCacheKey(model): model, feature
-- tensor and preprocessing revision. hash: the image's content hash when they were computed; a row
-- whose hash is not the image's current one is stale. A failed image has data NULL and its error,
-- so a resumed pass does not retry it until the file changes.
CREATE TABLE features (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  hash TEXT NOT NULL,
  dim INTEGER NOT NULL,
  data BLOB,
  error TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (key, image_id)
) WITHOUT ROWID;

-- A learned head per feature key (the newest replaces the previous one). fingerprint: hash of the
-- training set (images, their content hashes and labels) and the settings, to know when to retrain.
CREATE TABLE heads (
  id INTEGER PRIMARY KEY,
  feature_key TEXT NOT NULL UNIQUE,
  mode TEXT NOT NULL,
  lambda REAL NOT NULL,
  num_features INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  quality TEXT NOT NULL,
  iterations INTEGER NOT NULL,
  converged INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

-- One row per class of a head, in the head's class order; weights over the raw pooled features.
CREATE TABLE head_classes (
  head_id INTEGER NOT NULL REFERENCES heads(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  background INTEGER NOT NULL,
  images INTEGER NOT NULL,
  weights BLOB NOT NULL,
  bias REAL NOT NULL,
  PRIMARY KEY (head_id, position)
) WITHOUT ROWID;

-- The user's choice of CAM source per label (no row: auto). mapping: JSON, "learn", "agnostic" or a
-- list of model classes.
CREATE TABLE label_mappings (
  class_id INTEGER PRIMARY KEY REFERENCES classes(id) ON DELETE CASCADE,
  mapping TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- What exactly made a stored CAM (model classes, which learned head, agnostic): a label whose
-- source changed has stale proposals. NULL for CAMs stored before this version.
ALTER TABLE cams ADD COLUMN source_key TEXT;
`,
  },
  {
    version: 3,
    description: 'runs keyed by upscale mode and working size too',
    sql: `
-- How a run's boxes were upscaled ('bilinear' | 'guided') and at which working size: a run with
-- another mode or size re-proposes the image. Rows from before this version were bilinear;
-- working_size NULL means the default size of that time.
ALTER TABLE runs ADD COLUMN upscale TEXT NOT NULL DEFAULT 'bilinear';
ALTER TABLE runs ADD COLUMN working_size INTEGER;
`,
  },
  {
    version: 4,
    description: 'index of CAMs by model revision',
    sql: `
-- Queries over one model revision's CAMs (stale label sources, per label) filter by (model,
-- revision, class), but the primary key starts with image_id: without this index they read every
-- CAM blob. The remaining key column (image_id) rides along, so the index covers those queries.
CREATE INDEX cams_model ON cams(model, revision, class_id, source, source_key);
`,
  },
  {
    version: 5,
    description:
      'no stored edit history (the review screen owns undo); run failures keep their code',
    sql: `
-- Undo lives in the review screen, which saves whole states; the per-edit log of schema 1 was
-- written on every save, read by nothing, and grew the file without bound.
DROP TABLE history;
-- The error code of a failed run (IMAGE_UNREADABLE, IMAGE_TOO_LARGE…), beside its message.
ALTER TABLE runs ADD COLUMN error_code TEXT;
`,
  },
  {
    version: 6,
    description: 'box attributes (difficult, truncated, occluded, pose) kept from imports',
    sql: `
-- A JSON object of the attributes an imported box came with (VOC's difficult/truncated/pose,
-- occluded), written back by the exports; NULL for none. Review edits keep it.
ALTER TABLE annotations ADD COLUMN attributes TEXT;
`,
  },
  {
    version: 7,
    description: 'natural order of image names (raccoon-2 before raccoon-10); runs by image',
    sql: `
-- naturalKey(path) (naturalKey.ts): the gallery's order by name, walked by its index.
ALTER TABLE images ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
DROP INDEX images_status_path;
DROP INDEX images_status_score;
DROP INDEX images_score;
CREATE INDEX images_name_key ON images(name_key, path);
CREATE INDEX images_status_name_key ON images(status, name_key, path);
CREATE INDEX images_status_score ON images(status, score_key, name_key, path);
CREATE INDEX images_score ON images(score_key, name_key, path);
-- The latest run of an image (its read error, for the gallery's "could not be read").
CREATE INDEX runs_image_at ON runs(image_id, at);
`,
    fill: (db) => {
      const set = db.prepare('UPDATE images SET name_key = ? WHERE id = ?')
      for (const r of db.prepare('SELECT id, path FROM images').all() as {
        id: number
        path: string
      }[])
        set.run(naturalKey(r.path), r.id)
    },
  },
  {
    version: 8,
    description:
      'learning from reviewed boxes: feature cells of reviewed images, runs by review model',
    sql: `
-- The feature cells ([C, h, w], float16) and the labels' normalised CAMs (JSON: label → [w, h,
-- base64 float32]) of a reviewed image, under the model's feature key and its label sources, for
-- the image file's version (hash): an update after one more reviewed image runs the model on that
-- image only. pool: the few cells an update samples once the reviews are many ([k × C] float16,
-- with their cell indices and targets in pool_cells), for the boxes pool_key names; read without
-- the full map, which is why the big columns come last (a rowid table: rows are large). Rows of
-- images no longer reviewed are pruned by the next update.
CREATE TABLE review_cells (
  id INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  hash TEXT NOT NULL,
  channels INTEGER NOT NULL,
  height INTEGER NOT NULL,
  width INTEGER NOT NULL,
  pool_key TEXT,
  pool_cells TEXT,
  pool BLOB,
  cams TEXT NOT NULL,
  data BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (key, image_id)
);
-- Which model learned from reviews made an image's proposals (its fingerprint); NULL: plain CAMs.
ALTER TABLE runs ADD COLUMN review_key TEXT;
`,
  },
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version
