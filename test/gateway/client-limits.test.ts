import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { loadConfig } from '../../src/config/load.ts'
import { resolveClientLimits } from '../../src/gateway/client-limits.ts'
import { startTestGateway, startUpstream, wellFormedKey } from '../helpers/gateway.ts'
import { until } from '../helpers/until.ts'

/** A raw client connection: what it received, and when the gateway closed it. */
interface RawClient {
  socket: Socket
  received: () => string
  /** Milliseconds since `performance.now()`'s origin when the connection closed; undefined while open. */
  closedAt: () => number | undefined
  /** Sends one keep-alive GET and waits for a whole answer to it (a body of Content-Length bytes). */
  get: (path: string) => Promise<string>
}

/**
 * Opens raw connections, each destroyed when the test ends. Made before the gateway, so that they
 * are gone before its close waits for its connections to end (after-hooks run in order).
 */
function rawClients(t: TestContext): (url: string) => Promise<RawClient> {
  const sockets = new Set<Socket>()
  t.after(() => {
    for (const socket of sockets) socket.destroy()
  })
  return async (url) => {
    const client = await connectRaw(url)
    sockets.add(client.socket)
    return client
  }
}

async function connectRaw(url: string): Promise<RawClient> {
  const target = new URL(url)
  const socket = connect({ host: target.hostname, port: Number(target.port) })
  let received = ''
  let closedAt: number | undefined
  socket.on('data', (chunk) => {
    received += chunk
  })
  // A reset is one way the gateway may close: the test looks at when, not how.
  socket.on('error', () => {})
  socket.on('close', () => {
    closedAt = performance.now()
  })
  await once(socket, 'connect')
  return {
    socket,
    received: () => received,
    closedAt: () => closedAt,
    get: async (path) => {
      const start = received.length
      socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\n\r\n`)
      return until(
        `an answer to GET ${path}`,
        () => {
          if (closedAt !== undefined) throw new Error(`closed before answering GET ${path}: ${received}`)
          const answer = received.slice(start)
          const end = answer.indexOf('\r\n\r\n')
          if (end === -1) return undefined
          const length = Number(/content-length: (\d+)/i.exec(answer.slice(0, end))?.[1] ?? 0)
          return answer.length >= end + 4 + length ? answer : undefined
        },
        { timeoutMs: 5000 },
      )
    },
  }
}

/** The problem+json body of a raw answer. */
function problemIn(answer: string): { code: string; status: number } {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string; status: number }
}

test('a client that sends part of its headers, then nothing, gets 408 REQUEST_TIMEOUT after GATEWAY_HEADERS_TIMEOUT_MS', async (t) => {
  const open = rawClients(t)
  const upstream = await startUpstream(t)
  // The request timeout is far away, so only the headers timeout can end this connection in time.
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_HEADERS_TIMEOUT_MS: '500',
    GATEWAY_REQUEST_TIMEOUT_MS: '60000',
  })
  const client = await open(gw.url)
  const sent = performance.now()
  client.socket.write(
    `GET /api/payments/pay_1 HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${wellFormedKey('s')}\r\n`,
  )
  const closedAt = await until('the gateway to close the slow connection', () => client.closedAt(), {
    timeoutMs: 4000,
  })
  const waited = closedAt - sent
  assert.ok(waited >= 450, `closed after ${waited} ms, before the 500 ms headers timeout`)
  assert.match(client.received(), /^HTTP\/1\.1 408 /)
  assert.match(client.received(), /content-type: application\/problem\+json/i)
  assert.equal(problemIn(client.received()).code, 'REQUEST_TIMEOUT')
  assert.equal(upstream.seen.length, 0)
})

test('a client that trickles its body past GATEWAY_REQUEST_TIMEOUT_MS is cut off with 408 and nothing is forwarded', async (t) => {
  const open = rawClients(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_HEADERS_TIMEOUT_MS: '500',
    GATEWAY_REQUEST_TIMEOUT_MS: '1500',
  })
  const client = await open(gw.url)
  const body = JSON.stringify({ merchantId: 'm_1', amount: 100, currency: 'EUR', pad: 'x'.repeat(200) })
  const sent = performance.now()
  client.socket.write(
    `POST /api/payments/authorize HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${wellFormedKey('s')}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  )
  // One byte every 50 ms: the whole body would take over 12 s, so it is still arriving at 1.5 s.
  let trickled = 0
  const trickle = setInterval(() => {
    if (client.closedAt() !== undefined || trickled >= body.length) return
    client.socket.write(body[trickled] ?? '')
    trickled += 1
  }, 50)
  t.after(() => clearInterval(trickle))
  const closedAt = await until('the gateway to cut off the trickling request', () => client.closedAt(), {
    timeoutMs: 5000,
  })
  clearInterval(trickle)
  const waited = closedAt - sent
  // Past the headers timeout and still open proves the headers were not what ended it.
  assert.ok(waited >= 1450, `cut off after ${waited} ms, before the 1500 ms request timeout`)
  assert.ok(trickled > 10 && trickled < body.length, `${trickled} of ${body.length} bytes sent`)
  assert.match(client.received(), /^HTTP\/1\.1 408 /)
  assert.equal(problemIn(client.received()).code, 'REQUEST_TIMEOUT')
  assert.equal(upstream.seen.length, 0)
})

