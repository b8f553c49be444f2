import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { PayrailError } from '../../../src/domain/errors.ts'
import { defaultIsOutage } from '../../../src/workers/consumer/failure-policy.ts'
import { KeyScheduler, type Settlement, type Task } from '../../../src/workers/consumer/key-scheduler.ts'
import { type ConsumerObserver, noopObserver } from '../../../src/workers/consumer/observer.ts'
import type { RecordHandler } from '../../../src/workers/consumer/options.ts'
import type { ConsumedRecord } from '../../../src/workers/consumer/record.ts'
import { quietLogger } from '../../../support/logger.ts'
import { seededRandom } from '../../helpers/consumer.ts'
import { until } from '../../helpers/until.ts'

function record(key: string | null, offset: number, partition = 0): ConsumedRecord {
  return {
    topic: 't',
    partition,
    offset: BigInt(offset),
    timestamp: 0n,
    key,
    value: JSON.stringify({ key, offset }),
    headers: new Map(),
  }
}

const raw = { key: null, value: null, headers: [] }

function scheduler(
  handler: RecordHandler,
  options: { maxAttempts?: number; observer?: ConsumerObserver; deadLetter?: () => Promise<void> } = {},
) {
  const settled: { key: string | null; offset: number; settlement: Settlement }[] = []
  const dead: { offset: number; code: string; message: string; attempts: number }[] = []
  const d = new KeyScheduler<string>({
    handler,
    policy: {
      maxAttempts: options.maxAttempts ?? 3,
      retryDelayMs: 5,
      retryMaxDelayMs: 20,
      outageDelayMs: 5,
      outageMaxDelayMs: 20,
      isOutage: defaultIsOutage,
      random: Math.random,
    },
    observer: options.observer ?? noopObserver,
    logger: quietLogger(),
    deadLetter: async (task: Task<string>, code, message) => {
      await options.deadLetter?.()
      dead.push({ offset: Number(task.record.offset), code, message, attempts: task.attempts })
    },
    onSettled: (task, settlement) =>
      settled.push({ key: task.record.key, offset: Number(task.record.offset), settlement }),
  })
  return { d, settled, dead }
}

test('records of one key run one at a time in order; other keys run beside them', async (t) => {
  const random = seededRandom(t)
  const running = new Map<string, number>()
  const started: string[] = []
  let parallel = 0
  let maxParallel = 0
  const { d, settled } = scheduler(async (r) => {
    const key = r.key as string
    assert.equal(running.get(key) ?? 0, 0, `${key} runs twice at once`)
    running.set(key, 1)
    parallel++
    maxParallel = Math.max(maxParallel, parallel)
    started.push(`${key}:${r.offset}`)
    await sleep(random() * 5)
    running.set(key, 0)
    parallel--
  })
  for (let i = 0; i < 60; i++) d.submit(record(`k${i % 6}`, i), raw, 'p0')
  assert.equal(d.inFlight, 6, 'one per key')
  assert.equal(d.queued, 54)
  await until('all settled', () => settled.length === 60)
  assert.equal(maxParallel, 6)
  for (let k = 0; k < 6; k++) {
    const offsets = started.filter((s) => s.startsWith(`k${k}:`)).map((s) => Number(s.split(':')[1]))
    assert.deepEqual(
      offsets,
      [...offsets].sort((a, b) => a - b),
      `k${k} in offset order`,
    )
    assert.equal(offsets.length, 10)
  }
  assert.ok(settled.every((s) => s.settlement === 'finished'))
})

test('records without a key are not ordered', async () => {
  let parallel = 0
  let maxParallel = 0
  const { d, settled } = scheduler(async () => {
    parallel++
    maxParallel = Math.max(maxParallel, parallel)
    await sleep(5)
    parallel--
  })
  for (let i = 0; i < 10; i++) d.submit(record(null, i), raw, 'p0')
  await until('all settled', () => settled.length === 10)
  assert.equal(maxParallel, 10)
})

test('a failing record is retried without holding up other keys, then dead-lettered, and its key moves on', async () => {
  const calls = new Map<number, number>()
  const order: number[] = []
  const { d, settled, dead } = scheduler(
    async (r) => {
      const offset = Number(r.offset)
      calls.set(offset, (calls.get(offset) ?? 0) + 1)
      if (offset === 0) {
        // The other key keeps flowing while this one waits for its retries.
        await until('the other key to finish', () => settled.some((s) => s.key === 'b'), { timeoutMs: 2000 })
        throw new Error('cannot parse')
      }
      order.push(offset)
    },
    { maxAttempts: 3 },
  )
  d.submit(record('a', 0), raw, 'p0')
  d.submit(record('a', 1), raw, 'p0')
  d.submit(record('b', 2), raw, 'p0')
  await until('all settled', () => settled.length === 3)
  assert.equal(calls.get(0), 3)
  assert.deepEqual(dead, [{ offset: 0, code: 'INTERNAL', message: 'cannot parse', attempts: 3 }])
  assert.deepEqual(order, [2, 1], 'b first; a:1 only after a:0 was dead-lettered')
  assert.ok(
    settled.every((s) => s.settlement === 'finished'),
    'a dead letter is finished',
  )
})

test('an error the catalog marks not retryable is dead-lettered at its first failure', async () => {
  let calls = 0
  const { d, settled, dead } = scheduler(async () => {
    calls++
    throw new PayrailError('VALIDATION_FAILED', 'amount missing')
  })
  d.submit(record('a', 7), raw, 'p0')
  await until('settled', () => settled.length === 1)
  assert.equal(calls, 1)
  assert.deepEqual(dead, [{ offset: 7, code: 'VALIDATION_FAILED', message: 'amount missing', attempts: 1 }])
})

