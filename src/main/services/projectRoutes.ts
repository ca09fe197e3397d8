/** Routes of the app and project domains: info, native pickers, create/open/summary/recent. */
import { reviewLearningStatus } from '../project/reviewLearning.ts'
import { existsSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { LabelSourceInput, ProjectSummary } from '../../shared/contracts/project.ts'
import { loadManifest, modelPath } from '../engine/manifest.ts'
import { ProjectStore } from '../store/projectStore.ts'
import {
  MIN_SCORE_META,
  projectMinScore,
  FROM_REVIEW_META,
  projectUpscale,
  UPSCALE_META,
} from '../project/settings.ts'
import { projectName, type ServiceContext } from './context.ts'
import {
  checkImportInputs,
  importProject,
  importReport,
  type ImportSource,
} from '../project/importProject.ts'
import type { Handlers } from './router.ts'

/** The summary the start view, the gallery counts and the title bar show. */
export function summarise(store: ProjectStore): ProjectSummary {
  const counts = store.counts()
  const learning = reviewLearningStatus(store)
  return {
    path: store.file,
    name: projectName(store.file),
    imagesRoot: store.imageRoot,
    imageCount: counts.images,
    classes: store.labels.classes().map((c) => c.name),
    byStatus: counts.byStatus,
    byClass: Object.fromEntries(counts.byClass.map((c) => [c.label, c.images])),
    upscale: projectUpscale(store),
    minScore: projectMinScore(store),
    unreadable: store.gallery.unreadableCount(),
    fromReview: { enabled: learning.enabled, text: learning.text },
  }
}

/** Where the labels or boxes of a new project come from, its chosen paths resolved. */
function importSource(ctx: ServiceContext, labels: LabelSourceInput): ImportSource {
  switch (labels.kind) {
    case 'folders':
      return labels
    case 'csv':
    case 'coco':
      return { kind: labels.kind, path: ctx.grants.resolve(labels.file, ['file'], 'label file') }
    case 'voc':
    case 'yolo':
      return {
        kind: labels.kind,
        dir: ctx.grants.resolve(labels.folder, ['folder'], 'annotation folder'),
      }
  }
}

/** Default project file: beside the image folder, named after it (never inside it: a re-scan would see it). */
export function defaultProjectPath(imagesDir: string): string {
  const abs = path.resolve(imagesDir)
  return path.join(path.dirname(abs), `${path.basename(abs)}.camlabel`)
}

export function createAppRoutes(ctx: ServiceContext): Pick<Handlers, 'app.info' | 'app.pickPath'> {
  return {
    'app.info': () => {
      const manifest = loadManifest()
      return {
        version: ctx.options.appVersion ?? '0.1.0',
        shell: ctx.options.shell,
        models: manifest.models.map((m) => ({
          id: m.id,
          name: m.name,
          available: existsSync(modelPath(m)),
          isDefault: m.default === true,
        })),
      }
    },
    'app.pickPath': async ({ kind, title, defaultName }) => {
      const chosen = ctx.options.pickPath
        ? await ctx.options.pickPath(kind, {
            ...(title ? { title } : {}),
            ...(defaultName ? { defaultName } : {}),
          })
        : null
      return { choice: chosen ? ctx.grants.grant(kind, chosen) : null }
    },
  }
}

export function createProjectRoutes(
  ctx: ServiceContext,
): Pick<
  Handlers,
  | 'project.create'
  | 'project.defaultPath'
  | 'project.open'
  | 'project.summary'
  | 'project.recent'
  | 'project.settings'
  | 'project.importReport'
> {
  return {
    'project.create': async ({ images, project, labels }) => {
      const imagesDir = ctx.grants.resolve(images, ['folder'], 'image folder')
      const source = importSource(ctx, labels)
      await checkImportInputs(imagesDir, source)
      const file = project
        ? ctx.grants.resolve(project, ['save'], 'project file')
        : defaultProjectPath(imagesDir)
      const store = ProjectStore.create(file, imagesDir)
      try {
        const r = await importProject(store, { labels: source })
        const report = {
          imported: r.imported + r.existing,
          skipped: r.skipped,
          problems: r.problems,
        }
        await ctx.setProject(store)
        ctx.emit({ type: 'project.changed', reason: 'imported' })
        return { project: summarise(store), report }
      } catch (err) {
        // All or nothing: a create that fails leaves no half-made project to block the retry.
        store.close()
        for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true })
        throw err
      }
    },
    'project.defaultPath': ({ images }) =>
      ctx.grants.grant(
        'save',
        defaultProjectPath(ctx.grants.resolve(images, ['folder'], 'image folder')),
      ),
    'project.open': async ({ project }) => {
      const store = ProjectStore.open(ctx.grants.resolve(project, ['file', 'save'], 'project'))
      await ctx.setProject(store)
      ctx.emit({ type: 'project.changed', reason: 'opened' })
      return summarise(store)
    },
    'project.summary': () => (ctx.project ? summarise(ctx.project) : null),
    'project.recent': async () =>
      (await ctx.recent()).map((r) => ({ ...r, token: ctx.grants.grant('file', r.path).token })),
    'project.settings': ({ upscale, minScore, fromReview }) => {
      const store = ctx.requireProject()
      if (upscale) store.setMeta(UPSCALE_META, upscale)
      if (minScore !== undefined) store.setMeta(MIN_SCORE_META, String(minScore))
      if (fromReview !== undefined) {
        store.setMeta(FROM_REVIEW_META, fromReview ? 'auto' : 'off')
        // On: learn now; off: back to plain proposals for the images not reviewed.
        ctx.reviewUpdates.schedule(0)
      }
      return summarise(store)
    },
    'project.importReport': () => importReport(ctx.requireProject()),
  }
}
