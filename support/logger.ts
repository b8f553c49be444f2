import { Writable } from 'node:stream'
import { createLogger } from '../src/observability/logger.ts'

/** A logger for tests and benchmarks: warnings and worse, written to stderr only when DEBUG_RELAY is set. */
export function quietLogger() {
  return createLogger({
    role: 'relay',
    format: 'json',
    level: 'warn',
    stream: new Writable({
      write(_chunk, _encoding, done) {
        if (process.env.DEBUG_RELAY) process.stderr.write(_chunk)
        done()
      },
    }),
  })
}
