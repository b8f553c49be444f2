import { Empty, formatAmount, formatTime, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { type Polled, usePoll } from '../poll.ts'
import type { Payment, TimelineEntry } from '../types.ts'

/** One payment with its events and ledger entries, read again every `intervalMs` (its live view). */
export function usePayment(paymentId: string | undefined, intervalMs: number): Polled<Payment | undefined> {
  const { api } = useServices()
  return usePoll<Payment | undefined>(
    () =>
      paymentId === undefined
        ? Promise.resolve(undefined)
        : api.get<Payment>('merchant', `/api/payments/${encodeURIComponent(paymentId)}`),
    intervalMs,
    [paymentId],
  )
}

/**
 * The steps of a payment that is captured and refunded, each with the event that marks it, and
 * for settlement and refund the event of their decline: a declined step shows as failed (with
 * the failure's status and time) until a later success replaces it (a refund may be asked again).
 */
const STEPS: { status: string; event: string; failure?: { status: string; event: string } }[] = [
  { status: 'AUTHORIZED', event: 'PAYMENT_AUTHORIZED' },
  { status: 'CAPTURE_REQUESTED', event: 'PAYMENT_CAPTURE_REQUESTED' },
  {
    status: 'CAPTURED',
    event: 'PAYMENT_CAPTURED',
    failure: { status: 'CAPTURE_FAILED', event: 'PAYMENT_CAPTURE_FAILED' },
  },
  { status: 'REFUND_REQUESTED', event: 'PAYMENT_REFUND_REQUESTED' },
  {
    status: 'REFUNDED',
    event: 'PAYMENT_REFUNDED',
    failure: { status: 'REFUND_FAILED', event: 'PAYMENT_REFUND_FAILED' },
  },
]

/** The Kafka topic each event type is published to (DESIGN.md). */
const TOPICS: Record<string, string> = {
  PAYMENT_AUTHORIZED: 'payment.authorized',
  PAYMENT_CAPTURE_REQUESTED: 'payment.capture-requested',
  PAYMENT_CAPTURED: 'payment.captured',
  PAYMENT_CAPTURE_FAILED: 'payment.captured',
  PAYMENT_REFUND_REQUESTED: 'payment.refund-requested',
  PAYMENT_REFUNDED: 'payment.refunded',
  PAYMENT_REFUND_FAILED: 'payment.refunded',
}

export function Timeline({ payment }: { payment: Payment }) {
  const events = payment.events ?? []
  return (
    <ol class="timeline" aria-label="Payment timeline">
      {STEPS.map((step) => {
        const event = events.find((candidate) => candidate.type === step.event)
        const failed =
          event === undefined && step.failure !== undefined
            ? events.findLast((candidate) => candidate.type === step.failure?.event)
            : undefined
        const shown = event ?? failed
        return (
          <li key={step.status} class={event ? 'done' : failed ? 'failed' : 'todo'} data-step={step.status}>
            <span class="step-name">{failed ? step.failure?.status : step.status}</span>
            <span class="step-time">{shown ? formatTime(shown.occurredAt) : 'waiting'}</span>
          </li>
        )
      })}
    </ol>
  )
}

export function PaymentDetail({ payment }: { payment: Payment }) {
  return (
    <div class="payment-detail">
      <dl class="facts">
        <dt>Payment</dt>
        <dd>
          <code>{payment.paymentId}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge status-${payment.status}`} data-testid="payment-status">
            {payment.status}
          </span>
        </dd>
        <dt>Amount</dt>
        <dd>{formatAmount(payment.amount, payment.currency)}</dd>
        <dt>Captured</dt>
        <dd>{formatAmount(payment.capturedAmount, payment.currency)}</dd>
        <dt>Refunded</dt>
        <dd>{formatAmount(payment.refundedAmount, payment.currency)}</dd>
        <dt>Merchant</dt>
        <dd>{payment.merchantId}</dd>
        <dt>Created</dt>
        <dd>{formatTime(payment.createdAt)}</dd>
        {payment.message ? (
          <>
            <dt>Message</dt>
            <dd>{payment.message}</dd>
          </>
        ) : null}
      </dl>
      <h3>Timeline</h3>
      <Timeline payment={payment} />
      <h3>Events as sent to Kafka</h3>
      <Table<TimelineEntry>
        caption="Events of this payment, in sequence"
        rows={payment.events ?? []}
        rowKey={(event) => event.eventId}
        empty="No events yet."
        columns={[
          { title: 'Seq', cell: (event) => event.sequence, numeric: true },
          { title: 'Type', cell: (event) => event.type },
          { title: 'Topic', cell: (event) => TOPICS[event.type] ?? '?' },
          { title: 'When', cell: (event) => formatTime(event.occurredAt) },
          { title: 'Event id', cell: (event) => <code>{event.eventId}</code> },
        ]}
      />
      <h3>Ledger entries</h3>
      {payment.ledgerEntries.length === 0 ? (
        <Empty>No ledger entries yet: the ledger worker posts one per settled capture and refund.</Empty>
      ) : (
        <Table
          caption="Double-entry postings of this payment"
          rows={payment.ledgerEntries.map((entry, index) => ({ ...entry, index }))}
          rowKey={(entry) => String(entry.index)}
          empty=""
          columns={[
            { title: 'Debit', cell: (entry) => entry.debitAccount },
            { title: 'Credit', cell: (entry) => entry.creditAccount },
            { title: 'Amount', cell: (entry) => formatAmount(entry.amount, payment.currency), numeric: true },
          ]}
        />
      )}
    </div>
  )
}
