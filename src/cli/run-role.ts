import { once } from 'node:events'
import type { Config } from '../config/load.ts'
import { createLogger, type Logger } from '../observability/logger.ts'
import type { RunningRole } from '../runtime/role.ts'
import { config } from './context.ts'
import { reportFailure } from './failure.ts'

const SHUTDOWN_DEADLINE_MS = 30_000
/**
 * How long a SIGTERM that comes while the role still starts waits for the start to finish (so it
 * can then close cleanly) before the process exits: a worker may wait for Kafka at start for as
 * long as Kafka is down, and a supervisor's stop must not hang on that. Nothing is lost by the
 * exit: a role that has not started has acknowledged nothing, and records a started consumer had
 * not committed are delivered again (the handlers dedupe).
 */
const STOP_WHILE_STARTING_MS = 5000

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
  const starting = start(cfg, logger).catch((error: unknown) => {
    // What started before the failure (a relay's loops, a database pool, a Kafka client) would
    // keep the process alive, serving nothing, where a supervisor or container runtime only
    // restarts a process that exits (seen: a relay whose metrics port was taken kept publishing).
    logger.error({ err: error }, `${role} could not start`)
    process.exit(reportFailure(error))
  })
  const first = await Promise.race([
    starting.then((running) => ({ running })),
    signalled.then(([signal]: unknown[]) => ({ signal })),
  ])
  if ('signal' in first) {
    logger.info({ signal: first.signal }, `${role} stopping while it starts`)
    const giveUp = setTimeout(() => {
      logger.warn(`${role} had not started ${STOP_WHILE_STARTING_MS} ms after ${first.signal}; exiting`)
      process.exit(0)
    }, STOP_WHILE_STARTING_MS)
    const running = await starting
    clearTimeout(giveUp)
    await running.close()
    logger.info(`${role} stopped`)
    return
  }
  const { running } = first
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