test('an outage spends no attempts and never dead-letters; the record goes through when it ends', async () => {
  let down = true
  let outageCalls = 0
  const retries: string[] = []
  const observer = { ...noopObserver, retry: (reason: string) => retries.push(reason) }
  const { d, settled, dead } = scheduler(
    async () => {
      if (down) {
        outageCalls++
        if (outageCalls >= 20) down = false
        throw new PayrailError('ACQUIRER_UNAVAILABLE', 'breaker open')
      }
    },
    { maxAttempts: 2, observer },
  )
  d.submit(record('a', 0), raw, 'p0')
  d.submit(record('a', 1), raw, 'p0')
  await until('settled', () => settled.length === 2)
  assert.equal(outageCalls, 20, 'far more tries than maxAttempts')
  assert.deepEqual(dead, [])
  assert.deepEqual(new Set(retries), new Set(['outage']))
  assert.deepEqual(
    settled.map((s) => [s.offset, s.settlement]),
    [
      [0, 'finished'],
      [1, 'finished'],
    ],
  )
})

test('a dead letter that cannot be sent is tried again; the key waits', async () => {
  let sendFailures = 0
  const { d, settled, dead } = scheduler(
    async () => {
      throw new PayrailError('NOT_FOUND', 'no such payment')
    },
    {
      deadLetter: async () => {
        if (sendFailures < 3) {
          sendFailures++
          throw new PayrailError('KAFKA_UNAVAILABLE', 'down')
        }
      },
    },
  )
  d.submit(record('a', 0), raw, 'p0')
  await until('settled', () => settled.length === 1)
  assert.equal(sendFailures, 3)
  assert.equal(dead.length, 1)
})

test('drain lets running and queued records finish but abandons those waiting for a retry, with their successors', async () => {
  const release = new Map<string, () => void>()
  const { d, settled } = scheduler(async (r) => {
    if (r.key === 'b' && r.offset === 0n) throw new Error('retry me') // waits for a retry
    await new Promise<void>((resolve) => release.set(`${r.key}:${r.offset}`, resolve))
  })
  d.submit(record('a', 0), raw, 'p0') // runs
  d.submit(record('a', 1), raw, 'p0') // queued behind a:0
  const b0 = d.submit(record('b', 0), raw, 'p0') // fails, then waits
  d.submit(record('b', 1), raw, 'p0') // queued behind b:0
  d.submit(record('c', 0), raw, 'p1') // another partition, not drained
  await until('a:0 and c:0 to run', () => release.has('a:0') && release.has('c:0'))
  await until('b:0 to wait for its retry', () => b0.state === 'waiting', { intervalMs: 1 })
  d.drain((task) => task.owner === 'p0')
  await until('b to be given up', () => settled.length === 2)
  assert.deepEqual(
    settled.map((s) => `${s.key}:${s.offset}:${s.settlement}`),
    ['b:0:abandoned', 'b:1:abandoned'],
    'b:1 must not run before b:0, which will be delivered again',
  )
  assert.equal(await d.whenIdle((task) => task.owner === 'p0', 20), false, 'a:0 runs, a:1 is queued')
  release.get('a:0')?.()
  await until('a:1 to run', () => release.has('a:1'))
  release.get('a:1')?.()
  assert.equal(await d.whenIdle((task) => task.owner === 'p0', 5000), true)
  assert.deepEqual(
    settled.slice(2).map((s) => `${s.key}:${s.offset}:${s.settlement}`),
    ['a:0:finished', 'a:1:finished'],
  )
  assert.equal(d.inFlight, 1, 'c:0 is untouched')
})

test('abort abandons queued records and signals running ones', async () => {
  const signals: AbortSignal[] = []
  const { d, settled } = scheduler(async (_r, signal) => {
    signals.push(signal)
    await sleep(60_000, undefined, { signal })
  })
  d.submit(record('a', 0), raw, 'p0')
  d.submit(record('a', 1), raw, 'p0')
  d.submit(record('b', 2), raw, 'p1')
  await until('two to run', () => signals.length === 2)
  assert.equal(
    d.abort((task) => task.owner === 'p0'),
    1,
  )
  assert.equal(await d.whenIdle((task) => task.owner === 'p0', 5000), true)
  assert.deepEqual(settled.map((s) => `${s.key}:${s.offset}:${s.settlement}`).sort(), [
    'a:0:abandoned',
    'a:1:abandoned',
  ])
  assert.ok(signals[0]?.aborted)
  assert.ok(!signals[1]?.aborted, 'the other partition goes on')
  d.abort(() => true)
})

test('a handler that completes after its abort still counts as finished', async () => {
  const { d, settled } = scheduler(async (_r, signal) => {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    return 'duplicate'
  })
  d.submit(record('a', 0), raw, 'p0')
  d.abort(() => true)
  await until('settled', () => settled.length === 1)
  assert.equal(settled[0]?.settlement, 'finished')
})

test('the handler may name the outcome; calls and outcomes are observed', async () => {
  const processed: string[] = []
  const handled: string[] = []
  const observer: ConsumerObserver = {
    ...noopObserver,
    processed: (outcome) => processed.push(outcome),
    handled: (result) => handled.push(result),
  }
  let n = 0
  const { d, settled } = scheduler(
    async () => {
      n++
      if (n === 1) return 'duplicate'
      if (n === 2) throw new Error('once')
      return undefined
    },
    { observer },
  )
  d.submit(record('a', 0), raw, 'p0')
  d.submit(record('a', 1), raw, 'p0')
  await until('settled', () => settled.length === 2)
  assert.deepEqual(processed, ['duplicate', 'ok'])
  assert.deepEqual(handled, ['ok', 'error', 'ok'])
})
