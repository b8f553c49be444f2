import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { sql } from 'kysely'
import { OutboxStore } from '../../src/outbox/store.ts'
import { startAcquirer } from '../../support/processes.ts'
import { ADMIN_TOKEN, type HttpResult, markCaptured, startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

const authorizeBody = (key: string, amount = 15_000, currency = 'KRW') => ({
  merchantId: 'merchant-a',
  amount,
  currency,
  idempotencyKey: key,
})

for (const dialect of dialects) {
  describe(dialect, () => {
    test('authorize answers 201 with the seed fields and writes payment, outbox event and timeline together', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const response = await api.call('POST', '/api/payments/authorize', { body: authorizeBody('order-1') })
      assert.equal(response.status, 201)
      const payment = response.body
      assert.match(payment.paymentId, /^[0-9a-f-]{36}$/)
      assert.equal(payment.status, 'AUTHORIZED')
      assert.equal(payment.amount, 15_000)
      assert.equal(payment.currency, 'KRW')
      assert.equal(payment.capturedAmount, 0)
      assert.equal(payment.refundedAmount, 0)
      assert.deepEqual(payment.ledgerEntries, [])
      assert.match(payment.message, /^approved/)
      assert.ok(!Number.isNaN(Date.parse(payment.createdAt)))
      assert.equal(response.headers.get('idempotent-replayed'), null)

      const outbox = await api.db.selectFrom('outbox_events').selectAll().execute()
      assert.equal(outbox.length, 1)
      const row = outbox[0]
      assert.ok(row !== undefined)
      assert.equal(row.topic, 'payment.authorized')
      assert.equal(row.payment_id, payment.paymentId)
      assert.deepEqual(
        await api.db.selectFrom('outbox_pending').select(['id', 'bucket']).execute(),
        [{ id: row.id, bucket: row.bucket }],
        'queued for the relay',
      )
      const envelope = JSON.parse(row.payload)
      assert.deepEqual(Object.keys(envelope).sort(), [
        'data',
        'eventId',
        'merchantId',
        'occurredAt',
        'paymentId',
        'sequence',
        'type',
      ])
      assert.equal(envelope.type, 'PAYMENT_AUTHORIZED')
      assert.equal(envelope.sequence, 1)
      assert.equal(envelope.merchantId, 'merchant-a')
      assert.deepEqual(envelope.data, {
        amount: 15_000,
        currency: 'KRW',
        authorizationCode: envelope.data.authorizationCode,
      })
      const headers = JSON.parse(row.headers)
      assert.equal(headers['event-id'], envelope.eventId)
      assert.equal(headers['event-type'], 'PAYMENT_AUTHORIZED')
      assert.match(headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      assert.deepEqual(
        api.handedOff.map((record) => [record.id, record.eventId, record.bucket, record.payload]),
        [[Number(row.id), envelope.eventId, row.bucket, row.payload]],
        'the committed row is handed off after commit, with its id (the relay marks it published by it)',
      )
    })

    test('a repeat with the same key replays the first answer; another body with that key is refused', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const first = await api.call('POST', '/api/payments/authorize', { body: authorizeBody('order-2') })
      const again = await api.call('POST', '/api/payments/authorize', { body: authorizeBody('order-2') })
      assert.equal(again.status, 201)
      assert.equal(again.headers.get('idempotent-replayed'), 'true')
      assert.deepEqual(again.body, first.body)
      // The header form of the key is the same key.
      const viaHeader = await api.call('POST', '/api/payments/authorize', {
        body: { merchantId: 'merchant-a', amount: 15_000, currency: 'KRW' },
        headers: { 'idempotency-key': 'order-2' },
      })
      assert.equal(viaHeader.status, 201)
      assert.equal(viaHeader.body.paymentId, first.body.paymentId)

      const other = await api.call('POST', '/api/payments/authorize', {
        body: authorizeBody('order-2', 99_000),
      })
      assert.equal(other.status, 422)
      assert.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED')
      assert.equal((await api.counts()).payments, 1)
    })

    test('50 simultaneous identical authorizes create one payment; the rest replay it or answer 409', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const responses = await Promise.all(
        Array.from({ length: 50 }, () =>
          api.call('POST', '/api/payments/authorize', { body: authorizeBody('race-1') }),
        ),
      )
      const statuses = responses.map((r) => r.status)
      assert.ok(
        statuses.every((s) => s === 201 || s === 409),
        `unexpected statuses ${statuses.join(',')}`,
      )
      const fresh = responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null)
      assert.equal(fresh.length, 1, 'exactly one request did the work')
      const ids = new Set(responses.filter((r) => r.status === 201).map((r) => r.body.paymentId))
      assert.equal(ids.size, 1)
      for (const conflict of responses.filter((r) => r.status === 409)) {
        assert.equal(conflict.body.code, 'REQUEST_IN_PROGRESS')
        assert.equal(conflict.headers.get('retry-after'), '1')
      }
      const counts = await api.counts()
      assert.equal(counts.payments, 1)
      assert.equal(counts.outbox, 1)
      assert.equal(counts.attempts, 1)
    })

    test('capture: partial allowed, more than authorized 422, a second capture 409, concurrent captures one wins', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const { paymentId } = (
        await api.call('POST', '/api/payments/authorize', { body: authorizeBody('cap-1', 10_000) })
      ).body

      const tooMuch = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 10_001 },
      })
      assert.equal(tooMuch.status, 422)
      assert.equal(tooMuch.body.code, 'CAPTURE_EXCEEDS_AUTHORIZED')
      assert.equal(tooMuch.body.paymentId, paymentId)

      const attempts = await Promise.all(
        Array.from({ length: 8 }, () =>
          api.call('POST', `/api/payments/capture/${paymentId}`, {
            body: { merchantId: 'merchant-a', amount: 8000 },
          }),
        ),
      )
      const accepted = attempts.filter((r) => r.status === 202)
      assert.equal(accepted.length, 1, `statuses ${attempts.map((r) => r.status).join(',')}`)
      assert.equal(accepted[0]?.body.status, 'CAPTURE_REQUESTED')
      for (const refused of attempts.filter((r) => r.status !== 202)) {
        assert.equal(refused.status, 409)
        assert.equal(refused.body.code, 'CAPTURE_CONFLICT')
      }
      const events = await api.db
        .selectFrom('outbox_events')
        .select(['event_type', 'sequence', 'payload'])
        .orderBy('sequence')
        .execute()
      assert.deepEqual(
        events.map((e) => [e.event_type, e.sequence]),
        [
          ['PAYMENT_AUTHORIZED', 1],
          ['PAYMENT_CAPTURE_REQUESTED', 2],
        ],
      )
      assert.deepEqual(JSON.parse(events[1]?.payload ?? '{}').data, { amount: 8000, currency: 'KRW' })
    })

    test('capture with an idempotency key replays; refund validates state and amounts', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const { paymentId } = (
        await api.call('POST', '/api/payments/authorize', { body: authorizeBody('ref-1', 10_000) })
      ).body
      const early = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', reason: 'early' },
      })
      assert.equal(early.status, 409)
      assert.equal(early.body.code, 'REFUND_CONFLICT')

      const capture = { merchantId: 'merchant-a', idempotencyKey: 'cap-key' }
      const first = await api.call('POST', `/api/payments/capture/${paymentId}`, { body: capture })
      const replay = await api.call('POST', `/api/payments/capture/${paymentId}`, { body: capture })
      assert.equal(first.status, 202)
      assert.equal(replay.status, 202)
      assert.equal(replay.headers.get('idempotent-replayed'), 'true')
      assert.deepEqual(replay.body, first.body)

      await markCaptured(api.db, paymentId, 10_000)
      const over = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 10_001, reason: 'too much' },
      })
      assert.equal(over.status, 422)
      assert.equal(over.body.code, 'REFUND_EXCEEDS_CAPTURED')
      const partial = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 4000, reason: 'damaged' },
      })
      assert.equal(partial.status, 202)
      assert.equal(partial.body.status, 'REFUND_REQUESTED')
      const second = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 1000, reason: 'again' },
      })
      assert.equal(second.status, 409, 'one refund at a time')
      assert.equal(second.body.code, 'REFUND_CONFLICT')

      const events = await api.db
        .selectFrom('outbox_events')
        .select(['event_type', 'sequence', 'payload'])
        .orderBy('sequence')
        .execute()
      assert.deepEqual(
        events.map((e) => e.event_type),
        ['PAYMENT_AUTHORIZED', 'PAYMENT_CAPTURE_REQUESTED', 'PAYMENT_REFUND_REQUESTED'],
      )
      assert.deepEqual(JSON.parse(events[2]?.payload ?? '{}').data, {
        amount: 4000,
        currency: 'KRW',
        reason: 'damaged',
      })
    })

    test('a merchant never sees or changes another merchant’s payment', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const { paymentId } = (
        await api.call('POST', '/api/payments/authorize', { body: authorizeBody('iso-1') })
      ).body
      const b = api.keys.b
      const read = await api.call('GET', `/api/payments/${paymentId}`, { key: b })
      assert.equal(read.status, 404)
      assert.equal(read.body.code, 'NOT_FOUND')
      const capture = await api.call('POST', `/api/payments/capture/${paymentId}`, { key: b, body: {} })
      assert.equal(capture.status, 404)
      const refund = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        key: b,
        body: { reason: 'x' },
      })
      assert.equal(refund.status, 404)
      const list = await api.call('GET', '/api/payments', { key: b })
      assert.deepEqual(list.body.items, [])
      const spoof = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        key: b,
        body: { merchantId: 'merchant-a' },
      })
      assert.equal(spoof.status, 403)
      assert.equal(spoof.body.code, 'MERCHANT_MISMATCH')
      // The same idempotency key belongs to each merchant separately.
      const sameKey = await api.call('POST', '/api/payments/authorize', {
        key: b,
        body: { merchantId: 'merchant-b', amount: 15_000, currency: 'KRW', idempotencyKey: 'iso-1' },
      })
      assert.equal(sameKey.status, 201)
      assert.notEqual(sameKey.body.paymentId, paymentId)
      const own = await api.call('GET', `/api/payments/${paymentId}`)
      assert.equal(own.body.status, 'AUTHORIZED')
    })

    test('a read shows the ledger entries and the event timeline', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const { paymentId } = (
        await api.call('POST', '/api/payments/authorize', { body: authorizeBody('read-1', 5000) })
      ).body
      await api.call('POST', `/api/payments/capture/${paymentId}`, { body: {} })
      // The ledger worker's row for the settled capture.
      await markCaptured(api.db, paymentId, 5000)
      await api.db
        .insertInto('ledger_entries')
        .values({
          id: 'l-1',
          payment_id: paymentId,
          event_id: 'e-1',
          debit_account: 'acquirer_receivable',
          credit_account: 'merchant_payable',
          amount: 5000,
          created_at: Date.now(),
        })
        .execute()
      const read = await api.call('GET', `/api/payments/${paymentId}`)
      assert.equal(read.status, 200)
      const entries = [
        { debitAccount: 'acquirer_receivable', creditAccount: 'merchant_payable', amount: 5000 },
      ]
      assert.deepEqual(read.body.ledgerEntries, entries)
      assert.deepEqual(
        read.body.events.map((e: { type: string; sequence: number }) => [e.type, e.sequence]),
        [
          ['PAYMENT_AUTHORIZED', 1],
          ['PAYMENT_CAPTURE_REQUESTED', 2],
        ],
      )
      const refund = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { amount: 100, reason: 'r' },
      })
      assert.equal(refund.status, 202)
      assert.deepEqual(refund.body.ledgerEntries, entries, 'a change answers with the ledger as it stands')
    })

    test('the list is cursor-paged newest first, filters by status and time, and uses an index', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const ids: string[] = []
      for (let i = 0; i < 23; i++) {
        const response = await api.call('POST', '/api/payments/authorize', {
          body: authorizeBody(`list-${i}`, 1000 + i),
        })
        ids.push(response.body.paymentId)
      }
      await api.call('POST', `/api/payments/capture/${ids[3]}`, { body: {} })
      await api.call('POST', `/api/payments/authorize`, {
        key: api.keys.b,
        body: { amount: 1, currency: 'USD', idempotencyKey: 'b' },
      })

      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const query: string = cursor === null ? '?limit=10' : `?limit=10&cursor=${cursor}`
        const page: HttpResult = await api.call('GET', `/api/payments${query}`)
        assert.equal(page.status, 200)
        seen.push(...page.body.items.map((p: { paymentId: string }) => p.paymentId))
        cursor = page.body.nextCursor
        pages++
      } while (cursor !== null)
      assert.equal(pages, 3)
      assert.deepEqual(seen, [...ids].reverse(), 'every payment once, newest first')

      const captured = await api.call('GET', '/api/payments?status=CAPTURE_REQUESTED')
      assert.deepEqual(
        captured.body.items.map((p: { paymentId: string }) => p.paymentId),
        [ids[3]],
      )
      const future = new Date(Date.now() + 60_000).toISOString()
      assert.deepEqual((await api.call('GET', `/api/payments?from=${future}`)).body.items, [])
      assert.equal((await api.call('GET', `/api/payments?to=${future}&limit=100`)).body.items.length, 23)

      const badCursor = await api.call('GET', '/api/payments?cursor=bm9wZQ')
      assert.equal(badCursor.status, 400)
      assert.equal(badCursor.body.code, 'VALIDATION_FAILED')

      // The query plan uses the (merchant_id, created_at, id) index rather than scanning the table.
      const plan = await explainList(api.db, dialect)
      assert.match(plan, /payments_merchant_(status_)?created/, plan)
    })
  })
}

