import { useState } from 'preact/hooks'
import { Empty, ErrorBox, formatTime, Section, Stat, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { usePoll } from '../poll.ts'
import type { LedgerOverview } from '../types.ts'

export function LedgerPage() {
  const { api } = useServices()
  const ledger = usePoll(() => api.get<LedgerOverview>('admin', '/api/admin/ledger'), 5000)
  const [error, setError] = useState<Error | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const check = async () => {
    setBusy(true)
    setError(undefined)
    try {
      await api.call('admin', 'POST', '/api/admin/ledger/check', {})
      ledger.refresh()
    } catch (caught) {
      setError(caught as Error)
    } finally {
      setBusy(false)
    }
  }
  const last = ledger.data?.lastCheck
  return (
    <>
      <ErrorBox error={ledger.error ?? error} />
      <div class="buttons">
        <button type="button" onClick={check} disabled={busy}>
          Run ledger check
        </button>
      </div>
      <Section title="Last check">
        {last ? (
          <div class="stats">
            <Stat
              label="Result"
              value={<span class={`badge ${last.clean ? 'ok' : 'bad'}`}>{last.clean ? 'clean' : 'off'}</span>}
            />
            <Stat label="Checked" value={`${formatTime(last.checkedAt)} (${last.source})`} />
            <Stat label="Payments" value={last.payments} />
            <Stat label="Entries" value={last.entries} />
            <Stat label="Offenders" value={last.offenders} />
            <Stat
              label="Unbalanced"
              value={last.unbalanced.length === 0 ? 'none' : last.unbalanced.join(', ')}
            />
          </div>
        ) : (
          <Empty>No check has run yet: press "Run ledger check" or run payrail ledger check.</Empty>
        )}
      </Section>
      <Section title="Totals per account and currency">
        <Table
          caption="Debits, credits and balance"
          rows={ledger.data?.totals ?? []}
          rowKey={(row) => `${row.account}/${row.currency}`}
          empty="The ledger is empty: capture a payment and let the ledger worker post it."
          columns={[
            { title: 'Account', cell: (row) => row.account },
            { title: 'Currency', cell: (row) => row.currency },
            { title: 'Debit', cell: (row) => row.debit.toLocaleString('en'), numeric: true },
            { title: 'Credit', cell: (row) => row.credit.toLocaleString('en'), numeric: true },
            { title: 'Balance', cell: (row) => row.balance.toLocaleString('en'), numeric: true },
          ]}
        />
      </Section>
    </>
  )
}
