import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { runCli } from '../helpers/cli.ts'
import { type FixtureRow, insertOutboxRows, type OutboxState, outboxRows } from '../helpers/outbox.ts'

test('outbox status, dlq list and dlq replay show and put back dead events', async (t) => {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-dlq-')), 'p.db')}`
  const handle = openDatabase({ url })
  t.after(() => handle.close())
  await migrateToLatest(handle.db, handle.dialect)
  const now = Date.now()
  const row = (id: string, state: OutboxState, type: string): FixtureRow => ({
    event_id: id,
    payment_id: `p-${id}`,
    merchant_id: 'm',
    sequence: 1,
    topic: 'payment.captured',
    event_type: type,
    payload: '{}',
    headers: '{}',
    created_at: now - 5000,
    state,
    attempts: state === 'DEAD' ? 20 : 0,
    lastError: 'MESSAGE_TOO_LARGE',
  })
  await insertOutboxRows(handle.db, [
    row('e-1', 'DEAD', 'PAYMENT_CAPTURED'),
    row('e-2', 'PENDING', 'PAYMENT_AUTHORIZED'),
    row('e-3', 'DEAD', 'PAYMENT_REFUNDED'),
  ])

  const status = await runCli(['outbox', 'status', '--json'], { DATABASE_URL: url })
  assert.equal(status.code, 0, status.stderr)
  const parsed = JSON.parse(status.stdout)
  assert.equal(parsed.pending, 1)
  assert.equal(parsed.dead, 2)
  assert.deepEqual(parsed.pendingByType, { PAYMENT_AUTHORIZED: 1 })
  assert.ok(parsed.oldestPendingAgeSeconds >= 5)

  const list = await runCli(['dlq', 'list'], { DATABASE_URL: url })
  assert.match(list.stdout, /^e-1 {2}PAYMENT_CAPTURED {2}payment p-e-1 {2}attempts 20 {2}MESSAGE_TOO_LARGE$/m)
  assert.match(list.stdout, /^e-3 /m)

  const one = await runCli(['dlq', 'replay', 'e-1'], { DATABASE_URL: url })
  assert.equal(one.code, 0, one.stderr)
  assert.match(one.stdout, /replayed 1 event$/m)
  const replayed = (await outboxRows(handle.db)).find((r) => r.eventId === 'e-1')
  assert.deepEqual([replayed?.state, replayed?.attempts, replayed?.lastError], ['PENDING', 0, null])

  const missing = await runCli(['dlq', 'replay', 'e-1'], { DATABASE_URL: url })
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /no dead event e-1/)
  const both = await runCli(['dlq', 'replay', 'e-3', '--all'], { DATABASE_URL: url })
  assert.equal(both.code, 2)
  assert.match(both.stderr, /give either an eventId or --all/)
  const all = await runCli(['dlq', 'replay', '--all'], { DATABASE_URL: url })
  assert.match(all.stdout, /replayed 1 event$/m)
  // The relay's dead events are all back in line; payment.dlq on the shared broker may still hold
  // other tests' worker dead letters, listed after them.
  const after = (await runCli(['dlq', 'list'], { DATABASE_URL: url })).stdout
  assert.doesNotMatch(after, /^e-\d+ /m)
})
