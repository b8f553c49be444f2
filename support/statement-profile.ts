import type { AddressInfo } from 'node:net'
import { AcquirerClient } from '../src/acquirer/client.ts'
import { createApiMetrics } from '../src/api/metrics.ts'
import { PaymentReads } from '../src/api/payment-reads.ts'
import { PaymentService } from '../src/api/payment-service.ts'
import { buildApiServer } from '../src/api/server.ts'
import { type DialectName, openDatabase } from '../src/db/database.ts'
import { issueApiKey } from '../src/db/merchants.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { StatementCounter, type StatementTally } from '../src/db/statement-count.ts'
import { createMetricsRegistry } from '../src/observability/metrics.ts'
import { quietLogger } from './logger.ts'

/** The operations measured, in the order they run. */
export type ProfiledOperation =
  | 'authorize (first, key lookup)'
  | 'authorize'
  | 'authorize replay'
  | 'capture'
  | 'capture (no key)'
  | 'refund'

export interface OperationCost {
  operation: ProfiledOperation
  /** How many times it ran. */
  runs: number
  /** The tally of one run; when runs differed (`same` false), the first run's. */
  tally: StatementTally
  /** Every run sent exactly the same statements. */
  same: boolean
  /** HTTP status of the answers (all runs). */
  statuses: number[]
  /** The normalized statements of the first run, in the order sent. */
  sequence: string[]
}

export interface StatementProfile {
  dialect: DialectName
  operations: OperationCost[]
}

export interface StatementProfileOptions {
  dialect: DialectName
  /** An empty database of `dialect` (migrated here). */
  databaseUrl: string
  /** A running acquirer simulator, best at 0 ms (ACQUIRER_AUTH_LATENCY_MS=0-0) and no failures. */
  acquirerUrl: string
  /** Authorizations measured one by one after the first. Default: 20. */
  authorizations?: number
}

const sameTally = (a: StatementTally, b: StatementTally) => JSON.stringify(a) === JSON.stringify(b)

/**
 * What each payment operation costs in statements and round trips, through the real api (its
 * Fastify routes, authentication and PaymentService) over HTTP on a local port, against a real
 * acquirer process. The api's background sweeps (recovery, retention) and the embedded relay
 * are not started, and requests run one at a time, so everything the handle sends between a
 * request and its answer is that request's own. The refund's payment is put in CAPTURED by hand
 * first, where the settlement worker would leave it.
 */
export async function profileStatements(options: StatementProfileOptions): Promise<StatementProfile> {
  const authorizations = options.authorizations ?? 20
  let sent: string[] = []
  const counter = new StatementCounter({ onStatement: (statement) => sent.push(statement) })
  const database = openDatabase({ url: options.databaseUrl, poolMax: 4, statementCounter: counter })
  const acquirer = new AcquirerClient({ url: options.acquirerUrl })
  try {
    await migrateToLatest(database.db, database.dialect)
    const { key } = await issueApiKey(database.db, 'statements')
    const registry = createMetricsRegistry('api')
    const metrics = createApiMetrics(registry)
    const app = await buildApiServer({
      logger: quietLogger(),
      registry,
      metrics,
      db: database.db,
      service: new PaymentService({ database, acquirer, observer: metrics.observer }),
      reads: new PaymentReads(database.db),
      readiness: [],
      breakers: () => acquirer.breakerStates(),
      maxAmount: 100_000_000_000,
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    try {
      const post = async (path: string, body: unknown, idempotencyKey?: string) => {
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
          },
          body: JSON.stringify(body),
        })
        const text = await response.text()
        return { status: response.status, body: JSON.parse(text) as { paymentId: string; status: string } }
      }
      const costs = new Map<ProfiledOperation, OperationCost>()
      const measure = async <T extends { status: number }>(
        operation: ProfiledOperation,
        work: () => Promise<T>,
      ): Promise<T> => {
        // From zero, so that the statement texts come in the order this request sent them.
        counter.reset()
        sent = []
        const { value, tally } = await counter.measure(work)
        // Whatever runs between requests (the refund's setup) is no request's.
        const sequence = sent
        sent = []
        const cost = costs.get(operation)
        if (cost === undefined)
          costs.set(operation, {
            operation,
            runs: 1,
            tally,
            same: true,
            statuses: [value.status],
            sequence,
          })
        else {
          cost.runs++
          cost.same &&= sameTally(cost.tally, tally)
          cost.statuses.push(value.status)
        }
        return value
      }
      const authorize = (i: number) => ({ amount: 1000 + i, currency: 'KRW', idempotencyKey: `stmt-${i}` })

      const first = await measure('authorize (first, key lookup)', () =>
        post('/api/payments/authorize', authorize(0)),
      )
      const paymentIds = [first.body.paymentId]
      for (let i = 1; i <= authorizations; i++) {
        const answer = await measure('authorize', () => post('/api/payments/authorize', authorize(i)))
        paymentIds.push(answer.body.paymentId)
      }
      await measure('authorize replay', () => post('/api/payments/authorize', authorize(authorizations)))
      const [withKey, withoutKey] = paymentIds
      if (withKey === undefined || withoutKey === undefined) throw new Error('no payments to capture')
      await measure('capture', () => post(`/api/payments/capture/${withKey}`, {}, 'stmt-capture'))
      await measure('capture (no key)', () => post(`/api/payments/capture/${withoutKey}`, {}))
      // Where the settlement worker would leave the payment once the acquirer settled it.
      await database.db
        .updateTable('payments')
        .set({ status: 'CAPTURED', captured_amount: 1000 })
        .where('id', '=', withKey)
        .execute()
      await measure('refund', () =>
        post(`/api/payments/refund/${withKey}`, { amount: 400, reason: 'statements' }, 'stmt-refund'),
      )
      return { dialect: database.dialect, operations: [...costs.values()] }
    } finally {
      await app.close()
    }
  } finally {
    await acquirer.close()
    await database.close()
  }
}

/** The profile as Markdown: one row per operation with statements, round trips and kinds. */
export function statementTable(profiles: readonly StatementProfile[]): string[] {
  const lines = [
    '| database | operation | runs | statements | round trips | select | insert | update | delete | begin | commit | rollback | other | HTTP |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const profile of profiles) {
    for (const { operation, runs, tally, same, statuses } of profile.operations) {
      const k = tally.byKind
      const http = [...new Set(statuses)].join(',')
      lines.push(
        `| ${profile.dialect} | ${operation} | ${runs}${same ? '' : ' (differed)'} | ${tally.statements} | ${tally.roundTrips} | ${k.select} | ${k.insert} | ${k.update} | ${k.delete} | ${k.begin} | ${k.commit} | ${k.rollback} | ${k.other} | ${http} |`,
      )
    }
  }
  return lines
}

/** The statements of one run of `operation`, normalized, in the order sent (numbered). */
export function statementList(profile: StatementProfile, operation: ProfiledOperation): string[] {
  const cost = profile.operations.find((candidate) => candidate.operation === operation)
  if (cost === undefined) return []
  return cost.sequence.map((text, i) => `${String(i + 1).padStart(3)}. ${text}`)
}
