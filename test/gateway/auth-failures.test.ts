import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { type TestContext, test } from 'node:test'
import { redisPrefix, sample, startTestGateway, startUpstream, wellFormedKey } from '../helpers/gateway.ts'
import { requireService } from '../helpers/services.ts'

test('an Authorization that cannot be an API key answers 401 at the gateway and never reaches the api', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  for (const authorization of [
    'Bearer random-guess-123',
    'Bearer prk_short_key',
    `Bearer ${wellFormedKey('x')}x`,
    'Basic YWRtaW46YWRtaW4=',
  ]) {
    const answer = await fetch(`${gw.url}/api/payments/pay_1`, { headers: { authorization } })
    assert.equal(answer.status, 401, authorization)
    assert.equal(answer.headers.get('www-authenticate'), 'Bearer')
    assert.equal(((await answer.json()) as { code: string }).code, 'UNAUTHORIZED')
  }
  assert.equal(upstream.seen.length, 0, 'no guess cost the api a request')
  const good = await fetch(`${gw.url}/api/payments/pay_1`, {
    headers: { authorization: `Bearer ${wellFormedKey('x')}` },
  })
  assert.equal(good.status, 200, 'a key of the right form is forwarded')
})

/** An api that knows one key: every other answers 401, as the real api does. */
async function checkFailureLimit(t: TestContext, env: Record<string, string>) {
  const known = wellFormedKey(`known-${randomUUID()}`)
  const upstream = await startUpstream(t, (request, response) => {
    const ok = request.headers.authorization === `Bearer ${known}`
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ code: ok ? 'OK' : 'UNAUTHORIZED' }))
  })
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_AUTH_FAILURES: '3/1m',
    GATEWAY_RATE_LIMIT_READ: 'off',
    ...env,
  })
  const read = (key: string) =>
    fetch(`${gw.url}/api/payments/pay_1`, { headers: { authorization: `Bearer ${key}` } })
  assert.equal((await read(known)).status, 200, 'the known key is accepted and trusted')
  // Two random keys the api refuses, one ill-formed key the gateway refuses: three failures.
  assert.equal((await read(wellFormedKey(randomUUID()))).status, 401)
  assert.equal((await read(wellFormedKey(randomUUID()))).status, 401)
  assert.equal((await read('not-a-key')).status, 401)
  const forwarded = upstream.seen.length
  const blocked = await read(wellFormedKey(randomUUID()))
  assert.equal(blocked.status, 429)
  assert.equal(((await blocked.json()) as { code: string }).code, 'RATE_LIMIT_EXCEEDED')
  assert.equal(blocked.headers.get('retry-after'), '20')
  assert.match(blocked.headers.get('ratelimit-policy') ?? '', /^"auth-failures";q=3;w=60$/)
  assert.equal(upstream.seen.length, forwarded, 'the guess was not forwarded')
  assert.equal((await read(known)).status, 200, 'a key the api accepted before still passes')
  assert.equal(
    sample(await gw.metrics(), 'payrail_gateway_rate_limited_total', { operation: 'auth-failures' }),
    1,
  )
}

test('failed authentications are limited per client address (memory)', async (t) => {
  await checkFailureLimit(t, {})
})

test('failed authentications are limited per client address (Redis)', async (t) => {
  const url = await requireService(t, 'redis')
  if (url === undefined) return
  const { prefix, redis: admin } = redisPrefix(t, url)
  await checkFailureLimit(t, {
    REDIS_URL: url,
    GATEWAY_REDIS_PREFIX: prefix,
    GATEWAY_REDIS_TIMEOUT_MS: '1000',
  })
  assert.equal(await admin.exists(`${prefix}auth-failures:ip:127.0.0.1`), 1)
})
