import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { freePort } from '../../support/processes.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'
import { startUp } from '../helpers/up.ts'

/** A free port whose next port is free too (api processes take API_PORT, API_PORT+1, …). */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const port = await freePort()
    const next = createServer()
    const free = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false))
      next.listen(port + 1, '127.0.0.1', () => resolve(true))
    })
    if (free) {
      await new Promise((resolve) => next.close(resolve))
      return port
    }
  }
}

/** Requests an api process served so far, from its own /metrics. */
async function served(apiUrl: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text()
  return text
    .split('\n')
    .filter(
      (line) => line.startsWith('payrail_http_request_duration_seconds_count{') && line.includes('authorize'),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

test('payrail up --scale api=2 runs two api processes on consecutive ports and the gateway uses both', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'payrail-up-scale-'))
  const apiPort = await twoFreePorts()
  const [acquirerPort, relayPort, gatewayPort, workerPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ]
  const up = await startUp(
    t,
    dir,
    {
      DATABASE_URL: `sqlite:${join(dir, 'payrail.db')}`,
      KAFKA_BROKERS: brokers,
      API_PORT: String(apiPort),
      ACQUIRER_PORT: String(acquirerPort),
      ACQUIRER_URL: `http://127.0.0.1:${acquirerPort}`,
      ACQUIRER_AUTH_LATENCY_MS: '0-2',
      // The simulator's default 0.5 % of "rejected before processing" answers (503) would fail
      // one run in five of these 40 authorizes.
      ACQUIRER_AUTH_FAILURE_RATE: '0',
      RELAY_METRICS_PORT: String(relayPort),
      GATEWAY_PORT: String(gatewayPort),
      WORKER_METRICS_PORT: String(workerPort),
      NOTIFIER_METRICS_PORT: String(await freePort()),
    },
    ['--scale', 'api=2'],
  )
  const apis = [`http://127.0.0.1:${apiPort}`, `http://127.0.0.1:${apiPort + 1}`]
  for (const url of apis) assert.match(up.output(), new RegExp(`api +${url.replaceAll('.', '\\.')}`))
  const demoKey = /demo key +(prk_\S+)/.exec(up.output())?.[1]
  assert.ok(demoKey, up.output())
  // The gateway probes its upstreams on its own schedule: up has seen every role ready, but on a
  // loaded machine the gateway's first probe of an api can still be failing (40 answers of 503
  // in one CI run). One authorize that succeeds shows the gateway has an instance in service.
  let last = 0
  let tries = 0
  await until(
    'an authorize through the gateway to succeed',
    async () => {
      const answer = await fetch(`http://127.0.0.1:${gatewayPort}/api/payments/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1000, currency: 'KRW', idempotencyKey: 'scale-first' }),
      })
      await answer.arrayBuffer()
      tries++
      last = answer.status
      return last === 201 || last === 200
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  ).catch((error: Error) => {
    throw new Error(`${error.message} (last answer ${last})\n${up.output()}`)
  })
  const statuses = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const answer = await fetch(`http://127.0.0.1:${gatewayPort}/api/payments/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1000, currency: 'KRW', idempotencyKey: `scale-${i}` }),
      })
      await answer.arrayBuffer()
      return answer.status
    }),
  )
  assert.ok(
    statuses.every((status) => status === 201),
    `every authorize through the gateway succeeded: ${statuses}`,
  )
  const [first = 0, second = 0] = await Promise.all(apis.map(served))
  // The 40, and the first one with whatever of its tries reached an api.
  assert.ok(
    first + second >= 41 && first + second <= 40 + tries,
    `the two processes served all of them: ${first}, ${second} (${tries} tries of the first)`,
  )
  assert.ok(first > 0 && second > 0, `the gateway balanced over both: ${first}, ${second}`)
})

test('payrail up refuses a --scale it cannot do, naming the problem', () => {
  const result = spawnSync(
    process.execPath,
    [join(ROOT, 'src', 'cli', 'main.ts'), 'up', '--scale', 'api=0'],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  )
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, /--scale takes api=N with N from 1 to 64 \(got api=0\)/)
})
