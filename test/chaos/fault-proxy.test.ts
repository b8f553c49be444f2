import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { type TestContext, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Client } from 'undici'
import { FaultProxy, type FaultProxyOptions } from '../../src/chaos/fault-proxy.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { seededRandom } from '../../src/load/options.ts'
import { stopChild } from '../../src/runtime/stop-child.ts'
import { until } from '../helpers/until.ts'

const TIMEOUT = { timeout: 30_000 }

/** A random source from a printed seed; PAYRAIL_TEST_SEED replays it. */
function seeded(t: TestContext): () => number {
  const fromEnv = Number.parseInt(process.env.PAYRAIL_TEST_SEED ?? '', 10)
  const seed = Number.isSafeInteger(fromEnv) ? fromEnv >>> 0 : randomBytes(4).readUInt32LE(0)
  t.diagnostic(`random seed ${seed} (PAYRAIL_TEST_SEED=${seed} replays it)`)
  return seededRandom(seed)
}

interface Echo {
  port: number
  /** Bytes the echo server has received, over all connections. */
  received: () => number
}

/** A real echo server on a spare port, closed with its connections after the test. */
async function echoServer(t: TestContext): Promise<Echo> {
  let received = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
    })
    socket.pipe(socket)
  })
  const port = await listen(server)
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port, received: () => received }
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return address.port
}

/** A real HTTP server answering `ok` on a spare port. */
async function httpServer(t: TestContext): Promise<number> {
  const server = createHttpServer((_request, response) => response.end('ok'))
  const port = await listen(server)
  t.after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return port
}

async function startProxy(t: TestContext, options: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new FaultProxy(options)
  await proxy.start()
  t.after(() => proxy.close())
  return proxy
}

interface Peer {
  socket: Socket
  data: () => Buffer
  error: () => NodeJS.ErrnoException | undefined
}

/** A client connection that collects what it receives and its error. */
async function peer(t: TestContext, port: number): Promise<Peer> {
  const chunks: Buffer[] = []
  let failure: NodeJS.ErrnoException | undefined
  const socket = tcpConnect(port, '127.0.0.1')
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', (error) => {
    failure = error
  })
  t.after(() => socket.destroy())
  await until('the client connected', () => socket.readyState === 'open' || failure !== undefined, {
    timeoutMs: 5000,
  })
  return { socket, data: () => Buffer.concat(chunks), error: () => failure }
}

async function roundTrip(client: Peer, text: string): Promise<void> {
  const before = client.data().length
  client.socket.write(text)
  await until(`the echo of ${text}`, () => client.data().length >= before + text.length, {
    timeoutMs: 10_000,
  })
}

function httpClient(t: TestContext, port: number, headersTimeout = 10_000): Client {
  const client = new Client(`http://127.0.0.1:${port}`, { headersTimeout, bodyTimeout: 10_000 })
  t.after(() => client.destroy())
  return client
}

async function get(client: Client): Promise<string> {
  const response = await client.request({ path: '/', method: 'GET' })
  return response.body.text()
}

/** The error code of an undici or node:net failure (undici may wrap the socket's error in `cause`). */
function codeOf(error: unknown): string | undefined {
  const { code, cause } = error as { code?: string; cause?: { code?: string } }
  return code === 'UND_ERR_SOCKET' && cause?.code !== undefined ? cause.code : code
}

test('fault proxy: pass-through is byte-exact both ways for a large random payload', TIMEOUT, async (t) => {
  const random = seeded(t)
  const echo = await echoServer(t)
  const proxy = await startProxy(t, { target: { host: '127.0.0.1', port: echo.port } })
  const payload = Buffer.alloc(8 * 1024 * 1024)
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256)
  const client = await peer(t, proxy.port as number)
  client.socket.write(payload)
  await until('the whole payload echoed', () => client.data().length >= payload.length, { timeoutMs: 20_000 })
  assert.equal(client.data().length, payload.length)
  assert.ok(client.data().equals(payload), 'the echoed bytes differ from those sent')
  const stats = proxy.stats()
  assert.equal(stats.bytesToTarget, payload.length)
  assert.equal(stats.bytesToClient, payload.length)
  assert.equal(stats.connectionsAccepted, 1)
  assert.equal(stats.connectionsActive, 1)

  const http = await httpServer(t)
  const httpProxy = await startProxy(t, { target: { host: '127.0.0.1', port: http } })
  assert.equal(await get(httpClient(t, httpProxy.port as number)), 'ok')
})

