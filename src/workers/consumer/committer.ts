import { PayrailError } from '../../domain/errors.ts'
import type { Logger } from '../../observability/logger.ts'
import { withDeadline } from '../../runtime/deadline.ts'
import type { GroupJoins } from './group-joins.ts'
import type { Kafka } from './kafka-session.ts'
import { COMMIT_TIMEOUT_MS } from './options.ts'
import type { PartitionClaim } from './partition-claim.ts'

/**
 * Commits the claims' positions (each partition up to its oldest unfinished record):
 * periodically, when partitions are revoked, and once more before the member leaves.
 */
export class Committer {
  readonly #log: Logger
  readonly #joins: GroupJoins
  readonly #closeTimeoutMs: number
  #committing: Promise<void> = Promise.resolve()

  constructor(log: Logger, joins: GroupJoins, closeTimeoutMs: number) {
    this.#log = log
    this.#joins = joins
    this.#closeTimeoutMs = closeTimeoutMs
  }

  /**
   * Commits each claim's position when it moved. Periodic commits are serialized so that an
   * older position never lands after a newer one; the rebalance commit is not (it may run while
   * a periodic commit waits for the very rejoin that is waiting for it).
   */
  commit(consumer: Kafka, claims: PartitionClaim[], serial: boolean): Promise<void> {
    const run = async () => {
      const moved = new Map<PartitionClaim, { offset: bigint; leaderEpoch: number }>()
      for (const claim of claims) {
        const position = claim.tracker?.position
        if (claim.tracker === undefined || position === undefined) continue
        if (claim.committed !== undefined && position <= claim.committed) continue
        moved.set(claim, { offset: position, leaderEpoch: claim.tracker.positionLeaderEpoch })
      }
      if (moved.size === 0) return
      const offsets = [...moved].map(([claim, { offset, leaderEpoch }]) => ({
        topic: claim.topic,
        partition: claim.partition,
        offset,
        leaderEpoch,
      }))
      await withDeadline(consumer.commit({ offsets }), COMMIT_TIMEOUT_MS, () => {
        throw new PayrailError(
          'KAFKA_UNAVAILABLE',
          `offset commit did not complete within ${COMMIT_TIMEOUT_MS} ms`,
        )
      })
      for (const [claim, { offset }] of moved) {
        if (claim.committed === undefined || offset > claim.committed) claim.committed = offset
      }
    }
    if (!serial) return run()
    const next = this.#committing.then(run)
    this.#committing = next.catch(() => {})
    return next
  }

  /** The periodic commit of the active claims; a failure is logged and left to the next one. */
  commitPeriodically(consumer: Kafka, active: PartitionClaim[]): void {
    // Mid-rebalance a commit would be refused and make the library rejoin once more.
    if (!consumer.isActive()) return
    this.commit(consumer, active, true).catch((error: unknown) => {
      this.#log.warn({ err: error }, 'periodic offset commit failed; it is retried at the next one')
    })
  }

  /**
   * The last commit, once a rebalance under way is over: meanwhile the group refuses commits
   * (and the library would rejoin to retry them), and this member's revokes must come first.
   */
  async commitBeforeLeaving(
    consumer: Kafka,
    deadline: number,
    active: () => PartitionClaim[],
  ): Promise<void> {
    for (;;) {
      if (!(await this.#joins.noneUnderWay(consumer, deadline - Date.now()))) {
        this.#log.warn(
          { timeoutMs: this.#closeTimeoutMs },
          'the group was still rebalancing at the stop deadline; records finished since the last commit will be delivered again',
        )
        return
      }
      if (!consumer.isActive()) {
        this.#log.warn(
          'this member is no longer in the group; records finished since the last commit will be delivered again',
        )
        return
      }
      try {
        await this.#committing
        await this.commit(consumer, active(), false)
      } catch (error) {
        this.#log.warn({ err: error }, 'could not commit on close; finished records will be delivered again')
        return
      }
      // A rebalance that began meanwhile is let finish too before the member leaves.
      if (this.#joins.underWay(consumer) === 0 || Date.now() >= deadline) return
    }
  }
}
