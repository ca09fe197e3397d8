/**
 * Classes, the image-level labels that say which classes an image contains, and the user's choice
 * of CAM source per label. A label's `source` says who gave it: 'user' or 'import' (explicit), or
 * 'review' (implied by a box the user drew or relabelled; it goes when no box of it is left).
 */
import { CamlabelError } from '../../shared/errors.ts'
import { labelProblem } from '../../shared/labels.ts'
import type { LabelMapping } from '../engine/labels.ts'
import type { Db } from './db.ts'
import type { Prepared } from './statements.ts'
import { refreshImage } from './status.ts'

/** A class of the project, in the user's order. */
export interface ClassInfo {
  id: number
  name: string
  position: number
}

/** True when the file has a table (an old file opened read-only may miss later ones). */
export function hasTable(db: Db, name: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined
  )
}

/**
 * A label name as stored: trimmed, and one labelProblem accepts.
 * @throws CamlabelError INVALID_ARGUMENT
 */
function checkedName(name: string): string {
  const n = name.trim()
  const problem = labelProblem(n)
  if (problem) throw new CamlabelError('INVALID_ARGUMENT', problem, 'Use a short name on one line.')
  return n
}

/** The project's classes and image-level labels. */
export class LabelsRepo {
  constructor(
    private readonly db: Db,
    private readonly sql: Prepared,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  /** Classes in their order (position), with stable ids. */
  classes(): ClassInfo[] {
    return this.sql(
      'SELECT id, name, position FROM classes ORDER BY position, id',
    ).all() as ClassInfo[]
  }

  /**
   * The id of a class, creating it at the end of the order when new.
   * @throws CamlabelError INVALID_ARGUMENT for a name that cannot be a class (see labelProblem)
   */
  ensureClass(name: string): number {
    const n = checkedName(name)
    const id = this.findClass(n)
    if (id !== undefined) return id
    const pos = (
      this.sql('SELECT coalesce(max(position), -1) + 1 AS p FROM classes').get() as { p: number }
    ).p
    return Number(
      this.sql('INSERT INTO classes(name, position) VALUES (?, ?)').run(n, pos).lastInsertRowid,
    )
  }

  /**
   * Adds image-level labels (already present ones are kept). Returns how many were new. A label
   * present only because a review edit implied it (source 'review') takes the given source, so
   * removing that box no longer removes a label the user or an import gave explicitly.
   */
  add(rows: { imageId: number; label: string; source?: string }[]): number {
    return this.transaction(() => {
      const ins = this.sql(
        'INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, ?)',
      )
      const claim = this.sql(
        "UPDATE labels SET source = ? WHERE image_id = ? AND class_id = ? AND source = 'review'",
      )
      let added = 0
      for (const r of rows) {
        const source = r.source ?? 'user'
        const classId = this.ensureClass(r.label)
        const n = Number(ins.run(r.imageId, classId, source).changes)
        if (n === 0 && source !== 'review') claim.run(source, r.imageId, classId)
        added += n
      }
      return added
    })
  }

  /** An image's labels in class order. */
  of(imageId: number): string[] {
    return this.sql(
      'SELECT c.name FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = ? ORDER BY c.position',
    )
      .pluck()
      .all(imageId) as string[]
  }

  /** The labels some image carries, in class order, with their image counts. */
  withImages(): { label: string; images: number }[] {
    return this.sql(
      `SELECT c.name AS label, count(*) AS images FROM labels l JOIN classes c ON c.id = l.class_id
         GROUP BY c.id ORDER BY c.position`,
    ).all() as { label: string; images: number }[]
  }

  /** The id of a class by name, if the project has it. */
  private findClass(name: string): number | undefined {
    return this.sql('SELECT id FROM classes WHERE name = ?').pluck().get(name) as number | undefined
  }

  /** The id of a class by name. @throws CamlabelError NOT_FOUND */
  private requireClass(name: string): number {
    const id = this.findClass(name)
    if (id === undefined)
      throw new CamlabelError(
        'NOT_FOUND',
        `The project has no label '${name}'`,
        'Choose one of its labels.',
      )
    return id
  }

  /** Images with a label, a proposal or a box of a class. */
  private imagesOf(classId: number): number[] {
    return this.sql(
      `SELECT image_id FROM labels WHERE class_id = @c UNION SELECT image_id FROM proposals WHERE class_id = @c
       UNION SELECT image_id FROM annotations WHERE class_id = @c`,
    )
      .pluck()
      .all({ c: classId }) as number[]
  }

  /**
   * Renames a label, keeping every image label, proposal, box and CAM of it; renamed onto another
   * label of the project, the two are merged into that one. Returns whether it merged and the
   * images it touched (their review status is refreshed).
   * @throws CamlabelError NOT_FOUND (no such label), INVALID_ARGUMENT (a name that cannot be a label)
   */
  rename(from: string, to: string): { merged: boolean; images: number } {
    return this.transaction(() => {
      const a = this.requireClass(from)
      const name = checkedName(to)
      const b = this.findClass(name)
      if (b === undefined || b === a) {
        this.sql('UPDATE classes SET name = ? WHERE id = ?').run(name, a)
        return { merged: false, images: 0 }
      }
      const touched = this.imagesOf(a)
      this.sql(
        'INSERT OR IGNORE INTO labels(image_id, class_id, source) SELECT image_id, @b, source FROM labels WHERE class_id = @a',
      ).run({ a, b })
      this.sql('UPDATE proposals SET class_id = @b WHERE class_id = @a').run({ a, b })
      this.sql('UPDATE annotations SET class_id = @b WHERE class_id = @a').run({ a, b })
      this.sql(
        `INSERT OR IGNORE INTO cams(image_id, class_id, model, revision, width, height, data, confidence, source, source_key, created_at)
         SELECT image_id, @b, model, revision, width, height, data, confidence, source, source_key, created_at FROM cams WHERE class_id = @a`,
      ).run({ a, b })
      // Its image labels, CAMs and mapping go with the class (ON DELETE CASCADE).
      this.sql('DELETE FROM classes WHERE id = ?').run(a)
      for (const id of touched) refreshImage(this.sql, id)
      return { merged: true, images: touched.length }
    })
  }

  /**
   * Deletes a label with everything of it: its image labels, proposals, CAMs and boxes. Returns the
   * images touched and the boxes deleted.
   * @throws CamlabelError NOT_FOUND
   */
  remove(name: string): { images: number; boxes: number } {
    return this.transaction(() => {
      const a = this.requireClass(name)
      const touched = this.imagesOf(a)
      const boxes = Number(this.sql('DELETE FROM annotations WHERE class_id = ?').run(a).changes)
      this.sql('DELETE FROM classes WHERE id = ?').run(a)
      for (const id of touched) refreshImage(this.sql, id)
      return { images: touched.length, boxes }
    })
  }

  /** Box and proposal counts of a label, for the confirmation before deleting it. */
  usage(name: string): { images: number; boxes: number; proposals: number } {
    const a = this.requireClass(name)
    const n = (sql: string) => (this.sql(sql).get(a) as { n: number }).n
    return {
      images: this.imagesOf(a).length,
      boxes: n("SELECT count(*) AS n FROM annotations WHERE class_id = ? AND status != 'rejected'"),
      proposals: n('SELECT count(*) AS n FROM proposals WHERE class_id = ?'),
    }
  }

  /** The user's per-label CAM source choices (labels without one are `auto`). */
  mappings(): Map<string, LabelMapping> {
    if (!hasTable(this.db, 'label_mappings')) return new Map()
    const rows = this.sql(
      'SELECT c.name, m.mapping FROM label_mappings m JOIN classes c ON c.id = m.class_id ORDER BY c.position',
    ).all() as { name: string; mapping: string }[]
    return new Map(rows.map((r) => [r.name, JSON.parse(r.mapping) as LabelMapping]))
  }

  /**
   * Sets a label's CAM source choice (`auto` removes it); creates the class when new. Returns true
   * when it changed. The next proposal run re-proposes that label's pending proposals.
   */
  setMapping(label: string, mapping: LabelMapping | 'auto'): boolean {
    return this.transaction(() => {
      const classId = this.ensureClass(label)
      const old = this.sql('SELECT mapping FROM label_mappings WHERE class_id = ?').get(classId) as
        { mapping: string } | undefined
      if (mapping === 'auto') {
        this.sql('DELETE FROM label_mappings WHERE class_id = ?').run(classId)
        return old !== undefined
      }
      const json = JSON.stringify(mapping)
      if (old?.mapping === json) return false
      this.sql(
        `INSERT INTO label_mappings(class_id, mapping, updated_at) VALUES (?, ?, ?)
         ON CONFLICT(class_id) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at`,
      ).run(classId, json, Date.now())
      return true
    })
  }
}
