import { useState } from 'preact/hooks'
import { ErrorBox, formatTime, Json, Section, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { usePoll } from '../poll.ts'
import type { ConsumerDeadLetter, DeadLetters, RelayDeadLetter } from '../types.ts'

type Replay = { eventId: string } | { id: string } | { all: true }

function describe(replay: Replay): string {
  if ('all' in replay) return 'every dead letter'
  return 'eventId' in replay ? `relay dead letter ${replay.eventId}` : `consumer dead letter ${replay.id}`
}

export function DeadLettersPage() {
  const { api } = useServices()
  const dlq = usePoll(() => api.get<DeadLetters>('admin', '/api/admin/dlq'), 3000)
  const [pending, setPending] = useState<Replay | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)

  const confirm = async () => {
    if (pending === undefined) return
    setError(undefined)
    try {
      const answer = await api.call<{ replayed?: number }>('admin', 'POST', '/api/admin/dlq/replay', pending)
      setNotice(
        `Replayed ${describe(pending)}${answer.body?.replayed === undefined ? '' : ` (${answer.body.replayed})`}.`,
      )
      dlq.refresh()
    } catch (caught) {
      setError(caught as Error)
    } finally {
      setPending(undefined)
    }
  }

  const relay = dlq.data?.items ?? []
  const consumer = dlq.data?.consumer ?? []
  return (
    <>
      <ErrorBox error={dlq.error ?? error} />
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      {pending ? (
        <div class="confirm" role="alertdialog" aria-label="Confirm replay">
          <p>Replay {describe(pending)}? It goes back in line and is delivered again.</p>
          <div class="buttons">
            <button type="button" onClick={confirm}>
              Confirm replay
            </button>
            <button type="button" class="secondary" onClick={() => setPending(undefined)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      <div class="buttons">
        <button
          type="button"
          disabled={relay.length + consumer.length === 0}
          onClick={() => setPending({ all: true })}
        >
          Replay all
        </button>
      </div>
      <Section title="Relay dead letters">
        <Table<RelayDeadLetter>
          caption="Events the relay could not publish"
          rows={relay}
          rowKey={(row) => row.event_id}
          empty={dlq.data ? 'No dead events: the relay published everything it was given.' : 'Loading…'}
          columns={[
            { title: 'Event', cell: (row) => <code>{row.event_id}</code> },
            { title: 'Type', cell: (row) => row.event_type },
            { title: 'Payment', cell: (row) => <code>{row.payment_id}</code> },
            { title: 'Attempts', cell: (row) => row.attempts, numeric: true },
            { title: 'Last error', cell: (row) => row.last_error },
            { title: 'Created', cell: (row) => formatTime(row.created_at) },
            {
              title: 'Details',
              cell: (row) => (
                <details>
                  <summary>headers and payload</summary>
                  <Json
                    value={{ topic: row.topic, headers: row.headers ?? {}, payload: row.payload ?? null }}
                  />
                </details>
              ),
            },
            {
              title: 'Action',
              cell: (row) => (
                <button
                  type="button"
                  aria-label={`Replay ${row.event_id}`}
                  onClick={() => setPending({ eventId: row.event_id })}
                >
                  Replay
                </button>
              ),
            },
          ]}
        />
      </Section>
      <Section title="Consumer dead letters (payment.dlq)">
        <Table<ConsumerDeadLetter>
          caption="Records a worker gave up on"
          rows={consumer}
          rowKey={(row) => row.id}
          empty={dlq.data ? 'payment.dlq is empty: every worker applied what it consumed.' : 'Loading…'}
          columns={[
            { title: 'Place', cell: (row) => <code>{row.id}</code> },
            { title: 'Failed by', cell: (row) => row.failedBy },
            {
              title: 'From',
              cell: (row) =>
                `${row.originalTopic}:${row.originalPartition ?? '?'}@${row.originalOffset ?? '?'}`,
            },
            { title: 'Error', cell: (row) => `${row.errorCode}: ${row.errorMessage}` },
            { title: 'Attempts', cell: (row) => row.attempts, numeric: true },
            { title: 'Applied since', cell: (row) => (row.applied ? 'yes' : 'no') },
            { title: 'When', cell: (row) => formatTime(row.timestamp) },
            {
              title: 'Details',
              cell: (row) => (
                <details>
                  <summary>headers and payload</summary>
                  <Json value={{ headers: row.headers, payload: row.payload ?? null }} />
                </details>
              ),
            },
            {
              title: 'Action',
              cell: (row) => (
                <button
                  type="button"
                  aria-label={`Replay ${row.id}`}
                  onClick={() => setPending({ id: row.id })}
                >
                  Replay
                </button>
              ),
            },
          ]}
        />
      </Section>
    </>
  )
}
