import type { PendingEvent } from './store.ts'

/** Payments whose last taken sequence the gate remembers; beyond that it asks the database. */
export const TAKEN_MEMORY = 100_000

/** Each given payment's lowest pending sequence; a payment with nothing pending is absent. */
export type FirstPendingLookup = (paymentIds: string[]) => Promise<Map<string, number>>

function ascendingIds(events: PendingEvent[]): boolean {
  for (let i = 1; i < events.length; i++) {
    if ((events[i] as PendingEvent).id <= (events[i - 1] as PendingEvent).id) return false
  }
  return true
}

/**
 * The relay's per-payment ordering rule: of the candidates for a batch, each payment contributes
 * only the run of events that directly follows its last one already taken, so nothing overtakes
 * an earlier event that is in flight, waiting for a retry, or not yet read.
 *
 * Why a payment's next event usually needs no query: appendEvent locks the payment row before it
 * inserts, so a payment's events get increasing ids and commit in sequence order, and one
 * statement that sees an event also sees every earlier one, at a lower id. So an event is safe to
 * take when it is its payment's first, or follows the last one taken. The database is asked only
 * about the others: a payment first met in a later batch of a pass (an earlier event may have
 * committed late, below the cursor), handed-off records of payments not in memory, and due
 * retries.
 */
export class SequenceGate {
  /**
   * The highest sequence of each payment taken since the last `forget()`, in the order payments
   * were first taken.
   */
  readonly #taken = new Map<string, number>()
  readonly #memory: number

  /** `memory`: payments remembered at most (oldest forgotten first). Default: TAKEN_MEMORY. */
  constructor(memory = TAKEN_MEMORY) {
    this.#memory = memory
  }

  /**
   * The candidates that may go out now, each payment's in sequence order, and remembered as
   * taken. Candidates that repeat an id count once. `firstPending` is asked only about payments
   * whose run does not follow what the gate remembers.
   */
  async admit(candidates: PendingEvent[], firstPending: FirstPendingLookup): Promise<PendingEvent[]> {
    const byPayment = new Map<string, PendingEvent[]>()
    const seen = new Set<number>()
    for (const event of candidates) {
      if (seen.has(event.id)) continue
      seen.add(event.id)
      const list = byPayment.get(event.paymentId)
      if (list === undefined) byPayment.set(event.paymentId, [event])
      else list.push(event)
    }
    const unknown: string[] = []
    for (const [paymentId, list] of byPayment) {
      list.sort((a, b) => a.sequence - b.sequence)
      const first = list[0] as PendingEvent
      const taken = this.#taken.get(paymentId)
      const follows = first.sequence === 1 ? taken === undefined : taken === first.sequence - 1
      if (!follows) unknown.push(paymentId)
    }
    const asked = unknown.length > 0 ? await firstPending(unknown) : new Map<string, number>()
    const unknownSet = new Set(unknown)

    const events: PendingEvent[] = []
    for (const [paymentId, list] of byPayment) {
      // A payment asked about with nothing pending was published meanwhile (a handed-off copy
      // of a row the poll already sent): none of its candidates may go out again.
      const start = unknownSet.has(paymentId) ? asked.get(paymentId) : (list[0] as PendingEvent).sequence
      if (start === undefined) continue
      let expected = start
      for (const event of list) {
        if (event.sequence !== expected) break
        events.push(event)
        expected++
      }
      if (expected > start) this.#remember(paymentId, expected - 1)
    }
    // Within one send, a partition receives its records in array order: each payment's in
    // sequence. A poll's rows come in id order, which is sequence order per payment (see above);
    // only a batch with retries or handed-off records in front needs sorting.
    if (!ascendingIds(events))
      events.sort((a, b) => (a.paymentId === b.paymentId ? a.sequence - b.sequence : a.id - b.id))
    return events
  }

  /** Forgets every payment: after a failure, the failed batch's events go out again. */
  forget(): void {
    this.#taken.clear()
  }

  /**
   * Forgets the payment remembered first once `memory` are kept: a forgotten payment's next
   * event costs one query. An update keeps its place: moving it to the end (delete and set) made
   * the map rehash itself so often that it cost more than the rest of the relay's selection.
   */
  #remember(paymentId: string, sequence: number): void {
    const known = this.#taken.has(paymentId)
    this.#taken.set(paymentId, sequence)
    if (!known && this.#taken.size > this.#memory) {
      const oldest = this.#taken.keys().next().value
      if (oldest !== undefined) this.#taken.delete(oldest)
    }
  }
}
