import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import type { Database } from '../../src/db/schema.ts'
import { LeaseManager } from '../../src/outbox/leases.ts'
import { OutboxRelay } from '../../src/outbox/relay.ts'
import { OutboxStore } from '../../src/outbox/store.ts'
import { quietLogger } from '../../support/logger.ts'

// Options are checked in the constructor, before the database is ever used.
const db = {} as Kysely<Database>

function relay(leaseMs: number, options: Partial<ConstructorParameters<typeof OutboxRelay>[0]> = {}) {
  return new OutboxRelay({
    store: new OutboxStore(db),
    publisher: { send: async () => {}, sendDead: async () => {} },
    leases: new LeaseManager({ db, leaseMs }),
    logger: quietLogger(),
    ...options,
  })
}

test('a lease shorter than three delivery timeouts is refused, naming both variables', () => {
  assert.throws(
    () => relay(5000, { deliveryTimeoutMs: 3000 }),
    (error: Error & { code?: string }) =>
      error.code === 'CONFIG_INVALID' &&
      /OUTBOX_LEASE_MS \(5000\) must be at least three times KAFKA_DELIVERY_TIMEOUT_MS \(3000\)/.test(
        error.message,
      ),
  )
  assert.ok(relay(9000, { deliveryTimeoutMs: 3000 }))
})

test('every bad relay option is named with its value', () => {
  assert.throws(
    () => relay(10_000, { batchSize: 0, pollIntervalMs: 1.5 }),
    (error: Error & { code?: string }) =>
      error.code === 'CONFIG_INVALID' &&
      error.message.includes('outboxRelay.batchSize=0: must be a whole number from 1 to 100000') &&
      error.message.includes('outboxRelay.pollIntervalMs=1.5: must be a whole number'),
  )
})
