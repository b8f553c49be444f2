import assert from 'node:assert/strict'
import { test } from 'node:test'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePort, startAcquirer, startRole } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { outboxStateCounts } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

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
    await until('the embedded relay leased every bucket', async () => (await owners()) === 64, {
      timeoutMs: 15_000,
    }).catch((error: Error) => assert.fail(`${error.message}:\n${api.output()}`))
    const ready = await fetch(`${api.url}/readyz`)
    assert.equal(ready.status, 200)
    const body = (await ready.json()) as { checks: Record<string, unknown> }
    assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'kafka'])
    // Rows committed before the first poll ends would be found without the hand-off.
    await until('the relay’s first poll, at start, ended', async () => {
      const metrics = await (await fetch(`${api.url}/metrics`)).text()
      const scans = /^payrail_outbox_scans_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]
      return scans !== undefined && Number(scans) >= 1
    })

    for (let n = 0; n < 5; n++) {
      const response = await fetch(`${api.url}/api/payments/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1000 + n, currency: 'USD', idempotencyKey: `embedded-${n}` }),
      })
      assert.equal(response.status, 201, await response.text())
    }
    const published = async () => (await outboxStateCounts(db)).PUBLISHED
    await until('the five payments published', async () => (await published()) >= 5, {
      timeoutMs: 10_000,
    }).catch((error: Error) => assert.fail(`${error.message}:\n${api.output()}`))

    assert.equal(await api.stop('SIGTERM'), 0)
    assert.equal(await owners(), 0, 'leases given back on a clean stop')
  })
}
