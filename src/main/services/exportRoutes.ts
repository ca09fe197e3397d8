/** The export route: the store's dataset through the format writers (atomic, no silent overwrite). */
import { writeCoco } from '../formats/coco.ts'
import { CamlabelError } from '../../shared/errors.ts'
import type { ServiceContext } from './context.ts'
import type { Handlers } from './router.ts'

export function createExportRoutes(ctx: ServiceContext): Pick<Handlers, 'export.run'> {
  return {
    'export.run': async ({ format, outPath, includeProposals, overwrite }) => {
      const store = ctx.requireProject()
      const dataset = store.toDataset({ withProposals: includeProposals })
      const boxes = dataset.images.reduce((n, im) => n + im.boxes.length, 0)
      if (format === 'coco') {
        await writeCoco(dataset, outPath, { overwrite })
        return { outPath, images: dataset.images.length, boxes, files: 1 }
      }
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `${format.toUpperCase()} export is not wired into the app yet`,
        'Export COCO here, or use `camlabel export --format ' + format + '`.',
      )
    },
  }
}
