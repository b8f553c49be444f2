import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { test } from 'node:test'
import { isForwarded } from '../../src/gateway/forward-handler.ts'
import { startTestGateway, startUpstream } from '../helpers/gateway.ts'
import { until } from '../helpers/until.ts'

test('exactly the api paths are forwarded', () => {
  for (const url of [
    '/api/payments',
    '/api/payments?status=AUTHORIZED',
    '/api/payments/authorize',
    '/api/payments/capture/pay_1',
    '/api/admin/breakers',
    '/api/webhook-endpoints',
    '/api/webhook-endpoints/01abc/roll-secret',
    '/api/webhook-deliveries?state=FAILED',
    '/api/openapi.json',
    '/api/openapi.json?x=1',
  ]) {
    assert.ok(isForwarded(url), url)
  }
  for (const url of [
    '/',
    '/healthz',
    '/metrics',
    '/api',
    '/api/paymentsX',
    '/api/webhook-endpointsX',
    '/api/webhooks',
    '/api/admin',
    '/api/openapi.jsonx',
    '/index.html',
  ]) {
    assert.ok(!isForwarded(url), url)
  }
})

/** A chunked request body (no Content-Length), which fetch cannot be made to send on demand. */
function chunked(url: string, path: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let body = ''
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    for (const chunk of chunks) req.write(chunk)
    req.end()
  })
}

test('a chunked body is forwarded whole with its length; a chunked body over the limit gets 413', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_BODY_LIMIT_BYTES: '256',
  })
  const ok = await chunked(gw.url, '/api/payments/authorize', ['{"amount":', '1}'])
  assert.equal(ok.status, 200)
  assert.equal(upstream.seen[0]?.body, '{"amount":1}')
  assert.equal(upstream.seen[0]?.headers['content-length'], '12')
  assert.equal(upstream.seen[0]?.headers['transfer-encoding'], undefined)
  const big = await chunked(gw.url, '/api/payments/authorize', [
    '{"pad":"',
    'x'.repeat(200),
    'x'.repeat(200),
    '"}',
  ])
  assert.equal(big.status, 413)
  assert.equal((JSON.parse(big.body) as { code: string }).code, 'PAYLOAD_TOO_LARGE')
  assert.equal(upstream.seen.length, 1)
})

test('HEAD is forwarded as HEAD and keeps the upstream length; other methods answer 404 problem+json', async (t) => {
  const upstream = await startUpstream(t, (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '42' })
    response.end(request.method === 'HEAD' ? undefined : 'x'.repeat(42))
  })
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  const head = await fetch(`${gw.url}/api/payments/pay_1`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-length'), '42')
  assert.equal(upstream.seen[0]?.method, 'HEAD')
  const other = await fetch(`${gw.url}/api/payments/pay_1`, { method: 'PROPFIND' })
  assert.equal(other.status, 404)
  assert.equal(((await other.json()) as { code: string }).code, 'NOT_FOUND')
  assert.equal(upstream.seen.length, 1)
})

test('a stopping gateway finishes the request in flight and turns new ones away', async (t) => {
  let release: () => void = () => {}
  const upstream = await startUpstream(t, (_request, response) => {
    release = () => response.writeHead(200).end('{"done":true}')
  })
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RESPONSE_TIMEOUT_MS: '5000',
  })
  const inFlight = fetch(`${gw.url}/api/payments/pay_1`)
  await until('the upstream to receive the request', () => upstream.seen.length >= 1, { intervalMs: 5 })
  const closed = gw.close()
  // The stop has taken hold once the port refuses connections; only then is the answer released.
  const { port } = new URL(gw.url)
  await until('the port to refuse connections', () => refused(Number(port)), { intervalMs: 5 })
  release()
  const answer = await inFlight
  assert.equal(answer.status, 200)
  assert.equal(
    answer.headers.get('connection'),
    'close',
    'its keep-alive connection does not hold the stop up',
  )
  assert.equal(await answer.text(), '{"done":true}')
  await closed
  await assert.rejects(fetch(`${gw.url}/api/payments/pay_2`), 'the port is closed')
})

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}