test(
  'fault proxy: latency delays each direction by at least ms and keeps chunk order',
  TIMEOUT,
  async (t) => {
    const echo = await echoServer(t)
    const proxy = await startProxy(t, { target: { host: '127.0.0.1', port: echo.port }, random: seeded(t) })
    const client = await peer(t, proxy.port as number)
    await roundTrip(client, 'warm')
    await proxy.setFault({ kind: 'latency', ms: 80 })
    const started = performance.now()
    await roundTrip(client, 'ping')
    const elapsed = performance.now() - started
    assert.ok(elapsed >= 160, `round trip took ${elapsed.toFixed(1)} ms, below 2 × 80 ms`)

    // Jitter far above the gap between chunks: chunks timed independently would overtake each other.
    await proxy.setFault({ kind: 'latency', ms: 5, jitterMs: 40 })
    let sent = ''
    for (let i = 0; i < 100; i++) {
      const part = `<${i}>`
      sent += part
      await new Promise<void>((resolve, reject) =>
        client.socket.write(part, (e) => (e ? reject(e) : resolve())),
      )
    }
    const before = 'warmping'
    await until('every chunk echoed', () => client.data().length >= before.length + sent.length, {
      timeoutMs: 20_000,
    })
    assert.equal(client.data().toString(), before + sent)
  },
)

test(
  'fault proxy: under jitter a later chunk never overtakes an earlier one (injected clock)',
  TIMEOUT,
  async (t) => {
    let clock = 0
    const timers: { at: number; callback: () => void; live: boolean }[] = []
    const advance = (to: number) => {
      clock = to
      for (
        let due = timers.find((x) => x.live && x.at <= clock);
        due;
        due = timers.find((x) => x.live && x.at <= clock)
      ) {
        due.live = false
        due.callback()
      }
    }
    const draws = [0.99, 0]
    let drawn = 0
    const echo = await echoServer(t)
    const proxy = await startProxy(t, {
      target: { host: '127.0.0.1', port: echo.port },
      fault: { kind: 'latency', ms: 10, jitterMs: 100 },
      random: () => draws[drawn++] ?? 0,
      now: () => clock,
      setTimer: (callback, ms) => {
        const timer = { at: clock + ms, callback, live: true }
        timers.push(timer)
        return () => {
          timer.live = false
        }
      },
    })
    const client = await peer(t, proxy.port as number)
    client.socket.write('A')
    await until('the proxy read A', () => drawn === 1, { timeoutMs: 5000 })
    client.socket.write('B')
    await until('the proxy read B', () => drawn === 2, { timeoutMs: 5000 })
    // A is due at 109 (10 + 0.99 × 100), B at 10: B must wait for A.
    advance(50)
    assert.equal(proxy.stats().bytesToTarget, 0, 'B left before A')
    advance(109)
    assert.equal(proxy.stats().bytesToTarget, 2)
    await until(
      'AB echoed',
      () => {
        advance(clock + 20)
        return client.data().length >= 2
      },
      { timeoutMs: 5000 },
    )
    assert.equal(client.data().toString(), 'AB')
  },
)

test(
  'fault proxy: blackhole makes an undici request time out, holds what was sent, and heals',
  TIMEOUT,
  async (t) => {
    const http = await httpServer(t)
    const echo = await echoServer(t)
    const httpProxy = await startProxy(t, { target: { host: '127.0.0.1', port: http } })
    const echoProxy = await startProxy(t, { target: { host: '127.0.0.1', port: echo.port } })
    const existing = httpClient(t, httpProxy.port as number, 300)
    assert.equal(await get(existing), 'ok')
    const echoClient = await peer(t, echoProxy.port as number)
    await roundTrip(echoClient, 'before')
    const receivedBefore = echo.received()

    await httpProxy.setFault({ kind: 'blackhole' })
    await echoProxy.setFault({ kind: 'blackhole' })
    echoClient.socket.write('held')
    // On the kept-alive connection and on a new one alike: the headers never come.
    await assert.rejects(get(existing), (error) => codeOf(error) === 'UND_ERR_HEADERS_TIMEOUT')
    await assert.rejects(get(httpClient(t, httpProxy.port as number, 300)), (error) => {
      return codeOf(error) === 'UND_ERR_HEADERS_TIMEOUT'
    })
    assert.equal(await get(httpClient(t, http)), 'ok', 'the direct request failed')
    // 300 ms passed since 'held' was written: it reached the proxy and went no further.
    assert.equal(echo.received(), receivedBefore)

    await echoProxy.setFault({ kind: 'none' })
    await until('the held chunk echoed', () => echoClient.data().toString() === 'beforeheld', {
      timeoutMs: 5000,
    })
    await httpProxy.setFault({ kind: 'none' })
    assert.equal(await get(httpClient(t, httpProxy.port as number, 5000)), 'ok')
  },
)

