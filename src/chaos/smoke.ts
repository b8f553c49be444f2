/**
 * The smoke scenario: steady open-model `flow` load through the gateway while each role is
 * `kill -9`ed once at a seeded moment and restarted after a short pause; then the invariants.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { openDatabase } from '../db/database.ts'
import { issueApiKey } from '../db/merchants.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { ensureTopicsOn } from '../kafka/topics.ts'
import { checkLedger, ledgerIsClean } from '../ledger/check.ts'
import { createLoadClient, type LoadClient } from '../load/client.ts'
import { seededRandom } from '../load/options.ts'
import { iterate, type ScenarioContext } from '../load/scenarios.ts'
import { ArrivalSchedule, realClock, runSchedule } from '../load/schedule.ts'
import { LoadStats } from '../load/stats.ts'
import { outboxBacklog } from '../outbox/status.ts'
import { freePort } from '../runtime/ports.ts'
import { ChaosPlatform, ROLES, type Role } from './platform.ts'

export interface SmokeOptions {
  brokers: string
  rate: number
  durationMs: number
  merchants: number
  seed: number
  /** How long a killed role stays down. */
  downMs: number
  healTimeoutMs: number
  say: (line: string) => void
}

export interface InvariantResult {
  name: string
  passed: boolean
  figures: Record<string, number>
  detail?: string
}

export interface SmokeResult {
  scenario: 'smoke'
  seed: number
  kills: { role: Role; atMs: number; downMs: number }[]
  answers: Record<string, number>
  invariants: InvariantResult[]
  passed: boolean
}

/** How far a payment got; an acknowledged step must be met by at least its rank. */
const RANK: Record<string, number> = {
  AUTHORIZED: 1,
  DECLINED: 1,
  CAPTURE_REQUESTED: 2,
  CAPTURED: 3,
  CAPTURE_FAILED: 3,
  REFUND_REQUESTED: 4,
  PARTIAL_REFUNDED: 5,
  REFUNDED: 5,
  REFUND_FAILED: 5,
}
const PENDING = new Set(['CAPTURE_REQUESTED', 'REFUND_REQUESTED'])
const ACK_RANK = { authorize: 1, capture: 2, refund: 4 } as const
type Acked = keyof typeof ACK_RANK

/** The load tool's client, remembering every 2xx authorize/capture/refund and every answer key. */
function recordingClient(
  inner: LoadClient,
  acked: Map<string, Acked>,
  answers: Record<string, number>,
): LoadClient {
  return {
    close: () => inner.close(),
    async send(request) {
      const answer = await inner.send(request)
      answers[answer.key] = (answers[answer.key] ?? 0) + 1
      if (request.method === 'POST' && answer.status >= 200 && answer.status < 300) {
        const match = /^\/api\/payments\/(capture|refund)\/(.+)$/.exec(request.path)
        const id = match?.[2] ?? (answer.body as { paymentId?: string } | undefined)?.paymentId
        const what: Acked = (match?.[1] as Acked | undefined) ?? 'authorize'
        const before = acked.get(id ?? '')
        if (id !== undefined && (before === undefined || ACK_RANK[what] > ACK_RANK[before]))
          acked.set(id, what)
      }
      return answer
    },
  }
}

