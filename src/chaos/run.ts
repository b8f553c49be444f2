/**
 * One chaos scenario end to end: its own state services and platform, steady open-model `flow`
 * load through the gateway from a merchant client that retries with the same idempotency key,
 * the scenario's faults on their seeded schedule, then the invariants on the healed platform.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { readAcquirerJournal } from '../acquirer/journal.ts'
import { ACQUIRER_PATHS, type AcquirerMode } from '../acquirer/protocol.ts'
import { openDatabase } from '../db/database.ts'
import { issueApiKey } from '../db/merchants.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { ensureTopicsOn } from '../kafka/topics.ts'
import { createLoadClient } from '../load/client.ts'
import { seededRandom } from '../load/options.ts'
import { iterate, type ScenarioContext } from '../load/scenarios.ts'
import { ArrivalSchedule, realClock, runSchedule } from '../load/schedule.ts'
import { LoadStats, type SecondSample } from '../load/stats.ts'
import { freePort } from '../runtime/ports.ts'
import { FaultProxy } from './fault-proxy.ts'
import { checkInvariants, type InvariantResult } from './invariants.ts'
import { merchantClient, newMerchantRecord } from './merchant-client.ts'
import { ChaosPlatform, ROLES, type Role } from './platform.ts'
import { watchRelay } from './relay-watch.ts'
import type { ChaosScenario } from './scenarios.ts'
import { startChaosState } from './state.ts'

/** How long the load may outlast its planned duration while the faults are still running. */
const FAULT_OVERRUN_MS = 10 * 60_000

export interface ChaosRunOptions {
  root: string
  /** Flows started per second. */
  rate: number
  durationMs: number
  merchants: number
  seed: number
  /** How long a killed role stays down. */
  downMs: number
  /** Bound on each recovery wait after the load. */
  healTimeoutMs: number
  say: (line: string) => void
}

export interface ScenarioResult {
  scenario: string
  about: string
  dialect: string
  kafkaNodes: number
  seed: number
  rate: number
  durationMs: number
  /** Fault steps, ms after the load began. */
  timeline: { atMs: number; what: string }[]
  answers: Record<string, number>
  seconds: SecondSample[]
  invariants: InvariantResult[]
  passed: boolean
}

const CLIENT_ID = 'payrail'
const ADMIN_TOKEN = 'chaos-acquirer-admin-token-0123456789abcdef'

