import { CommanderError } from 'commander'
import { errorCatalog } from '../domain/errors.ts'

/**
 * How the CLI reports a command that failed: one line naming the problem (a stack only for an
 * error that is not in the catalog, i.e. a defect), and its exit code: 2 for a usage or
 * configuration mistake, 1 otherwise.
 */
export function reportFailure(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander already printed its message (unknown command, bad flag, --help).
    return error.exitCode === 0 ? 0 : 2
  }
  const code = (error as { code?: unknown })?.code
  const known = typeof code === 'string' && code in errorCatalog
  process.stderr.write(`payrail: ${error instanceof Error ? error.message : String(error)}\n`)
  if (!known && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`)
  return code === 'USAGE' || code === 'CONFIG_INVALID' ? 2 : 1
}