async function explainList(
  db: import('kysely').Kysely<import('../../src/db/schema.ts').Database>,
  dialect: string,
) {
  const list = sql`select * from payments where merchant_id = 'merchant-a' order by created_at desc, id desc limit 21`
  if (dialect === 'sqlite') {
    const rows = await sql<{ detail: string }>`explain query plan ${list}`.execute(db)
    return rows.rows.map((r) => r.detail).join('\n')
  }
  if (dialect === 'mysql') {
    const rows = await sql<{ key: string | null }>`explain ${list}`.execute(db)
    return rows.rows.map((r) => String(r.key)).join('\n')
  }
  // On a table this small PostgreSQL would rather scan; forbid that to see whether the index serves.
  return db.connection().execute(async (connection) => {
    await sql`set enable_seqscan = off`.execute(connection)
    const rows = await sql<{ 'QUERY PLAN': string }>`explain ${list}`.execute(connection)
    await sql`reset enable_seqscan`.execute(connection)
    return rows.rows.map((r) => r['QUERY PLAN']).join('\n')
  })
}

test('operations endpoints need the admin token', async (t) => {
  const api = await startApi(t, 'sqlite', acquirer.url)
  if (api === undefined) return
  const without = await api.call('GET', '/api/admin/breakers', { key: null })
  assert.equal(without.status, 401)
  const merchantKey = await api.call('GET', '/api/admin/breakers')
  assert.equal(merchantKey.status, 401, 'a merchant key is not an admin token')
  const admin = await api.call('GET', '/api/admin/breakers', { key: ADMIN_TOKEN })
  assert.equal(admin.status, 200)
  assert.deepEqual(admin.body, { acquirer: { authorize: 'closed', settle: 'closed', refund: 'closed' } })
  const created = await api.call('POST', '/api/admin/merchants', {
    key: ADMIN_TOKEN,
    body: { merchantId: 'shop-9' },
  })
  assert.equal(created.status, 201)
  assert.match(created.body.apiKey, /^prk_/)
  const works = await api.call('GET', '/api/payments', { key: created.body.apiKey })
  assert.equal(works.status, 200)
})

