/** Builds the route table and image server the Electron shell and the test host both use. */
import { ServiceContext, type ServiceOptions } from './context.ts'
import { createExportRoutes } from './exportRoutes.ts'
import { imageBody, parseImageRequest, type ImageBody } from './images.ts'
import { createJobRoutes } from './jobRoutes.ts'
import { createLabelRoutes } from './labelRoutes.ts'
import { createAppRoutes, createProjectRoutes } from './projectRoutes.ts'
import { createReviewRoutes } from './reviewRoutes.ts'
import { createRouter, type Router } from './router.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { appEventSchema, type AppEvent } from '../../shared/contracts/events.ts'

export interface Services {
  context: ServiceContext
  router: Router
  /** Answers an image request path (`image/<id>`, `thumb/<id>`). */
  image(requestPath: string): Promise<ImageBody>
}

/**
 * The services. With `checkOutput` (tests), every answer and every event is checked against its
 * contract, so a route or a job that sends something the page does not expect fails loudly.
 */
export function createServices(options: ServiceOptions & { checkOutput?: boolean }): Services {
  const emit = options.checkOutput
    ? (event: AppEvent) => {
        const parsed = appEventSchema.safeParse(event)
        if (!parsed.success)
          throw new Error(`Event outside its contract: ${JSON.stringify(event).slice(0, 300)}`)
        options.emit(event)
      }
    : options.emit
  const context = new ServiceContext({ ...options, emit })
  const router = createRouter(
    [
      createAppRoutes(context),
      createProjectRoutes(context),
      createReviewRoutes(context),
      createJobRoutes(context),
      createExportRoutes(context),
      createLabelRoutes(context),
    ],
    { checkOutput: options.checkOutput ?? false },
  )
  return {
    context,
    router,
    async image(requestPath) {
      const req = parseImageRequest(requestPath)
      if (!req) throw new CamlabelError('NOT_FOUND', 'Not an image request')
      return imageBody(context.requireProject(), req.id, req.variant, context.thumbsDir)
    },
  }
}

export type { ServiceOptions } from './context.ts'
