import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { PayrailError } from '../domain/errors.ts'
import { DASHBOARD_HEADERS, dashboardFileHeaders } from '../http/csp.ts'
import { registerProblemHandlers } from '../http/problem.ts'
import { registerOperationalRoutes } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createRoleServer } from '../observability/server.ts'

export interface DashboardServerOptions {
  logger: Logger
  registry: Registry
  /** The built app (`vite build` output, with index.html). Default: web/dist of the project (DASHBOARD_DIR). */
  dir: string
  /** Origin of the API the app calls (the gateway). Default: http://127.0.0.1:8080 (DASHBOARD_API_ORIGIN). */
  apiOrigin: string
}

/**
 * `payrail dashboard`'s HTTP server, not yet listening: the built app with its CSP, `/config.json`
 * telling the app where the API is, and the operational routes every role has.
 */
export async function buildDashboardServer(options: DashboardServerOptions): Promise<FastifyInstance> {
  if (!existsSync(join(options.dir, 'index.html')))
    throw new PayrailError(
      'DEPENDENCY_MISSING',
      `${options.dir} has no index.html: build the dashboard first (payrail dashboard builds it when run from the project)`,
    )
  const apiOrigin = new URL(options.apiOrigin).origin
  const app = createRoleServer({ logger: options.logger })
  registerProblemHandlers(app)
  registerOperationalRoutes(app, { registry: options.registry, checks: [] })
  app.get('/config.json', async (_request, reply) => {
    reply.header('cache-control', 'no-store').headers(DASHBOARD_HEADERS)
    return { apiOrigin }
  })
  await app.register(fastifyStatic, {
    root: options.dir,
    prefix: '/',
    setHeaders: dashboardFileHeaders(apiOrigin),
  })
  return app
}
