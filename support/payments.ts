/** A payments row in AUTHORIZED, for outbox tests and benchmarks that need events of real payments. */
export function authorizedPayment(id: string, merchantId: string, amount: number, now: number) {
  return {
    id,
    merchant_id: merchantId,
    idempotency_key: id,
    status: 'AUTHORIZED',
    amount,
    currency: 'KRW',
    acquirer_reference: null,
    message: null,
    created_at: now,
    updated_at: now,
  }
}
