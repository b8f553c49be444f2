import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startTestGateway, startUpstream } from '../helpers/gateway.ts'

test('the operations plane answers 403 to a client outside GATEWAY_ADMIN_ALLOW, and is never forwarded', async (t) => {
  const upstream = await startUpstream(t)
  const closed = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_ADMIN_ALLOW: '10.0.0.0/8,fd00::/8',
  })
  const refused = await fetch(`${closed.url}/api/admin/merchants`, { method: 'POST', body: '{}' })
  assert.equal(refused.status, 403)
  assert.equal(((await refused.json()) as { code: string }).code, 'ADMIN_NETWORK_REFUSED')
  assert.equal(
    (await fetch(`${closed.url}/api/payments/pay_1`)).status,
    200,
    'the payments plane is not affected',
  )
  assert.equal(upstream.seen.filter((seen) => seen.url.startsWith('/api/admin')).length, 0)

  const open = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  assert.equal((await fetch(`${open.url}/api/admin/breakers`)).status, 200, 'loopback is allowed by default')
})

test('the operations plane is rate-limited per client address, and its 401s count as failed authentications', async (t) => {
  const upstream = await startUpstream(t, (request, response) => {
    const ok = request.headers.authorization === 'Bearer right-token-right-token-right-token'
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end('{}')
  })
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_ADMIN: '3/1m',
    GATEWAY_RATE_LIMIT_AUTH_FAILURES: '2/1m',
  })
  const admin = (token: string) =>
    fetch(`${gw.url}/api/admin/breakers`, { headers: { authorization: `Bearer ${token}` } })
  const first = await admin('right-token-right-token-right-token')
  assert.equal(first.status, 200)
  assert.equal(first.headers.get('ratelimit-policy'), '"admin";q=3;w=60')
  assert.equal((await admin('wrong-token-wrong-token-wrong-token')).status, 401)
  assert.equal((await admin('wrong-token-wrong-token-wrong-token')).status, 401)
  const blocked = await admin('right-token-right-token-right-token')
  assert.equal(blocked.status, 429, 'two failed attempts use up the address')
  assert.match(blocked.headers.get('ratelimit-policy') ?? '', /^"auth-failures"/)
  assert.equal(upstream.seen.length, 3)
})

test('the admin bucket alone limits a client that authenticates fine', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_ADMIN: '2/1m',
  })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gw.url}/api/admin/outbox`)).status)
  assert.deepEqual(statuses, [200, 200, 429])
  assert.equal(upstream.seen.length, 2)
})
