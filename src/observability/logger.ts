import pino, { type Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  /** Minimum level written. Default: `info`. */
  level?: pino.LevelWithSilent
  /** `auto` is pretty when stdout is a terminal and JSON otherwise. Default: `auto`. */
  format?: 'auto' | 'json' | 'pretty'
  /** Bound to every line as `role`, so that one stream can hold several processes. */
  role: string
  /** Destination stream. Default: standard output. */
  stream?: NodeJS.WritableStream
}

/** Paths whose values are secrets: keys and tokens must never reach a log line. */
const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-admin-token"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  'token',
  'password',
  '*.apiKey',
  '*.token',
  '*.password',
]

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? 'auto'
  const usePretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true)
  // Pretty printing formats every line again (colours, times): on a worker thread through a pino
  // transport, so that a busy role's event loop never pays for it.
  const destination =
    options.stream ??
    (usePretty
      ? pino.transport({
          target: 'pino-pretty',
          options: { colorize: process.stdout.isTTY === true, translateTime: 'HH:MM:ss.l', destination: 1 },
        })
      : process.stdout)
  return pino(
    {
      level: options.level ?? 'info',
      base: { role: options.role },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  )
}
