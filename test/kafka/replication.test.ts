import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describeTopicAction, replicationNotes } from '../../src/cli/context.ts'
import { loadConfig } from '../../src/config/load.ts'
import { replicationPolicyOf, replicationTarget } from '../../src/kafka/replication.ts'

test('replication follows the cluster size: min(3, brokers) replicas, min.insync 2 from 3 brokers', () => {
  assert.deepEqual(replicationTarget(1), { replicas: 1, minInsync: 1 })
  assert.deepEqual(replicationTarget(2), { replicas: 2, minInsync: 1 })
  assert.deepEqual(replicationTarget(3), { replicas: 3, minInsync: 2 })
  assert.deepEqual(replicationTarget(5), { replicas: 3, minInsync: 2 })
})

test('KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS override it, within what the cluster can hold', () => {
  const noFile = '/nonexistent/.env'
  const policy = replicationPolicyOf(
    loadConfig({ env: { KAFKA_REPLICATION_FACTOR: '2', KAFKA_MIN_INSYNC_REPLICAS: '2' }, envFile: noFile }),
  )
  assert.deepEqual(policy, { replicationFactor: 2, minInsyncReplicas: 2 })
  assert.deepEqual(replicationTarget(5, policy), { replicas: 2, minInsync: 2 })
  assert.deepEqual(replicationTarget(3, { minInsyncReplicas: 3 }), { replicas: 3, minInsync: 3 })
  assert.throws(
    () => replicationTarget(1, { replicationFactor: 3 }),
    /KAFKA_REPLICATION_FACTOR \(3\) exceeds the 1 broker\(s\) of the cluster/,
  )
  assert.throws(
    () => replicationTarget(1, { minInsyncReplicas: 2 }),
    /KAFKA_MIN_INSYNC_REPLICAS \(2\) must not exceed the replication factor \(1\)/,
  )
})

test('ensure says what it set and warns about the replication factor it cannot change', () => {
  const action = {
    topic: 'payment.captured',
    action: 'unchanged',
    partitions: 6,
    replication: { replicas: 1, wantedReplicas: 3, minInsync: 1, wantedMinInsync: 2, minInsyncFrom: 2 },
  } as const
  assert.equal(
    describeTopicAction(action),
    'ok      payment.captured (6 partitions, 1 replicas, min.insync 1)',
  )
  assert.deepEqual(replicationNotes(action), [
    { warning: false, line: 'set     payment.captured min.insync.replicas from 2 to 1' },
    {
      warning: true,
      line: 'payment.captured has 1 replica(s) per partition, 3 wanted: Kafka does not change the replication factor of an existing topic; reassign its partitions (kafka-reassign-partitions.sh) or delete and recreate it',
    },
    {
      warning: true,
      line: 'payment.captured keeps min.insync.replicas 1, not 2: it has only 1 replica(s), and more in-sync replicas than replicas would refuse every write',
    },
  ])
  const whole = {
    ...action,
    replication: { replicas: 3, wantedReplicas: 3, minInsync: 2, wantedMinInsync: 2 },
  }
  assert.deepEqual(replicationNotes(whole), [])
})
