import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Kysely } from 'kysely'
import { type Config, loadConfig } from '../config/load.ts'
import { openDatabase } from '../db/database.ts'
import { migrateToLatest } from '../db/migrate.ts'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import { bootstrapBrokers } from '../kafka/connection.ts'
import { replicationPolicyOf } from '../kafka/replication.ts'
import { ensureTopicsOn, type TopicAction } from '../kafka/topics.ts'

/** The repository root: the CLI lives in <root>/src/cli. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A line for the person at the terminal (not a log record). */
export function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** A warning for the person at the terminal. */
export function warn(line: string): void {
  process.stderr.write(`payrail: warning: ${line}\n`)
}

export function config(): Config {
  return loadConfig()
}

export async function runMigrations(
  cfg: Config,
): Promise<{ applied: string[]; current: string[]; safeUrl: string }> {
  const handle = openDatabase({ url: cfg.DATABASE_URL, poolMax: 2 })
  try {
    const result = await migrateToLatest(handle.db, handle.dialect)
    return { ...result, safeUrl: handle.safeUrl }
  } finally {
    await handle.close()
  }
}

/** Runs `work` on DATABASE_URL, migrated first, and closes the connection after. */
export async function withDatabase<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle = openDatabase({ url: config().DATABASE_URL, poolMax: 2 })
  try {
    await migrateToLatest(handle.db, handle.dialect)
    return await work(handle.db)
  } finally {
    await handle.close()
  }
}

export async function ensurePayrailTopics(cfg: Config): Promise<TopicAction[]> {
  return ensureTopicsOn({
    brokers: bootstrapBrokers(cfg),
    clientId: `${cfg.KAFKA_CLIENT_ID}-admin`,
    timeoutMs: cfg.KAFKA_REQUEST_TIMEOUT_MS,
    retentionMs: cfg.KAFKA_TOPIC_RETENTION,
    ...replicationPolicyOf(cfg),
  })
}

export function describeTopicAction(action: TopicAction): string {
  const r = action.replication
  const copies = `${r.replicas} replicas, min.insync ${r.minInsync}`
  switch (action.action) {
    case 'created':
      return `created ${action.topic} (${action.partitions} partitions, ${copies})`
    case 'unchanged':
      return `ok      ${action.topic} (${action.partitions} partitions, ${copies})`
    case 'grown':
      return `grew    ${action.topic} from ${action.from} to ${action.partitions} partitions (${copies})`
    case 'kept-larger':
      return `ok      ${action.topic} (${action.partitions} partitions, more than the ${action.wanted} wanted; never lowered; ${copies})`
  }
}

/**
 * What `topics ensure` changed in a topic's replication, and what it could not: lines for the
 * person at the terminal, `warning` for those that leave the topic short of the target.
 */
export function replicationNotes(action: TopicAction): { warning: boolean; line: string }[] {
  const r = action.replication
  const notes: { warning: boolean; line: string }[] = []
  if (r.minInsyncFrom !== undefined) {
    notes.push({
      warning: false,
      line: `set     ${action.topic} min.insync.replicas from ${r.minInsyncFrom} to ${r.minInsync}`,
    })
  }
  if (r.replicas < r.wantedReplicas) {
    notes.push({
      warning: true,
      line: `${action.topic} has ${r.replicas} replica(s) per partition, ${r.wantedReplicas} wanted: Kafka does not change the replication factor of an existing topic; reassign its partitions (kafka-reassign-partitions.sh) or delete and recreate it`,
    })
  }
  if (r.minInsync < r.wantedMinInsync) {
    notes.push({
      warning: true,
      line: `${action.topic} keeps min.insync.replicas ${r.minInsync}, not ${r.wantedMinInsync}: it has only ${r.replicas} replica(s), and more in-sync replicas than replicas would refuse every write`,
    })
  }
  return notes
}

/** A count option's text (`--limit 50`) as a whole number from `min` to `max`; USAGE naming the option otherwise. */
export function countOption(name: string, text: string, min = 1, max = 1_000_000): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max)
    throw new PayrailError('USAGE', `${name} must be a whole number from ${min} to ${max} (got ${text})`)
  return value
}
