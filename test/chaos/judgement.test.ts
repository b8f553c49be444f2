import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type CommittedEvent, judgeEvents, type TopicRecord } from '../../src/chaos/events-check.ts'
import { undocumentedAnswers } from '../../src/chaos/invariants.ts'
import { merchantClient, newMerchantRecord } from '../../src/chaos/merchant-client.ts'
import { resolveChaosOptions } from '../../src/chaos/options.ts'
import { scenarioSeed } from '../../src/chaos/scenarios.ts'
import type { LoadAnswer, LoadClient } from '../../src/load/client.ts'

const committed: CommittedEvent[] = [
  { eventId: 'a1', paymentId: 'a', sequence: 1, eventType: 'PAYMENT_AUTHORIZED' },
  { eventId: 'a2', paymentId: 'a', sequence: 2, eventType: 'PAYMENT_CAPTURE_REQUESTED' },
  { eventId: 'a3', paymentId: 'a', sequence: 3, eventType: 'PAYMENT_CAPTURE_REQUESTED' },
  { eventId: 'b1', paymentId: 'b', sequence: 1, eventType: 'PAYMENT_AUTHORIZED' },
]
const rec = (
  topic: string,
  partition: number,
  offset: number,
  eventId: string,
  sequence: number,
): TopicRecord => ({
  topic,
  partition,
  offset: BigInt(offset),
  eventId,
  paymentId: eventId.slice(0, 1),
  sequence,
})

test('judgeEvents: delivered, repeats allowed, order on first appearances, missing, misrouted and dead-lettered', () => {
  const clean = judgeEvents(
    committed,
    [
      rec('payment.authorized', 0, 0, 'a1', 1),
      rec('payment.authorized', 1, 0, 'b1', 1),
      rec('payment.capture-requested', 2, 5, 'a2', 2),
      rec('payment.capture-requested', 2, 6, 'a3', 3),
      // A batch sent again after a relay crash: the repeat of a2 after a3 is no disorder.
      rec('payment.capture-requested', 2, 7, 'a2', 2),
      rec('payment.authorized', 3, 9, 'other-run', 1),
    ],
    new Set(),
  )
  assert.deepEqual(
    { ...clean, examples: clean.examples.length },
    {
      committed: 4,
      delivered: 4,
      missing: 0,
      deadLettered: 0,
      repeats: 1,
      misrouted: 0,
      outOfOrder: 0,
      examples: 0,
    },
  )

  const broken = judgeEvents(
    committed,
    [
      rec('payment.authorized', 0, 0, 'a1', 1),
      rec('payment.capture-requested', 2, 5, 'a3', 3),
      rec('payment.capture-requested', 2, 6, 'a2', 2),
      rec('payment.captured', 0, 0, 'b1', 1),
    ],
    new Set(['b1']),
  )
  assert.equal(broken.outOfOrder, 1, 'a2 first seen after a3')
  assert.equal(broken.misrouted, 1, 'b1 in the wrong topic')
  assert.equal(broken.deadLettered, 1, 'b1 is in outbox_dead, so not missing')
  assert.equal(broken.missing, 0)
  const lost = judgeEvents(committed, [rec('payment.authorized', 0, 0, 'a1', 1)], new Set())
  assert.equal(lost.missing, 3)
  assert.match(lost.examples.join(' '), /a2 .* not found/)
  const split = judgeEvents(
    committed,
    [rec('payment.capture-requested', 1, 0, 'a2', 2), rec('payment.capture-requested', 2, 0, 'a3', 3)],
    new Set(),
  )
  assert.equal(split.outOfOrder, 1, 'one payment over two partitions of a topic')
})

test('the merchant client retries an open outcome with the same request, and records which payment each key got', async () => {
  const answers: LoadAnswer[] = [
    { status: 0, key: 'timeout', body: undefined },
    { status: 503, key: '503 OVERLOADED', body: undefined },
    { status: 201, key: '201', body: { paymentId: 'p1' } },
    { status: 409, key: '409 IDEMPOTENCY_CONFLICT', body: undefined },
  ]
  const bodies: (string | undefined)[] = []
  const inner: LoadClient = {
    send: async (request) => {
      bodies.push(request.body)
      return answers.shift() as LoadAnswer
    },
    close: async () => {},
  }
  const record = newMerchantRecord()
  const pauses: number[] = []
  const client = merchantClient(inner, record, {
    random: () => 0.5,
    sleep: async (ms) => {
      pauses.push(ms)
    },
  })
  const body = JSON.stringify({ amount: 1000, currency: 'KRW', idempotencyKey: 'k1' })
  const answer = await client.send({ method: 'POST', path: '/api/payments/authorize', body })
  assert.equal(answer.status, 201)
  assert.deepEqual(bodies, [body, body, body], 'the same request, the same key, three times')
  assert.equal(record.retries, 2)
  assert.deepEqual(pauses, [150, 300], "payrail's backoff: 200·2^(n-1), scaled by 0.75")
  assert.deepEqual([...(record.authorizedAs.get('k1') ?? [])], ['p1'])
  assert.equal(record.acked.get('p1'), 'authorize')
  const conflict = await client.send({ method: 'POST', path: '/api/payments/capture/p1', body: '{}' })
  assert.equal(conflict.status, 409, 'a definite answer is not retried')
  assert.equal(record.acked.get('p1'), 'authorize')
  assert.deepEqual(record.answers, {
    timeout: 1,
    '503 OVERLOADED': 1,
    '201': 1,
    '409 IDEMPOTENCY_CONFLICT': 1,
  })
})

test('undocumented answers: bare 5xx and 500 are; 502/503/504 with a code, 4xx, timeouts are not', () => {
  assert.deepEqual(
    undocumentedAnswers({
      '201': 5,
      '503 OVERLOADED': 2,
      '502': 1,
      '500 INTERNAL': 1,
      timeout: 3,
      '409 X': 1,
    }),
    { '502': 1, '500 INTERNAL': 1 },
  )
})

test('chaos options: defaults per mode, every bad option named, --full needs room for the broker stop', () => {
  assert.equal(resolveChaosOptions({}).durationMs, 20_000)
  assert.equal(resolveChaosOptions({ full: true }).durationMs, 90_000)
  assert.throws(
    () => resolveChaosOptions({ rate: 0, merchants: 0 }),
    (error: Error & { code?: string }) =>
      error.code === 'CONFIG_INVALID' &&
      /chaos\.rate=0/.test(error.message) &&
      /chaos\.merchants=0/.test(error.message),
  )
  assert.throws(() => resolveChaosOptions({ full: true, durationMs: 30_000 }), /at least 80s/)
})

test('a scenario seed depends on the run seed and the scenario, not its place in the run', () => {
  assert.equal(scenarioSeed(7, 'network'), scenarioSeed(7, 'network'))
  assert.notEqual(scenarioSeed(7, 'network'), scenarioSeed(7, 'smoke'))
  assert.notEqual(scenarioSeed(7, 'network'), scenarioSeed(8, 'network'))
  assert.ok(scenarioSeed(2 ** 31 - 1, 'x') < 2 ** 31)
})
