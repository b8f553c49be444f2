import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePort, setAcquirerMode, startAcquirer, startRole } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

for (const dialect of dialects) {
  test(`${dialect}: the api killed between the acquirer's approval and its commit loses no approval`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const db = database.open(2).db
    await migrateToLatest(db, dialect)
    const { key } = await issueApiKey(db, 'shop')
    const apiEnv = (port: number) => ({
      DATABASE_URL: database.url,
      API_PORT: String(port),
      ACQUIRER_URL: acquirer.url,
      // Above the slow mode's 1.5 s, so the call outlives the kill; recovery waits past it.
      ACQUIRER_AUTH_TIMEOUT_MS: '2500',
      AUTH_RECOVERY_AFTER_MS: '3000',
      AUTH_RECOVERY_INTERVAL_MS: '200',
    })
    const firstPort = await freePort()
    const api = await startRole('api', firstPort, apiEnv(firstPort))
    t.after(() => api.stop('SIGKILL'))
    await setAcquirerMode(acquirer.url, 'slow', 1500)
    t.after(() => setAcquirerMode(acquirer.url, 'normal', 0))

    const request = {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ merchantId: 'shop', amount: 4200, currency: 'KRW', idempotencyKey: 'crash-1' }),
    }
    const lost = fetch(`${api.url}/api/payments/authorize`, request).then(
      () => 'answered',
      () => 'connection lost',
    )

    // The attempt is committed and the acquirer is working on it: now the process dies.
    const attempt = await until('the attempt row', () =>
      db
        .selectFrom('authorization_attempts')
        .selectAll()
        .where('idempotency_key', '=', 'crash-1')
        .executeTakeFirst(),
    )
    assert.equal(attempt.state, 'PENDING')
    // The attempt commits just before the call goes out: wait until the acquirer is working on it
    // (its lookup then waits for the slow answer instead of saying 404).
    await until('the acquirer to receive the authorize', async () => {
      const lookup = await fetch(`${acquirer.url}/v1/authorizations/${attempt.payment_id}`, {
        signal: AbortSignal.timeout(100),
      }).then(
        (response) => response.status,
        () => 'in progress' as const,
      )
      return lookup === 'in progress' ? true : undefined
    })
    await api.stop('SIGKILL')
    assert.equal(await lost, 'connection lost')

    // The acquirer approves anyway; nobody has recorded it.
    const lookup = await fetch(`${acquirer.url}/v1/authorizations/${attempt.payment_id}`)
    const approval = (await lookup.json()) as { approved: boolean }
    assert.equal(approval.approved, true)
    assert.equal(await db.selectFrom('payments').select('id').executeTakeFirst(), undefined)

    const secondPort = await freePort()
    const restarted = await startRole('api', secondPort, apiEnv(secondPort))
    t.after(() => restarted.stop())
    const payment = await until('the recovered payment', () =>
      db.selectFrom('payments').selectAll().where('id', '=', attempt.payment_id).executeTakeFirst(),
    )
    assert.equal(payment.status, 'AUTHORIZED')
    assert.equal(payment.amount, 4200)

    const retry = await fetch(`${restarted.url}/api/payments/authorize`, request)
    assert.equal(retry.status, 201)
    assert.equal(retry.headers.get('idempotent-replayed'), 'true')
    const body = (await retry.json()) as { paymentId: string; status: string }
    assert.equal(body.paymentId, attempt.payment_id)
    assert.equal(body.status, 'AUTHORIZED')
    const events = await db
      .selectFrom('outbox_events')
      .select('event_type')
      .where('payment_id', '=', attempt.payment_id)
      .execute()
    assert.deepEqual(
      events.map((e) => e.event_type),
      ['PAYMENT_AUTHORIZED'],
    )
    assert.match(restarted.output(), /resolved stale authorize attempts/)
  })
}
