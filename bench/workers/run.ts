/**
 * bench/workers: settlement throughput against the real acquirer simulator at its default settle
 * latency (1–3 s), the seed's model beside payrail's keyed consumer, in one run.
 *
 * - seed model: one record at a time per partition, 6 partitions (its settlement worker), for
 *   --seed-seconds;
 * - payrail: the KeyedConsumer with WORKER_CONCURRENCY records in flight, until every record of
 *   the run is settled, several records per key, checking that each key's records ran in order.
 *
 * Both call the acquirer's settle over HTTP with the payrail AcquirerClient; the simulator's
 * processor-error rate is 0 so that retries do not blur the comparison.
 *
 *   ./payrail bench workers [--records 6000] [--per-key 2] [--concurrency 256] [--seed-seconds 20]
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import { partitioner } from '../../src/kafka/partitioner.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { KeyedConsumer } from '../../src/workers/consumer/index.ts'
import { startAcquirer } from '../../support/processes.ts'
import { benchCluster } from '../lib/kafka.ts'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '6000' },
    'per-key': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '256' },
    'seed-seconds': { type: 'string', default: '20' },
  },
})
const number = (name: string, text: string) => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} must be a positive whole number (got ${text})`)
  return value
}
const records = number('records', values.records)
const perKey = number('per-key', values['per-key'])
const concurrency = number('concurrency', values.concurrency)
const seedSeconds = number('seed-seconds', values['seed-seconds'])
const SETTLE_LATENCY = { min: 1000, max: 3000 }
const meanLatencySeconds = (SETTLE_LATENCY.min + SETTLE_LATENCY.max) / 2000

const say = (line: string) => console.log(line)
const cluster = await benchCluster(say)
const { brokers } = cluster

interface Work {
  key: string
  seq: number
}

/** A topic of 6 partitions holding `records` settle requests, `perKey` per key, interleaved. */
async function fill(): Promise<string> {
  const topic = await cluster.topic('payrail-bench-workers')
  const producer = new Producer({
    clientId: 'payrail-bench',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    partitioner,
  })
  const keys = Math.ceil(records / perKey)
  for (let start = 0; start < records; start += 1000) {
    const messages = []
    for (let n = start; n < Math.min(records, start + 1000); n++) {
      const key = `pay-${n % keys}`
      messages.push({ topic, key, value: JSON.stringify({ key, seq: Math.floor(n / keys) } satisfies Work) })
    }
    await producer.send({ messages })
  }
  await producer.close()
  return topic
}

/** The seed's settlement worker: each partition's records one after another. */
async function seedModel(topic: string, acquirer: AcquirerClient): Promise<number> {
  const consumer = new Consumer({
    clientId: 'payrail-bench-seed',
    groupId: `payrail-bench-seed-${randomBytes(4).toString('hex')}`,
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    autocommit: false,
  })
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
  const chains = new Map<number, Promise<void>>()
  let settled = 0
  const started = performance.now()
  const end = Date.now() + seedSeconds * 1000
  const timer = setTimeout(() => stream.close(), seedSeconds * 1000)
  for await (const message of stream) {
    const previous = chains.get(message.partition) ?? Promise.resolve()
    chains.set(
      message.partition,
      previous.then(async () => {
        if (Date.now() >= end) return
        await acquirer.settle({
          reference: `seed-${message.partition}-${message.offset}`,
          amount: 1000,
          currency: 'KRW',
        })
        if (Date.now() < end) settled++
      }),
    )
  }
  clearTimeout(timer)
  await Promise.all(chains.values())
  const elapsed = Math.min((performance.now() - started) / 1000, seedSeconds)
  await consumer.close()
  return settled / elapsed
}

/** The keyed run's settle calls in flight, averaged over quarter-second samples. */
let inFlightMean = 0

async function keyed(
  topic: string,
  acquirer: AcquirerClient,
): Promise<{ rate: number; outOfOrder: number; redelivered: number }> {
  const last = new Map<string, number>()
  const seen = new Set<string>()
  let outOfOrder = 0
  let redelivered = 0
  let settled = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  let started = 0
  const consumer = new KeyedConsumer({
    brokers,
    groupId: `payrail-bench-keyed-${randomBytes(4).toString('hex')}`,
    topics: [topic],
    logger: createLogger({ role: 'bench-worker', level: 'warn', format: 'json' }),
    concurrency,
    handler: async (record) => {
      if (started === 0) started = performance.now()
      const work = JSON.parse(record.value ?? '{}') as Work
      const id = `${work.key}:${work.seq}`
      // At least once: a redelivered record is counted apart, and its settle call is the
      // acquirer's first answer again (same reference), as a worker's would be.
      const redelivery = seen.has(id)
      if (redelivery) redelivered++
      else {
        seen.add(id)
        if (work.seq !== (last.get(work.key) ?? -1) + 1) outOfOrder++
        last.set(work.key, work.seq)
      }
      await acquirer.settle({ reference: `keyed-${id}`, amount: 1000, currency: 'KRW' })
      if (!redelivery && ++settled === records) done()
    },
  })
  await consumer.start()
  const samples: number[] = []
  const sampler = setInterval(() => {
    const status = consumer.status()
    if (started > 0) samples.push(status.inFlight)
  }, 250)
  await finished
  clearInterval(sampler)
  inFlightMean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length)
  const elapsed = (performance.now() - started) / 1000
  await consumer.close()
  return { rate: records / elapsed, outOfOrder, redelivered }
}

const acquirerProcess = await startAcquirer({
  ACQUIRER_SETTLE_LATENCY_MS: `${SETTLE_LATENCY.min}-${SETTLE_LATENCY.max}`,
  ACQUIRER_SETTLE_FAILURE_RATE: '0',
})
const acquirer = new AcquirerClient({
  url: acquirerProcess.url,
  connections: concurrency,
  settleTimeoutMs: 10_000,
})
try {
  const seedTopic = await fill()
  const seed = await seedModel(seedTopic, acquirer)
  await cluster.deleteTopic(seedTopic)
  say(`seed model   one at a time per partition, 6 partitions: ${seed.toFixed(1)} settlements/s`)
  const keyedTopic = await fill()
  const result = await keyed(keyedTopic, acquirer)
  await cluster.deleteTopic(keyedTopic)
  const ideal = concurrency / meanLatencySeconds
  say(
    `payrail      keyed consumer, concurrency ${concurrency}: ${result.rate.toFixed(1)} settlements/s, ${inFlightMean.toFixed(0)} settle calls in flight on average, ${result.outOfOrder} first deliveries out of key order, ${result.redelivered} redelivered`,
  )
  say(
    `\nbench/workers: ${records} settle requests, ${perKey} per key, acquirer settle latency ${SETTLE_LATENCY.min}–${SETTLE_LATENCY.max} ms (mean ${meanLatencySeconds} s), one worker process`,
  )
  say('| model | settlements/s | × seed | % of concurrency / mean latency | key order |')
  say('|---|---|---|---|---|')
  say(
    `| seed: 1 per partition × 6 | ${seed.toFixed(1)} | 1.0 | ${((100 * seed) / ideal).toFixed(1)} % | n/a |`,
  )
  say(
    `| payrail keyed, ${concurrency} in flight | ${result.rate.toFixed(1)} | ${(result.rate / seed).toFixed(1)} | ${((100 * result.rate) / ideal).toFixed(1)} % (target ≥ 90 %) | ${result.outOfOrder === 0 ? 'intact' : `${result.outOfOrder} out of order`} |`,
  )
} finally {
  await acquirer.close()
  await acquirerProcess.stop()
  await cluster.close()
}
