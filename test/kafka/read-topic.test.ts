import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReliableProducer } from '../../src/kafka/producer.ts'
import { readTopicToEnd } from '../../src/kafka/read-topic.ts'
import { TOPICS } from '../../src/kafka/topics.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService } from '../helpers/services.ts'

// A broker of the test's own, fresh: no group has ever joined it, so the reader's group join is
// the one that creates __consumer_offsets (what a CI run's first `payrail dlq list` meets).
test('on a fresh broker, a topic is read to its end; a topic that does not exist reads as undefined', async (t) => {
  if ((await requireService(t, 'kafka')) === undefined) return
  const brokers = await privateBroker(t)
  const options = { brokers: [brokers], clientId: 'payrail-test', timeoutMs: 30_000 }
  const producer = new ReliableProducer({ brokers: [brokers], clientId: 'payrail-test' })
  await producer.send(
    [0, 1, 2].map((i) => ({
      topic: TOPICS.dlq.name,
      key: Buffer.from(`k${i % 2}`),
      value: Buffer.from(`v${i}`),
    })),
    'three records',
  )
  await producer.close()

  const read = await readTopicToEnd(TOPICS.dlq.name, options)
  assert.deepEqual(read?.map((message) => message.value?.toString()).sort(), ['v0', 'v1', 'v2'])
  assert.equal(await readTopicToEnd('payrail-test-no-such-topic', options), undefined)
})
