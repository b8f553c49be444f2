/**
 * bench/relay: how fast the relay drains the outbox to a real Kafka broker, measured beside the
 * broker's own ceiling (Kafka's ProducerPerformance with the same record size, acks=all and
 * idempotence), and the commit-to-ack latency at a steady rate through the outbox writer.
 *
 *   ./payrail bench relay [--rows 200000] [--payments 10000] [--payload 500] [--batch 1000]
 *                         [--databases sqlite,mysql,postgres] [--rate 2000] [--seconds 15]
 *                         [--phases ceiling,client,drain,latency] [--rounds 3] [--relays 1]
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Kysely, sql } from 'kysely'
import { ROOT } from '../../src/cli/context.ts'
import { type DialectName, openDatabase } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { ensureDistribution } from '../../src/kafka/local-broker/distribution.ts'
import { bucketOf, OUTBOX_BUCKETS } from '../../src/outbox/buckets.ts'
import { LeaseManager } from '../../src/outbox/leases.ts'
import { KafkaPublisher } from '../../src/outbox/publisher.ts'
import { OutboxRelay } from '../../src/outbox/relay.ts'
import type { RelayObserver } from '../../src/outbox/relay-observer.ts'
import { OutboxStore, type PendingEvent } from '../../src/outbox/store.ts'
import { appendEvent } from '../../src/outbox/writer.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { quietLogger } from '../../support/logger.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { cpuMeter, formatPerEvent } from '../lib/cpu.ts'
import { benchCluster } from '../lib/kafka.ts'
import { percentile } from '../lib/load.ts'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    payments: { type: 'string', default: '10000' },
    payload: { type: 'string', default: '500' },
    batch: { type: 'string', default: '1000' },
    databases: { type: 'string', default: 'sqlite,mysql,postgres' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '15' },
    phases: { type: 'string', default: 'ceiling,client,drain,latency' },
    rounds: { type: 'string', default: '3' },
    relays: { type: 'string', default: '1' },
  },
})
const number = (name: string, text: string) => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} must be a positive whole number (got ${text})`)
  return value
}
const rows = number('rows', values.rows)
const paymentCount = number('payments', values.payments)
const payloadBytes = number('payload', values.payload)
const batchSize = number('batch', values.batch)
const rate = number('rate', values.rate)
const seconds = number('seconds', values.seconds)
const rounds = number('rounds', values.rounds)
const relayCount = number('relays', values.relays)
const databases = values.databases.split(',') as DialectName[]
const phases = new Set(values.phases.split(','))
for (const phase of phases) {
  if (!['ceiling', 'client', 'drain', 'latency'].includes(phase))
    throw new Error(`--phases takes ceiling, client, drain, latency (got ${phase})`)
}
for (const dialect of databases) {
  if (!['sqlite', 'mysql', 'postgres'].includes(dialect))
    throw new Error(`--databases takes sqlite, mysql, postgres (got ${dialect})`)
}

const say = (line: string) => console.log(line)
const cluster = await benchCluster(say)
const { brokers } = cluster
const topic = () => cluster.topic('payrail-bench')
const deleteTopic = cluster.deleteTopic

/** Kafka's own producer benchmark, same record size, acks=all, idempotence, the relay's linger and batch. */
function ceiling(topicName: string): number {
  const libs = ensureDistribution({ root: ROOT, say }, 'perf')
  const result = spawnSync(
    'java',
    [
      '-Xmx512m',
      '-cp',
      join(libs, '*'),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topicName,
      '--num-records',
      String(rows),
      '--record-size',
      String(payloadBytes),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers.join(',')}`,
      'acks=all',
      'enable.idempotence=true',
      'linger.ms=5',
      'batch.size=32768',
    ],
    { encoding: 'utf8' },
  )
  const line = result.stdout.split('\n').find((l) => /records sent, [\d.]+ records\/sec/.test(l))
  const match = line === undefined ? null : /records sent, ([\d.]+) records\/sec/.exec(line)
  if (match === null)
    throw new Error(`ProducerPerformance printed no result:\n${result.stdout}\n${result.stderr}`)
  return Number(match[1])
}

/**
 * The relay's own producer with no database: the same records in batches of --batch, one send
 * at a time as the relay sends them. The gap between this and the drain is the database's share.
 */
async function clientCeiling(): Promise<number> {
  const topicName = await topic()
  const publisher = new KafkaPublisher({ brokers, clientId: 'payrail-bench-client' })
  const payload = padding(payloadBytes)
  try {
    const started = performance.now()
    for (let start = 0; start < rows; start += batchSize) {
      const events = []
      for (let n = start; n < Math.min(rows, start + batchSize); n++) {
        const paymentId = `bench-${n % paymentCount}`
        events.push({
          id: n,
          eventId: String(n),
          paymentId,
          sequence: 1,
          topic: topicName,
          payload,
          headers: { 'event-id': String(n), 'event-type': 'PAYMENT_AUTHORIZED' },
          attempts: 0,
          refused: false,
          createdAt: 0,
          bucket: 0,
        })
      }
      await publisher.send(events)
    }
    return rows / ((performance.now() - started) / 1000)
  } finally {
    await publisher.close()
    await deleteTopic(topicName)
  }
}

function padding(bytes: number): string {
  return 'x'.repeat(Math.max(0, bytes))
}

/** 200,000 rows over 10,000 payments, as the writer would leave them, inserted in bulk. */
async function fill(db: Kysely<Database>, topicName: string): Promise<void> {
  const now = Date.now()
  const payments = Array.from(
    { length: paymentCount },
    (_, i) => `bench-${String(i).padStart(8, '0')}-${randomBytes(6).toString('hex')}`,
  )
  const sequences = new Map<string, number>()
  const chunk = 1000
  for (let start = 0; start < rows; start += chunk) {
    const values = []
    for (let n = start; n < Math.min(rows, start + chunk); n++) {
      const paymentId = payments[n % paymentCount] as string
      const sequence = (sequences.get(paymentId) ?? 0) + 1
      sequences.set(paymentId, sequence)
      const eventId = `${randomBytes(16).toString('hex')}`
      const envelope = {
        eventId,
        type: 'PAYMENT_AUTHORIZED',
        paymentId,
        merchantId: 'bench',
        occurredAt: new Date(now).toISOString(),
        sequence,
        data: {} as Record<string, string>,
      }
      envelope.data.pad = padding(payloadBytes - JSON.stringify(envelope).length - 10)
      values.push({
        event_id: eventId,
        payment_id: paymentId,
        merchant_id: 'bench',
        sequence,
        topic: topicName,
        event_type: 'PAYMENT_AUTHORIZED',
        payload: JSON.stringify(envelope),
        headers: JSON.stringify({ 'event-id': eventId, 'event-type': 'PAYMENT_AUTHORIZED' }),
        created_at: now,
        bucket: bucketOf(paymentId),
      })
    }
    await db.insertInto('outbox_events').values(values).execute()
  }
  // Every row queued, as the writer queues each in its own transaction.
  await db
    .insertInto('outbox_pending')
    .columns(['id', 'bucket'])
    .expression((eb) => eb.selectFrom('outbox_events').select(['id', 'bucket']))
    .execute()
}

/** A relay in this process; `onAcked` hears of each batch as soon as Kafka acknowledged it. */
function relayFor(
  db: Kysely<Database>,
  observer: RelayObserver,
  onAcked: (events: PendingEvent[]) => void = noop,
  leases = new LeaseManager({ db }),
) {
  const publisher = new KafkaPublisher({ brokers, clientId: 'payrail-bench-relay' })
  const relay = new OutboxRelay({
    store: new OutboxStore(db),
    publisher: {
      send: async (events) => {
        await publisher.send(events)
        onAcked(events)
      },
      sendDead: (event, error, attempts) => publisher.sendDead(event, error, attempts),
    },
    leases,
    logger: quietLogger(),
    observer,
    batchSize,
  })
  return { relay, publisher }
}

const noop = () => {}
const counting = (
  onPublished: (count: number) => void,
  onLatency: (seconds: number) => void = noop,
): RelayObserver => ({
  published: (_topic, count) => onPublished(count),
  acknowledged: noop,
  commitToAck: onLatency,
  batch: noop,
  failure: noop,
  dead: noop,
  breaker: noop,
  buckets: noop,
  scanned: noop,
})

/**
 * Lease managers for `count` relays that already hold equal shares of the buckets, as relays
 * that have run together for a few heartbeats do; the drain then measures publishing only.
 */
async function balancedLeases(db: Kysely<Database>, count: number): Promise<LeaseManager[]> {
  const managers = Array.from({ length: count }, () => new LeaseManager({ db }))
  for (const manager of managers) await manager.heartbeat()
  const share = Math.ceil(OUTBOX_BUCKETS / count)
  for (let round = 0; round < 5 && managers.some((m) => m.held() < share - 1); round++) {
    for (const manager of managers) await manager.heartbeat()
  }
  return managers
}

async function drain(dialect: DialectName): Promise<{ rate: number; cpu: Record<string, number> }> {
  const { url, drop } = await createScratchDatabase(dialect, scratchServerOf(dialect), 'payrail_bench')
  const handle = openDatabase({ url, poolMax: 8 })
  const topicName = await topic()
  try {
    await migrateToLatest(handle.db, handle.dialect)
    await fill(handle.db, topicName)
    // A production table has planner statistics; a bulk-filled one has none until autovacuum runs.
    for (const table of ['outbox_events', 'outbox_pending']) {
      await sql.raw(dialect === 'mysql' ? `analyze table ${table}` : `analyze ${table}`).execute(handle.db)
    }
    let published = 0
    let done: () => void = noop
    const finished = new Promise<void>((resolve) => {
      done = resolve
    })
    const observer = counting((count) => {
      published += count
      if (published >= rows) done()
    })
    const relays = (await balancedLeases(handle.db, relayCount)).map((leases) =>
      relayFor(handle.db, observer, noop, leases),
    )
    const started = performance.now()
    const meter = cpuMeter()
    for (const { relay } of relays) relay.start()
    await finished
    const elapsed = (performance.now() - started) / 1000
    const cpu = meter.perEvent(rows)
    for (const { relay, publisher } of relays) {
      await relay.stop()
      await publisher.close()
    }
    return { rate: rows / elapsed, cpu }
  } finally {
    await handle.close()
    await drop()
    await deleteTopic(topicName)
  }
}

async function latency(
  dialect: DialectName,
): Promise<{ p50: number; p99: number; fromCreation99: number; committed: number }> {
  const { url, drop } = await createScratchDatabase(dialect, scratchServerOf(dialect), 'payrail_bench')
  const handle = openDatabase({ url, poolMax: 16 })
  const topicName = await topic()
  try {
    await migrateToLatest(handle.db, handle.dialect)
    const db = handle.db
    const now = Date.now()
    const ids = Array.from({ length: 1000 }, (_, i) => `lat-${i}-${randomBytes(6).toString('hex')}`)
    for (let i = 0; i < ids.length; i += 500) {
      await db
        .insertInto('payments')
        .values(ids.slice(i, i + 500).map((id) => authorizedPayment(id, 'bench', 1, now)))
        .execute()
    }
    // From the commit's return to Kafka's acknowledgement, per event; and from the event's
    // creation (before its transaction began) to the acknowledgement, as the relay's histogram
    // measures it since it cannot see commits.
    const committedAt = new Map<string, number>()
    const commitToAck: number[] = []
    const createToAck: number[] = []
    const { relay, publisher } = relayFor(
      db,
      counting(noop, (s) => createToAck.push(s * 1000)),
      (events) => {
        const now = Date.now()
        for (const event of events) {
          const at = committedAt.get(event.eventId)
          if (at === undefined) continue // acknowledged before the commit returned: polled at once
          commitToAck.push(now - at)
          committedAt.delete(event.eventId)
        }
      },
    )
    const handOff = relay.commitHandOff()
    relay.start()
    await new Promise((resolve) => setTimeout(resolve, 1000)) // leases
    // Commit `rate` events a second, each in its own transaction, in ticks of 10 ms.
    const perTick = rate / 100
    const end = Date.now() + seconds * 1000
    let committed = 0
    let debt = 0
    while (Date.now() < end) {
      const tick = Date.now()
      debt += perTick
      const writes: Promise<void>[] = []
      while (debt >= 1) {
        debt -= 1
        const paymentId = ids[committed % ids.length] as string
        committed++
        writes.push(
          db
            .transaction()
            .execute(async (trx) => {
              const record = await appendEvent(
                trx,
                dialect,
                {
                  type: 'PAYMENT_AUTHORIZED',
                  paymentId,
                  merchantId: 'bench',
                  data: { pad: padding(payloadBytes - 250) },
                },
                Date.now(),
              )
              await trx
                .updateTable('outbox_events')
                .set({ topic: topicName })
                .where('id', '=', record.id)
                .execute()
              return record
            })
            .then((record) => {
              committedAt.set(record.eventId, Date.now())
              handOff.handOff([{ ...record, topic: topicName }])
            }),
        )
      }
      await Promise.all(writes)
      const wait = 10 - (Date.now() - tick)
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
    await relay.stop()
    await publisher.close()
    commitToAck.sort((a, b) => a - b)
    createToAck.sort((a, b) => a - b)
    return {
      p50: percentile(commitToAck, 0.5),
      p99: percentile(commitToAck, 0.99),
      fromCreation99: percentile(createToAck, 0.99),
      committed,
    }
  } finally {
    await handle.close()
    await drop()
    await deleteTopic(topicName)
  }
}

try {
  // The machine is shared and its speed drifts, so every throughput is measured `rounds` times,
  // interleaved (ceiling, producer, each database, then again), and the best of each is compared.
  let raw = Number.NaN
  let client = Number.NaN
  const drained = new Map<string, number>()
  for (let round = 1; round <= rounds; round++) {
    const tag = rounds > 1 ? ` (round ${round}/${rounds})` : ''
    if (phases.has('ceiling')) {
      const ceilingTopic = await topic()
      const measured = ceiling(ceilingTopic)
      await deleteTopic(ceilingTopic)
      raw = Number.isNaN(raw) ? measured : Math.max(raw, measured)
      say(
        `ceiling  Kafka ProducerPerformance: ${measured.toFixed(0)} records/s (${rows} × ${payloadBytes} B, acks=all, idempotent)${tag}`,
      )
    }
    if (phases.has('client')) {
      const measured = await clientCeiling()
      client = Number.isNaN(client) ? measured : Math.max(client, measured)
      say(`client   payrail's producer alone: ${measured.toFixed(0)} records/s${tag}`)
    }
    if (phases.has('drain')) {
      for (const dialect of databases) {
        const result = await drain(dialect)
        drained.set(dialect, Math.max(drained.get(dialect) ?? 0, result.rate))
        say(
          `drain    ${dialect.padEnd(8)} ${result.rate.toFixed(0)} events/s; CPU per event: ${formatPerEvent(result.cpu)}${tag}`,
        )
      }
    }
  }
  const results: {
    dialect: string
    drain: number
    p50: number
    p99: number
    fromCreation99: number
    committed: number
  }[] = []
  for (const dialect of databases) {
    let steady = { p50: Number.NaN, p99: Number.NaN, fromCreation99: Number.NaN, committed: 0 }
    if (phases.has('latency')) {
      steady = await latency(dialect)
      say(
        `latency  ${dialect.padEnd(8)} ${rate} events/s for ${seconds} s: commit-to-ack p50 ${steady.p50.toFixed(1)} ms, p99 ${steady.p99.toFixed(1)} ms (from the event's creation, its transaction included: p99 ${steady.fromCreation99.toFixed(1)} ms)`,
      )
    }
    results.push({ dialect, drain: drained.get(dialect) ?? Number.NaN, ...steady })
  }
  say(
    `\nbench/relay: ${rows} rows, ${paymentCount} payments, ${payloadBytes}-byte payloads, batch ${batchSize}, ${relayCount === 1 ? 'one relay' : `${relayCount} relays`} in this process, broker on this 2-core machine; throughputs best of ${rounds}`,
  )
  say(
    '| database | drain events/s | % of Kafka ceiling | × seed design ceiling (4,000/s) | commit-to-ack p50 ms | p99 ms | creation-to-ack p99 ms |',
  )
  say('|---|---|---|---|---|---|---|')
  for (const r of results) {
    say(
      `| ${r.dialect} | ${r.drain.toFixed(0)} | ${((100 * r.drain) / raw).toFixed(0)} % | ${(r.drain / 4000).toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.fromCreation99.toFixed(1)} |`,
    )
  }
  say(
    `| payrail's producer, no database | ${client.toFixed(0)} | ${((100 * client) / raw).toFixed(0)} % | ${(client / 4000).toFixed(1)} | | | |`,
  )
  say(`| Kafka ProducerPerformance | ${raw.toFixed(0)} | 100 % | ${(raw / 4000).toFixed(1)} | | | |`)
} finally {
  await cluster.close()
}
