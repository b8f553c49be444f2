import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyQueues } from '../../../src/workers/consumer/key-queues.ts'

test('the first item of an idle key runs at once, later ones queue in order', () => {
  const queues = new KeyQueues<string>()
  assert.equal(queues.offer('a', 'a1'), true)
  assert.equal(queues.offer('b', 'b1'), true, 'another key is not held up')
  assert.equal(queues.offer('a', 'a2'), false)
  assert.equal(queues.offer('a', 'a3'), false)
  assert.equal(queues.queued, 2)
  assert.equal(queues.busy, 2)
  assert.equal(queues.release('a'), 'a2')
  assert.equal(queues.release('a'), 'a3')
  assert.equal(queues.queued, 0)
  assert.ok(queues.isBusy('a'), 'a3 runs')
  assert.equal(queues.release('a'), undefined)
  assert.ok(!queues.isBusy('a'))
  assert.equal(queues.offer('a', 'a4'), true, 'idle again: runs at once')
})

test('remove takes out matching waiting items and keeps the others in order', () => {
  const queues = new KeyQueues<{ key: string; partition: number; n: number }>()
  const item = (key: string, partition: number, n: number) => ({ key, partition, n })
  queues.offer('a', item('a', 0, 1))
  queues.offer('a', item('a', 0, 2))
  queues.offer('a', item('a', 1, 3))
  queues.offer('a', item('a', 0, 4))
  queues.offer('b', item('b', 0, 1))
  queues.offer('b', item('b', 0, 2))
  const removed = queues.remove((i) => i.partition === 0)
  assert.deepEqual(
    removed.map((i) => `${i.key}${i.n}`),
    ['a2', 'a4', 'b2'],
  )
  assert.equal(queues.queued, 1)
  assert.ok(queues.isBusy('b'), 'b1 still runs')
  assert.equal(queues.release('a')?.n, 3)
  assert.equal(queues.release('a'), undefined)
  assert.equal(queues.release('b'), undefined)
  assert.equal(queues.busy, 0)
})
