import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MultipleErrors, NetworkError, ResponseError, TimeoutError } from '@platformatic/kafka'
import { PayrailError } from '../../src/domain/errors.ts'
import { hasProtocolError, isKafkaOutage } from '../../src/kafka/errors.ts'

/** The Produce API's key in the protocol; the library names the failing request by it. */
const PRODUCE = 0

/**
 * A failed send as @platformatic/kafka 2.12 builds it: the Produce response's per-partition
 * error codes in a ResponseError, inside the retry loop's "produce failed N times", inside the
 * send's "Producing messages failed." over all destinations.
 */
function producedFailure(...codes: number[]): Error {
  const partitions: Record<string, [number, null]> = Object.fromEntries(
    codes.map((code, i) => [`/responses/0/partitionResponses/${i}`, [code, null]]),
  )
  const response = new ResponseError(PRODUCE, 11, partitions, {})
  const retried = new MultipleErrors('produce failed 3 times.', [response, response, response])
  return new MultipleErrors('Producing messages failed.', [retried])
}

// The failures of a cluster with a broker down or leaders moving: the records are fine and must
// not use up retries (the relay sends them again, the breaker counts them).
const outages: [string, number][] = [
  ['NOT_ENOUGH_REPLICAS', 19],
  ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 20],
  ['NOT_LEADER_OR_FOLLOWER', 6],
  ['LEADER_NOT_AVAILABLE', 5],
  ['REQUEST_TIMED_OUT', 7],
  ['UNKNOWN_TOPIC_OR_PARTITION', 3],
  ['COORDINATOR_LOAD_IN_PROGRESS', 14],
  ['NETWORK_EXCEPTION', 13],
]

for (const [id, code] of outages) {
  test(`a produce failing with ${id} is an outage`, { timeout: 5000 }, () => {
    const error = producedFailure(code)
    assert.equal(hasProtocolError(error, id), true, 'the id is found however deep it is nested')
    assert.equal(isKafkaOutage(error), true)
  })
}

// The broker refusing these records: they are retried with backoff and then dead-lettered.
const refusals: [string, number][] = [
  ['MESSAGE_TOO_LARGE', 10],
  ['RECORD_LIST_TOO_LARGE', 18],
  ['INVALID_RECORD', 87],
  ['TOPIC_AUTHORIZATION_FAILED', 29],
  ['POLICY_VIOLATION', 44],
]

for (const [id, code] of refusals) {
  test(`a produce failing with ${id} is a refusal, not an outage`, { timeout: 5000 }, () => {
    const error = producedFailure(code)
    assert.equal(hasProtocolError(error, id), true)
    assert.equal(isKafkaOutage(error), false)
  })
}

test('lost connections, request timeouts and the delivery deadline are outages', { timeout: 5000 }, () => {
  assert.equal(isKafkaOutage(new NetworkError('Connection to 127.0.0.1:1 failed.')), true)
  assert.equal(isKafkaOutage(new TimeoutError('Request timed out', { canRetry: true })), true)
  assert.equal(
    isKafkaOutage(new MultipleErrors('Producing messages failed.', [new TimeoutError('Request timed out')])),
    true,
  )
  assert.equal(isKafkaOutage(new PayrailError('KAFKA_UNAVAILABLE', 'no ack within 3000 ms')), true)
  assert.equal(isKafkaOutage(new Error('something else')), false)
  assert.equal(isKafkaOutage(undefined), false)
})

test('a send with one destination down and another refusing counts as an outage', { timeout: 5000 }, () => {
  // The whole batch goes again; the refusal is met (and its attempt spent) once the cluster answers.
  const error = new MultipleErrors('Producing messages failed.', [
    new NetworkError('Connection to 127.0.0.1:1 failed.'),
    producedFailure(10),
  ])
  assert.equal(isKafkaOutage(error), true)
})

test('a first join cut off by a broker killed mid-rebalance is an outage', { timeout: 5000 }, () => {
  // As @platformatic/kafka 2.12.1 fails consume() when the broker dies while the group
  // rebalances (payrail chaos, worker log): the JoinGroup's connection closes, finding the
  // coordinator again fails on every retry, and #retryJoinGroup wraps the attempts' errors in
  // "joinGroup failed 4 times. Connection closed findGroupCoordinator failed 4 times. …".
  const unreachable = () =>
    new MultipleErrors('Cannot connect to any broker.', [
      new NetworkError('Connection to 127.0.0.1:1 failed.', { canRetry: true }),
    ])
  const coordinator = new MultipleErrors('findGroupCoordinator failed 4 times.', [
    unreachable(),
    unreachable(),
    unreachable(),
    unreachable(),
  ])
  const attempts = [new NetworkError('Connection closed'), coordinator, coordinator, coordinator]
  const joined = new MultipleErrors('joinGroup failed 4 times.', attempts)
  const error = new MultipleErrors(
    `${joined.message} ${attempts.map((e) => e.message).join(' ')}`,
    joined.errors,
  )
  assert.ok(error instanceof AggregateError)
  assert.equal(isKafkaOutage(error), true)
  assert.equal(isKafkaOutage(coordinator), true)
  // A join refused for a reason of the group's own (here a bad group id) is not.
  const refused = new MultipleErrors('joinGroup failed 1 times.', [
    new ResponseError(11, 9, { '/': [24, null] }, {}),
  ])
  assert.equal(hasProtocolError(refused, 'INVALID_GROUP_ID'), true)
  assert.equal(isKafkaOutage(refused), false)
})
