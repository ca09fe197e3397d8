/**
 * Project store benchmark (`npx tsx bench/store.bench.ts`, or `npm run bench -- store`).
 *
 * 1. Import: 10 000 image files (hard links to the shared photos under a temp dir) indexed by
 *    importProject (scan, header reads through sharp, fingerprints, batched inserts), beside a
 *    plain recursive readdir + stat of the same files.
 * 2. Gallery: a 200-image page with filters (status, label, sort by lowest score) on the 10 000
 *    image project and on a 100 000-image project (rows generated in SQL), beside a naive full scan
 *    that loads the images, proposals and annotations and filters/sorts in JavaScript.
 */
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  existsSync,
} from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { importProject } from '../src/main/project/importProject.ts'
import { ProjectStore, type GalleryQuery } from '../src/main/store/projectStore.ts'
import { median } from './timing.ts'

const here = path.dirname(fileURLToPath(import.meta.url))
const data = path.resolve(here, '../../shared/data')

function time(fn: () => unknown, reps = 15): number {
  fn()
  const t: number[] = []
  for (let i = 0; i < reps; i++) {
    const s = performance.now()
    fn()
    t.push(performance.now() - s)
  }
  return median(t)
}

async function walk(dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) n += await walk(p)
    else {
      await stat(p)
      n++
    }
  }
  return n
}

/** Naive gallery: everything into JS, derive status/min score, filter, sort, slice. */
function naivePage(store: ProjectStore, q: GalleryQuery): number[] {
  const db = store.db
  const images = db.prepare('SELECT id, path FROM images').all() as { id: number; path: string }[]
  const props = db.prepare('SELECT id, image_id, score FROM proposals').all() as {
    id: number
    image_id: number
    score: number
  }[]
  const anns = db.prepare('SELECT image_id, proposal_id, status FROM annotations').all() as {
    image_id: number
    proposal_id: number | null
    status: string
  }[]
  const labels = db
    .prepare('SELECT l.image_id, c.name FROM labels l JOIN classes c ON c.id = l.class_id')
    .all() as { image_id: number; name: string }[]
  const decided = new Set(anns.map((a) => a.proposal_id))
  const info = new Map(
    images.map((i) => [
      i.id,
      { ...i, min: Infinity, pending: 0, kept: 0, labels: new Set<string>() },
    ]),
  )
  for (const p of props) {
    if (decided.has(p.id)) continue
    const i = info.get(p.image_id)!
    i.pending++
    i.min = Math.min(i.min, p.score)
  }
  for (const a of anns) if (a.status !== 'rejected') info.get(a.image_id)!.kept++
  for (const l of labels) info.get(l.image_id)!.labels.add(l.name)
  let rows = [...info.values()]
  if (q.status === 'pending') rows = rows.filter((r) => r.pending > 0)
  if (q.label) rows = rows.filter((r) => r.labels.has(q.label!))
  rows.sort((a, b) =>
    q.sort === 'score' ? a.min - b.min || (a.path < b.path ? -1 : 1) : a.path < b.path ? -1 : 1,
  )
  return rows.slice(q.offset ?? 0, (q.offset ?? 0) + (q.limit ?? 200)).map((r) => r.id)
}

/** Fills a project with `n` images, labels from 10 classes, 1–3 proposals each, a quarter reviewed. */
export function synthesise(store: ProjectStore, n: number, existing = false): void {
  const db = store.db
  store.transaction(() => {
    if (!existing) {
      const ins = db.prepare(
        "INSERT INTO images(path, width, height, size, mtime_ms, hash, imported_at) VALUES (?, 640, 480, 1000, 0, 'x', 0)",
      )
      for (let i = 0; i < n; i++) ins.run(`class${i % 10}/img${String(i).padStart(6, '0')}.jpg`)
    }
    for (let c = 0; c < 10; c++) store.labels.ensureClass(`class${c}`)
    db.exec(
      "INSERT OR IGNORE INTO labels(image_id, class_id, source) SELECT i.id, c.id, 'bench' FROM images i JOIN classes c ON c.name = 'class' || (i.id % 10)",
    )
    db.exec(`INSERT INTO proposals(image_id, class_id, x0, y0, x1, y1, score, rank, model, revision, threshold, created_at)
      SELECT i.id, l.class_id, 10, 10, 200, 200, abs(random() % 1000) / 1000.0, k.r, 'bench', 'r', 0.2, 0
      FROM images i JOIN labels l ON l.image_id = i.id JOIN (SELECT 0 AS r UNION ALL SELECT 1 UNION ALL SELECT 2) k ON k.r <= i.id % 3`)
    db.exec(`INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, proposal_id, score, updated_at)
      SELECT image_id, class_id, x0, y0, x1, y1, CASE WHEN image_id % 8 = 0 THEN 'rejected' ELSE 'accepted' END, 'review', id, score, 0
      FROM proposals WHERE image_id % 4 = 0`)
    db.exec(
      "INSERT OR IGNORE INTO runs(image_id, model, revision, threshold, at) SELECT id, 'bench', 'r', 0.2, 0 FROM images",
    )
    // derived columns, as refreshImage computes them, in one statement
    db.exec(`WITH p AS (SELECT image_id, count(*) AS n, min(score) AS m FROM proposals WHERE id NOT IN (SELECT proposal_id FROM annotations WHERE proposal_id IS NOT NULL) GROUP BY image_id),
      a AS (SELECT image_id, sum(status != 'rejected') AS kept, sum(status = 'rejected') AS rej FROM annotations GROUP BY image_id)
      UPDATE images SET min_score = (SELECT m FROM p WHERE p.image_id = images.id), score_key = coalesce((SELECT m FROM p WHERE p.image_id = images.id), 2),
        status = CASE WHEN (SELECT n FROM p WHERE p.image_id = images.id) > 0 THEN 'pending'
                      WHEN coalesce((SELECT kept FROM a WHERE a.image_id = images.id), 0) > 0 THEN 'accepted'
                      WHEN coalesce((SELECT rej FROM a WHERE a.image_id = images.id), 0) > 0 THEN 'rejected' ELSE 'pending' END`)
  })
  db.exec('ANALYZE')
}

