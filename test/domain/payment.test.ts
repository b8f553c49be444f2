import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasErrorCode } from '../../src/domain/errors.ts'
import {
  PAYMENT_STATUSES,
  type PaymentState,
  type PaymentStatus,
  planCapture,
  planRefund,
} from '../../src/domain/payment.ts'

const payment = (status: PaymentStatus, captured = 0, refunded = 0): PaymentState => ({
  id: 'p-1',
  status,
  amount: 10_000,
  capturedAmount: captured,
  refundedAmount: refunded,
})

const refusedWith = (code: string) => (error: unknown) => hasErrorCode(error, code as never)

test('only an AUTHORIZED payment can be captured, in full by default or in part', () => {
  assert.deepEqual(planCapture(payment('AUTHORIZED'), undefined), { amount: 10_000 })
  assert.deepEqual(planCapture(payment('AUTHORIZED'), 2500), { amount: 2500 })
  assert.deepEqual(planCapture(payment('AUTHORIZED'), 10_000), { amount: 10_000 })
  assert.throws(() => planCapture(payment('AUTHORIZED'), 10_001), refusedWith('CAPTURE_EXCEEDS_AUTHORIZED'))
  for (const status of PAYMENT_STATUSES.filter((s) => s !== 'AUTHORIZED')) {
    assert.throws(() => planCapture(payment(status), undefined), refusedWith('CAPTURE_CONFLICT'), status)
  }
})

test('refunds need captured money and never exceed what is left of it', () => {
  assert.deepEqual(planRefund(payment('CAPTURED', 8000), undefined), { amount: 8000 })
  assert.deepEqual(planRefund(payment('CAPTURED', 8000), 3000), { amount: 3000 })
  assert.deepEqual(planRefund(payment('PARTIAL_REFUNDED', 8000, 3000), undefined), { amount: 5000 })
  assert.deepEqual(planRefund(payment('REFUND_FAILED', 8000, 3000), 5000), { amount: 5000 })
  assert.throws(
    () => planRefund(payment('PARTIAL_REFUNDED', 8000, 3000), 5001),
    refusedWith('REFUND_EXCEEDS_CAPTURED'),
  )
  assert.throws(() => planRefund(payment('REFUNDED', 8000, 8000), undefined), refusedWith('REFUND_CONFLICT'))
  assert.throws(() => planRefund(payment('REFUND_FAILED', 8000, 8000), 1), refusedWith('REFUND_CONFLICT'))
  for (const status of [
    'AUTHORIZED',
    'AUTH_FAILED',
    'CAPTURE_REQUESTED',
    'CAPTURE_FAILED',
    'REFUND_REQUESTED',
    'REFUNDED',
  ] as const) {
    assert.throws(() => planRefund(payment(status, 8000), 1), refusedWith('REFUND_CONFLICT'), status)
  }
})

test('refused transitions name the payment', () => {
  assert.throws(
    () => planCapture(payment('CAPTURED'), undefined),
    (error: unknown) => (error as { details: { paymentId: string } }).details.paymentId === 'p-1',
  )
})
