/**
 * The load tool's client as a careful merchant uses an API under faults: a request that timed
 * out, failed in transit or was answered 502/503/504 is sent again, the same request with the
 * same idempotency key, after payrail's one backoff. That is what makes "doubled = 0" evidence:
 * a retried authorize whose first try did reach the api must be answered with the same payment,
 * not a second one. Every answer (first tries and retries) is counted; every 2xx
 * authorize/capture/refund is remembered, so that the checker can ask the database for it.
 */
import type { LoadAnswer, LoadClient, LoadRequest } from '../load/client.ts'
import { backoff } from '../runtime/backoff.ts'

/** How far a payment was acknowledged: authorize < capture < refund. */
export const ACK_RANK = { authorize: 1, capture: 2, refund: 4 } as const
export type Acked = keyof typeof ACK_RANK

export interface MerchantRecord {
  /** Payment id → the furthest step acknowledged for it. */
  acked: Map<string, Acked>
  /** Idempotency key → every distinct payment id an authorize with it was answered with. */
  authorizedAs: Map<string, Set<string>>
  /** Answer key (`201`, `503 OVERLOADED`, `timeout`) → how many. */
  answers: Record<string, number>
  /** Requests sent again after an answer that left the outcome open. */
  retries: number
}

export interface MerchantClientOptions {
  /** Tries per request, the first included. Default: 4. */
  tries?: number
  /** First backoff. Default: 200 ms. */
  baseMs?: number
  /** Longest backoff. Default: 2000 ms. */
  capMs?: number
  random: () => number
  sleep: (ms: number) => Promise<void>
}

/** Whether an answer leaves open whether the request took effect (or says: try again). */
export const worthRetrying = (answer: LoadAnswer): boolean =>
  answer.status === 0 || answer.status === 502 || answer.status === 503 || answer.status === 504

export function newMerchantRecord(): MerchantRecord {
  return { acked: new Map(), authorizedAs: new Map(), answers: {}, retries: 0 }
}

function remember(record: MerchantRecord, request: LoadRequest, answer: LoadAnswer): void {
  if (request.method !== 'POST' || answer.status < 200 || answer.status > 299) return
  const match = /^\/api\/payments\/(capture|refund)\/(.+)$/.exec(request.path)
  const id = match?.[2] ?? (answer.body as { paymentId?: string } | undefined)?.paymentId
  if (id === undefined) return
  const what: Acked = (match?.[1] as Acked | undefined) ?? 'authorize'
  const before = record.acked.get(id)
  if (before === undefined || ACK_RANK[what] > ACK_RANK[before]) record.acked.set(id, what)
  if (what === 'authorize') {
    const key = (JSON.parse(request.body ?? '{}') as { idempotencyKey?: string }).idempotencyKey
    if (key !== undefined) {
      const ids = record.authorizedAs.get(key) ?? new Set<string>()
      ids.add(id)
      record.authorizedAs.set(key, ids)
    }
  }
}

export function merchantClient(
  inner: LoadClient,
  record: MerchantRecord,
  options: MerchantClientOptions,
): LoadClient {
  const tries = options.tries ?? 4
  return {
    close: () => inner.close(),
    async send(request) {
      for (let n = 1; ; n++) {
        const answer = await inner.send(request)
        record.answers[answer.key] = (record.answers[answer.key] ?? 0) + 1
        remember(record, request, answer)
        if (!worthRetrying(answer) || n >= tries) return answer
        record.retries++
        await options.sleep(backoff(n, options.baseMs ?? 200, options.capMs ?? 2000, options.random))
      }
    },
  }
}
