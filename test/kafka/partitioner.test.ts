import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { Consumer, murmur2, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import { createAdmin } from '../../src/kafka/connection.ts'
import { javaPartition, partitioner } from '../../src/kafka/partitioner.ts'
import { requireService } from '../helpers/services.ts'

// Computed with org.apache.kafka.common.utils.Utils from kafka-clients 4.3.1:
// [key, murmur2(utf8(key)), toPositive(murmur2) % 6, toPositive(murmur2) % 3]
const javaVectors: [string, number, number, number][] = [
  ['21', -973932308, 0, 0],
  ['foobar', -790332482, 0, 0],
  ['a-little-bit-long-string', -985981536, 2, 2],
  ['a-little-bit-longer-string', -1486304829, 5, 2],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971, 5, 2],
  ['abc', 479470107, 3, 0],
  ['pay_01HZX3', 1451079748, 4, 1],
  ['0192f5d2-7c1e-7b3a-9c4e-5f6a7b8c9d0e', 429709178, 2, 2],
  ['', 275646681, 3, 0],
  ['한국어 결제', -1944485848, 4, 1],
]

test('keys land on the partitions a Java producer picks', () => {
  for (const [key, , six, three] of javaVectors) {
    assert.equal(javaPartition(key, 6), six, `key ${JSON.stringify(key)} on 6 partitions`)
    assert.equal(javaPartition(key, 3), three, `key ${JSON.stringify(key)} on 3 partitions`)
    assert.equal(javaPartition(Buffer.from(key), 6), six)
  }
})

test('the hash agrees with the Kafka client library on random keys of every tail length', () => {
  for (let n = 0; n < 20_000; n++) {
    const key = randomBytes(n % 67)
    const reference = murmur2(key) & 0x7fffffff
    assert.equal(javaPartition(key, 64), reference % 64, `key ${key.toString('hex')}`)
    assert.equal(partitioner({ topic: 't' }, key), reference, `key ${key.toString('hex')}`)
  }
})

test('the producer option agrees with Java after the modulo the producer applies', () => {
  for (const [key, , six] of javaVectors) {
    assert.equal(partitioner({ topic: 't' }, Buffer.from(key)) % 6, six)
  }
})

test('records sent through a real broker land on the Java partition', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = `payrail-test-partitioner-${randomBytes(4).toString('hex')}`
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  await admin.createTopics({ topics: [topic], partitions: 6, replicas: 1 })
  t.after(async () => {
    await admin.deleteTopics({ topics: [topic] })
    await admin.close()
  })

  const producer = new Producer({
    clientId: 'payrail-test',
    bootstrapBrokers: brokers.split(','),
    serializers: stringSerializers,
    partitioner,
  })
  await producer.send({ messages: javaVectors.map(([key]) => ({ topic, key, value: key })) })
  await producer.close()

  const consumer = new Consumer({
    clientId: 'payrail-test',
    groupId: `payrail-test-${randomBytes(4).toString('hex')}`,
    bootstrapBrokers: brokers.split(','),
    deserializers: stringDeserializers,
  })
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
  const seen = new Map<string, number>()
  for await (const message of stream) {
    seen.set(message.key, message.partition)
    if (seen.size === javaVectors.length) break
  }
  await stream.close()
  await consumer.close()
  for (const [key, , six] of javaVectors) assert.equal(seen.get(key), six, `key ${JSON.stringify(key)}`)
})
