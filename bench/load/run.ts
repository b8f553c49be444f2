/**
 * bench/load: the stack `payrail load` is measured against, then the tool itself. A fresh SQLite
 * (or scratch MariaDB) database, the acquirer simulator (fast: 0–2 ms), one api; for `flow` and `mix` also a private
 * Kafka broker (so this run's workers see only its events), the api's embedded relay and one
 * worker process. Then `payrail load <scenario> --url <api>` with the arguments after `--`,
 * scraping every role's /metrics.
 *
 *   ./payrail bench load -- --scenario authorize [--database sqlite|mysql] [--acquirer-latency 0-2] -- --rate 800 --duration 15s
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../../src/cli/context.ts'
import { startBroker, stopBroker } from '../../src/kafka/local-broker/broker.ts'
import { ensureTopicsOn } from '../../src/kafka/topics.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { freePort, type RoleProcess, startAcquirer, startRole } from '../../support/processes.ts'

const split = process.argv.indexOf('--', 2)
const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split)
const forwarded = split < 0 ? [] : process.argv.slice(split + 1)
const { values } = parseArgs({
  args: own,
  options: {
    scenario: { type: 'string', default: 'authorize' },
    'acquirer-latency': { type: 'string', default: '0-2' },
    database: { type: 'string', default: 'sqlite' },
  },
})
const database = values.database
if (database !== 'sqlite' && database !== 'mysql')
  throw new Error(`--database takes sqlite or mysql (got ${database})`)
const scenario = values.scenario
const needsKafka = scenario === 'flow' || scenario === 'mix'
const dir = mkdtempSync(join(tmpdir(), 'payrail-bench-load-'))
const stops: (() => Promise<unknown>)[] = []
try {
  let databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  if (database === 'mysql') {
    const scratch = await createScratchDatabase('mysql', scratchServerOf('mysql'), 'payrail_bench_load')
    databaseUrl = scratch.url
    stops.push(() => scratch.drop())
  }
  const broker = {
    root: ROOT,
    stateDir: join(dir, 'kafka'),
    port: await freePort(),
    controllerPort: await freePort(),
    say: () => {},
  }
  let kafka: Record<string, string> = {}
  if (needsKafka) {
    await startBroker(broker)
    stops.push(() => stopBroker(broker, 10_000, 'SIGKILL'))
    const brokers = `127.0.0.1:${broker.port}`
    await ensureTopicsOn({ brokers: [brokers], clientId: 'payrail-bench-load' })
    kafka = { KAFKA_BROKERS: brokers, API_EMBEDDED_RELAY: 'true' }
  }
  const latency = values['acquirer-latency']
  const acquirer = await startAcquirer({
    ACQUIRER_AUTH_LATENCY_MS: latency,
    ACQUIRER_SETTLE_LATENCY_MS: latency,
  })
  stops.push(() => acquirer.stop())
  const apiPort = await freePort()
  const common = { DATABASE_URL: databaseUrl, ACQUIRER_URL: acquirer.url, LOG_LEVEL: 'warn', ...kafka }
  const api = await startRole('api', apiPort, { ...common, API_PORT: String(apiPort), DB_POOL_MAX: '32' })
  stops.unshift(() => api.stop())
  const scrape = ['--scrape', `api=${api.url}`, '--scrape', `acquirer=${acquirer.url}`]
  if (needsKafka) {
    const workerPort = await freePort()
    const worker: RoleProcess = await startRole('worker', workerPort, {
      ...common,
      WORKER_METRICS_PORT: String(workerPort),
    })
    stops.unshift(() => worker.stop())
    scrape.push('--scrape', `worker=${worker.url}`)
  }
  const result = spawnSync(
    process.execPath,
    [
      join(ROOT, 'src', 'cli', 'main.ts'),
      'load',
      scenario,
      '--url',
      api.url,
      '--merchants',
      '20',
      ...scrape,
      ...forwarded,
    ],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, DATABASE_URL: databaseUrl } },
  )
  process.exitCode = result.status ?? 1
} finally {
  for (const stop of stops) await stop().catch(() => {})
  rmSync(dir, { recursive: true, force: true })
}
