/**
 * A partition's lag in seconds: how long ago its oldest unfinished record was written, from
 * Kafka record timestamps; 0 when it has no record behind.
 *
 * @param records records behind (end offset minus commit position)
 * @param oldestMs timestamp of the oldest record fetched and not yet finished and committed
 * @param newestMs timestamp of the newest record fetched: when every record behind is still
 *   unfetched, they were written after it, so their age is at most its age
 */
export function lagSeconds(
  records: number,
  oldestMs: number | undefined,
  newestMs: number | undefined,
  nowMs: number,
): number {
  if (records <= 0) return 0
  const since = oldestMs ?? newestMs
  return since === undefined ? 0 : Math.max(0, (nowMs - since) / 1000)
}
