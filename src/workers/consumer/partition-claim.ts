import type { KafkaMessage } from './kafka-session.ts'
import type { OffsetTracker } from './offset-tracker.ts'

/** A partition this consumer owns (or is giving back), and the work it took from it. */
export interface PartitionClaim {
  readonly id: string
  readonly topic: string
  readonly partition: number
  /**
   * `starting`: assigned, its committed offset not known yet (records are parked);
   * `active`: records are taken and committed; `revoking`: being given back (nothing new is
   * taken, running work may finish and is committed); `gone`: given back or lost.
   */
  status: 'starting' | 'active' | 'revoking' | 'gone'
  tracker: OffsetTracker | undefined
  /** Records read from the stream up to this count were fetched before the claim and are dropped. */
  readonly horizon: number
  parked: KafkaMessage[]
  /** The last position committed (or found committed); undefined when none. */
  committed: bigint | undefined
}
