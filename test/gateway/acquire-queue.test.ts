import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { AcquireQueue } from '../../src/gateway/acquire-queue.ts'

/** Slots as plain numbers: `free` of them, handed out in order. */
function slots(free: number) {
  const state = { free, next: 1 }
  const queue = new AcquireQueue<number, undefined>({ timeoutMs: 50, maxWaiters: 2 }, () => {
    if (state.free === 0) return undefined
    state.free--
    return state.next++
  })
  const release = () => {
    state.free++
    queue.drain()
  }
  return { queue, release }
}

test('a free slot is handed out at once, without queueing', async () => {
  const { queue } = slots(1)
  assert.equal(await queue.acquire(undefined), 1)
  assert.equal(queue.waiting, 0)
})

test('waiters get freed slots first come, first served', async () => {
  const { queue, release } = slots(1)
  await queue.acquire(undefined)
  const order: number[] = []
  const first = queue.acquire(undefined).then((slot) => order.push(slot))
  const second = queue.acquire(undefined).then((slot) => order.push(slot))
  assert.equal(queue.waiting, 2)
  release()
  await first
  release()
  await second
  assert.deepEqual(order, [2, 3])
  assert.equal(queue.waiting, 0)
})

test('a waiter is refused with UPSTREAM_ACQUIRE_TIMEOUT when no slot frees in time, and leaves the queue', async () => {
  const { queue } = slots(0)
  await assert.rejects(queue.acquire(undefined), (error) => hasErrorCode(error, 'UPSTREAM_ACQUIRE_TIMEOUT'))
  assert.equal(queue.waiting, 0)
})

test('beyond maxWaiters a request is refused at once with UPSTREAM_QUEUE_FULL', async () => {
  const { queue, release } = slots(0)
  const waiting = [queue.acquire(undefined), queue.acquire(undefined)]
  await assert.rejects(queue.acquire(undefined), (error) => hasErrorCode(error, 'UPSTREAM_QUEUE_FULL'))
  assert.equal(queue.waiting, 2)
  release()
  release()
  assert.deepEqual(await Promise.all(waiting), [1, 2])
})

test('a newcomer does not overtake waiters even when a slot is free for a moment', async () => {
  const { queue, release } = slots(0)
  const waiter = queue.acquire(undefined)
  // A slot appears without a drain (as if released elsewhere): the newcomer must queue behind.
  const late = queue.acquire(undefined)
  assert.equal(queue.waiting, 2)
  release()
  release()
  assert.deepEqual(await Promise.all([waiter, late]), [1, 2])
})

test('a caller that gives up leaves the queue with its abort reason', async () => {
  const { queue } = slots(0)
  const controller = new AbortController()
  const waiting = queue.acquire(undefined, () => controller.signal)
  controller.abort(new Error('client went away'))
  await assert.rejects(waiting, /client went away/)
  assert.equal(queue.waiting, 0)
})

test('rejectAll fails every waiter with the given error', async () => {
  const { queue } = slots(0)
  const waiting = [queue.acquire(undefined), queue.acquire(undefined)]
  queue.rejectAll(() => new Error('gone'))
  for (const promise of waiting) await assert.rejects(promise, /gone/)
  assert.equal(queue.waiting, 0)
})

test('bad options stop start-up with CONFIG_INVALID naming the field', () => {
  assert.throws(
    () => new AcquireQueue({ timeoutMs: 0 }, () => undefined),
    (error) =>
      hasErrorCode(error, 'CONFIG_INVALID') && /acquireQueue\.timeoutMs=0/.test((error as Error).message),
  )
  assert.throws(
    () => new AcquireQueue({ maxWaiters: -1 }, () => undefined),
    (error) => hasErrorCode(error, 'CONFIG_INVALID') && /maxWaiters/.test((error as Error).message),
  )
})
