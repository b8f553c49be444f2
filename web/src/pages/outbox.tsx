import { Empty, ErrorBox, LineChart, Section, Stat, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { useHistory, usePoll } from '../poll.ts'
import type { OutboxOverview } from '../types.ts'

/** A relay whose heartbeat is older than this is taken for stopped (its leases run out after 10 s). */
const STALE_HEARTBEAT_SECONDS = 15

export function OutboxPage() {
  const { api } = useServices()
  const outbox = usePoll(() => api.get<OutboxOverview>('admin', '/api/admin/outbox'), 1000)
  const data = outbox.data
  const history = useHistory(
    data ? { pending: data.pending, 'published/s': data.publishedPerSecond ?? null } : undefined,
    outbox.at,
  )
  const live = (data?.relays ?? []).filter((relay) => relay.lastHeartbeatSecondsAgo < STALE_HEARTBEAT_SECONDS)
  return (
    <>
      <ErrorBox error={outbox.error} />
      {data ? (
        <>
          <div class="stats">
            <Stat label="Pending" value={<span data-testid="outbox-pending">{data.pending}</span>} />
            <Stat label="Oldest pending" value={`${data.oldestPendingAgeSeconds.toFixed(1)} s`} />
            <Stat label="Dead" value={data.dead} />
            <Stat
              label="Published/s"
              value={data.publishedPerSecond == null ? '–' : data.publishedPerSecond.toFixed(1)}
            />
          </div>
          {live.length === 0 ? (
            <p class="error" role="alert" data-testid="relay-warning">
              Relay not running: no relay has sent a heartbeat in the last {STALE_HEARTBEAT_SECONDS} s, so
              nothing reaches Kafka. Start one with <code>payrail relay</code> (payrail up runs one).
            </p>
          ) : null}
          <Section title="Backlog over time">
            <LineChart title="Pending events and published per second" history={history} />
          </Section>
          <Section title="Pending per event type">
            <Table
              caption="Events waiting for the relay, by type"
              rows={Object.entries(data.pendingByType)}
              rowKey={([type]) => type}
              empty="Nothing pending: the relay is keeping up."
              columns={[
                { title: 'Type', cell: ([type]) => type },
                { title: 'Pending', cell: ([, count]) => count, numeric: true },
              ]}
            />
          </Section>
          <Section title="Relays">
            {data.unleasedBuckets !== undefined && data.buckets !== undefined ? (
              <p>
                {data.buckets - data.unleasedBuckets} of {data.buckets} buckets leased.
              </p>
            ) : null}
            <Table
              caption="Relay instances, their leases and breakers"
              rows={data.relays}
              rowKey={(relay) => relay.id}
              empty="No relay is registered: start payrail relay (payrail up runs one)."
              columns={[
                { title: 'Relay', cell: (relay) => <code>{relay.id}</code> },
                {
                  title: 'Breaker',
                  cell: (relay) => <span class={`badge breaker-${relay.breaker}`}>{relay.breaker}</span>,
                },
                {
                  title: 'Heartbeat',
                  cell: (relay) => `${relay.lastHeartbeatSecondsAgo.toFixed(1)} s ago`,
                  numeric: true,
                },
                {
                  title: 'Buckets',
                  cell: (relay) => (relay.buckets ? relay.buckets.length : '–'),
                  numeric: true,
                },
                {
                  title: 'Lease expires in',
                  cell: (relay) =>
                    relay.leaseExpiresInSeconds == null ? '–' : `${relay.leaseExpiresInSeconds.toFixed(1)} s`,
                  numeric: true,
                },
              ]}
            />
          </Section>
        </>
      ) : outbox.error ? null : (
        <Empty>Loading…</Empty>
      )}
    </>
  )
}