/** 502/503/504 are documented only as problems with a `code`; other 5xx, bare or not, never. */
export function undocumentedAnswers(answers: Record<string, number>): Record<string, number> {
  const bad: Record<string, number> = {}
  for (const [key, n] of Object.entries(answers)) {
    const [status, code] = key.split(' ')
    const s = Number(status)
    const ok =
      key === 'timeout' ||
      key === 'error' ||
      (s >= 200 && s < 500) ||
      ((s === 502 || s === 503 || s === 504) && code !== undefined && code !== '')
    if (!ok) bad[key] = n
  }
  return bad
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeResult> {
  const random = seededRandom(options.seed)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-chaos-'))
  const databaseUrl = `sqlite://${join(dir, 'chaos.db')}`
  const handle = openDatabase({ url: databaseUrl, poolMax: 2 })
  const ports = Object.fromEntries(
    await Promise.all(ROLES.map(async (r) => [r, await freePort()])),
  ) as Record<Role, number>
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: options.brokers,
    API_EMBEDDED_RELAY: 'false',
    ACQUIRER_PORT: String(ports.acquirer),
    ACQUIRER_URL: `http://127.0.0.1:${ports.acquirer}`,
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
    API_PORT: String(ports.api),
    GATEWAY_PORT: String(ports.gateway),
    GATEWAY_UPSTREAM_API: `http://127.0.0.1:${ports.api}`,
    RELAY_METRICS_PORT: String(ports.relay),
    WORKER_METRICS_PORT: String(ports.worker),
    LOG_LEVEL: 'warn',
  }
  const platform = new ChaosPlatform(ports, env)
  try {
    await migrateToLatest(handle.db, handle.dialect)
    await ensureTopicsOn({ brokers: [options.brokers], clientId: 'payrail-chaos' })
    const keys: string[] = []
    for (let i = 0; i < options.merchants; i++)
      keys.push((await issueApiKey(handle.db, `chaos-${options.seed}-${i}`, 'chaos smoke')).key)
    for (const role of ROLES) await platform.start(role)
    options.say(`platform up on ${platform.url('gateway')} (database ${databaseUrl})`)

    const acked = new Map<string, Acked>()
    const answers: Record<string, number> = {}
    const client = recordingClient(
      createLoadClient(platform.url('gateway'), { connections: 64, timeoutMs: 10_000 }),
      acked,
      answers,
    )
    const ctx: ScenarioContext = {
      client,
      stats: new LoadStats(performance.now(), 'flow'),
      keys,
      tag: `chaos-${options.seed}`,
      random,
      declines: false,
      pollMs: 100,
      waitTimeoutMs: 15_000,
      readable: [],
      mix: { authorize: 0, read: 0, flow: 1 },
      sleep: realClock.sleep,
    }
    // Each role once, spread over the middle of the run so load is flowing before and after.
    const slot = (options.durationMs * 0.7) / ROLES.length
    const kills = ROLES.map((role, i) => ({
      role,
      atMs: Math.round(options.durationMs * 0.1 + slot * i + random() * slot * 0.5),
      downMs: options.downMs,
    }))
    const faults = (async () => {
      const begin = Date.now()
      for (const kill of kills) {
        await sleep(Math.max(0, kill.atMs - (Date.now() - begin)))
        options.say(`kill -9 ${kill.role} at ${kill.atMs} ms`)
        await platform.kill(kill.role)
        await sleep(kill.downMs)
        await platform.start(kill.role)
        options.say(`restarted ${kill.role}`)
      }
    })()
    const scheduler = await runSchedule({
      schedule: new ArrivalSchedule([
        { from: options.rate, to: options.rate, durationMs: options.durationMs },
      ]),
      maxInFlight: 10_000,
      start: (n, due) => iterate('flow', ctx, n, due),
    })
    await faults
    await client.close()

    const invariants: InvariantResult[] = []
    // (1) acknowledged work is in the database, at least as far as acknowledged.
    const rows = await handle.db.selectFrom('payments').select(['id', 'status']).execute()
    const status = new Map(rows.map((r) => [r.id, r.status]))
    let lost = 0
    for (const [id, what] of acked) if ((RANK[status.get(id) ?? ''] ?? 0) < ACK_RANK[what]) lost++
    invariants.push({
      name: 'acknowledged-persisted',
      passed: lost === 0,
      figures: { sent: scheduler.started, acknowledged: acked.size, lost, doubled: 0 },
    })
    // (2) every payment reaches a final state once faults heal.
    const healBegin = Date.now()
    let pending = rows.filter((r) => PENDING.has(r.status)).length
    while (pending > 0 && Date.now() - healBegin < options.healTimeoutMs) {
      await sleep(250)
      const now = await handle.db.selectFrom('payments').select('status').execute()
      pending = now.filter((r) => PENDING.has(r.status)).length
    }
    invariants.push({
      name: 'payments-final',
      passed: pending === 0,
      figures: { payments: rows.length, notFinal: pending, longestRecoveryMs: Date.now() - healBegin },
    })
    // (3) ledger balanced.
    // The ledger consumer may still be catching up after its worker's restart (a rebalance on the
    // first smoke took seconds): clean within the bound is the invariant, not clean at once.
    const ledgerBegin = Date.now()
    let ledger = await checkLedger(handle.db)
    while (!ledgerIsClean(ledger) && Date.now() - ledgerBegin < options.healTimeoutMs) {
      await sleep(500)
      ledger = await checkLedger(handle.db)
    }
    invariants.push({
      name: 'ledger-clean',
      passed: ledgerIsClean(ledger),
      figures: {
        checked: rows.length,
        offenders: ledger.offenders.length,
        settleMs: Date.now() - ledgerBegin,
      },
      ...(ledgerIsClean(ledger) ? {} : { detail: JSON.stringify(ledger).slice(0, 500) }),
    })
    // (4) outbox drained.
    const outboxBegin = Date.now()
    let backlog = await outboxBacklog(handle.db)
    while (backlog.pending > 0 && Date.now() - outboxBegin < options.healTimeoutMs) {
      await sleep(250)
      backlog = await outboxBacklog(handle.db)
    }
    invariants.push({
      name: 'outbox-drained',
      passed: backlog.pending === 0,
      figures: { pending: backlog.pending, drainMs: Date.now() - outboxBegin },
    })
    // (5) only documented answers.
    const bad = undocumentedAnswers(answers)
    const badCount = Object.values(bad).reduce((a, b) => a + b, 0)
    invariants.push({
      name: 'documented-answers',
      passed: badCount === 0,
      figures: { answers: Object.values(answers).reduce((a, b) => a + b, 0), undocumented: badCount },
      ...(badCount === 0 ? {} : { detail: JSON.stringify(bad) }),
    })
    return {
      scenario: 'smoke',
      seed: options.seed,
      kills,
      answers,
      invariants,
      passed: invariants.every((i) => i.passed),
    }
  } finally {
    await platform.stopAll()
    await handle.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function chaosTable(result: SmokeResult): string {
  const lines = [`scenario  invariant                result  figures`]
  for (const inv of result.invariants) {
    const figures = Object.entries(inv.figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    lines.push(
      `${result.scenario.padEnd(9)} ${inv.name.padEnd(24)} ${(inv.passed ? 'pass' : 'FAIL').padEnd(7)} ${figures}`,
    )
    if (inv.detail !== undefined) lines.push(`          ${inv.detail}`)
  }
  lines.push(
    `answers: ${Object.entries(result.answers)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  )
  return lines.join('\n')
}
