/**
 * bench/api: authorize-only and authorize→capture load against a real `payrail api` process and
 * a real acquirer process, with the acquirer's latency at 0 and at its default (50–150 ms), on
 * SQLite and MariaDB. Drives it with bench/lib/load.ts and prints requests/s, p50/p95/p99 and errors.
 *
 *   ./payrail bench api [--duration 15] [--connections 256] [--databases sqlite,mysql]
 */
import { parseArgs } from 'node:util'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { freePort, startAcquirer, startRole } from '../../support/processes.ts'
import { type LoadOptions, type LoadResult, runLoad } from '../lib/load.ts'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '256' },
    databases: { type: 'string', default: 'sqlite,mysql' },
  },
})
const duration = Number(values.duration)
const connections = Number(values.connections)
const databases = values.databases.split(',')
for (const [name, value] of [
  ['--duration', duration],
  ['--connections', connections],
] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`)
}
for (const database of databases) {
  if (database !== 'sqlite' && database !== 'mysql')
    throw new Error(`--databases takes sqlite and mysql (got ${database})`)
}

interface Row {
  database: string
  latency: string
  scenario: string
  rps: number
  p50: number
  p95: number
  p99: number
  errors: number
  statuses: Record<string, number>
}

const runTag = Date.now().toString(36)

/** The virtual users of each scenario: every authorize with its own key; the flow captures what it authorized. */
function scenario(kind: string, tag: string, key: string): LoadOptions['user'] {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` }
  return async (index, send, running) => {
    for (let i = 0; running(); i++) {
      const body = JSON.stringify({
        amount: 1000 + (i % 50),
        currency: 'KRW',
        idempotencyKey: `${tag}-${runTag}-${index}-${i}`,
      })
      const authorized = await send({ method: 'POST', path: '/api/payments/authorize', headers, body })
      if (kind !== 'flow' || authorized.status !== 201 || !running()) continue
      const payment = JSON.parse(authorized.body) as { paymentId: string; status: string }
      if (payment.status !== 'AUTHORIZED') continue
      // Refunds need the settlement worker (a later issue) to have captured the money first.
      await send({ method: 'POST', path: `/api/payments/capture/${payment.paymentId}`, headers, body: '{}' })
    }
  }
}

async function measure(
  url: string,
  kind: string,
  tag: string,
  key: string,
  seconds: number,
): Promise<LoadResult> {
  return runLoad({ url, connections, durationMs: seconds * 1000, user: scenario(kind, tag, key) })
}

const rows: Row[] = []
for (const database of databases) {
  for (const latency of ['0-0', '50-150']) {
    const { url, drop } = await createScratchDatabase(
      database as 'sqlite' | 'mysql',
      scratchServerOf(database as 'sqlite' | 'mysql'),
      'payrail_bench',
    )
    const handle = openDatabase({ url, poolMax: 2 })
    await migrateToLatest(handle.db, handle.dialect)
    const { key } = await issueApiKey(handle.db, 'bench')
    await handle.close()
    const acquirer = await startAcquirer({
      ACQUIRER_AUTH_LATENCY_MS: latency,
      ACQUIRER_AUTH_FAILURE_RATE: '0.005',
    })
    const port = await freePort()
    const api = await startRole('api', port, {
      DATABASE_URL: url,
      API_PORT: String(port),
      ACQUIRER_URL: acquirer.url,
      LOG_LEVEL: 'warn',
      DB_POOL_MAX: '32',
    })
    try {
      for (const scenario of ['authorize', 'flow']) {
        await measure(api.url, scenario, `${scenario}-warm`, key, 3) // warm-up: JIT, pools, caches
        const r = await measure(api.url, scenario, scenario, key, duration)
        const row: Row = {
          database,
          latency: `${latency} ms`,
          scenario: scenario === 'flow' ? 'authorize+capture' : 'authorize',
          rps: r.rps,
          p50: r.p50,
          p95: r.p95,
          p99: r.p99,
          errors: r.errors,
          statuses: r.statuses,
        }
        rows.push(row)
        console.log(
          `${row.database.padEnd(7)} acquirer ${row.latency.padEnd(10)} ${row.scenario.padEnd(18)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50.toFixed(1)} ms  p95 ${row.p95.toFixed(1)} ms  p99 ${row.p99.toFixed(1)} ms  errors ${row.errors} ${JSON.stringify(row.statuses)}`,
        )
      }
    } finally {
      await api.stop()
      await acquirer.stop()
      await drop()
    }
  }
}

console.log(
  `\nbench/api: ${connections} connections, ${duration} s per run, one api process; the load generator shares this 2-core machine`,
)
console.log('| database | acquirer latency | scenario | requests/s | p50 ms | p95 ms | p99 ms | errors |')
console.log('|---|---|---|---|---|---|---|---|')
for (const row of rows) {
  console.log(
    `| ${row.database} | ${row.latency} | ${row.scenario} | ${row.rps.toFixed(0)} | ${row.p50.toFixed(1)} | ${row.p95.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.errors} |`,
  )
}
console.log('seed (several VMs, two DB shards): authorize 1,016 req/s, p95 153 ms, p99 3.9 s')
