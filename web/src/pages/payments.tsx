import { useState } from 'preact/hooks'
import { PAYMENT_STATUSES } from '../../../src/domain/payment.ts'
import { ErrorBox, formatAmount, formatTime, Section, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { usePoll } from '../poll.ts'
import type { Payment, PaymentPage } from '../types.ts'
import { PaymentDetail, usePayment } from './payment-detail.tsx'

interface Filters {
  status: string
  from: string
  to: string
}

function listPath(filters: Filters, cursor: string | undefined): string {
  const query = new URLSearchParams({ limit: '20' })
  if (filters.status !== '') query.set('status', filters.status)
  if (filters.from !== '') query.set('from', new Date(filters.from).toISOString())
  if (filters.to !== '') query.set('to', new Date(filters.to).toISOString())
  if (cursor !== undefined) query.set('cursor', cursor)
  return `/api/payments?${query}`
}

export function PaymentsPage({ selected }: { selected: string | undefined }) {
  const { api } = useServices()
  const [draft, setDraft] = useState<Filters>({ status: '', from: '', to: '' })
  const [filters, setFilters] = useState<Filters>(draft)
  // The cursors of the pages before this one, for "Previous".
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const [search, setSearch] = useState('')
  const cursor = cursors.at(-1)
  const page = usePoll(() => api.get<PaymentPage>('merchant', listPath(filters, cursor)), 5000, [
    filters,
    cursor,
  ])
  const detail = usePayment(selected, 2000)

  return (
    <>
      <Section title="Find a payment">
        <form
          class="form-row"
          onSubmit={(event) => {
            event.preventDefault()
            if (search.trim() !== '') location.hash = `#/payments/${encodeURIComponent(search.trim())}`
          }}
        >
          <label>
            Payment id
            <input
              name="paymentId"
              value={search}
              onInput={(event) => setSearch(event.currentTarget.value)}
            />
          </label>
          <button type="submit">Open</button>
        </form>
      </Section>
      {selected !== undefined ? (
        <Section title="Payment">
          <ErrorBox error={detail.error} />
          {detail.data ? <PaymentDetail payment={detail.data} /> : <p>Loading…</p>}
        </Section>
      ) : null}
      <Section title="Payments">
        <form
          class="form-row"
          onSubmit={(event) => {
            event.preventDefault()
            setFilters(draft)
            setCursors([undefined])
          }}
        >
          <label>
            Status
            <select
              value={draft.status}
              onChange={(event) => setDraft({ ...draft, status: event.currentTarget.value })}
            >
              <option value="">any</option>
              {PAYMENT_STATUSES.map((status) => (
                <option key={status}>{status}</option>
              ))}
            </select>
          </label>
          <label>
            From
            <input
              type="datetime-local"
              value={draft.from}
              onInput={(event) => setDraft({ ...draft, from: event.currentTarget.value })}
            />
          </label>
          <label>
            To
            <input
              type="datetime-local"
              value={draft.to}
              onInput={(event) => setDraft({ ...draft, to: event.currentTarget.value })}
            />
          </label>
          <button type="submit">Filter</button>
        </form>
        <ErrorBox error={page.error} />
        <Table<Payment>
          caption="Payments of this merchant, newest first"
          rows={page.data?.items ?? []}
          rowKey={(payment) => payment.paymentId}
          empty={page.data ? 'No payment matches: authorize one in the Shop demo.' : 'Loading…'}
          columns={[
            {
              title: 'Payment',
              cell: (payment) => (
                <a href={`#/payments/${encodeURIComponent(payment.paymentId)}`}>{payment.paymentId}</a>
              ),
            },
            {
              title: 'Status',
              cell: (payment) => <span class={`badge status-${payment.status}`}>{payment.status}</span>,
            },
            {
              title: 'Amount',
              cell: (payment) => formatAmount(payment.amount, payment.currency),
              numeric: true,
            },
            { title: 'Created', cell: (payment) => formatTime(payment.createdAt) },
          ]}
        />
        <div class="buttons">
          <button
            type="button"
            class="secondary"
            disabled={cursors.length < 2}
            onClick={() => setCursors(cursors.slice(0, -1))}
          >
            Previous page
          </button>
          <button
            type="button"
            class="secondary"
            disabled={!page.data?.nextCursor}
            onClick={() => setCursors([...cursors, page.data?.nextCursor ?? undefined])}
          >
            Next page
          </button>
        </div>
      </Section>
    </>
  )
}
