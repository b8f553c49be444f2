import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientResponseHeaders, requestIdOf, upstreamRequestHeaders } from '../../src/gateway/headers.ts'

const forwarded = {
  requestId: 'req-1',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: undefined,
  clientIp: '127.0.0.9',
  protocol: 'http',
  host: 'gateway.local',
}

test('hop-by-hop headers, and those Connection lists, are not forwarded upstream', () => {
  const out = upstreamRequestHeaders(
    {
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'x-hop': 'only for this connection',
      te: 'trailers',
      trailer: 'x-sum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic abc',
      'proxy-connection': 'keep-alive',
      host: 'gateway.local',
      'content-length': '12',
      authorization: 'Bearer prk_key',
      'idempotency-key': 'k-1',
      'x-end-to-end': 'kept',
    },
    forwarded,
  )
  for (const name of [
    'connection',
    'keep-alive',
    'x-hop',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'proxy-authorization',
    'proxy-connection',
    'host',
    'content-length',
  ]) {
    assert.equal(out[name], undefined, name)
  }
  assert.equal(out.authorization, 'Bearer prk_key')
  assert.equal(out['idempotency-key'], 'k-1')
  assert.equal(out['x-end-to-end'], 'kept')
  assert.equal(out['x-request-id'], 'req-1')
  assert.equal(out.traceparent, forwarded.traceparent)
  assert.equal(out['x-forwarded-for'], '127.0.0.9')
  assert.equal(out['x-forwarded-proto'], 'http')
  assert.equal(out['x-forwarded-host'], 'gateway.local')
})

test('the caller cannot set request id, trace or X-Forwarded-* behind the gateway’s back; a prior proxy chain is extended', () => {
  const out = upstreamRequestHeaders(
    {
      'x-request-id': 'spoofed',
      traceparent: 'spoofed',
      tracestate: 'spoofed',
      'x-forwarded-for': '10.1.1.1',
      'x-forwarded-host': 'evil',
    },
    forwarded,
  )
  assert.equal(out['x-request-id'], 'req-1')
  assert.equal(out.traceparent, forwarded.traceparent)
  assert.equal(out.tracestate, undefined)
  assert.equal(out['x-forwarded-for'], '10.1.1.1, 127.0.0.9')
  assert.equal(out['x-forwarded-host'], 'gateway.local')
})

test('answers lose hop-by-hop and framing headers, keep the rest', () => {
  const out = clientResponseHeaders({
    connection: 'close, x-hop',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'content-length': '10',
    'proxy-authenticate': 'Basic',
    'content-type': 'application/json',
    'set-cookie': ['a=1', 'b=2'],
    'idempotent-replayed': 'true',
  })
  assert.deepEqual(out, {
    'content-type': 'application/json',
    'set-cookie': ['a=1', 'b=2'],
    'idempotent-replayed': 'true',
  })
})

test('a sane request id is kept; anything else is replaced by a fresh one', () => {
  assert.equal(requestIdOf('abc-123_x.y:z@w'), 'abc-123_x.y:z@w')
  for (const bad of [undefined, '', 'has space', 'x'.repeat(129), 'new\nline', ['a', 'b']]) {
    const id = requestIdOf(bad as string | undefined)
    assert.match(id, /^[0-9a-f-]{36}$/, JSON.stringify(bad))
  }
})
