import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Redis } from 'ioredis'
import { loadConfig } from '../../src/config/load.ts'
import { startGatewayRole } from '../../src/gateway/role.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { freePort } from '../../support/processes.ts'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface TestUpstream {
  url: string
  /** Requests to anything but /readyz, in arrival order. */
  seen: SeenRequest[]
  /** Answers /readyz with this status (200 unless a test changes it). */
  readyStatus: number
  /** Stops accepting and resets every open connection, like a process that was killed. */
  kill: () => Promise<void>
  close: () => Promise<void>
}

export type UpstreamHandler = (request: SeenRequest, response: ServerResponse) => void

const ok: UpstreamHandler = (request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' })
  response.end(JSON.stringify({ method: request.method, url: request.url }))
}

/** A real HTTP upstream on a loopback port; `handler` answers everything but /readyz. */
export async function startUpstream(
  t: TestContext,
  handler: UpstreamHandler = ok,
  port = 0,
): Promise<TestUpstream> {
  const sockets = new Set<Socket>()
  const upstream: TestUpstream = {
    url: '',
    seen: [],
    readyStatus: 200,
    kill: async () => {
      server.close()
      for (const socket of sockets) socket.resetAndDestroy()
      await once(server, 'close')
    },
    close: async () => {
      if (!server.listening) return
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.url === '/readyz') {
        response.writeHead(upstream.readyStatus).end()
        return
      }
      const seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      }
      upstream.seen.push(seen)
      handler(seen, response)
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  upstream.url = `http://127.0.0.1:${address.port}`
  t.after(() => upstream.close())
  return upstream
}

/**
 * An address that listens but never accepts: a worker thread listens with a backlog of 1 and
 * then blocks its event loop, and the test fills the accept queue (backlog + 1 connections) itself.
 * The kernel then drops further connection attempts, so a client's connect times out, on
 * loopback alone.
 */
export async function startBlackhole(t: TestContext): Promise<string> {
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(join(import.meta.dirname, 'blackhole-worker.ts'), { workerData: { signal } })
  const [port] = (await once(worker, 'message')) as [number]
  const fillers: Socket[] = []
  const connected: Promise<unknown>[] = []
  for (let i = 0; i < 2; i++) {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    fillers.push(socket)
    connected.push(once(socket, 'connect'))
  }
  await Promise.all(connected)
  t.after(async () => {
    for (const socket of fillers) socket.destroy()
    Atomics.store(signal, 0, 1)
    Atomics.notify(signal, 0)
    await once(worker, 'exit')
  })
  return `http://127.0.0.1:${port}`
}

export interface TestGateway {
  url: string
  /** Everything logged so far, one JSON line per record. */
  logs: () => string
  metrics: () => Promise<string>
  close: () => Promise<void>
}

/** The real gateway role in this process on a free loopback port, with tiny timeouts unless `env` says otherwise. */
export async function startTestGateway(t: TestContext, env: Record<string, string>): Promise<TestGateway> {
  const port = await freePort()
  const config = loadConfig({
    env: {
      HOST: '127.0.0.1',
      GATEWAY_PORT: String(port),
      GATEWAY_CONNECT_TIMEOUT_MS: '100',
      GATEWAY_RESPONSE_TIMEOUT_MS: '300',
      GATEWAY_POOL_ACQUIRE_TIMEOUT_MS: '200',
      GATEWAY_HEALTH_INTERVAL_MS: '60000',
      GATEWAY_RETRY_BACKOFF_MS: '1-5',
      GATEWAY_DASHBOARD_DIR: join(import.meta.dirname, 'no-dashboard'),
      ...env,
    },
    envFile: join(import.meta.dirname, 'no-such.env'),
  })
  let logged = ''
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logged += chunk
      callback()
    },
  })
  const logger = createLogger({ role: 'gateway', format: 'json', level: 'info', stream })
  const running = await startGatewayRole(config, logger)
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await running.close()
  }
  t.after(close)
  return {
    url: running.url,
    logs: () => logged,
    metrics: async () => (await fetch(`${running.url}/metrics`)).text(),
    close,
  }
}

/** The value of one sample in a Prometheus text page, 0 when absent. */
export function sample(page: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

/** A raw HTTP/1.1 request: the path goes out byte for byte (fetch would resolve `./` and `../`). */
export function rawRequest(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        let body = ''
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** A string of the form of an API key (`prk_`, 8, `_`, 35 characters), unknown to any database. */
export function wellFormedKey(seed: string): string {
  const body = createHash('sha256').update(seed).digest('base64url')
  return `prk_${body.slice(0, 8)}_${body.slice(8, 43)}`
}

/** A Redis key prefix of this test's own and a client to inspect it; its keys are deleted after the test. */
export function redisPrefix(t: TestContext, url: string): { prefix: string; redis: Redis } {
  const prefix = `payrail-test:${randomUUID()}:`
  const admin = new Redis(url)
  t.after(async () => {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  })
  return { prefix, redis: admin }
}
