import { useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { ErrorBox, Section } from '../components.tsx'
import { useServices } from '../context.ts'
import type { Payment } from '../types.ts'
import { PaymentDetail, usePayment } from './payment-detail.tsx'

const CURRENCIES = ['KRW', 'USD', 'EUR', 'JPY', 'GBP']

function newKey(): string {
  return `order-${crypto.randomUUID().slice(0, 8)}`
}

/** Blank means "the whole amount"; otherwise a positive whole number of minor units. */
function optionalAmount(text: string): number | undefined {
  if (text.trim() === '') return undefined
  const amount = Number(text)
  if (!Number.isSafeInteger(amount) || amount <= 0)
    throw new ApiError(
      0,
      'BAD_AMOUNT',
      `"${text}" is not an amount: enter a whole number of minor units, or leave it blank.`,
    )
  return amount
}

export function ShopPage() {
  const { api, secrets } = useServices()
  const [amount, setAmount] = useState('15000')
  const [currency, setCurrency] = useState('KRW')
  const [key, setKey] = useState(newKey)
  const [captureAmount, setCaptureAmount] = useState('')
  const [refundAmount, setRefundAmount] = useState('')
  const [reason, setReason] = useState('customer returned the item')
  const [paymentId, setPaymentId] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const hasKey = secrets.get().merchantKey !== ''

  const payment = usePayment(paymentId, 1000)

  const act = async (what: () => Promise<void>) => {
    setBusy(true)
    setError(undefined)
    setNotice(undefined)
    try {
      await what()
      payment.refresh()
    } catch (caught) {
      setError(caught as Error)
    } finally {
      setBusy(false)
    }
  }

  const createMerchant = () =>
    act(async () => {
      const merchantId = `shop-${crypto.randomUUID().slice(0, 8)}`
      const created = await api.call<{ merchantId: string; apiKey: string }>(
        'admin',
        'POST',
        '/api/admin/merchants',
        {
          merchantId,
          name: 'Dashboard demo shop',
        },
      )
      secrets.setMerchantKey(created.body.apiKey)
      setNotice(`Demo merchant ${created.body.merchantId} created; its key is kept in this tab only.`)
    })

  const authorize = () =>
    act(async () => {
      const body = { amount: Number(amount), currency, idempotencyKey: key }
      const answer = await api.call<Payment>('merchant', 'POST', '/api/payments/authorize', body)
      const replayed = answer.headers.get('idempotent-replayed') === 'true'
      setPaymentId(answer.body.paymentId)
      setNotice(
        replayed
          ? `Replayed: key ${key} answered the same payment ${answer.body.paymentId} (HTTP ${answer.status}, idempotent-replayed: true); nothing was charged twice.`
          : `Authorized ${answer.body.paymentId} with key ${key}: ${answer.body.status} (HTTP ${answer.status}).`,
      )
    })

  const capture = () =>
    act(async () => {
      if (paymentId === undefined) return
      const value = optionalAmount(captureAmount)
      const answer = await api.call<Payment>(
        'merchant',
        'POST',
        `/api/payments/capture/${encodeURIComponent(paymentId)}`,
        value === undefined ? {} : { amount: value },
      )
      setNotice(
        `Capture requested: ${answer.body.status} (HTTP ${answer.status}); the settlement worker settles it.`,
      )
    })

  const refund = () =>
    act(async () => {
      if (paymentId === undefined) return
      const value = optionalAmount(refundAmount)
      const answer = await api.call<Payment>(
        'merchant',
        'POST',
        `/api/payments/refund/${encodeURIComponent(paymentId)}`,
        value === undefined ? { reason } : { amount: value, reason },
      )
      setNotice(
        `Refund requested: ${answer.body.status} (HTTP ${answer.status}); the refund worker carries it out.`,
      )
    })

  return (
    <>
      <Section title="Merchant">
        <p>
          {hasKey
            ? 'A merchant key is set for this tab.'
            : 'No merchant key yet: paste one at the top (payrail up prints a demo key), or create a demo merchant with the admin token.'}
        </p>
        <button type="button" onClick={createMerchant} disabled={busy}>
          Create demo merchant
        </button>
      </Section>
      <Section title="Authorize">
        <form
          class="form-row"
          onSubmit={(event) => {
            event.preventDefault()
            void authorize()
          }}
        >
          <label>
            Amount (minor units)
            <input
              name="amount"
              inputMode="numeric"
              value={amount}
              onInput={(event) => setAmount(event.currentTarget.value)}
              required
            />
          </label>
          <label>
            Currency
            <select
              name="currency"
              value={currency}
              onChange={(event) => setCurrency(event.currentTarget.value)}
            >
              {CURRENCIES.map((code) => (
                <option key={code}>{code}</option>
              ))}
            </select>
          </label>
          <label>
            Idempotency key
            <input
              name="idempotencyKey"
              value={key}
              onInput={(event) => setKey(event.currentTarget.value)}
              required
            />
          </label>
          <div class="buttons">
            <button type="submit" disabled={busy}>
              Authorize
            </button>
            <button type="button" onClick={authorize} disabled={busy || paymentId === undefined}>
              Resend the same key
            </button>
            <button type="button" class="secondary" onClick={() => setKey(newKey())} disabled={busy}>
              New key
            </button>
          </div>
        </form>
      </Section>
      {notice ? (
        <p class="notice" role="status" data-testid="shop-notice">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={error} />
      {paymentId !== undefined ? (
        <>
          <Section title="Capture and refund">
            <div class="form-row">
              <label>
                Capture amount (blank: all)
                <input
                  name="captureAmount"
                  inputMode="numeric"
                  value={captureAmount}
                  onInput={(event) => setCaptureAmount(event.currentTarget.value)}
                />
              </label>
              <button type="button" onClick={capture} disabled={busy}>
                Capture
              </button>
            </div>
            <div class="form-row">
              <label>
                Refund amount (blank: all captured)
                <input
                  name="refundAmount"
                  inputMode="numeric"
                  value={refundAmount}
                  onInput={(event) => setRefundAmount(event.currentTarget.value)}
                />
              </label>
              <label>
                Reason
                <input
                  name="reason"
                  value={reason}
                  onInput={(event) => setReason(event.currentTarget.value)}
                />
              </label>
              <button type="button" onClick={refund} disabled={busy}>
                Refund
              </button>
            </div>
          </Section>
          <Section title="Payment, live">
            <ErrorBox error={payment.error} />
            {payment.data ? <PaymentDetail payment={payment.data} /> : <p>Loading…</p>}
          </Section>
        </>
      ) : null}
    </>
  )
}
