import type { Logger } from './logger.ts'

/** One step of a role's shutdown: a name for the log, and what to close. */
export type ShutdownStep = readonly [name: string, close: () => Promise<unknown> | undefined]

/**
 * Runs every step in order, even when an earlier one fails: a database that went away must not
 * leave the Kafka producer or the HTTP server open, which would keep the process alive after
 * SIGTERM. Failures are logged as they happen and reported together at the end.
 */
export async function shutdownInOrder(steps: readonly ShutdownStep[], logger: Logger): Promise<void> {
  const failed: string[] = []
  for (const [name, close] of steps) {
    try {
      await close()
    } catch (error) {
      failed.push(name)
      logger.error({ err: error, step: name }, `shutdown step failed: ${name}`)
    }
  }
  if (failed.length > 0) throw new Error(`shutdown steps failed: ${failed.join(', ')}`)
}
