import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { idRun, OutboxStore } from '../../src/outbox/store.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { type FixtureRow, insertOutboxRows, outboxRows } from '../helpers/outbox.ts'

test('idRun gives the bounds only of ids that are every integer between them, once each', () => {
  assert.deepEqual(idRun([5]), { first: 5, last: 5 })
  assert.deepEqual(idRun([3, 1, 2]), { first: 1, last: 3 })
  assert.deepEqual(idRun([10, 11, 12, 13]), { first: 10, last: 13 })
  assert.equal(idRun([]), undefined)
  assert.equal(idRun([1, 2, 4]), undefined, 'a gap')
  assert.equal(idRun([1, 1, 2]), undefined, 'a duplicate that shortens the range')
  assert.equal(idRun([1, 3, 3]), undefined, 'a duplicate that fills the count')
})

for (const dialect of dialects) {
  test(`${dialect}: events are read and marked published by exactly the ids given, as runs or as lists`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open()
    await migrateToLatest(db, dialect)
    const row = (n: number): FixtureRow => ({
      event_id: `e-${n}`,
      payment_id: `p-${n}`,
      merchant_id: 'm',
      sequence: 1,
      topic: 'payment.authorized',
      event_type: 'PAYMENT_AUTHORIZED',
      payload: `{"n":${n}}`,
      headers: '{}',
      created_at: n,
      state: n === 6 ? 'RETRY' : 'PENDING',
    })
    await insertOutboxRows(
      db,
      Array.from({ length: 10 }, (_, i) => row(i + 1)),
    )
    const store = new OutboxStore(db)
    const ids = (await db.selectFrom('outbox_events').select('id').orderBy('id').execute()).map((r) =>
      Number(r.id),
    )
    const at = (...positions: number[]) => positions.map((p) => ids[p - 1] as number)

    assert.deepEqual(
      (await store.fetchEvents(at(3, 4, 5))).map((event) => event.eventId),
      ['e-3', 'e-4', 'e-5'],
    )
    assert.deepEqual(
      (await store.fetchEvents(at(2, 5, 9))).map((event) => event.eventId),
      ['e-2', 'e-5', 'e-9'],
    )

    const published = (...positions: number[]) =>
      store.markPublished(at(...positions).map((id, i) => ({ id, refused: positions[i] === 6 })))
    await published(3, 4, 5) // a run of pending rows
    await published(7, 9) // a list
    await published(6) // a refused row, from outbox_retries
    assert.deepEqual(
      (await outboxRows(db)).map((r) => `${r.eventId}:${r.state}`),
      [
        'e-1:PENDING',
        'e-2:PENDING',
        'e-3:PUBLISHED',
        'e-4:PUBLISHED',
        'e-5:PUBLISHED',
        'e-6:PUBLISHED',
        'e-7:PUBLISHED',
        'e-8:PENDING',
        'e-9:PUBLISHED',
        'e-10:PENDING',
      ],
    )
  })
}
