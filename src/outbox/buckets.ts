import { OUTBOX_BUCKETS } from '../db/migrations/003-relay-buckets-and-leases.ts'
import { javaPartition } from '../kafka/partitioner.ts'

export { OUTBOX_BUCKETS }

/**
 * The relay bucket of a payment. The count is fixed (rows store their bucket), and it is the
 * Kafka partitioner's hash, so a bucket's payments always map to the same few partitions.
 */
export function bucketOf(paymentId: string): number {
  return javaPartition(paymentId, OUTBOX_BUCKETS)
}
