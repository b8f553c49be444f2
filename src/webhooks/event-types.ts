import type { EventType } from '../domain/events.ts'

/**
 * The webhook event type of each domain event (src/domain/events.ts): the names merchants
 * subscribe to.
 */
export const WEBHOOK_EVENT_OF = {
  PAYMENT_AUTHORIZED: 'payment.authorized',
  PAYMENT_CAPTURE_REQUESTED: 'payment.capture_requested',
  PAYMENT_CAPTURED: 'payment.captured',
  PAYMENT_CAPTURE_FAILED: 'payment.capture_failed',
  PAYMENT_REFUND_REQUESTED: 'payment.refund_requested',
  PAYMENT_REFUNDED: 'payment.refunded',
  PAYMENT_REFUND_FAILED: 'payment.refund_failed',
} as const satisfies Record<EventType, string>

export type WebhookEventType = (typeof WEBHOOK_EVENT_OF)[EventType]

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = Object.values(WEBHOOK_EVENT_OF)

/** The payment status each event leaves behind, for the body's payment snapshot. */
export const STATUS_AFTER: Record<EventType, string> = {
  PAYMENT_AUTHORIZED: 'AUTHORIZED',
  PAYMENT_CAPTURE_REQUESTED: 'CAPTURE_REQUESTED',
  PAYMENT_CAPTURED: 'CAPTURED',
  PAYMENT_CAPTURE_FAILED: 'CAPTURE_FAILED',
  PAYMENT_REFUND_REQUESTED: 'REFUND_REQUESTED',
  PAYMENT_REFUNDED: 'REFUNDED',
  PAYMENT_REFUND_FAILED: 'REFUND_FAILED',
}

export function isWebhookEventType(name: string): name is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(name)
}
