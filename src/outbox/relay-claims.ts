import type { PendingEvent } from './store.ts'

// The shapes of the relay's claim pipeline (see OutboxRelay#run and #claimAhead).

/**
 * What one scan of the backlog (a pass) keeps fixed. Payments held for a retry and the buckets
 * scanned stay the same from its first batch to its last, so that no payment has events
 * skipped below the cursor and taken above it.
 */
export interface Pass {
  buckets: Set<number>
  held: Set<string>
}

export interface Batch {
  events: PendingEvent[]
  /** The poll found a whole batch: more is waiting, claim again at once. */
  full: boolean
}

/** A claim's first half: what it takes, known before its events are read. */
export interface Plan {
  /** Due retries and handed-off records: read already. */
  ready: PendingEvent[]
  /** The poll's pending ids, in id order; their events are read in the second half. */
  ids: number[]
  buckets: Set<number>
  held: Set<string> | undefined
  full: boolean
  /** Ids this relay marked published while the plan was out (see #activePlans). */
  publishedMeanwhile: Set<number>
}

/** A claim made ahead of the send in flight. */
export interface ClaimAhead {
  /** Its plan, once the pass's cursor moved past it: the next claim may start. Undefined if not started. */
  planned: Promise<Pick<Plan, 'full'> | undefined>
  batch: Promise<Batch | undefined>
}
