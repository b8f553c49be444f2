/**
 * The whole platform as `payrail up` runs it, on private ports so that nothing else is touched:
 * a private Kafka broker, a scratch database of the dialect, the acquirer simulator at its
 * default latency and failure rate, `apiProcesses` api processes (each on its own port, the
 * gateway balancing over them), the gateway (rate limits in the machine's Redis under a prefix
 * of its own), the relay and the worker. Each role is its own process, so its CPU can be read
 * from /proc. With `privateServers` the database (MariaDB, PostgreSQL) and Redis are servers of
 * the run's own on spare ports, so that their CPU is the run's alone on a machine whose shared
 * servers are busy with other work (tests, other benchmarks).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPrivateDatabase } from '../../src/chaos/private-database.ts'
import { startPrivateRedis } from '../../src/chaos/private-redis.ts'
import { ROOT } from '../../src/cli/context.ts'
import { testServiceUrl } from '../../src/cli/test-services.ts'
import type { DialectName } from '../../src/db/database.ts'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { startBroker, stopBroker } from '../../src/kafka/local-broker/broker.ts'
import { ensureTopicsOn } from '../../src/kafka/topics.ts'
import { createScratchDatabase, type ScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { freePorts, type RoleProcess, startRole } from '../../support/processes.ts'
import { treeSeconds } from '../lib/cpu.ts'

export interface PlatformOptions {
  dialect: DialectName
  apiProcesses: number
  /** The simulator's authorize latency range in ms. */
  acquirerLatency: string
  /** Merchants (one API key each) the load spreads over. */
  merchants: number
  /** A folder for the broker's state, the SQLite file and the keys file. */
  dir: string
  /** Extra environment for every role (e.g. DB_POOL_MAX). */
  env: Record<string, string>
  /** Where each role writes its `--cpu-prof` profile on exit (`<dir>/<name>/`); none when absent. */
  profileDir?: string
  /** MariaDB or PostgreSQL, and Redis, as servers of the run's own (else the machine's shared ones). */
  privateServers: boolean
}

export interface Platform {
  gatewayUrl: string
  databaseUrl: string
  keysFile: string
  /** Every role process by name (`api-1`, `api-2`, `gateway`, …), for CPU accounting. */
  processes: Map<string, RoleProcess>
  /**
   * CPU seconds so far of the servers that are the run's own (`kafka`, and with
   * `privateServers` `mariadb` or `postgres` and `redis`), by name; shared servers are not here.
   */
  serverSeconds(): Record<string, number>
  stop(): Promise<void>
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const stops: (() => Promise<unknown>)[] = []
  const processes = new Map<string, RoleProcess>()
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => {})
  }
  try {
    const own = new Map<string, () => number | undefined>()
    let scratch: ScratchDatabase
    if (options.privateServers && options.dialect !== 'sqlite') {
      const server = await startPrivateDatabase(options.dialect)
      stops.push(() => server.close())
      own.set(options.dialect === 'mysql' ? 'mariadb' : 'postgres', server.pid)
      scratch = { url: server.url, drop: () => server.close() }
    } else {
      scratch = await createScratchDatabase(
        options.dialect,
        scratchServerOf(options.dialect),
        'payrail_bench_platform',
      )
      stops.push(() => scratch.drop())
    }
    let redisUrl = testServiceUrl('redis')
    if (options.privateServers) {
      const redis = await startPrivateRedis()
      stops.push(() => redis.close())
      own.set('redis', redis.pid)
      redisUrl = redis.url
    }
    const handle = openDatabase({ url: scratch.url, poolMax: 1 })
    const keys: string[] = []
    try {
      await migrateToLatest(handle.db, handle.dialect)
      for (let i = 0; i < options.merchants; i++)
        keys.push((await issueApiKey(handle.db, `bench-${i}`, `Bench merchant ${i}`)).key)
    } finally {
      await handle.close()
    }
    const keysFile = join(options.dir, 'keys.txt')
    writeFileSync(keysFile, `${keys.join('\n')}\n`, { mode: 0o600 })

    const [brokerPort, controllerPort, acquirerPort, gatewayPort, relayPort, workerPort, ...apiPorts] =
      await freePorts(6 + options.apiProcesses)
    const broker = {
      root: ROOT,
      stateDir: join(options.dir, 'kafka'),
      port: brokerPort as number,
      controllerPort: controllerPort as number,
      say: () => {},
    }
    const { pid: brokerPid } = await startBroker(broker)
    stops.push(() => stopBroker(broker, 10_000, 'SIGKILL'))
    own.set('kafka', () => brokerPid)
    const brokers = `127.0.0.1:${broker.port}`
    await ensureTopicsOn({ brokers: [brokers], clientId: 'payrail-bench-platform' })

    const start = async (name: string, role: string, port: number, env: Record<string, string>) => {
      const profile: Record<string, string> =
        options.profileDir === undefined
          ? {}
          : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(options.profileDir, name)}` }
      const started = await startRole(role, port, { LOG_LEVEL: 'warn', ...common, ...env, ...profile })
      processes.set(name, started)
      stops.push(() => started.stop())
      return started
    }
    const common: Record<string, string> = {
      DATABASE_URL: scratch.url,
      KAFKA_BROKERS: brokers,
      ACQUIRER_URL: `http://127.0.0.1:${acquirerPort}`,
      ...options.env,
    }
    // The simulator at its defaults (latency 50–150 ms, 0.5 % failures) unless told otherwise.
    await start('acquirer', 'acquirer', acquirerPort as number, {
      ACQUIRER_PORT: String(acquirerPort),
      ACQUIRER_AUTH_LATENCY_MS: options.acquirerLatency,
    })
    for (const [index, port] of apiPorts.entries())
      await start(`api-${index + 1}`, 'api', port, { API_PORT: String(port) })
    const gateway = await start('gateway', 'gateway', gatewayPort as number, {
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_UPSTREAM_API: apiPorts.map((port) => `http://127.0.0.1:${port}`).join(','),
      REDIS_URL: redisUrl,
      GATEWAY_REDIS_PREFIX: `payrail:bench:${Date.now().toString(36)}:`,
    })
    await start('relay', 'relay', relayPort as number, { RELAY_METRICS_PORT: String(relayPort) })
    await start('worker', 'worker', workerPort as number, { WORKER_METRICS_PORT: String(workerPort) })
    const serverSeconds = () => {
      const seconds: Record<string, number> = {}
      for (const [name, pidOf] of own) {
        const pid = pidOf()
        if (pid !== undefined) seconds[name] = treeSeconds(pid)
      }
      return seconds
    }
    return { gatewayUrl: gateway.url, databaseUrl: scratch.url, keysFile, processes, serverSeconds, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
