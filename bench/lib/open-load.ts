/**
 * An open-model HTTP load generator: requests are offered on a fixed schedule (`rate` per
 * second, evenly spaced), whether or not earlier ones have answered, as clients in the wild do.
 * Each latency is measured from the request's scheduled time to its whole answer, so time spent
 * queueing anywhere (in this process's connection pool included) counts, and a slow server cannot
 * hide its slowness by slowing the generator down (coordinated omission).
 *
 * Written here rather than taken from wrk2 or autocannon: neither is in Debian or npm's pinned
 * set here with a per-request body hook (a fresh idempotency key per request), and wrk's Lua
 * request() path misreported latency on this machine (see bench/lib/load.ts).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { percentile } from './load.ts'

export interface OpenRequest {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface OpenLoadOptions {
  url: string
  /** Requests offered per second. */
  rate: number
  durationMs: number
  /** The n-th request (from 0). */
  request: (n: number) => OpenRequest
  /** Connections the generator may open; beyond them requests queue here (and that counts). Default: 4096. */
  connections?: number
  /** A request not answered in this long counts as `timeout`. Default: 10000 ms. */
  timeoutMs?: number
}

export interface OpenLoadResult {
  offered: number
  seconds: number
  /** 2xx answers per second of the run. */
  goodput: number
  /** Latency of the 2xx answers, ms from their scheduled time. */
  p50: number
  p99: number
  /** Answers by status and problem `code` (e.g. `201`, `503 OVERLOADED`), and `timeout` / `error`. */
  answers: Record<string, number>
}

export async function runOpenLoad(options: OpenLoadOptions): Promise<OpenLoadResult> {
  const pool = new Pool(options.url, {
    connections: options.connections ?? 4096,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  })
  const timeoutMs = options.timeoutMs ?? 10_000
  const latencies: number[] = []
  const answers: Record<string, number> = {}
  const count = (key: string) => {
    answers[key] = (answers[key] ?? 0) + 1
  }
  const inFlight = new Set<Promise<void>>()
  const send = (request: OpenRequest, scheduled: number) => {
    const done = (async () => {
      try {
        const response = await pool.request({
          method: request.method,
          path: request.path,
          headers: request.headers ?? {},
          ...(request.body === undefined ? {} : { body: request.body }),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        })
        const body = await response.body.text()
        if (response.statusCode >= 200 && response.statusCode < 300) {
          latencies.push(performance.now() - scheduled)
          count(String(response.statusCode))
        } else {
          let code = ''
          try {
            code = String((JSON.parse(body) as { code?: unknown }).code ?? '')
          } catch {}
          count(`${response.statusCode}${code === '' ? '' : ` ${code}`}`)
        }
      } catch (error) {
        const code = (error as { code?: string }).code
        count(code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'error')
      }
    })()
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done))
  }

  const interval = 1000 / options.rate
  const total = Math.floor((options.rate * options.durationMs) / 1000)
  const started = performance.now()
  let next = 0
  while (next < total) {
    const now = performance.now()
    // Everything due by now goes out at once: a late tick never lowers the offered rate.
    while (next < total && started + next * interval <= now) {
      send(options.request(next), started + next * interval)
      next++
    }
    await sleep(1)
  }
  const offeredFor = performance.now() - started
  await Promise.all(inFlight)
  await pool.close()
  latencies.sort((a, b) => a - b)
  const seconds = offeredFor / 1000
  return {
    offered: total,
    seconds,
    goodput: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    answers,
  }
}
