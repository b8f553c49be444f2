export const EVENT_TYPES = [
  'PAYMENT_AUTHORIZED',
  'PAYMENT_CAPTURE_REQUESTED',
  'PAYMENT_CAPTURED',
  /** A declined settlement; data: amount, currency, reason (the decline message). */
  'PAYMENT_CAPTURE_FAILED',
  'PAYMENT_REFUND_REQUESTED',
  'PAYMENT_REFUNDED',
  /** A declined refund; data: amount, currency, reason (the decline message). */
  'PAYMENT_REFUND_FAILED',
] as const

export type EventType = (typeof EVENT_TYPES)[number]

/** The JSON value of every Kafka record payrail publishes (DESIGN.md). */
export interface EventEnvelope<Data = Record<string, unknown>> {
  eventId: string
  type: EventType
  paymentId: string
  merchantId: string
  /** ISO 8601, UTC. */
  occurredAt: string
  /** 1, 2, 3… per payment, in the order the changes committed. */
  sequence: number
  data: Data
}
