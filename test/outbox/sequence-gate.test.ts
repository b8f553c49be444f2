import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type FirstPendingLookup, SequenceGate } from '../../src/outbox/sequence-gate.ts'
import type { PendingEvent } from '../../src/outbox/store.ts'

/** An event of `paymentId` with its `sequence` and outbox row id `id`. */
function event(paymentId: string, sequence: number, id: number): PendingEvent {
  return {
    id,
    eventId: `${paymentId}-${sequence}`,
    paymentId,
    sequence,
    topic: 'payment.authorized',
    payload: '{}',
    headers: {},
    createdAt: 0,
    bucket: 0,
    attempts: 0,
    refused: false,
  }
}

/** A database answering `pending` (payment → lowest pending sequence), recording what it was asked. */
function database(pending: Record<string, number> = {}): FirstPendingLookup & { asked: string[][] } {
  const asked: string[][] = []
  const lookup = async (paymentIds: string[]) => {
    asked.push([...paymentIds].sort())
    const answer = new Map<string, number>()
    for (const id of paymentIds) if (pending[id] !== undefined) answer.set(id, pending[id])
    return answer
  }
  return Object.assign(lookup, { asked })
}

const names = (events: PendingEvent[]) => events.map((e) => `${e.paymentId}-${e.sequence}`)

test('a payment’s first events go out without asking the database', async () => {
  const gate = new SequenceGate()
  const db = database()
  const out = await gate.admit([event('a', 1, 1), event('a', 2, 2), event('b', 1, 3)], db)
  assert.deepEqual(names(out), ['a-1', 'a-2', 'b-1'])
  assert.deepEqual(db.asked, [])
})

test('the run that follows the last event taken goes out without asking, across batches', async () => {
  const gate = new SequenceGate()
  const db = database()
  await gate.admit([event('a', 1, 1), event('a', 2, 2)], db)
  const out = await gate.admit([event('a', 3, 7), event('a', 4, 9)], db)
  assert.deepEqual(names(out), ['a-3', 'a-4'])
  assert.deepEqual(db.asked, [])
})

test('a gap in the candidates ends the payment’s run: nothing overtakes an event not yet read', async () => {
  const gate = new SequenceGate()
  const db = database({ a: 4 })
  assert.deepEqual(names(await gate.admit([event('a', 1, 1), event('a', 2, 2), event('a', 4, 4)], db)), [
    'a-1',
    'a-2',
  ])
  // 4 does not follow the 2 taken: the database is asked, and says 3 is pending below it.
  const later = database({ a: 3 })
  assert.deepEqual(names(await gate.admit([event('a', 4, 4)], later)), [])
  assert.deepEqual(later.asked, [['a']])
  assert.deepEqual(names(await gate.admit([event('a', 3, 3), event('a', 4, 4)], later)), ['a-3', 'a-4'])
})

test('an event committed below the cursor is not overtaken: a payment first met at sequence > 1 is asked about', async () => {
  const gate = new SequenceGate()
  // The poll of a later batch meets b-2; b-1 committed late, below the cursor, and is still pending.
  const db = database({ b: 1 })
  assert.deepEqual(names(await gate.admit([event('b', 2, 20)], db)), [])
  assert.deepEqual(db.asked, [['b']])
  // Once b-1 is published, b-2 is the lowest pending and goes out.
  assert.deepEqual(names(await gate.admit([event('b', 2, 20)], database({ b: 2 }))), ['b-2'])
})

test('a payment asked about with nothing pending sends none of its candidates (published meanwhile)', async () => {
  const gate = new SequenceGate()
  const db = database({})
  assert.deepEqual(names(await gate.admit([event('c', 5, 50), event('c', 6, 51)], db)), [])
  assert.deepEqual(db.asked, [['c']])
})

test('a first event seen again after being taken is asked about, not sent twice', async () => {
  const gate = new SequenceGate()
  await gate.admit([event('a', 1, 1)], database())
  const db = database({})
  assert.deepEqual(names(await gate.admit([event('a', 1, 1)], db)), [])
  assert.deepEqual(db.asked, [['a']])
})

test('forget() makes every payment’s next event ask the database', async () => {
  const gate = new SequenceGate()
  await gate.admit([event('a', 1, 1), event('a', 2, 2)], database())
  gate.forget()
  // After a failure a failed batch goes out again: a-1 is pending once more.
  const db = database({ a: 1 })
  assert.deepEqual(names(await gate.admit([event('a', 3, 3)], db)), [])
  assert.deepEqual(db.asked, [['a']])
  assert.deepEqual(names(await gate.admit([event('a', 1, 1), event('a', 2, 2)], database())), ['a-1', 'a-2'])
})

test('beyond its memory the gate forgets the payment first taken, and keeps a payment updated since', async () => {
  const gate = new SequenceGate(2)
  const none = database()
  await gate.admit([event('a', 1, 1)], none)
  await gate.admit([event('b', 1, 2)], none)
  await gate.admit([event('a', 2, 3)], none) // an update: a keeps its place, first
  await gate.admit([event('c', 1, 4)], none) // a third payment: a, the first taken, is forgotten
  assert.deepEqual(none.asked, [])
  const db = database({ a: 3, b: 2, c: 2 })
  const out = await gate.admit([event('a', 3, 5), event('b', 2, 6), event('c', 2, 7)], db)
  assert.deepEqual(names(out), ['a-3', 'b-2', 'c-2'])
  assert.deepEqual(db.asked, [['a']])
})

test('a candidate that repeats an id counts once', async () => {
  const gate = new SequenceGate()
  const handedOff = event('a', 1, 1)
  const polled = event('a', 1, 1)
  assert.deepEqual(names(await gate.admit([handedOff, polled, event('a', 2, 2)], database())), ['a-1', 'a-2'])
})

test('each payment’s events come out in sequence order, and payments in id order', async () => {
  const gate = new SequenceGate()
  // Retries and handed-off records come first in the candidates, out of id order.
  const out = await gate.admit(
    [event('b', 2, 9), event('a', 1, 3), event('b', 1, 4), event('a', 2, 8)],
    database(),
  )
  assert.deepEqual(names(out), ['a-1', 'b-1', 'a-2', 'b-2'])
  for (const payment of ['a', 'b']) {
    const sequences = out.filter((e) => e.paymentId === payment).map((e) => e.sequence)
    assert.deepEqual(
      sequences,
      [...sequences].sort((x, y) => x - y),
    )
  }
})