function galleryFigures(store: ProjectStore, label: string): void {
  const n = store.images.count()
  const queries: [string, GalleryQuery][] = [
    ['pending, by score, first 200', { status: 'pending', sort: 'score', limit: 200 }],
    ['label class3, by score, first 200', { label: 'class3', sort: 'score', limit: 200 }],
    [
      'label class3 + pending, by name',
      { label: 'class3', status: 'pending', sort: 'name', limit: 200 },
    ],
    [`all, by name, last page`, { sort: 'name', offset: n - 200, limit: 200 }],
  ]
  console.log(`\n  gallery on ${label} (${n.toLocaleString()} images), median of 15, ms`)
  console.log(
    `  ${'query'.padEnd(36)} ${'store'.padStart(8)} ${'naive scan'.padStart(11)}  speed-up`,
  )
  for (const [name, q] of queries) {
    const ours = store.gallery.page(q).items.map((i) => i.id)
    const naive = naivePage(store, q)
    if (q.sort === 'name' && JSON.stringify(ours) !== JSON.stringify(naive))
      throw new Error(`page mismatch for ${name}`)
    const a = time(() => store.gallery.page(q))
    const b = time(() => naivePage(store, q), 5)
    console.log(
      `  ${name.padEnd(36)} ${a.toFixed(2).padStart(8)} ${b.toFixed(1).padStart(11)}  ${(b / a).toFixed(0)}×`,
    )
  }
  const c = time(() => store.gallery.statusCounts())
  console.log(`  ${'counts by status'.padEnd(36)} ${c.toFixed(2).padStart(8)}`)
}

/** Runs the benchmark and prints its figures. */
export async function run(): Promise<void> {
  if (!existsSync(data)) throw new Error(`shared data missing: expected ${data}`)
  const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-bench-store-'))
  try {
    const sources = [
      ...readdirSync(path.join(data, 'raccoon/images')).map((f) =>
        path.join(data, 'raccoon/images', f),
      ),
      ...readdirSync(path.join(data, 'imagenet-val-dev/images')).map((f) =>
        path.join(data, 'imagenet-val-dev/images', f),
      ),
    ]
    const root = path.join(tmp, 'images')
    const N = 10_000
    for (let i = 0; i < N; i++) {
      const dir = path.join(root, `class${i % 10}`)
      if (i < 10) mkdirSync(dir, { recursive: true })
      const src = sources[i % sources.length]
      linkSync(
        src,
        path.join(dir, `img${String(i).padStart(6, '0')}${path.extname(src).toLowerCase()}`),
      )
    }
    console.log(
      `store benchmark: ${N.toLocaleString()} images (hard links to ${sources.length} shared photos, ${(statSync(sources[0]).size / 1024).toFixed(0)} KiB first)`,
    )

    let t = performance.now()
    const seen = await walk(root)
    const walkMs = performance.now() - t
    const store = ProjectStore.create(path.join(tmp, 'bench.camlabel'), root)
    t = performance.now()
    const r = await importProject(store, { labels: { kind: 'folders' } })
    const importMs = performance.now() - t
    if (r.imported !== N || seen !== N) throw new Error(`imported ${r.imported} of ${N}`)
    t = performance.now()
    const again = await importProject(store, { labels: { kind: 'folders' } })
    const reMs = performance.now() - t
    console.log(`\n  import of ${N.toLocaleString()} images                 ms      images/s`)
    console.log(
      `  importProject (headers, hashes, rows)   ${importMs.toFixed(0).padStart(7)} ${(N / (importMs / 1000)).toFixed(0).padStart(9)}`,
    )
    console.log(
      `  re-import, nothing new (${again.existing} known)     ${reMs.toFixed(0).padStart(7)} ${(N / (reMs / 1000)).toFixed(0).padStart(9)}`,
    )
    console.log(
      `  baseline: readdir + stat only           ${walkMs.toFixed(0).padStart(7)} ${(N / (walkMs / 1000)).toFixed(0).padStart(9)}`,
    )

    synthesise(store, N, true)
    galleryFigures(store, 'the imported project')
    store.close()

    const big = ProjectStore.create(path.join(tmp, 'big.camlabel'), root)
    t = performance.now()
    synthesise(big, 100_000)
    console.log(
      `\n  (generated 100 000 image rows with proposals in ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    )
    galleryFigures(big, 'a generated project')
    big.close()
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await run()
