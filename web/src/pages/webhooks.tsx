import { useState } from 'preact/hooks'
import { WEBHOOK_EVENT_TYPES } from '../../../src/webhooks/event-types.ts'
import { Empty, ErrorBox, formatTime, Section, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { usePoll } from '../poll.ts'
import type { WebhookDelivery, WebhookDeliveryDetail, WebhookEndpoint } from '../types.ts'

/** A secret the API shows once (at creation or after a roll): shown here once too, never stored. */
function OnceSecret({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div class="notice" role="status">
      <p>Signing secret, shown this once: copy it into your receiver now. It is not stored in this page.</p>
      <code class="secret">{secret}</code>{' '}
      <button type="button" class="secondary" onClick={onDone}>
        I have copied it
      </button>
    </div>
  )
}

function NewEndpointForm({ onCreated }: { onCreated: (secret: string) => void }) {
  const { api } = useServices()
  const [url, setUrl] = useState('')
  const [types, setTypes] = useState<string[]>([...WEBHOOK_EVENT_TYPES])
  const [error, setError] = useState<Error | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const created = await api.call<WebhookEndpoint & { secret: string }>(
        'merchant',
        'POST',
        '/api/webhook-endpoints',
        { url, eventTypes: types },
      )
      setUrl('')
      onCreated(created.body.secret)
    } catch (caught) {
      setError(caught as Error)
    } finally {
      setBusy(false)
    }
  }
  const toggle = (type: string) =>
    setTypes((current) => (current.includes(type) ? current.filter((t) => t !== type) : [...current, type]))
  return (
    <form onSubmit={submit}>
      <ErrorBox error={error} />
      <label>
        Endpoint URL (https; http and private addresses only where the platform allows them)
        <input
          type="url"
          name="webhook-url"
          required
          value={url}
          placeholder="https://shop.example.com/payrail/webhooks"
          onInput={(event) => setUrl(event.currentTarget.value)}
        />
      </label>
      <fieldset>
        <legend>Events</legend>
        {WEBHOOK_EVENT_TYPES.map((type) => (
          <label key={type} class="inline">
            <input type="checkbox" checked={types.includes(type)} onChange={() => toggle(type)} /> {type}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={busy || types.length === 0}>
        Add endpoint
      </button>
    </form>
  )
}

function DeliveryDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const { api } = useServices()
  const detail = usePoll(
    () => api.get<WebhookDeliveryDetail>('merchant', `/api/webhook-deliveries/${id}`),
    2000,
    [id],
  )
  const [error, setError] = useState<Error | undefined>(undefined)
  const redeliver = async () => {
    setError(undefined)
    try {
      await api.call('merchant', 'POST', `/api/webhook-deliveries/${id}/redeliver`, {})
      detail.refresh()
    } catch (caught) {
      setError(caught as Error)
    }
  }
  const d = detail.data
  return (
    <Section title={`Delivery ${id}`}>
      <ErrorBox error={detail.error ?? error} />
      {d ? (
        <>
          <p>
            {d.eventType} of payment <code>{d.paymentId}</code> (sequence {d.sequence}), event{' '}
            <code>{d.eventId}</code>: <span class="badge">{d.state}</span>
            {d.nextAttemptAt ? `, next try ${formatTime(d.nextAttemptAt)}` : ''}
          </p>
          <div class="buttons">
            <button type="button" onClick={redeliver}>
              Redeliver now
            </button>
            <button type="button" class="secondary" onClick={onClose}>
              Close
            </button>
          </div>
          <Table
            caption="Attempts"
            rows={d.attemptLog}
            rowKey={(row) => String(row.attempt)}
            empty="Not attempted yet."
            columns={[
              { title: 'Attempt', cell: (row) => row.attempt, numeric: true },
              { title: 'When', cell: (row) => formatTime(row.at) },
              { title: 'Status', cell: (row) => row.status ?? '—', numeric: true },
              { title: 'Error', cell: (row) => row.error ?? '' },
              { title: 'Latency', cell: (row) => `${row.latencyMs} ms`, numeric: true },
            ]}
          />
        </>
      ) : null}
    </Section>
  )
}

/** The merchant's webhook endpoints and delivery log (merchant key), as in the API's /api/webhook-*. */
export function WebhooksPage() {
  const { api } = useServices()
  const endpoints = usePoll(
    () => api.get<{ items: WebhookEndpoint[] }>('merchant', '/api/webhook-endpoints'),
    5000,
  )
  const [state, setState] = useState('')
  const deliveries = usePoll(
    () =>
      api.get<{ items: WebhookDelivery[] }>(
        'merchant',
        `/api/webhook-deliveries?limit=100${state === '' ? '' : `&state=${state}`}`,
      ),
    2000,
    [state],
  )
  const [secret, setSecret] = useState<string | undefined>(undefined)
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)
  const act = async (work: () => Promise<unknown>) => {
    setError(undefined)
    try {
      await work()
      endpoints.refresh()
      deliveries.refresh()
    } catch (caught) {
      setError(caught as Error)
    }
  }
  return (
    <>
      <ErrorBox error={endpoints.error ?? error} />
      {secret ? <OnceSecret secret={secret} onDone={() => setSecret(undefined)} /> : null}
      <Section title="Add a webhook endpoint">
        <NewEndpointForm
          onCreated={(created) => {
            setSecret(created)
            endpoints.refresh()
          }}
        />
      </Section>
      <Section title="Endpoints">
        <Table
          caption="This merchant's endpoints"
          rows={endpoints.data?.items ?? []}
          rowKey={(row) => row.id}
          empty="No endpoint yet: add one above to receive signed payment events."
          columns={[
            { title: 'URL', cell: (row) => <code>{row.url}</code> },
            { title: 'Events', cell: (row) => row.eventTypes.join(', ') },
            {
              title: 'State',
              cell: (row) =>
                row.enabled ? (
                  <span class="badge ok">enabled</span>
                ) : (
                  <span class="badge bad" title={row.disabledReason ?? undefined}>
                    disabled{row.disabledReason ? `: ${row.disabledReason}` : ''}
                  </span>
                ),
            },
            {
              title: 'Actions',
              cell: (row) => (
                <div class="buttons">
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      act(() =>
                        api.call('merchant', 'PATCH', `/api/webhook-endpoints/${row.id}`, {
                          enabled: !row.enabled,
                        }),
                      )
                    }
                  >
                    {row.enabled ? 'Disable' : 'Enable'}
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      act(async () => {
                        const rolled = await api.call<{ secret: string }>(
                          'merchant',
                          'POST',
                          `/api/webhook-endpoints/${row.id}/roll-secret`,
                          {},
                        )
                        setSecret(rolled.body.secret)
                      })
                    }
                  >
                    Roll secret
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      act(() =>
                        api.call('merchant', 'POST', `/api/webhook-endpoints/${row.id}/redeliver-failed`, {}),
                      )
                    }
                  >
                    Redeliver failed
                  </button>
                  <button
                    type="button"
                    class="danger"
                    onClick={() =>
                      confirm(`Delete the endpoint ${row.url} and its delivery log?`) &&
                      act(() => api.call('merchant', 'DELETE', `/api/webhook-endpoints/${row.id}`))
                    }
                  >
                    Delete
                  </button>
                </div>
              ),
            },
          ]}
        />
      </Section>
      {selected ? <DeliveryDetail id={selected} onClose={() => setSelected(undefined)} /> : null}
      <Section title="Delivery log">
        <label>
          State{' '}
          <select
            name="delivery-state"
            value={state}
            onChange={(event) => setState(event.currentTarget.value)}
          >
            <option value="">all</option>
            <option value="PENDING">pending (retrying)</option>
            <option value="DELIVERED">delivered</option>
            <option value="FAILED">failed</option>
          </select>
        </label>
        <ErrorBox error={deliveries.error} />
        {deliveries.data === undefined ? (
          <Empty>Loading…</Empty>
        ) : (
          <Table
            caption="Deliveries, newest first"
            rows={deliveries.data.items}
            rowKey={(row) => row.id}
            empty="No delivery yet: the notifier records one per event and matching endpoint (is payrail notifier running?)."
            columns={[
              { title: 'Event', cell: (row) => row.eventType },
              { title: 'Payment', cell: (row) => <code>{row.paymentId}</code> },
              { title: 'Seq', cell: (row) => row.sequence, numeric: true },
              { title: 'State', cell: (row) => <span class="badge">{row.state}</span> },
              { title: 'Attempts', cell: (row) => row.attempts, numeric: true },
              { title: 'Last status', cell: (row) => row.lastStatus ?? row.lastError ?? '—' },
              {
                title: 'Latency',
                cell: (row) => (row.lastLatencyMs === null ? '—' : `${row.lastLatencyMs} ms`),
                numeric: true,
              },
              { title: 'Next try', cell: (row) => (row.nextAttemptAt ? formatTime(row.nextAttemptAt) : '—') },
              {
                title: '',
                cell: (row) => (
                  <button type="button" class="secondary" onClick={() => setSelected(row.id)}>
                    Attempts
                  </button>
                ),
              },
            ]}
          />
        )}
      </Section>
    </>
  )
}
