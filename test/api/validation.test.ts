import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

interface BadRequest {
  name: string
  method?: string
  path?: string
  body?: unknown
  raw?: string
  headers?: Record<string, string>
  key?: string | null
  status: number
  code: string
  detail?: RegExp
}

const good = { merchantId: 'merchant-a', amount: 1000, currency: 'KRW', idempotencyKey: 'k-1' }

const badRequests: BadRequest[] = [
  {
    name: 'malformed JSON',
    raw: '{"amount": 10',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /not valid JSON/,
  },
  { name: 'empty JSON body', raw: '', status: 400, code: 'VALIDATION_FAILED' },
  { name: 'not an object', body: [1, 2], status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'amount as a string',
    body: { ...good, amount: '1000' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /amount must be integer/,
  },
  { name: 'fractional amount', body: { ...good, amount: 10.5 }, status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'zero amount',
    body: { ...good, amount: 0 },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /amount must be >= 1/,
  },
  { name: 'negative amount', body: { ...good, amount: -5 }, status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'amount above the maximum',
    body: { ...good, amount: 100_000_000_001 },
    status: 422,
    code: 'AMOUNT_OUT_OF_RANGE',
  },
  {
    name: 'amount beyond 2^53',
    raw: JSON.stringify(good).replace('1000', '90071992547409930'),
    status: 422,
    code: 'AMOUNT_OUT_OF_RANGE',
  },
  {
    name: 'missing amount',
    body: { merchantId: 'merchant-a', currency: 'KRW', idempotencyKey: 'k' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /must have required property 'amount'/,
  },
  {
    name: 'missing currency',
    body: { merchantId: 'merchant-a', amount: 1, idempotencyKey: 'k' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  { name: 'lower-case currency', body: { ...good, currency: 'krw' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'unknown currency', body: { ...good, currency: 'XYZ' }, status: 422, code: 'UNSUPPORTED_CURRENCY' },
  {
    name: 'unknown field',
    body: { ...good, cardNumber: '4111111111111111' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /must NOT have additional properties/,
  },
  {
    name: 'no idempotency key',
    body: { merchantId: 'merchant-a', amount: 1, currency: 'KRW' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /idempotency key/,
  },
  {
    name: 'idempotency key too long',
    body: { ...good, idempotencyKey: 'k'.repeat(129) },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'header and body keys differ',
    body: good,
    headers: { 'idempotency-key': 'other' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: /differ/,
  },
  {
    name: 'merchant id too long',
    body: { ...good, merchantId: 'm'.repeat(65) },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'another merchant in the body',
    body: { ...good, merchantId: 'merchant-b' },
    status: 403,
    code: 'MERCHANT_MISMATCH',
  },
  {
    name: 'body over the size limit',
    raw: JSON.stringify({ ...good, pad: 'x'.repeat(20_000) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'form-encoded body',
    raw: 'amount=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'no API key', body: good, key: null, status: 401, code: 'UNAUTHORIZED' },
  { name: 'unknown API key', body: good, key: 'prk_AAAAAAAA_nothing', status: 401, code: 'UNAUTHORIZED' },
  {
    name: 'unknown payment on capture',
    path: '/api/payments/capture/00000000-0000-7000-8000-000000000000',
    body: {},
    status: 404,
    code: 'NOT_FOUND',
  },
  {
    name: 'over-long payment id',
    path: `/api/payments/capture/${'x'.repeat(65)}`,
    body: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'refund without a reason',
    path: '/api/payments/refund/00000000-0000-7000-8000-000000000000',
    body: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown payment on read',
    method: 'GET',
    path: '/api/payments/00000000-0000-7000-8000-000000000000',
    status: 404,
    code: 'NOT_FOUND',
  },
  {
    name: 'unknown status filter',
    method: 'GET',
    path: '/api/payments?status=PAID',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'limit out of range',
    method: 'GET',
    path: '/api/payments?limit=1000',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'bad date filter',
    method: 'GET',
    path: '/api/payments?from=yesterday',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  { name: 'unknown route', method: 'GET', path: '/api/nothing', status: 404, code: 'NOT_FOUND' },
]

for (const dialect of dialects) {
  test(`${dialect}: every class of bad input gets a 4xx problem+json and writes nothing`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url)
    if (api === undefined) return
    const before = await api.counts()
    for (const bad of badRequests) {
      const response = await api.call(bad.method ?? 'POST', bad.path ?? '/api/payments/authorize', {
        ...(bad.body === undefined ? {} : { body: bad.body }),
        ...(bad.raw === undefined ? {} : { raw: bad.raw }),
        ...(bad.headers === undefined ? {} : { headers: bad.headers }),
        ...(bad.key === undefined ? {} : { key: bad.key }),
      })
      assert.equal(response.status, bad.status, `${bad.name}: ${JSON.stringify(response.body)}`)
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, bad.name)
      assert.equal(response.body.code, bad.code, bad.name)
      assert.equal(response.body.status, bad.status, bad.name)
      assert.equal(response.body.type, `urn:payrail:error:${bad.code}`, bad.name)
      assert.equal(typeof response.body.title, 'string', bad.name)
      assert.equal(response.body.detail, response.body.message, bad.name)
      if (bad.detail) assert.match(response.body.detail, bad.detail, bad.name)
    }
    assert.deepEqual(await api.counts(), before, 'no bad request wrote a row')
  })
}
