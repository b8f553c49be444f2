import { PayrailError } from '../domain/errors.ts'
import { EVENT_TYPES, type EventEnvelope, type EventType } from '../domain/events.ts'

/** The amounts every money-moving event carries. */
export interface MoneyData {
  amount: number
  currency: string
}

/**
 * Parses a record value as the envelope of DESIGN.md with money data. A record that is not one
 * can never be applied, so the error is not retryable: it goes to payment.dlq at once.
 */
export function parseEnvelope(
  value: string | undefined,
  expected: readonly EventType[],
): EventEnvelope<MoneyData> {
  let parsed: unknown
  try {
    parsed = JSON.parse(value ?? '')
  } catch (error) {
    throw new PayrailError('EVENT_INVALID', 'the record value is not JSON', { cause: error })
  }
  const envelope = parsed as Partial<EventEnvelope<Partial<MoneyData>>> | null
  const problems: string[] = []
  if (typeof envelope !== 'object' || envelope === null)
    throw new PayrailError('EVENT_INVALID', 'the record value is not an object')
  if (typeof envelope.eventId !== 'string' || envelope.eventId === '') problems.push('eventId')
  if (typeof envelope.paymentId !== 'string' || envelope.paymentId === '') problems.push('paymentId')
  if (typeof envelope.merchantId !== 'string') problems.push('merchantId')
  if (!Number.isInteger(envelope.sequence)) problems.push('sequence')
  if (!EVENT_TYPES.includes(envelope.type as EventType) || !expected.includes(envelope.type as EventType))
    problems.push(`type (expected ${expected.join(' or ')})`)
  const data = envelope.data
  if (typeof data !== 'object' || data === null) problems.push('data')
  else {
    if (!Number.isSafeInteger(data.amount) || (data.amount ?? 0) <= 0) problems.push('data.amount')
    if (typeof data.currency !== 'string') problems.push('data.currency')
  }
  if (problems.length > 0)
    throw new PayrailError('EVENT_INVALID', `the envelope has a missing or invalid ${problems.join(', ')}`)
  return envelope as EventEnvelope<MoneyData>
}
