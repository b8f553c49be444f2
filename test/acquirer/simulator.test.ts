import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { buildAcquirerSimulator } from '../../src/acquirer/simulator.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetricsRegistry } from '../../src/observability/metrics.ts'

const TOKEN = 'simulator-admin-token-0123456789abcdef'
const asAdmin = { authorization: `Bearer ${TOKEN}` }

const quiet = () =>
  createLogger({
    role: 'acquirer',
    format: 'json',
    stream: new Writable({
      write(_chunk, _encoding, done) {
        done()
      },
    }),
  })

function simulator(
  random: () => number = () => 0.5,
  extra: { authFailureRate?: number; settleFailureRate?: number } = {},
) {
  return buildAcquirerSimulator({
    authLatencyMs: { min: 0, max: 0 },
    settleLatencyMs: { min: 0, max: 0 },
    authFailureRate: extra.authFailureRate ?? 0,
    settleFailureRate: extra.settleFailureRate ?? 0,
    random,
    adminToken: TOKEN,
    logger: quiet(),
    registry: createMetricsRegistry('acquirer'),
  })
}

test('authorize approves, declines amounts ending in 51, and answers a repeated reference with the first result', async (t) => {
  const app = simulator()
  t.after(() => app.close())
  const approve = await app.inject({
    method: 'POST',
    url: '/v1/authorizations',
    payload: { reference: 'r-1', amount: 1000, currency: 'KRW' },
  })
  assert.equal(approve.statusCode, 200)
  assert.equal(approve.json().approved, true)
  const decline = await app.inject({
    method: 'POST',
    url: '/v1/authorizations',
    payload: { reference: 'r-2', amount: 1051, currency: 'KRW' },
  })
  assert.deepEqual(decline.json(), {
    reference: 'r-2',
    approved: false,
    authorizationCode: null,
    declineReason: 'insufficient_funds',
  })
  const repeat = await app.inject({
    method: 'POST',
    url: '/v1/authorizations',
    payload: { reference: 'r-2', amount: 1000, currency: 'KRW' },
  })
  assert.deepEqual(repeat.json(), decline.json(), 'same reference, first result')
  assert.equal((await app.inject({ url: '/v1/authorizations/r-1' })).json().approved, true)
  assert.equal((await app.inject({ url: '/v1/authorizations/none' })).statusCode, 404)
})

test('processor errors at the configured rate are 503 and leave the reference free for a retry', async (t) => {
  // Each call draws its latency, then whether it fails: the first call fails (0.1 < 0.5), the rest pass.
  const draws = [0.9, 0.1]
  const app = simulator(() => draws.shift() ?? 0.9, { settleFailureRate: 0.5 })
  t.after(() => app.close())
  const payload = { reference: 's-1', amount: 1000, currency: 'USD' }
  const failed = await app.inject({ method: 'POST', url: '/v1/settlements', payload })
  assert.equal(failed.statusCode, 503)
  const settled = await app.inject({ method: 'POST', url: '/v1/settlements', payload })
  assert.deepEqual(settled.json(), { reference: 's-1', settled: true, failureReason: null })
  const closed = await app.inject({
    method: 'POST',
    url: '/v1/settlements',
    payload: { reference: 's-2', amount: 1052, currency: 'USD' },
  })
  assert.deepEqual(closed.json(), { reference: 's-2', settled: false, failureReason: 'card_closed' })
  const refund = await app.inject({
    method: 'POST',
    url: '/v1/refunds',
    payload: { reference: 'f-1', amount: 1053, currency: 'USD' },
  })
  assert.deepEqual(refund.json(), { reference: 'f-1', refunded: false, failureReason: 'refund_rejected' })
})

test('admin modes: down answers 503, failing answers 503, normal recovers; bad input is refused', async (t) => {
  const app = simulator()
  t.after(() => app.close())
  const authorize = (reference: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/authorizations',
      payload: { reference, amount: 1, currency: 'EUR' },
    })
  await app.inject({ method: 'PUT', url: '/admin/mode', headers: asAdmin, payload: { mode: 'down' } })
  assert.equal((await authorize('m-1')).statusCode, 503)
  await app.inject({ method: 'PUT', url: '/admin/mode', headers: asAdmin, payload: { mode: 'failing' } })
  assert.equal((await authorize('m-2')).statusCode, 503)
  await app.inject({ method: 'PUT', url: '/admin/mode', headers: asAdmin, payload: { mode: 'normal' } })
  assert.equal((await authorize('m-1')).statusCode, 200, 'a failed reference can be retried')
  assert.equal(
    (await app.inject({ method: 'PUT', url: '/admin/mode', headers: asAdmin, payload: { mode: 'sideways' } }))
      .statusCode,
    400,
  )
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/v1/authorizations',
        payload: { reference: 'x', amount: -1, currency: 'EUR' },
      })
    ).statusCode,
    400,
  )
})

test('the admin switches need the token: none configured, or a wrong one, answers 401 and changes nothing', async (t) => {
  const open = buildAcquirerSimulator({ logger: quiet(), registry: createMetricsRegistry('acquirer') })
  const guarded = simulator()
  t.after(() => Promise.all([open.close(), guarded.close()]))
  const put = (app: typeof open, headers: Record<string, string>) =>
    app.inject({ method: 'PUT', url: '/admin/mode', headers, payload: { mode: 'down' } })
  assert.equal((await put(open, {})).statusCode, 401, 'no token configured: the switch stays shut')
  assert.equal((await put(open, { authorization: 'Bearer anything' })).statusCode, 401)
  assert.equal((await put(guarded, { authorization: 'Bearer wrong' })).statusCode, 401)
  assert.equal((await put(guarded, {})).statusCode, 401)
  const mode = await guarded.inject({ method: 'GET', url: '/admin/mode', headers: asAdmin })
  assert.equal(mode.json().mode, 'normal', 'nothing changed')
  assert.equal((await put(guarded, asAdmin)).statusCode, 200)
})

test('the admin ledger counts settles and refunds carried out, not repeats answered from memory nor processor errors', {
  timeout: 30_000,
}, async (t) => {
  // Latency draws 0.9 pass; the second refund call draws 0.1 for its failure check and fails.
  const draws = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1]
  const app = simulator(() => draws.shift() ?? 0.9, { settleFailureRate: 0.5 })
  t.after(() => app.close())
  const post = (url: string, reference: string, amount: number) =>
    app.inject({ method: 'POST', url, payload: { reference, amount, currency: 'USD' } })
  assert.equal((await post('/v1/authorizations', 'l-1', 1000)).statusCode, 200)
  assert.equal((await post('/v1/settlements', 'l-1', 1000)).json().settled, true)
  assert.equal((await post('/v1/settlements', 'l-1', 1000)).json().settled, true, 'repeat')
  assert.equal((await post('/v1/refunds', 'l-1', 1053)).json().refunded, false, 'declined, but carried out')
  assert.equal((await post('/v1/refunds', 'l-2', 1000)).statusCode, 503, 'processor error: nothing done')
  const ledger = await app.inject({ url: '/admin/authorizations', headers: asAdmin })
  assert.deepEqual(ledger.json(), {
    'l-1': { authorized: 1, approved: true, voided: false, settled: 1, refunded: 1 },
  })
  assert.equal(
    (await app.inject({ method: 'DELETE', url: '/admin/authorizations', headers: asAdmin })).statusCode,
    200,
  )
  assert.equal((await post('/v1/settlements', 'l-1', 1000)).json().settled, true, 'still remembered')
  assert.deepEqual((await app.inject({ url: '/admin/authorizations', headers: asAdmin })).json(), {})
})
