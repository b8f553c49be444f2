import type { Config } from '../config/load.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import type { RunningRole } from '../runtime/role.ts'
import { buildAcquirerSimulator } from './simulator.ts'

/** `payrail acquirer`: the card-processor simulator with the latencies and failure rates of the configuration. */
export async function startAcquirerRole(config: Config, logger: Logger): Promise<RunningRole> {
  const app = buildAcquirerSimulator({
    authLatencyMs: config.ACQUIRER_AUTH_LATENCY_MS,
    settleLatencyMs: config.ACQUIRER_SETTLE_LATENCY_MS,
    authFailureRate: config.ACQUIRER_AUTH_FAILURE_RATE,
    settleFailureRate: config.ACQUIRER_SETTLE_FAILURE_RATE,
    adminToken: config.ACQUIRER_ADMIN_TOKEN,
    journalFile: config.ACQUIRER_JOURNAL_FILE,
    logger,
    registry: createMetricsRegistry('acquirer'),
  })
  await app.listen({ host: config.ACQUIRER_HOST, port: config.ACQUIRER_PORT })
  return { url: `http://${config.ACQUIRER_HOST}:${config.ACQUIRER_PORT}`, close: () => app.close() }
}