test('fault proxy: reset gives existing and new clients ECONNRESET', TIMEOUT, async (t) => {
  const echo = await echoServer(t)
  const http = await httpServer(t)
  const proxy = await startProxy(t, { target: { host: '127.0.0.1', port: echo.port } })
  const httpProxy = await startProxy(t, { target: { host: '127.0.0.1', port: http } })
  const existing = await peer(t, proxy.port as number)
  await roundTrip(existing, 'hello')
  await proxy.setFault({ kind: 'reset' })
  await until('the existing client reset', () => existing.error(), { timeoutMs: 5000 })
  assert.equal(existing.error()?.code, 'ECONNRESET')

  const fresh = await peer(t, proxy.port as number)
  await until('the new client reset', () => fresh.error(), { timeoutMs: 5000 })
  assert.equal(fresh.error()?.code, 'ECONNRESET')
  assert.equal(proxy.stats().connectionsReset, 2)
  await until('no connection left', () => proxy.stats().connectionsActive === 0, { timeoutMs: 5000 })

  await httpProxy.setFault({ kind: 'reset' })
  await assert.rejects(
    get(httpClient(t, httpProxy.port as number)),
    (error) => codeOf(error) === 'ECONNRESET',
  )
})

test(
  'fault proxy: refuse gives ECONNREFUSED, and the same port works again after none',
  TIMEOUT,
  async (t) => {
    const http = await httpServer(t)
    const proxy = await startProxy(t, { target: { host: '127.0.0.1', port: http } })
    const port = proxy.port as number
    assert.equal(await get(httpClient(t, port)), 'ok')
    await proxy.setFault({ kind: 'refuse' })
    const refused = await peer(t, port)
    assert.equal(refused.error()?.code, 'ECONNREFUSED')
    await assert.rejects(get(httpClient(t, port)), (error) => codeOf(error) === 'ECONNREFUSED')
    await proxy.setFault({ kind: 'none' })
    assert.equal(proxy.port, port)
    assert.equal(await get(httpClient(t, port)), 'ok')
  },
)

test('fault proxy: a bad option or fault fails with CONFIG_INVALID', TIMEOUT, () => {
  assert.throws(
    () => new FaultProxy({ target: { host: '127.0.0.1', port: 0 } }),
    (error) => hasErrorCode(error, 'CONFIG_INVALID') && /fault proxy\.target/.test((error as Error).message),
  )
  const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: 1 } })
  assert.throws(
    () => proxy.setFault({ kind: 'latency', ms: -1 }),
    (error) => hasErrorCode(error, 'CONFIG_INVALID'),
  )
  assert.deepEqual(proxy.fault, { kind: 'none' })
})

test('fault proxy: close leaves no open handle (a process using it exits by itself)', TIMEOUT, async (t) => {
  const module = (path: string) => pathToFileURL(new URL(path, import.meta.url).pathname).href
  // One connection answered, one with a chunk on a latency timer of a minute, one held by a blackhole.
  const script = `
    import { connect, createServer } from 'node:net'
    import { FaultProxy } from '${module('../../src/chaos/fault-proxy.ts')}'
    import { until } from '${module('../../src/runtime/until.ts')}'
    const echo = createServer((socket) => { socket.on('error', () => {}); socket.pipe(socket) })
    await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
    let draws = 0
    const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: echo.address().port }, random: () => { draws++; return 0 } })
    const port = await proxy.start()
    const clients = [0, 1, 2].map(() => connect(port, '127.0.0.1').on('error', () => {}))
    clients[0].write('x')
    await until('the echo', () => clients[0].read() !== null)
    await proxy.setFault({ kind: 'latency', ms: 60000 })
    clients[1].write('y')
    await until('y on its timer', () => draws === 1)
    await proxy.setFault({ kind: 'blackhole' })
    clients[2].write('z')
    await until('three connections', () => proxy.stats().connectionsAccepted === 3)
    await proxy.close()
    for (const client of clients) client.destroy()
    echo.close()
    console.log('closed', JSON.stringify(proxy.stats()))
    setTimeout(() => console.log('still open:', JSON.stringify(process.getActiveResourcesInfo())), 3000).unref()
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = once(child, 'exit')
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
  })
  t.after(() => stopChild(child, exited, 2000))
  await until('the child process exited by itself', () => child.exitCode !== null, {
    timeoutMs: 20_000,
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${output}`)
  })
  assert.equal(child.exitCode, 0, output)
  assert.match(output, /closed .*"connectionsActive":0/)
  assert.doesNotMatch(output, /still open/)
})
