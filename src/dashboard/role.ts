import type { Config } from '../config/load.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import type { RunningRole } from '../runtime/role.ts'
import { buildDashboardServer } from './server.ts'

/** `payrail dashboard`: the built web app on DASHBOARD_PORT, calling the API at DASHBOARD_API_ORIGIN. */
export async function startDashboardRole(config: Config, logger: Logger): Promise<RunningRole> {
  const app = await buildDashboardServer({
    logger,
    registry: createMetricsRegistry('dashboard'),
    dir: config.DASHBOARD_DIR,
    apiOrigin: config.DASHBOARD_API_ORIGIN,
  })
  await app.listen({ host: config.HOST, port: config.DASHBOARD_PORT })
  return { url: `http://${config.HOST}:${config.DASHBOARD_PORT}`, close: () => app.close() }
}
