import { Empty, ErrorBox, LineChart, Section, Stat, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { useHistory, usePoll } from '../poll.ts'
import type { KafkaOverview } from '../types.ts'

export function KafkaPage() {
  const { api } = useServices()
  const kafka = usePoll(() => api.get<KafkaOverview>('admin', '/api/admin/kafka'), 2000)
  const data = kafka.data
  const history = useHistory(
    data ? Object.fromEntries(data.groups.map((group) => [group.handler, group.lag])) : undefined,
    kafka.at,
  )
  return (
    <>
      <ErrorBox error={kafka.error} />
      {data ? (
        <>
          {data.error ? (
            <p class="error">Kafka does not answer: {data.error}. Is the broker up (payrail kafka status)?</p>
          ) : null}
          {!data.workerUp ? (
            <p class="error" role="alert">
              Worker not running: no worker answers its metrics port. Start one with{' '}
              <code>payrail worker</code>.
            </p>
          ) : null}
          <div class="stats">
            <Stat label="Total lag" value={data.groups.reduce((sum, group) => sum + group.lag, 0)} />
            <Stat label="Records in payment.dlq" value={data.dlqRecords ?? '–'} />
          </div>
          <Section title="Lag over time">
            <LineChart title="Lag per consumer group" history={history} />
          </Section>
          <Section title="Consumer groups">
            <Table
              caption="Lag per partition"
              rows={data.groups.flatMap((group) =>
                group.partitions.map((partition) => ({
                  group: group.groupId,
                  handler: group.handler,
                  ...partition,
                })),
              )}
              rowKey={(row) => `${row.group}/${row.topic}/${row.partition}`}
              empty="No consumer group yet: the workers create theirs when they start."
              columns={[
                { title: 'Group', cell: (row) => row.group },
                { title: 'Topic', cell: (row) => row.topic },
                { title: 'Partition', cell: (row) => row.partition, numeric: true },
                { title: 'Committed', cell: (row) => row.committed ?? '–', numeric: true },
                { title: 'End', cell: (row) => row.end, numeric: true },
                { title: 'Lag', cell: (row) => row.lag, numeric: true },
              ]}
            />
          </Section>
          <Section title="Handlers">
            <Table
              caption="In flight and outcomes by handler"
              rows={data.handlers}
              rowKey={(handler) => handler.handler}
              empty="No worker answers: start payrail worker."
              columns={[
                { title: 'Handler', cell: (handler) => handler.handler },
                { title: 'In flight', cell: (handler) => handler.inFlight, numeric: true },
                { title: 'Queued', cell: (handler) => handler.queued, numeric: true },
                {
                  title: 'Outcomes',
                  cell: (handler) =>
                    Object.entries(handler.outcomes)
                      .map(([outcome, count]) => `${outcome} ${count}`)
                      .join(', ') || '–',
                },
                { title: 'Dead letters', cell: (handler) => handler.deadLetters, numeric: true },
              ]}
            />
          </Section>
          <Section title="Acquirer breakers">
            <Table
              caption="Circuit breakers towards the acquirer"
              rows={Object.entries(data.acquirerBreakers)}
              rowKey={([name]) => name}
              empty="No breaker reported."
              columns={[
                { title: 'Call', cell: ([name]) => name },
                {
                  title: 'State',
                  cell: ([, state]) => <span class={`badge breaker-${state}`}>{state}</span>,
                },
              ]}
            />
          </Section>
        </>
      ) : kafka.error ? null : (
        <Empty>Loading…</Empty>
      )}
    </>
  )
}
