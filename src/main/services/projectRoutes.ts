/** Routes of the app and project domains: info, native pickers, create/open/summary/recent. */
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { ProjectSummary } from '../../shared/contracts/project.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { loadManifest, modelPath } from '../engine/manifest.ts'
import { ProjectStore } from '../store/projectStore.ts'
import { projectUpscale, UPSCALE_META } from '../project/settings.ts'
import { projectName, type ServiceContext } from './context.ts'
import { importProject } from '../project/importProject.ts'
import type { Handlers } from './router.ts'

/** The summary the start view, the gallery counts and the title bar show. */
export function summarise(store: ProjectStore): ProjectSummary {
  const counts = store.counts()
  return {
    path: store.file,
    name: projectName(store.file),
    imagesRoot: store.imageRoot,
    imageCount: counts.images,
    classes: store.labels.classes().map((c) => c.name),
    byStatus: counts.byStatus,
    byClass: Object.fromEntries(counts.byClass.map((c) => [c.label, c.images])),
    upscale: projectUpscale(store),
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
    'app.pickPath': async ({ kind, title }) => ({
      path: ctx.options.pickPath ? await ctx.options.pickPath(kind, title) : null,
    }),
  }
}

export function createProjectRoutes(
  ctx: ServiceContext,
): Pick<
  Handlers,
  'project.create' | 'project.open' | 'project.summary' | 'project.recent' | 'project.settings'
> {
  return {
    'project.create': async ({ imagesDir, projectPath, labels }) => {
      if (!existsSync(imagesDir)) {
        throw new CamlabelError(
          'NOT_FOUND',
          `The image folder ${imagesDir} does not exist`,
          'Check the path.',
        )
      }
      const file = projectPath ?? defaultProjectPath(imagesDir)
      const store = ProjectStore.create(file, imagesDir)
      try {
        const r = await importProject(store, { labels })
        const report = {
          imported: r.imported + r.existing,
          skipped: r.skipped,
          problems: r.problems,
        }
        await ctx.setProject(store)
        ctx.emit({ type: 'project.changed', reason: 'imported' })
        return { project: summarise(store), report }
      } catch (err) {
        store.close()
        throw err
      }
    },
    'project.open': async ({ path: file }) => {
      const store = ProjectStore.open(file)
      await ctx.setProject(store)
      ctx.emit({ type: 'project.changed', reason: 'opened' })
      return summarise(store)
    },
    'project.summary': () => (ctx.project ? summarise(ctx.project) : null),
    'project.recent': () => ctx.recent(),
    'project.settings': ({ upscale }) => {
      const store = ctx.requireProject()
      if (upscale) store.setMeta(UPSCALE_META, upscale)
      return summarise(store)
    },
  }
}
