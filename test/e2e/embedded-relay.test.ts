import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePort, startAcquirer, startRole } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { outboxStateCounts } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'

for (const dialect of dialects) {
  test(`${dialect}: payrail api with API_EMBEDDED_RELAY publishes its commits without waiting for a poll, and gives its leases back on SIGTERM`, async (t) => {
    const brokers = await requireService(t, 'kafka')
    if (brokers === undefined) return
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    const { key } = await issueApiKey(db, 'm-embedded')
    const acquirer = await startAcquirer()
    t.after(() => acquirer.stop())
    const port = await freePort()
    const api = await startRole('api', port, {
      DATABASE_URL: database.url,
      KAFKA_BROKERS: brokers,
      API_PORT: String(port),
      ACQUIRER_URL: acquirer.url,
      API_EMBEDDED_RELAY: 'true',
      // Only the hand-off (or, on PostgreSQL, a notification) can publish within the test.
      OUTBOX_POLL_INTERVAL_MS: '60000',
    })
    database.beforeClose(async () => {
      await api.stop('SIGKILL')
    })
    const owners = async () =>
      (await db.selectFrom('outbox_leases').select('owner').where('owner', 'is not', null).execute()).length
    const deadline = Date.now() + 15_000
    while ((await owners()) < 64) {
      assert.ok(Date.now() < deadline, `the embedded relay took no leases:\n${api.output()}`)
      await sleep(50)
    }
    const ready = await fetch(`${api.url}/readyz`)
    assert.equal(ready.status, 200)
    const body = (await ready.json()) as { checks: Record<string, unknown> }
    assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'kafka'])
    await sleep(300) // the relay's first poll, at start, is over

    for (let n = 0; n < 5; n++) {
      const response = await fetch(`${api.url}/api/payments/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1000 + n, currency: 'USD', idempotencyKey: `embedded-${n}` }),
      })
      assert.equal(response.status, 201, await response.text())
    }
    const published = async () => (await outboxStateCounts(db)).PUBLISHED
    const until = Date.now() + 10_000
    while ((await published()) < 5) {
      assert.ok(Date.now() < until, `not published within 10 s:\n${api.output()}`)
      await sleep(50)
    }

    assert.equal(await api.stop('SIGTERM'), 0)
    assert.equal(await owners(), 0, 'leases given back on a clean stop')
  })
}