test('an idle keep-alive connection is closed after GATEWAY_IDLE_TIMEOUT_MS', async (t) => {
  const open = rawClients(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url, GATEWAY_IDLE_TIMEOUT_MS: '500' })
  const client = await open(gw.url)
  assert.match(await client.get('/healthz'), /^HTTP\/1\.1 200 /)
  const answered = performance.now()
  // Node closes idle connections 1 s after the timeout (its keepAliveTimeoutBuffer).
  const closedAt = await until('the gateway to close the idle connection', () => client.closedAt(), {
    timeoutMs: 4000,
  })
  const idle = closedAt - answered
  assert.ok(idle >= 450, `closed after ${idle} ms idle, before the 500 ms idle timeout`)
})

test('with GATEWAY_MAX_CONNECTIONS=N the next connection is closed at once while the first N keep working', async (t) => {
  const open = rawClients(t)
  const upstream = await startUpstream(t)
  const n = 3
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_MAX_CONNECTIONS: String(n),
  })
  const clients: RawClient[] = []
  for (let i = 0; i < n; i++) {
    const client = await open(gw.url)
    assert.match(await client.get('/healthz'), /^HTTP\/1\.1 200 /)
    clients.push(client)
  }
  const excess = await open(gw.url)
  const connected = performance.now()
  const closedAt = await until(
    'the gateway to close the connection beyond its cap',
    () => excess.closedAt(),
    {
      timeoutMs: 2000,
    },
  )
  assert.ok(closedAt - connected < 1000, `closed only after ${closedAt - connected} ms`)
  assert.equal(excess.received(), '')
  for (const client of clients) assert.match(await client.get('/healthz'), /^HTTP\/1\.1 200 /)
  assert.ok(clients.every((client) => client.closedAt() === undefined))

  // A place freed is taken again.
  clients[0]?.socket.destroy()
  await until(
    'a new connection to be served once one of the N closed',
    async () => {
      const client = await open(gw.url)
      const answer = await client.get('/healthz').catch(() => undefined)
      if (answer === undefined) client.socket.destroy()
      return answer
    },
    { timeoutMs: 5000 },
  )
})

test('a headers timeout above the request timeout stops start-up, naming both variables', () => {
  assert.throws(
    () =>
      loadConfig({
        env: { GATEWAY_HEADERS_TIMEOUT_MS: '40000', GATEWAY_REQUEST_TIMEOUT_MS: '30000' },
        envFile: join(import.meta.dirname, 'no-such.env'),
      }),
    /GATEWAY_HEADERS_TIMEOUT_MS \(40000\) must not exceed GATEWAY_REQUEST_TIMEOUT_MS \(30000\)/,
  )
  assert.throws(
    () => resolveClientLimits({ headersTimeoutMs: 2000, requestTimeoutMs: 1000, maxConnections: 0 }),
    /gatewayServer\.maxConnections=0: must be a whole number from 1 .*headersTimeoutMs \(2000\) must not exceed requestTimeoutMs \(1000\)/,
  )
})
