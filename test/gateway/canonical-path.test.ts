import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isCanonicalPath } from '../../src/gateway/routes.ts'
import { rawRequest, startTestGateway, startUpstream, wellFormedKey } from '../helpers/gateway.ts'

const SPELLINGS = [
  '/api/payments/%61uthorize',
  '/api/payments/authorize;x',
  '/api/payments//authorize',
  '/api/payments/./authorize',
  '/api/payments/capture/../authorize',
  '/api/payments/authorize/',
  '/api/payments/authoriz%65',
  '/api/payments/authorize%00',
  '/api/payments/authorize\\',
]

test('every second spelling of a path is refused; the paths payrail serves are canonical', () => {
  for (const path of SPELLINGS) assert.ok(!isCanonicalPath(path), path)
  for (const path of [
    '/api/payments',
    '/api/payments/authorize',
    '/api/payments/capture/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    '/api/admin/keys/prk_Ab-_9xYz/revoke',
    '/api/openapi.json',
  ])
    assert.ok(isCanonicalPath(path), path)
})

test('POST /api/payments/%61uthorize answers 400 at the gateway, never reaching the api or dodging the authorize limit', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_AUTHORIZE: '1/1m',
  })
  const key = wellFormedKey('canonical')
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const first = await rawRequest(gw.url, {
    method: 'POST',
    path: '/api/payments/authorize',
    headers,
    body: '{}',
  })
  assert.equal(first.status, 200)
  const limited = await rawRequest(gw.url, {
    method: 'POST',
    path: '/api/payments/authorize',
    headers,
    body: '{}',
  })
  assert.equal(limited.status, 429, 'the authorize bucket is empty')
  for (const path of SPELLINGS) {
    const answer = await rawRequest(gw.url, { method: 'POST', path, headers, body: '{}' })
    assert.equal(answer.status, 400, path)
    assert.match(String(answer.headers['content-type']), /application\/problem\+json/)
    assert.equal(JSON.parse(answer.body).code, 'VALIDATION_FAILED', path)
  }
  assert.equal(upstream.seen.length, 1, 'only the canonical authorize was forwarded')
})
