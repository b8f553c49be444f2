import { existsSync, readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import { type StaticDecode, Type } from 'typebox'
import Value from 'typebox/value'
import { PayrailError } from '../domain/errors.ts'
import { fieldProblems, type OptionRule } from '../runtime/options.ts'
import { variables } from './variables.ts'

const schema = Type.Object(variables)

/** The validated configuration of one process. */
export type Config = StaticDecode<typeof schema>

/** Names of every variable payrail reads. */
export const variableNames = Object.keys(variables) as (keyof Config)[]

/**
 * Rules that tie two variables together, checked once every variable is valid on its own; each
 * message names both, so the fix is clear whichever one was meant.
 */
const rules: OptionRule<Config>[] = [
  {
    // A lease renewed every third of its length must always outlast a send started on it.
    holds: (c) => c.OUTBOX_LEASE_MS >= 3 * c.KAFKA_DELIVERY_TIMEOUT_MS,
    problem: (c) =>
      `OUTBOX_LEASE_MS (${c.OUTBOX_LEASE_MS}) must be at least three times KAFKA_DELIVERY_TIMEOUT_MS (${c.KAFKA_DELIVERY_TIMEOUT_MS})`,
  },
  {
    // The sweep asks the acquirer about an attempt only once its own call has surely ended.
    holds: (c) => c.AUTH_RECOVERY_AFTER_MS > c.ACQUIRER_AUTH_TIMEOUT_MS,
    problem: (c) =>
      `AUTH_RECOVERY_AFTER_MS (${c.AUTH_RECOVERY_AFTER_MS}) must exceed ACQUIRER_AUTH_TIMEOUT_MS (${c.ACQUIRER_AUTH_TIMEOUT_MS})`,
  },
  {
    // A client retrying a payment the next day must still get its first answer, not a second payment.
    holds: (c) => c.IDEMPOTENCY_RETENTION >= DAY_MS,
    problem: (c) => `IDEMPOTENCY_RETENTION (${c.IDEMPOTENCY_RETENTION} ms) must be at least 24h`,
  },
  {
    // An abandoned attempt watched for a late approval must still exist while it is watched.
    holds: (c) => c.AUTH_ATTEMPTS_RETENTION > c.AUTH_ABANDONED_WATCH,
    problem: (c) =>
      `AUTH_ATTEMPTS_RETENTION (${c.AUTH_ATTEMPTS_RETENTION} ms) must exceed AUTH_ABANDONED_WATCH (${c.AUTH_ABANDONED_WATCH} ms)`,
  },
  {
    // A record Kafka can still deliver again must still be recognised as applied.
    holds: (c) => c.PROCESSED_EVENTS_RETENTION > c.KAFKA_TOPIC_RETENTION,
    problem: (c) =>
      `PROCESSED_EVENTS_RETENTION (${c.PROCESSED_EVENTS_RETENTION} ms) must exceed KAFKA_TOPIC_RETENTION (${c.KAFKA_TOPIC_RETENTION} ms)`,
  },
  {
    // The headers are part of the request; Node refuses to create such a server at all.
    holds: (c) => c.GATEWAY_HEADERS_TIMEOUT_MS <= c.GATEWAY_REQUEST_TIMEOUT_MS,
    problem: (c) =>
      `GATEWAY_HEADERS_TIMEOUT_MS (${c.GATEWAY_HEADERS_TIMEOUT_MS}) must not exceed GATEWAY_REQUEST_TIMEOUT_MS (${c.GATEWAY_REQUEST_TIMEOUT_MS})`,
  },
  {
    // More in-sync replicas than replicas would refuse every acks=all write.
    holds: (c) =>
      c.KAFKA_MIN_INSYNC_REPLICAS === undefined ||
      c.KAFKA_REPLICATION_FACTOR === undefined ||
      c.KAFKA_MIN_INSYNC_REPLICAS <= c.KAFKA_REPLICATION_FACTOR,
    problem: (c) =>
      `KAFKA_MIN_INSYNC_REPLICAS (${c.KAFKA_MIN_INSYNC_REPLICAS}) must not exceed KAFKA_REPLICATION_FACTOR (${c.KAFKA_REPLICATION_FACTOR})`,
  },
  {
    holds: (c) => c.WORKER_RETRY_DELAY_MS <= c.WORKER_RETRY_MAX_DELAY_MS,
    problem: (c) =>
      `WORKER_RETRY_DELAY_MS (${c.WORKER_RETRY_DELAY_MS}) must not exceed WORKER_RETRY_MAX_DELAY_MS (${c.WORKER_RETRY_MAX_DELAY_MS})`,
  },
  {
    holds: (c) => c.WORKER_OUTAGE_DELAY_MS <= c.WORKER_OUTAGE_MAX_DELAY_MS,
    problem: (c) =>
      `WORKER_OUTAGE_DELAY_MS (${c.WORKER_OUTAGE_DELAY_MS}) must not exceed WORKER_OUTAGE_MAX_DELAY_MS (${c.WORKER_OUTAGE_MAX_DELAY_MS})`,
  },
]

const DAY_MS = 24 * 3_600_000

export interface LoadConfigOptions {
  /** The process environment; it wins over the `.env` file. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** A dotenv file read when it exists. Default: `.env` in the working directory. */
  envFile?: string
}

/**
 * Reads the configuration once at start-up. Empty strings count as unset, so that
 * `FOO=` in a compose file means "use the default" rather than "invalid".
 * Throws CONFIG_INVALID naming every bad variable and the form it expects (a secret's value is
 * never repeated, nor a password inside a URL).
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env
  const envFile = options.envFile ?? '.env'
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {}
  const raw: Record<string, string> = {}
  for (const name of variableNames) {
    const value = env[name] ?? fromFile[name]
    if (value !== undefined && value !== '') raw[name] = value
  }
  const withDefaults = Value.Default(schema, raw) as Record<string, unknown>
  const problems = fieldProblems(schema, withDefaults)
  if (problems.length === 0) {
    const config = Value.Decode(schema, withDefaults)
    for (const rule of rules) if (!rule.holds(config)) problems.push(rule.problem(config))
    if (problems.length === 0) return config
  }
  throw new PayrailError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`)
}
