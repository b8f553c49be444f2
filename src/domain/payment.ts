import { PayrailError } from './errors.ts'

export const PAYMENT_STATUSES = [
  'AUTHORIZED',
  'AUTH_FAILED',
  'CAPTURE_REQUESTED',
  'CAPTURED',
  'CAPTURE_FAILED',
  'REFUND_REQUESTED',
  'PARTIAL_REFUNDED',
  'REFUNDED',
  'REFUND_FAILED',
] as const

export type PaymentStatus = (typeof PAYMENT_STATUSES)[number]

/** The fields of a payment the state machine looks at. */
export interface PaymentState {
  id: string
  status: PaymentStatus
  amount: number
  capturedAmount: number
  refundedAmount: number
}

/**
 * A capture of `requested` (default: the whole authorized amount). Only an AUTHORIZED payment
 * can be captured, once; a partial capture releases the rest of the authorization.
 */
export function planCapture(payment: PaymentState, requested: number | undefined): { amount: number } {
  if (payment.status !== 'AUTHORIZED') {
    throw new PayrailError(
      'CAPTURE_CONFLICT',
      `payment ${payment.id} is ${payment.status}; only AUTHORIZED payments can be captured`,
      {
        details: { paymentId: payment.id },
      },
    )
  }
  const amount = requested ?? payment.amount
  if (amount > payment.amount) {
    throw new PayrailError(
      'CAPTURE_EXCEEDS_AUTHORIZED',
      `capture of ${amount} exceeds the authorized amount ${payment.amount}`,
      { details: { paymentId: payment.id } },
    )
  }
  return { amount }
}

const REFUNDABLE: ReadonlySet<PaymentStatus> = new Set(['CAPTURED', 'PARTIAL_REFUNDED', 'REFUND_FAILED'])

/**
 * A refund of `requested` (default: all that is still refundable). One refund runs at a time,
 * so that the refundable balance is never promised twice; the sum of refunds never exceeds the
 * captured amount.
 */
export function planRefund(payment: PaymentState, requested: number | undefined): { amount: number } {
  if (!REFUNDABLE.has(payment.status)) {
    throw new PayrailError(
      'REFUND_CONFLICT',
      `payment ${payment.id} is ${payment.status}; refunds need a CAPTURED or PARTIAL_REFUNDED payment with no refund in progress`,
      { details: { paymentId: payment.id } },
    )
  }
  const refundable = payment.capturedAmount - payment.refundedAmount
  if (refundable <= 0) {
    throw new PayrailError('REFUND_CONFLICT', `payment ${payment.id} has been refunded in full`, {
      details: { paymentId: payment.id },
    })
  }
  const amount = requested ?? refundable
  if (amount > refundable) {
    throw new PayrailError(
      'REFUND_EXCEEDS_CAPTURED',
      `refund of ${amount} exceeds the refundable amount ${refundable} (captured ${payment.capturedAmount}, refunded ${payment.refundedAmount})`,
      { details: { paymentId: payment.id } },
    )
  }
  return { amount }
}
