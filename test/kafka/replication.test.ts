import assert from 'node:assert/strict'
import { test } from 'node:test'
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
