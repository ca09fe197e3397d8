/** The export routes: the project's store through the format writers (atomic, no silent overwrite). */
import { exportProject, type ExportOptions } from '../project/exportProject.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

export function createExportRoutes(
  ctx: ServiceContext,
): Pick<Handlers, 'export.run' | 'export.counts'> {
  return {
    'export.run': async (input) => {
      const options: ExportOptions = {
        format: input.format,
        outPath: ctx.grants.resolve(input.out, ['save'], 'export destination'),
        includeProposals: input.includeProposals,
        includeUnreviewed: input.includeUnreviewed,
        overwrite: input.overwrite,
        archive: input.archive,
        layout: input.layout,
      }
      if (input.valFraction !== undefined) options.valFraction = input.valFraction
      if (input.seed !== undefined) options.seed = input.seed
      const r = await exportProject(ctx.requireProject(), options)
      return {
        outPath: r.outPath,
        images: r.images,
        boxes: r.boxes,
        files: r.files,
        unreviewed: r.unreviewed ?? { images: 0, included: 0 },
        problems: r.problems ?? [],
      }
    },
    'export.counts': () => ctx.requireProject().review.exportCounts(),
  }
}
