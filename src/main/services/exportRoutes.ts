/** The export route: the project's store through the format writers (atomic, no silent overwrite). */
import { exportProject } from '../project/exportProject.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

export function createExportRoutes(ctx: ServiceContext): Pick<Handlers, 'export.run'> {
  return {
    'export.run': async ({ format, out, includeProposals, overwrite, valFraction, seed }) => {
      const options: Parameters<typeof exportProject>[1] = {
        format,
        outPath: ctx.grants.resolve(out, ['save'], 'export destination'),
        includeProposals,
        overwrite,
      }
      if (valFraction !== undefined) options.valFraction = valFraction
      if (seed !== undefined) options.seed = seed
      const r = await exportProject(ctx.requireProject(), options)
      return { outPath: r.outPath, images: r.images, boxes: r.boxes, files: r.files }
    },
  }
}