export async function runScenario(
  scenario: ChaosScenario,
  options: ChaosRunOptions,
): Promise<ScenarioResult> {
  const random = seededRandom(options.seed)
  const dialect = scenario.dialect ?? 'sqlite'
  const kafkaNodes = scenario.kafkaNodes ?? 1
  options.say(
    `\n== ${scenario.name}: ${scenario.about} (${dialect}, ${kafkaNodes} Kafka node${kafkaNodes > 1 ? 's' : ''})`,
  )
  const state = await startChaosState({
    root: options.root,
    dialect,
    kafkaNodes,
    redis: scenario.redis ?? false,
    say: () => {},
  })
  const ports = Object.fromEntries(
    await Promise.all(ROLES.map(async (r) => [r, await freePort()])),
  ) as Record<Role, number>
  // The links a scenario may fault: gateway → api, and api/worker → acquirer (one proxy each).
  const links = {
    api: new FaultProxy({ target: { host: '127.0.0.1', port: ports.api } }),
    acquirer: new FaultProxy({ target: { host: '127.0.0.1', port: ports.acquirer } }),
  }
  const linkPorts = { api: await links.api.start(), acquirer: await links.acquirer.start() }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: state.databaseUrl,
    KAFKA_BROKERS: state.kafka.brokers.join(','),
    KAFKA_CLIENT_ID: CLIENT_ID,
    API_EMBEDDED_RELAY: 'false',
    ACQUIRER_PORT: String(ports.acquirer),
    ACQUIRER_URL: `http://127.0.0.1:${linkPorts.acquirer}`,
    ACQUIRER_JOURNAL_FILE: state.acquirerJournal,
    ACQUIRER_ADMIN_TOKEN: ADMIN_TOKEN,
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
    API_PORT: String(ports.api),
    GATEWAY_PORT: String(ports.gateway),
    GATEWAY_UPSTREAM_API: `http://127.0.0.1:${linkPorts.api}`,
    RELAY_METRICS_PORT: String(ports.relay),
    WORKER_METRICS_PORT: String(ports.worker),
    LOG_LEVEL: 'warn',
    ...(state.redisUrl === undefined ? {} : { REDIS_URL: state.redisUrl }),
  }
  const platform = new ChaosPlatform(ports, env, state.dir)
  let passed = false
  let relay: ReturnType<typeof watchRelay> | undefined
  const handle = openDatabase({ url: state.databaseUrl, poolMax: 2, onIdleConnectionError: () => {} })
  try {
    await migrateToLatest(handle.db, handle.dialect)
    await ensureTopicsOn({ brokers: state.kafka.brokers, clientId: 'payrail-chaos' })
    const keys: string[] = []
    for (let i = 0; i < options.merchants; i++)
      keys.push((await issueApiKey(handle.db, `chaos-${options.seed}-${i}`, 'chaos')).key)
    for (const role of ROLES) await platform.start(role)
    options.say(
      `platform up on ${platform.url('gateway')} (database ${state.databaseUrl}, logs in ${state.dir})`,
    )

    const record = newMerchantRecord()
    const client = merchantClient(
      createLoadClient(platform.url('gateway'), { connections: 64, timeoutMs: 10_000 }),
      record,
      {
        random,
        sleep: realClock.sleep,
      },
    )
    const stats = new LoadStats(performance.now(), 'flow')
    const ctx: ScenarioContext = {
      client,
      stats,
      keys,
      tag: `chaos-${scenario.name}-${options.seed}`,
      random,
      declines: false,
      pollMs: 100,
      waitTimeoutMs: 30_000,
      readable: [],
      mix: { authorize: 0, read: 0, flow: 1 },
      sleep: realClock.sleep,
    }
    const timeline: ScenarioResult['timeline'] = []
    const begin = Date.now()
    // Settled at once into a value, so that a fault that fails while the load runs is reported
    // after it, not as an unhandled rejection.
    const faults = scenario
      .faults({
        platform,
        state,
        links,
        random,
        durationMs: options.durationMs,
        downMs: options.downMs,
        at: (ms) => sleep(Math.max(0, ms - (Date.now() - begin))),
        sleep: (ms) => sleep(ms),
        mark: (what) => {
          const atMs = Date.now() - begin
          timeline.push({ atMs, what })
          options.say(`${(atMs / 1000).toFixed(1).padStart(6)} s  ${what}`)
        },
        acquirerMode: (mode, slowExtraMs) => setMode(platform.url('acquirer'), mode, slowExtraMs),
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    relay = watchRelay(platform.url('relay'), handle.db)
    // The load goes on past its planned duration until the last fault has passed: a killed role
    // waits to be ready again before the next fault, and on a loaded machine that took 30 s for
    // the api (a CI run, against the few seconds the plan allows), which pushed the smoke's
    // broker stop past the load; a relay with nothing to send never opens its breaker.
    const enough = new AbortController()
    let faultsOver = false
    let planOver = false
    const stopWhenBoth = () => {
      if (faultsOver && planOver) enough.abort()
    }
    const planTimer = setTimeout(() => {
      planOver = true
      stopWhenBoth()
    }, options.durationMs)
    void faults.then(() => {
      faultsOver = true
      stopWhenBoth()
    })
    const scheduler = await runSchedule({
      schedule: new ArrivalSchedule([
        { from: options.rate, to: options.rate, durationMs: options.durationMs + FAULT_OVERRUN_MS },
      ]),
      maxInFlight: 10_000,
      start: (n, due) => iterate('flow', ctx, n, due),
      signal: enough.signal,
    }).finally(() => clearTimeout(planTimer))
    const faultError = await faults
    await client.close()
    const relayFigures = await relay.stop()
    if (faultError !== undefined) throw faultError
    options.say(`load done: ${scheduler.started} flows started; checking the invariants`)

    const invariants = await checkInvariants({
      db: handle.db,
      brokers: state.kafka.brokers,
      clientId: CLIENT_ID,
      record,
      started: scheduler.started,
      healTimeoutMs: options.healTimeoutMs,
      acquirerCounts: await readAcquirerJournal(state.acquirerJournal),
      sleep: (ms) => sleep(ms),
    })
    if (scenario.expectBreakerOpen === true) {
      invariants.push({
        name: 'breaker-rode-out',
        passed:
          relayFigures.opened === 1 && relayFigures.recordFailures === 0 && relayFigures.retryRowsMax === 0,
        figures: { ...relayFigures },
      })
    }
    // A role must ride out every fault but its own kill: one that died of another is a finding.
    const exits = platform.unexpectedExits
    invariants.push({
      name: 'roles-survived',
      passed: exits.length === 0,
      figures: { unexpectedExits: exits.length },
      ...(exits.length === 0
        ? {}
        : {
            detail: exits
              .map(
                (e) =>
                  `${e.role} exited (code ${e.code}, signal ${e.signal}) at ${((e.at - begin) / 1000).toFixed(1)} s; see ${platform.logFile(e.role)}`,
              )
              .join('; '),
          }),
    })
    passed = invariants.every((i) => i.passed)
    return {
      scenario: scenario.name,
      about: scenario.about,
      dialect,
      kafkaNodes,
      seed: options.seed,
      rate: options.rate,
      durationMs: options.durationMs,
      timeline,
      answers: record.answers,
      seconds: stats.seconds(() => options.rate),
      invariants,
      passed,
    }
  } finally {
    await relay?.stop()
    await platform.stopAll()
    await Promise.all([links.api.close(), links.acquirer.close()])
    await handle.close()
    // A failed scenario keeps its folder (role logs, database): the report names it.
    await state.close({ keepDir: !passed })
    if (!passed) options.say(`kept ${state.dir} (role logs, database) for inspection`)
  }
}

async function setMode(url: string, mode: AcquirerMode, slowExtraMs?: number): Promise<void> {
  const response = await fetch(`${url}${ACQUIRER_PATHS.mode}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify(slowExtraMs === undefined ? { mode } : { mode, slowExtraMs }),
  })
  if (!response.ok)
    throw new Error(`the acquirer refused mode ${mode}: ${response.status} ${await response.text()}`)
}
