/**
 * The whole platform as `payrail up` runs it, on private ports so that nothing else is touched:
 * a private Kafka broker, a scratch database of the dialect, the acquirer simulator at its
 * default latency and failure rate, `apiProcesses` api processes (each on its own port, the
 * gateway balancing over them), the gateway (rate limits in the machine's Redis under a prefix
 * of its own), the relay and the worker. Each role is its own process, so its CPU can be read
 * from /proc.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testServiceUrl } from '../../src/cli/test-services.ts'
import type { DialectName } from '../../src/db/database.ts'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { freePorts, type RoleProcess, startRole } from '../../support/processes.ts'
import { privateBenchBroker } from '../lib/kafka.ts'

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
}

export interface Platform {
  gatewayUrl: string
  databaseUrl: string
  keysFile: string
  /** Every role process by name (`api-1`, `api-2`, `gateway`, …), for CPU accounting. */
  processes: Map<string, RoleProcess>
  stop(): Promise<void>
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const stops: (() => Promise<unknown>)[] = []
  const processes = new Map<string, RoleProcess>()
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => {})
  }
  try {
    const scratch = await createScratchDatabase(
      options.dialect,
      scratchServerOf(options.dialect),
      'payrail_bench_platform',
    )
    stops.push(() => scratch.drop())
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

    const [acquirerPort, gatewayPort, relayPort, workerPort, ...apiPorts] = await freePorts(
      4 + options.apiProcesses,
    )
    const broker = await privateBenchBroker(options.dir, 'payrail-bench-platform')
    stops.push(broker.stop)
    const { brokers } = broker

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
      REDIS_URL: testServiceUrl('redis'),
      GATEWAY_REDIS_PREFIX: `payrail:bench:${Date.now().toString(36)}:`,
    })
    await start('relay', 'relay', relayPort as number, { RELAY_METRICS_PORT: String(relayPort) })
    await start('worker', 'worker', workerPort as number, { WORKER_METRICS_PORT: String(workerPort) })
    return { gatewayUrl: gateway.url, databaseUrl: scratch.url, keysFile, processes, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
