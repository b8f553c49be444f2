/** Every error in a (possibly nested) @platformatic/kafka error: it wraps per-broker and per-partition failures. */
function kafkaErrors(error: unknown): Record<string, unknown>[] {
  if (typeof error !== 'object' || error === null) return []
  const nested = (error as { errors?: unknown }).errors
  return [error as Record<string, unknown>, ...(Array.isArray(nested) ? nested.flatMap(kafkaErrors) : [])]
}

/** Whether the broker's answer carries this protocol error id, e.g. TOPIC_ALREADY_EXISTS. */
export function hasProtocolError(error: unknown, id: string): boolean {
  return kafkaErrors(error).some((e) => e.apiId === id)
}

/**
 * Whether a failure is the cluster's (unreachable, timing out, leaders moving) rather than the
 * record's: such failures must not use up a record's retries.
 */
export function isKafkaOutage(error: unknown): boolean {
  return kafkaErrors(error).some(
    (e) =>
      e.code === 'PLT_KFK_NETWORK' ||
      e.code === 'KAFKA_UNAVAILABLE' ||
      (e.code === 'PLT_KFK_PROTOCOL' && e.canRetry === true),
  )
}
