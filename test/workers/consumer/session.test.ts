import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MessagesStream } from '@platformatic/kafka'
import { createLogger } from '../../../src/observability/logger.ts'
import {
  consumerFixture,
  HandlerWatch,
  interleaved,
  parse,
  seededRandom,
  startConsumer,
} from '../../helpers/consumer.ts'
import { until } from '../../helpers/until.ts'

test('a broken fetch stream is replaced by a new session that goes on from the commit; nothing is missing', {
  timeout: 120_000,
}, async (t) => {
  const random = seededRandom(t)
  const kafka = await consumerFixture(t, interleaved(40, 30))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka

  // The library announces every stream it creates; the test breaks the consumer's first one.
  const streams: MessagesStream<Buffer, Buffer, Buffer, Buffer>[] = []
  const onInstance = (message: unknown) => {
    const { type, instance } = message as {
      type: string
      instance: MessagesStream<Buffer, Buffer, Buffer, Buffer>
    }
    if (type === 'messages-stream' && instance.consumer.groupId === group) streams.push(instance)
  }
  subscribe('plt:kafka:instances', onInstance)
  t.after(() => unsubscribe('plt:kafka:instances', onInstance))

  const logged: string[] = []
  const logger = createLogger({
    role: 'worker',
    format: 'json',
    stream: new Writable({
      write(chunk, _encoding, done) {
        logged.push(String(chunk))
        done()
      },
    }),
  })
  const watch = new HandlerWatch()
  const consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    concurrency: 16,
    restartDelayMs: 50,
    logger,
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      watch.begin(key, sequence)
      await sleep(2 + random() * 6)
      watch.finished.add(`${record.partition}:${record.offset}`)
      watch.end(key)
    },
  })
  await consumer.start()
  await until('some records to be handled', () => watch.finished.size >= 200)
  const created = () => streams.length
  assert.equal(created(), 1)
  streams[0]?.destroy(new Error('injected fetch failure'))
  await until('a new session', () => created() === 2 && consumer.status().state === 'running')
  assert.ok(logged.some((line) => line.includes('Kafka session failed')))
  assert.ok(logged.some((line) => line.includes('Kafka session restored')))
  await until('every record to be handled', () => watch.finished.size === 1200)
  await consumer.close()

  assert.ok(watch.finished.size > 200)
  assert.deepEqual(watch.problems, [])
  // Everything taken before the failure was finished and committed before the new session.
  assert.deepEqual(watch.outOfOrder(), [])
  const all = Array.from({ length: 30 }, (_, i) => i + 1)
  for (const [key, sequences] of watch.started) assert.deepEqual(sequences, all, key)
})