test('operations endpoints show the outbox and replay dead events', async (t) => {
  const api = await startApi(t, 'sqlite', acquirer.url)
  if (api === undefined) return
  await api.call('POST', '/api/payments/authorize', { body: authorizeBody('ops-1') })
  // As the relay leaves an event it dead-lettered.
  const [queued] = await api.db.selectFrom('outbox_pending').select('id').execute()
  assert.ok(queued !== undefined)
  await new OutboxStore(api.db).markDead(queued, 20, 'refused', Date.now())
  const status = await api.call('GET', '/api/admin/outbox', { key: ADMIN_TOKEN })
  assert.equal(status.status, 200)
  assert.equal(status.body.dead, 1)
  const dead = await api.call('GET', '/api/admin/dlq', { key: ADMIN_TOKEN })
  assert.equal(dead.body.items.length, 1)
  const eventId = dead.body.items[0].event_id
  // With its envelope and headers, and the page it is on.
  assert.equal(dead.body.items[0].payload.eventId, eventId)
  assert.equal(dead.body.items[0].headers['event-id'], eventId)
  assert.deepEqual([dead.body.total, dead.body.offset], [{ relay: 1, consumer: 0 }, 0])
  assert.equal((await api.call('GET', '/api/admin/dlq?offset=1', { key: ADMIN_TOKEN })).body.items.length, 0)
  assert.equal((await api.call('POST', '/api/admin/dlq/replay', { key: ADMIN_TOKEN, body: {} })).status, 400)
  assert.equal((await api.call('POST', '/api/admin/dlq/replay', { body: { all: true } })).status, 401)
  const replay = await api.call('POST', '/api/admin/dlq/replay', { key: ADMIN_TOKEN, body: { eventId } })
  assert.deepEqual(replay.body, { replayed: 1 })
  const again = await api.call('POST', '/api/admin/dlq/replay', { key: ADMIN_TOKEN, body: { eventId } })
  assert.equal(again.status, 404)
  assert.equal((await api.call('GET', '/api/admin/outbox', { key: ADMIN_TOKEN })).body.pending, 1)
})

test('the OpenAPI 3.1 document describes the payment endpoints', async (t) => {
  const api = await startApi(t, 'sqlite', acquirer.url)
  if (api === undefined) return
  const doc = await api.call('GET', '/api/openapi.json', { key: null })
  assert.equal(doc.status, 200)
  assert.equal(doc.body.openapi, '3.1.0')
  for (const path of [
    '/api/payments/authorize',
    '/api/payments/capture/{paymentId}',
    '/api/payments/refund/{paymentId}',
    '/api/payments/{paymentId}',
    '/api/payments',
  ]) {
    assert.ok(doc.body.paths[path] !== undefined, path)
  }
  assert.ok(doc.body.paths['/api/payments/authorize'].post.requestBody)
})

test('API keys and tokens never reach the logs', async (t) => {
  const api = await startApi(t, 'sqlite', acquirer.url)
  if (api === undefined) return
  await api.call('POST', '/api/payments/authorize', { body: authorizeBody('log-1') })
  await api.call('GET', '/api/payments', { key: 'prk_wrongwrong_secret' })
  await api.call('GET', '/api/admin/breakers', { key: ADMIN_TOKEN })
  assert.doesNotMatch(api.logs(), /prk_|test-admin-token/)
})
