/**
 * The invariants a chaos run is judged by, each as counts: over the database, the topics, the
 * consumer groups and the merchant client's record of what it was told. Recovery is waited for
 * (payments final, outbox and lag at zero) within the printed bound, and the time it took is a
 * figure of its own.
 */
import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import type { Database } from '../db/schema.ts'
import { checkLedger, ledgerIsClean } from '../ledger/check.ts'
import { outboxBacklog } from '../outbox/status.ts'
import { consumerLag } from './consumer-lag.ts'
import { checkEvents } from './events-check.ts'
import { ACK_RANK, type MerchantRecord } from './merchant-client.ts'

export interface InvariantResult {
  name: string
  passed: boolean
  figures: Record<string, number>
  detail?: string
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
const PENDING = ['CAPTURE_REQUESTED', 'REFUND_REQUESTED']

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

export interface CheckInput {
  db: Kysely<Database>
  brokers: string[]
  /** The workers' KAFKA_CLIENT_ID. */
  clientId: string
  record: MerchantRecord
  /** Iterations the schedule started. */
  started: number
  /** Bound on each recovery wait. */
  healTimeoutMs: number
  /** Carried-out acquirer operations per reference, when the acquirer kept a journal. */
  acquirerCounts?: Map<string, { authorized: number; settled: number; refunded: number }>
  sleep: (ms: number) => Promise<void>
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0)

async function waitFor<T>(
  input: CheckInput,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<{ value: T; ms: number }> {
  const begin = Date.now()
  let value = await probe()
  while (!done(value) && Date.now() - begin < input.healTimeoutMs) {
    await input.sleep(250)
    value = await probe()
  }
  return { value, ms: Date.now() - begin }
}

export async function checkInvariants(input: CheckInput): Promise<InvariantResult[]> {
  const { db, record } = input
  const results: InvariantResult[] = []

  // Recovery first, all four at once within one bound: everything below is judged on the
  // healed platform, and each figure is the time from the load's end to its own recovery.
  const [final, outbox, lag, ledger] = await Promise.all([
    waitFor(
      input,
      async () =>
        Number(
          (
            await db
              .selectFrom('payments')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('status', 'in', PENDING)
              .executeTakeFirstOrThrow()
          ).n,
        ),
      (n) => n === 0,
    ),
    waitFor(
      input,
      () => outboxBacklog(db),
      (b) => b.pending === 0,
    ),
    waitFor(
      input,
      () => consumerLag({ brokers: input.brokers, clientId: input.clientId }),
      (l) => sum(Object.values(l)) === 0,
    ),
    waitFor(input, () => checkLedger(db), ledgerIsClean),
  ])

  const rows = await db
    .selectFrom('payments')
    .select(['id', 'status', 'idempotency_key', 'merchant_id'])
    .execute()
  const status = new Map(rows.map((r) => [r.id, r.status]))
  let lost = 0
  for (const [id, what] of record.acked) if ((RANK[status.get(id) ?? ''] ?? 0) < ACK_RANK[what]) lost++
  results.push({
    name: 'acknowledged-persisted',
    passed: lost === 0,
    figures: { sent: input.started, acknowledged: record.acked.size, retried: record.retries, lost },
  })

  // Doubled: one idempotency key answered with two payments, two rows for one key, or the
  // acquirer carrying out one reference's operation twice.
  const keysAnsweredTwice = [...record.authorizedAs.values()].filter((ids) => ids.size > 1).length
  const rowsTwice = await db
    .selectFrom('payments')
    .select(['merchant_id', 'idempotency_key', sql<number>`count(*)`.as('n')])
    .where('idempotency_key', 'is not', null)
    .groupBy(['merchant_id', 'idempotency_key'])
    .having(sql`count(*)`, '>', 1)
    .execute()
  const counts = [...(input.acquirerCounts?.values() ?? [])]
  const acquirer = {
    authorizedTwice: counts.filter((c) => c.authorized > 1).length,
    settledTwice: counts.filter((c) => c.settled > 1).length,
    refundedTwice: counts.filter((c) => c.refunded > 1).length,
  }
  const doubled =
    keysAnsweredTwice +
    rowsTwice.length +
    acquirer.authorizedTwice +
    acquirer.settledTwice +
    acquirer.refundedTwice
  results.push({
    name: 'not-doubled',
    passed: doubled === 0,
    figures: {
      keys: record.authorizedAs.size,
      keysAnsweredTwice,
      rowsPerKeyAboveOne: rowsTwice.length,
      ...(input.acquirerCounts === undefined ? {} : { references: counts.length, ...acquirer }),
      doubled,
    },
  })

  const events = await checkEvents(db, { brokers: input.brokers })
  results.push({
    name: 'events-delivered',
    passed: events.missing === 0 && events.misrouted === 0,
    figures: {
      committed: events.committed,
      delivered: events.delivered,
      deadLettered: events.deadLettered,
      missing: events.missing,
      misrouted: events.misrouted,
    },
    ...(events.examples.length === 0 ? {} : { detail: events.examples.join('; ') }),
  })
  results.push({
    name: 'events-ordered',
    passed: events.outOfOrder === 0,
    figures: { outOfOrder: events.outOfOrder, repeats: events.repeats },
  })

  results.push({
    name: 'payments-final',
    passed: final.value === 0,
    figures: { payments: rows.length, notFinal: final.value, recoveryMs: final.ms },
  })
  results.push({
    name: 'ledger-clean',
    passed: ledgerIsClean(ledger.value),
    figures: {
      checked: ledger.value.payments,
      offenders: ledger.value.offenders.length,
      postingProblems: ledger.value.postings.length,
      recoveryMs: ledger.ms,
    },
    ...(ledgerIsClean(ledger.value) ? {} : { detail: JSON.stringify(ledger.value.postings.slice(0, 5)) }),
  })
  const behind = sum(Object.values(lag.value))
  results.push({
    name: 'drained',
    passed: outbox.value.pending === 0 && behind === 0,
    figures: {
      outboxPending: outbox.value.pending,
      outboxRecoveryMs: outbox.ms,
      consumerLag: behind,
      lagRecoveryMs: lag.ms,
      boundMs: input.healTimeoutMs,
    },
    ...(behind === 0 ? {} : { detail: JSON.stringify(lag.value) }),
  })

  const bad = undocumentedAnswers(record.answers)
  const badCount = sum(Object.values(bad))
  results.push({
    name: 'documented-answers',
    passed: badCount === 0,
    figures: { answers: sum(Object.values(record.answers)), undocumented: badCount },
    ...(badCount === 0 ? {} : { detail: JSON.stringify(bad) }),
  })
  return results
}
