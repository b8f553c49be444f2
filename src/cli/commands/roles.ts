import { resolve } from 'node:path'
import type { Command } from 'commander'
import { startAcquirerRole } from '../../acquirer/role.ts'
import { startApiRole } from '../../api/role.ts'
import { startDashboardRole } from '../../dashboard/role.ts'
import { startGatewayRole } from '../../gateway/role.ts'
import { startNotifierRole } from '../../notifier/role.ts'
import { startRelayRole } from '../../outbox/role.ts'
import { parseHandlers, startWorkerRole, WORKER_HANDLERS } from '../../workers/role.ts'
import { ROOT, say } from '../context.ts'
import { runRole } from '../run-role.ts'
import { ensureWebBuild } from '../web-build.ts'

export function registerRoles(program: Command): void {
  program
    .command('api')
    .description('serve the payment API on API_PORT (8081)')
    .action(() => runRole('api', (config, logger) => startApiRole(config, logger)))
  program
    .command('gateway')
    .description(
      'serve the public entry on GATEWAY_PORT (8080): routes, rate limits, timeouts, retries to GATEWAY_UPSTREAM_API',
    )
    .action(() => {
      // It serves the dashboard at / too: built first when web/ changed (a no-op in an image).
      ensureWebBuild(ROOT, say)
      return runRole('gateway', (config, logger) =>
        startGatewayRole(
          { ...config, GATEWAY_DASHBOARD_DIR: resolve(ROOT, config.GATEWAY_DASHBOARD_DIR) },
          logger,
        ),
      )
    })
  program
    .command('relay')
    .description('publish the outbox to Kafka; health and metrics on RELAY_METRICS_PORT (9464)')
    .action(() => runRole('relay', startRelayRole))
  program
    .command('worker')
    .argument('[handlers]', `comma-separated handlers to run: ${WORKER_HANDLERS.join(',')} (default: all)`)
    .description(
      'consume Kafka: settle, refund and post the ledger; health and metrics on WORKER_METRICS_PORT (9465)',
    )
    .action((list: string | undefined) => {
      const handlers = parseHandlers(list)
      return runRole('worker', (config, logger) => startWorkerRole(config, logger, handlers))
    })
  program
    .command('dashboard')
    .description(
      'serve the web dashboard on DASHBOARD_PORT (5173), calling the API at DASHBOARD_API_ORIGIN (the gateway); builds it first when web/ changed',
    )
    .action(() => {
      ensureWebBuild(ROOT, say)
      return runRole('dashboard', (config, logger) =>
        startDashboardRole({ ...config, DASHBOARD_DIR: resolve(ROOT, config.DASHBOARD_DIR) }, logger),
      )
    })
  program
    .command('notifier')
    .description(
      "send merchants' webhooks: consume the payment topics, record and sign deliveries, retry for days; health and metrics on NOTIFIER_METRICS_PORT (9466)",
    )
    .action(() => runRole('notifier', startNotifierRole))
  program
    .command('acquirer')
    .description('run the card-processor simulator on ACQUIRER_PORT (8090)')
    .action(() => runRole('acquirer', startAcquirerRole))
}
