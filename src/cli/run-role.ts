import { once } from 'node:events'
import type { Config } from '../config/load.ts'
import { createLogger, type Logger } from '../observability/logger.ts'
import type { RunningRole } from '../runtime/role.ts'
import { config } from './context.ts'

const SHUTDOWN_DEADLINE_MS = 30_000

/**
 * Runs one role in the foreground until SIGTERM or SIGINT, then closes it: the role stops taking
 * work and finishes what it accepted before the process exits.
 */
export async function runRole(
  role: string,
  start: (config: Config, logger: Logger) => Promise<RunningRole>,
): Promise<void> {
  const cfg = config()
  const logger = createLogger({ role, level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT })
  // Listening before start-up: a role may answer /healthz while it still starts (a worker joins
  // its groups), and a SIGTERM then must stop it cleanly once started, not kill it outright.
  const signalled = Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')])
  const running = await start(cfg, logger)
  logger.info({ url: running.url }, `${role} ready`)
  const [signal] = await signalled
  logger.info({ signal }, `${role} stopping`)
  // A shutdown step that hangs (a dependency that never answers), or a handle some library
  // leaves open after it, must not keep the process alive forever: the timer does not hold the
  // process up itself, and fires only if something else does. What was not flushed is still in
  // the database or Kafka and is picked up again.
  const deadline = setTimeout(() => {
    logger.error(
      { resources: process.getActiveResourcesInfo() },
      `${role} did not exit within ${SHUTDOWN_DEADLINE_MS} ms of ${signal}; exiting`,
    )
    process.exit(1)
  }, SHUTDOWN_DEADLINE_MS)
  deadline.unref()
  await running.close()
  logger.info(`${role} stopped`)
}
