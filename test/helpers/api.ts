import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import type { Kysely } from 'kysely'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import { AuthorizeRecovery } from '../../src/api/authorize-recovery.ts'
import { createApiMetrics } from '../../src/api/metrics.ts'
import { PaymentReads } from '../../src/api/payment-reads.ts'
import { PaymentService } from '../../src/api/payment-service.ts'
import { buildApiServer } from '../../src/api/server.ts'
import type { DatabaseHandle, DialectName } from '../../src/db/database.ts'
import { type GroupCommitOptions, GroupCommitter } from '../../src/db/group-commit.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetricsRegistry } from '../../src/observability/metrics.ts'
import type { OutboxRecord } from '../../src/outbox/writer.ts'
import { SecretBox } from '../../src/webhooks/secrets.ts'
import { throwawayDatabase } from './databases.ts'

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghij'
export const WEBHOOK_SECRET_KEY = 'test-webhook-secret-key-0123456789abcdef'

export interface HttpResult {
  status: number
  headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  body: any
}

export interface ApiFixture {
  url: string
  dialect: DialectName
  databaseUrl: string
  database: DatabaseHandle
  db: Kysely<Database>
  service: PaymentService
  /** The api's metrics as Prometheus text. */
  metrics: () => Promise<string>
  /** The authorize recovery sweep, run by hand (`resolveStaleAttempts`) in tests. */
  recovery: AuthorizeRecovery
  keys: { a: string; b: string }
  handedOff: OutboxRecord[]
  logs: () => string
  call: (
    method: string,
    path: string,
    options?: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> },
  ) => Promise<HttpResult>
  counts: () => Promise<
    Record<'payments' | 'outbox' | 'events' | 'idempotency' | 'attempts' | 'ledger', number>
  >
}

export interface ApiFixtureOptions {
  /** Connections of the api's pool. Default: 20. */
  poolMax?: number
  /** The api's wait for a pooled connection (DB_POOL_ACQUIRE_TIMEOUT_MS). Default: none. */
  acquireTimeoutMs?: number
  authorizeTimeoutMs?: number
  breakerThreshold?: number
  /** The recovery sweep's host clock (the service keeps Date.now), to show it is not used for age. */
  recoveryNow?: () => number
  /** Group commit of authorize's writes. Default: the api role's defaults. */
  groupCommit?: Partial<GroupCommitOptions>
}

/**
 * The payment API in this process on a real port, over a throwaway database of `dialect` and a
 * real acquirer process; two merchants with a key each. Undefined when the dialect's server is
 * missing outside CI.
 */
export async function startApi(
  t: TestContext,
  dialect: DialectName,
  acquirerUrl: string,
  options: ApiFixtureOptions = {},
): Promise<ApiFixture | undefined> {
  const database = await throwawayDatabase(t, dialect)
  if (database === undefined) return undefined
  const handle = database.open(
    options.poolMax ?? 20,
    options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs },
  )
  await migrateToLatest(handle.db, handle.dialect)

  let logs = ''
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk
      done()
    },
  })
  const logger = createLogger({ role: 'api', format: 'json', level: 'info', stream: sink })
  const registry = createMetricsRegistry('api')
  const metrics = createApiMetrics(registry)
  const authorizeTimeoutMs = options.authorizeTimeoutMs ?? 2000
  const acquirer = new AcquirerClient({
    url: acquirerUrl,
    authorizeTimeoutMs,
    breakerThreshold: options.breakerThreshold ?? 5,
    breakerHalfOpenAfterMs: 60_000,
  })
  acquirer.onBreakerStateChange((operation, state) => metrics.breaker(operation, state))
  const handedOff: OutboxRecord[] = []
  const writes = {
    database: handle,
    acquirer,
    observer: metrics.observer,
    afterCommit: { handOff: (records: OutboxRecord[]) => handedOff.push(...records) },
  }
  // As the api role runs it: authorize's writes grouped with concurrent requests' (db/group-commit.ts).
  const committer = new GroupCommitter(handle, options.groupCommit ?? {}, metrics.groupCommit)
  const service = new PaymentService({ ...writes, committer })
  const recovery = new AuthorizeRecovery({
    ...writes,
    acquirerTimeoutMs: authorizeTimeoutMs,
    ...(options.recoveryNow ? { now: options.recoveryNow } : {}),
  })
  const app = await buildApiServer({
    logger,
    registry,
    metrics,
    db: handle.db,
    service,
    reads: new PaymentReads(handle.db),
    readiness: [],
    breakers: () => acquirer.breakerStates(),
    adminToken: ADMIN_TOKEN,
    maxAmount: 100_000_000_000,
    // As the api role runs them with the safety switches off (https only, public hosts only).
    webhooks: {
      box: new SecretBox(WEBHOOK_SECRET_KEY),
      policy: { allowHttp: false, allowPrivate: false },
      secretGraceMs: 60_000,
    },
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.after(async () => {
    await app.close()
    await acquirer.close()
  })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const keys = {
    a: (await issueApiKey(handle.db, 'merchant-a')).key,
    b: (await issueApiKey(handle.db, 'merchant-b')).key,
  }

  const call: ApiFixture['call'] = async (method, path, callOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers }
    const key = callOptions.key === undefined ? keys.a : callOptions.key
    if (key !== null) headers.authorization = `Bearer ${key}`
    let body: string | undefined
    if (callOptions.raw !== undefined) body = callOptions.raw
    else if (callOptions.body !== undefined) body = JSON.stringify(callOptions.body)
    if (body !== undefined && headers['content-type'] === undefined)
      headers['content-type'] = 'application/json'
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    })
    const text = await response.text()
    return {
      status: response.status,
      headers: response.headers,
      body: text === '' ? undefined : JSON.parse(text),
    }
  }

  const count = async (table: keyof Database) => {
    const row = await handle.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }
  return {
    url,
    dialect,
    databaseUrl: database.url,
    database: handle,
    db: handle.db,
    service,
    metrics: () => registry.metrics(),
    recovery,
    keys,
    handedOff,
    logs: () => logs,
    call,
    counts: async () => ({
      payments: await count('payments'),
      outbox: await count('outbox_events'),
      events: await count('payment_events'),
      idempotency: await count('idempotency_records'),
      attempts: await count('authorization_attempts'),
      ledger: await count('ledger_entries'),
    }),
  }
}

/** Puts a payment where the settlement worker would leave it, for refund tests until the workers exist. */
export async function markCaptured(
  db: Kysely<Database>,
  paymentId: string,
  capturedAmount: number,
): Promise<void> {
  await db
    .updateTable('payments')
    .set({ status: 'CAPTURED', captured_amount: capturedAmount })
    .where('id', '=', paymentId)
    .execute()
}
