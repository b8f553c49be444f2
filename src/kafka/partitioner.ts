import { compatibilityPartitioner, murmur2 } from '@platformatic/kafka'

/**
 * The partition a Java producer's default partitioner picks for a keyed record:
 * `toPositive(murmur2(key)) % partitions`, where toPositive masks the sign bit.
 * The library's *default* partitioner shifts instead of masking, which disagrees with Java for
 * every key whose hash is negative; payrail's producers therefore pass `partitioner` below.
 */
export function javaPartition(key: string | Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}

/** The producer option that places records where `javaPartition` says. */
export const partitioner = compatibilityPartitioner
